-- One vocabulary (issue #13, item 5): every closed set of values that both the database and the
-- TypeScript contracts know is declared once, here, as an enum in `public`. `npm run db:types`
-- turns each into a union in packages/db/src/database.types.ts and a list in its `Constants`, from
-- which packages/contracts builds its zod enums; tests/unit/vocabulary.test.ts fails when the
-- catalog (pg_enum), the generated file and a contract disagree.
--
-- Before, each set was a `check (x in (...))` on a text column, repeated (sometimes in another
-- order) in the contracts, in the functions, in the agent and in the dashboard.
--
--   type               values                                         columns
--   platform           MT4 MT5                                        trading_accounts.platform, brokers.platforms[]
--   account_status     pending_vps_setup provisioning connected       trading_accounts.status
--                      error disconnected
--   terminal_state     launching running stopped crashed              trading_accounts.terminal_state
--   session_status     active stale disconnected                      mt5_sessions.status
--   signal_type        BUY SELL CLOSE_BUY CLOSE_SELL                  trading_signals.type
--   signal_status      PENDING DELIVERED EXECUTED REJECTED FAILED     trading_orders.result (a check keeps
--                      EXPIRED CANCELLED                              it to EXECUTED, REJECTED, FAILED);
--                                                                     trading_signals.status (text, see below)
--   signal_source      dashboard api ea                               trading_signals.source
--   timeframe          M1 M5 M15 M30 H1 H4 D1 W1 MN1                  trading_signals.timeframe
--   trade_side         BUY SELL                                       positions.type, closed_trades.type
--   ea_scope           connect ping signals positions                 ea_keys.scopes[]
--   notification_kind  account_connected account_disconnected         notifications.kind
--                      account_error cashback_settled
--
-- Enums, not domains: none of these is meant to grow without a release (each new value needs
-- code that handles it), and adding one stays a one-line migration (`alter type ... add value`).
--
-- One exception: trading_signals.status stays text, checked against enum_range(null::signal_status)
-- (so the enum is still the one list). Comparing enums is not leakproof (enum_eq, enum_ne; texteq
-- is), and under row-level security Postgres neither uses a non-leakproof condition as an index
-- condition ahead of the policy nor consults column statistics for it. The EA's hot paths (the
-- ping's waiting count, the poll, the position limit of a new signal) filter signals by status
-- under RLS: with an enum column they read every signal the session ever had instead of its waiting
-- ones (measured with supabase/tests/database/10_flat_hot_paths.sql), which undoes issue #13 item
-- 3. No other vocabulary column is filtered under RLS on a path that grows with history.
--
-- Left as text: error codes (E_AUTH, ...: an open set the agent reads from terminal logs, checked
-- by pattern) and private.state_transitions (one table for several machines, private).
--
-- Text into a vocabulary column. Statements built from text keep working: jsonb_to_recordset
-- column lists (`type text`), text parameters, plpgsql variables and `array['MT4', 'MT5']`
-- literals (text[]). Each enum gets an assignment cast from text, so a text value is stored
-- through the enum's input function, which refuses a value outside the vocabulary (SQLSTATE
-- 22P02, where the check constraint raised 23514). It is an assignment cast only: comparing an
-- enum column with a text expression still needs an explicit cast (`status = $1::text` is an
-- error; `status = $1` and `status = 'active'` are not), and functions that did so are replaced
-- below with the same signatures (text in, text out), so no caller changes.
--
-- Converting a column rewrites its table under an ACCESS EXCLUSIVE lock. Check constraints,
-- defaults, partial indexes and triggers that name a converted column are dropped first and
-- created again as they were (triggers keep their names, so they fire in the same order).

-- ---------------------------------------------------------------------------------------------
-- The vocabularies.
create type public.platform as enum ('MT4', 'MT5');
comment on type public.platform is 'MetaTrader platform of a trading account (and those a broker offers)';

create type public.account_status as enum ('pending_vps_setup', 'provisioning', 'connected', 'error', 'disconnected');
comment on type public.account_status is 'State of a trading account (machine `account` in private.state_transitions)';

create type public.terminal_state as enum ('launching', 'running', 'stopped', 'crashed');
comment on type public.terminal_state is 'What the terminal process of a trading account is doing, as its VPS agent reports it';

create type public.session_status as enum ('active', 'stale', 'disconnected');
comment on type public.session_status is 'State of a connector session (machine `session` in private.state_transitions)';

create type public.signal_type as enum ('BUY', 'SELL', 'CLOSE_BUY', 'CLOSE_SELL');
comment on type public.signal_type is 'What a trading signal asks for: open a buy or sell, or close the buys or sells of its symbol';

create type public.signal_status as enum ('PENDING', 'DELIVERED', 'EXECUTED', 'REJECTED', 'FAILED', 'EXPIRED', 'CANCELLED');
comment on type public.signal_status is 'State of a trading signal (machine `signal` in private.state_transitions); an order''s result is one of EXECUTED, REJECTED, FAILED';

create type public.signal_source as enum ('dashboard', 'api', 'ea');
comment on type public.signal_source is 'Who created a trading signal';

create type public.timeframe as enum ('M1', 'M5', 'M15', 'M30', 'H1', 'H4', 'D1', 'W1', 'MN1');
comment on type public.timeframe is 'Chart timeframe a signal was produced on (MetaTrader''s names)';

create type public.trade_side as enum ('BUY', 'SELL');
comment on type public.trade_side is 'Direction of an open position or a closed trade';

create type public.ea_scope as enum ('connect', 'ping', 'signals', 'positions');
comment on type public.ea_scope is 'What an EA key may be used for (one edge function each)';

create type public.notification_kind as enum ('account_connected', 'account_disconnected', 'account_error', 'cashback_settled');
comment on type public.notification_kind is 'What a notification is about';

create cast (text as public.platform) with inout as assignment;
create cast (text as public.account_status) with inout as assignment;
create cast (text as public.terminal_state) with inout as assignment;
create cast (text as public.session_status) with inout as assignment;
create cast (text as public.signal_type) with inout as assignment;
create cast (text as public.signal_status) with inout as assignment;
create cast (text as public.signal_source) with inout as assignment;
create cast (text as public.timeframe) with inout as assignment;
create cast (text as public.trade_side) with inout as assignment;
create cast (text as public.ea_scope) with inout as assignment;
create cast (text as public.notification_kind) with inout as assignment;

-- ---------------------------------------------------------------------------------------------
-- What names the columns and cannot follow a type change: triggers on them (an `update of`
-- list or a WHEN clause) and partial indexes whose predicate compares them with text.
drop trigger mt5_sessions_transition on public.mt5_sessions;
drop trigger trading_accounts_a_lifecycle on public.trading_accounts;
drop trigger trading_accounts_transition on public.trading_accounts;
drop trigger trading_accounts_doorbell_insert on public.trading_accounts;
drop trigger trading_accounts_doorbell_update on public.trading_accounts;
drop trigger trading_accounts_notify_connected on public.trading_accounts;

drop index public.mt5_sessions_one_live_per_terminal;
drop index public.mt5_sessions_live_last_ping_idx;
drop index public.trading_accounts_pending_idx;

-- ---------------------------------------------------------------------------------------------
-- The columns.
alter table public.mt5_sessions
  drop constraint mt5_sessions_status_check,
  alter column status drop default,
  alter column status type public.session_status using status::public.session_status,
  alter column status set default 'active';

alter table public.trading_signals
  drop constraint trading_signals_type_check,
  drop constraint trading_signals_sizing,
  drop constraint trading_signals_timeframe_check,
  drop constraint trading_signals_source_check,
  drop constraint trading_signals_status_check,
  alter column source drop default,
  alter column type type public.signal_type using type::public.signal_type,
  alter column timeframe type public.timeframe using timeframe::public.timeframe,
  alter column source type public.signal_source using source::public.signal_source,
  alter column source set default 'dashboard',
  -- An opening signal says how big: a volume, or a risk percent (which needs a stop-loss).
  add constraint trading_signals_sizing check (
    type in ('CLOSE_BUY', 'CLOSE_SELL') or volume is not null or risk_percent is not null),
  -- Text compared under RLS on the EA's hot paths (see above); the values are the enum's.
  add constraint trading_signals_status_check check (status = any (enum_range(null::public.signal_status)::text[]));

-- An order records how the EA's attempt ended: a final signal status.
alter table public.trading_orders
  drop constraint trading_orders_result_check,
  alter column result type public.signal_status using result::public.signal_status,
  add constraint trading_orders_result_check check (result in ('EXECUTED', 'REJECTED', 'FAILED'));

alter table public.positions
  drop constraint positions_type_check,
  alter column type type public.trade_side using type::public.trade_side;

alter table public.closed_trades
  drop constraint closed_trades_type_check,
  alter column type type public.trade_side using type::public.trade_side;

alter table public.notifications
  drop constraint notifications_kind_check,
  alter column kind type public.notification_kind using kind::public.notification_kind;

alter table public.trading_accounts
  drop constraint trading_accounts_platform_check,
  drop constraint trading_accounts_status_check,
  drop constraint trading_accounts_terminal_state_check,
  alter column status drop default,
  alter column platform type public.platform using platform::public.platform,
  alter column status type public.account_status using status::public.account_status,
  alter column terminal_state type public.terminal_state using terminal_state::public.terminal_state,
  alter column status set default 'pending_vps_setup';

alter table public.brokers
  drop constraint brokers_platforms_check,
  alter column platforms type public.platform[] using platforms::public.platform[],
  add constraint brokers_platforms_check check (cardinality(platforms) > 0);

-- A new key may do everything an EA key can, unless its creator says otherwise.
alter table public.ea_keys
  drop constraint ea_keys_scopes_known,
  alter column scopes drop default,
  alter column scopes type public.ea_scope[] using scopes::public.ea_scope[],
  alter column scopes set default enum_range(null::public.ea_scope);

-- ---------------------------------------------------------------------------------------------
-- The indexes and triggers again, as they were.
-- At most one live session per terminal; reconnecting supersedes (see the connect function).
create unique index mt5_sessions_one_live_per_terminal
  on public.mt5_sessions (user_id, account_number, server) where status <> 'disconnected';
-- The stale sweep scans live sessions by last ping.
create index mt5_sessions_live_last_ping_idx on public.mt5_sessions (last_ping_at) where status = 'active';
-- Claim order: oldest pending first.
create index trading_accounts_pending_idx on public.trading_accounts (created_at)
  where status = 'pending_vps_setup' and deleted_at is null and paused_at is null;

create trigger mt5_sessions_transition before insert or update of status on public.mt5_sessions
  for each row execute function private.enforce_transition('session');
create trigger trading_accounts_a_lifecycle before insert or update of status on public.trading_accounts
  for each row execute function private.account_lifecycle();
create trigger trading_accounts_transition before insert or update of status on public.trading_accounts
  for each row execute function private.enforce_transition('account');
create trigger trading_accounts_doorbell_insert after insert on public.trading_accounts
  for each row when (new.status = 'pending_vps_setup')
  execute function private.ring_vps_doorbell();
create trigger trading_accounts_doorbell_update after update of status on public.trading_accounts
  for each row when (new.status = 'pending_vps_setup' and old.status is distinct from new.status)
  execute function private.ring_vps_doorbell();
create trigger trading_accounts_notify_connected after update of status on public.trading_accounts
  for each row
  when (new.status = 'connected' and old.status is distinct from 'connected' and new.deleted_at is null)
  execute function private.notify_account_connected();

-- ---------------------------------------------------------------------------------------------
-- Functions that compared a converted column with text, passed it where text is expected or
-- returned it through RETURN QUERY as text: the same signatures, with explicit casts. (SQL
-- functions returning text from these columns need nothing: their result is cast on return.)

-- The state machines' rule table is shared by several machines and keyed by text.
create or replace function private.enforce_transition() returns trigger
language plpgsql
set search_path = ''
as $$
declare
  v_from text;
  v_actor text := private.current_actor();
  v_rule_actor text;
begin
  if tg_op = 'UPDATE' then
    if new.status is not distinct from old.status then
      return new;
    end if;
    v_from := old.status::text;
  else
    v_from := '(new)';
  end if;

  v_rule_actor := private.transition_actor(tg_argv[0], v_from, new.status::text);

  if v_rule_actor is null then
    raise exception 'illegal % transition: % -> %', tg_argv[0], v_from, new.status
      using errcode = 'check_violation', hint = 'see private.state_transitions';
  end if;
  if v_rule_actor <> 'any' and v_actor <> 'system' and v_actor <> v_rule_actor then
    raise exception '% transition % -> % is not allowed for %', tg_argv[0], v_from, new.status, v_actor
      using errcode = 'insufficient_privilege';
  end if;
  return new;
end;
$$;

-- No scopes given: every scope there is.
create or replace function private.create_ea_key(
  p_name text,
  p_scopes text[],
  p_secret_ciphertext text,
  p_encryption_key_id text,
  p_id uuid default gen_random_uuid()
) returns public.ea_keys
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_key public.ea_keys;
  v_user uuid := auth.uid();
begin
  if v_user is null then
    raise exception 'not authenticated' using errcode = 'insufficient_privilege';
  end if;
  insert into public.ea_keys (id, user_id, name, scopes)
  values (coalesce(p_id, gen_random_uuid()), v_user, p_name,
          coalesce(p_scopes::public.ea_scope[], enum_range(null::public.ea_scope)))
  returning * into v_key;
  insert into private.ea_key_secrets (key_id, secret_ciphertext, encryption_key_id)
  values (v_key.id, p_secret_ciphertext, p_encryption_key_id);
  return v_key;
end;
$$;

-- A platform the broker does not offer (or no platform at all) is refused as before.
create or replace function private.register_trading_account(
  p_broker_id uuid,
  p_platform text,
  p_login bigint,
  p_server text,
  p_password_ciphertext text,
  p_encryption_key_id text,
  p_id uuid default gen_random_uuid()
) returns public.trading_accounts
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_user uuid := auth.uid();
  v_account public.trading_accounts;
begin
  if v_user is null then
    raise exception 'not authenticated' using errcode = 'insufficient_privilege';
  end if;
  if not exists (select 1 from public.brokers b where b.id = p_broker_id and b.active and p_platform = any (b.platforms::text[])) then
    raise exception 'broker % does not offer %', p_broker_id, p_platform using errcode = 'foreign_key_violation';
  end if;
  insert into public.trading_accounts (id, user_id, broker_id, platform, login, server)
  values (coalesce(p_id, gen_random_uuid()), v_user, p_broker_id, p_platform::public.platform, p_login, p_server)
  returning * into v_account;
  insert into private.account_secrets (account_id, investor_password_ciphertext, encryption_key_id)
  values (v_account.id, p_password_ciphertext, p_encryption_key_id);
  return v_account;
end;
$$;

-- Without p_platforms (older agents): every platform. A name that is no platform matches nothing.
create or replace function private.claim_accounts(
  p_host_id uuid,
  p_limit integer,
  p_platforms text[] default enum_range(null::public.platform)::text[]
)
returns setof public.trading_accounts
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_capacity integer;
  v_dedicated uuid;
  v_held integer;
  v_take integer;
begin
  select h.capacity, h.dedicated_user_id into v_capacity, v_dedicated from private.vps_hosts h
  where h.id = p_host_id and h.revoked_at is null
  for update;
  if not found then
    raise exception 'unknown VPS host' using errcode = 'insufficient_privilege';
  end if;
  select count(*) into v_held from public.trading_accounts a where a.vps_host_id = p_host_id;
  v_take := least(greatest(p_limit, 0), greatest(v_capacity - v_held, 0));
  if v_take = 0 or coalesce(cardinality(p_platforms), 0) = 0 then
    return;
  end if;
  return query
  with picked as (
    select a.id from public.trading_accounts a
    where a.status = 'pending_vps_setup' and a.deleted_at is null and a.paused_at is null
      and a.platform::text = any (p_platforms)
      and case
            when v_dedicated is not null then a.user_id = v_dedicated
            else not exists (select 1 from private.vps_hosts d
                             where d.dedicated_user_id = a.user_id and d.revoked_at is null)
          end
    order by a.created_at
    limit v_take
    for update skip locked
  )
  update public.trading_accounts a
  set status = 'provisioning',
      vps_host_id = p_host_id,
      lease_expires_at = now() + make_interval(secs => private.setting('account_lease_seconds'))
  from picked
  where a.id = picked.id
  returning a.*;
end;
$$;

create or replace function private.register_account_ea(
  p_external_account_id uuid,
  p_token_hash text,
  p_login bigint,
  p_server text,
  p_platform text,
  p_terminal_build integer,
  p_api_secret_ciphertext text,
  p_api_secret_key_id text
)
returns table (account_id uuid, user_id uuid, status text, refused text)
language plpgsql
security definer
set search_path = ''
as $$
#variable_conflict use_column
declare
  v_account public.trading_accounts;
  v_secrets private.account_secrets;
  v_refused text;
begin
  if p_token_hash is null or p_token_hash !~ '^[0-9a-f]{64}$' then
    raise exception 'p_token_hash must be a lowercase hex SHA-256' using errcode = 'invalid_parameter_value';
  end if;
  if coalesce(p_api_secret_ciphertext, '') = '' or coalesce(p_api_secret_key_id, '') = '' then
    raise exception 'the sealed api secret and its key id are required' using errcode = 'invalid_parameter_value';
  end if;

  select a.* into v_account
  from public.trading_accounts a
  where a.external_account_id = p_external_account_id and a.deleted_at is null
  for update;
  if not found then
    return;
  end if;
  select s.* into v_secrets
  from private.account_secrets s
  where s.account_id = v_account.id
  for update;
  if not found then
    return;
  end if;

  v_refused := case
    when v_secrets.provisioning_token_hash is null then 'no_token'
    when v_secrets.provisioning_token_hash <> p_token_hash then 'token_mismatch'
    when v_secrets.provisioning_token_expires_at is null or v_secrets.provisioning_token_expires_at <= now() then 'token_expired'
    when v_account.login is distinct from p_login
      or lower(v_account.server) is distinct from lower(p_server)
      or v_account.platform::text is distinct from p_platform then 'identity_mismatch'
  end;
  if v_refused is not null then
    return query select v_account.id, null::uuid, null::text, v_refused;
    return;
  end if;

  update private.account_secrets s
  set api_secret_ciphertext = p_api_secret_ciphertext,
      api_secret_key_id = p_api_secret_key_id,
      provisioning_token_hash = null,
      provisioning_token_expires_at = null
  where s.account_id = v_account.id;

  -- account_lifecycle sets connected_at (and last_seen_at again) when the status changes.
  update public.trading_accounts a
  set terminal_build = coalesce(p_terminal_build, a.terminal_build),
      last_seen_at = now(),
      status = case
        when a.status = 'provisioning' then 'connected'
        when a.status = 'disconnected' and a.paused_at is null then 'connected'
        else a.status
      end
  where a.id = v_account.id
  returning a.* into v_account;

  return query select v_account.id, v_account.user_id, v_account.status::text, null::text;
end;
$$;

create or replace function private.vps_launch_package(p_host_id uuid, p_account_id uuid, p_token_hash text)
returns table (
  account_id uuid,
  external_account_id uuid,
  platform text,
  login bigint,
  server text,
  broker text,
  investor_password_ciphertext text,
  encryption_key_id text,
  provisioning_token_expires_at timestamptz,
  refused text
)
language plpgsql
security definer
set search_path = ''
as $$
#variable_conflict use_column
declare
  v_account public.trading_accounts;
  v_refused text;
  v_expires timestamptz;
begin
  if p_token_hash is null or p_token_hash !~ '^[0-9a-f]{64}$' then
    raise exception 'p_token_hash must be a lowercase hex SHA-256' using errcode = 'invalid_parameter_value';
  end if;

  select a.* into v_account
  from public.trading_accounts a
  join private.vps_hosts h on h.id = a.vps_host_id and h.revoked_at is null
  where a.id = p_account_id and a.vps_host_id = p_host_id
  for update of a;
  if not found then
    return;
  end if;

  v_refused := case
    when v_account.deleted_at is not null then 'deleted'
    when v_account.paused_at is not null then 'paused'
    when v_account.status not in ('provisioning', 'connected') then 'status ' || v_account.status
  end;

  if v_refused is null then
    v_expires := now() + make_interval(secs => private.setting('provisioning_token_ttl_seconds'));
    update private.account_secrets s
    set provisioning_token_hash = p_token_hash, provisioning_token_expires_at = v_expires
    where s.account_id = v_account.id;
    if not found then
      raise exception 'account % has no secrets row', v_account.id using errcode = 'no_data_found';
    end if;
  end if;

  return query
  select v_account.id, v_account.external_account_id, v_account.platform::text, v_account.login, v_account.server, b.name,
         case when v_refused is null then s.investor_password_ciphertext end,
         case when v_refused is null then s.encryption_key_id end,
         case when v_refused is null then v_expires end,
         v_refused
  from public.brokers b
  join private.account_secrets s on s.account_id = v_account.id
  where b.id = v_account.broker_id;
end;
$$;

-- p_state: a terminal_state, or `connected` / `error` (account statuses the agent reports).
create or replace function private.vps_report_state(
  p_host_id uuid,
  p_account_id uuid,
  p_state text,
  p_error_code text default null,
  p_error_message text default null
)
returns table (
  account_id uuid,
  external_account_id uuid,
  status text,
  terminal_state text,
  error_code text,
  error_message text,
  attempts integer,
  next_retry_at timestamptz,
  held boolean,
  removed boolean
)
language plpgsql
security definer
set search_path = ''
as $$
#variable_conflict use_column
declare
  v_account public.trading_accounts;
  v_lease timestamptz := now() + make_interval(secs => private.setting('account_lease_seconds'));
  v_gone boolean;
  v_message text;
  v_removed boolean := false;
begin
  if p_state is null
     or not (p_state = any (enum_range(null::public.terminal_state)::text[]) or p_state in ('connected', 'error')) then
    raise exception 'unknown terminal state %', coalesce(p_state, 'null') using errcode = 'invalid_parameter_value';
  end if;
  if p_state = 'error' and (p_error_code is null or p_error_code !~ '^E_[A-Z0-9_]+$') then
    raise exception 'an error report needs an error code such as E_AUTH' using errcode = 'invalid_parameter_value';
  end if;

  select a.* into v_account
  from public.trading_accounts a
  join private.vps_hosts h on h.id = a.vps_host_id and h.revoked_at is null
  where a.id = p_account_id and a.vps_host_id = p_host_id
  for update of a;
  if not found then
    return;
  end if;
  v_gone := v_account.paused_at is not null or v_account.deleted_at is not null;

  case
    when p_state in ('launching', 'running', 'crashed') then
      update public.trading_accounts a set terminal_state = p_state::public.terminal_state, lease_expires_at = v_lease
      where a.id = v_account.id returning a.* into v_account;

    when p_state = 'connected' then
      update public.trading_accounts a
      set terminal_state = 'running',
          lease_expires_at = v_lease,
          status = case when not v_gone and a.status in ('provisioning', 'disconnected') then 'connected' else a.status end
      where a.id = v_account.id returning a.* into v_account;

    when p_state = 'error' and v_gone then
      update public.trading_accounts a set terminal_state = 'crashed', lease_expires_at = v_lease
      where a.id = v_account.id returning a.* into v_account;

    when p_state = 'error' then
      v_message := coalesce(nullif(btrim(p_error_message), ''), case p_error_code
        when 'E_AUTH' then 'The trade server rejected the login or the investor password.'
        when 'E_SRV_NOT_FOUND' then 'The trade server was not found: check the server name.'
        when 'E_LAUNCH' then 'The terminal could not be started.'
        when 'E_CRASH_LOOP' then 'The terminal kept crashing after restarts.'
        else 'The terminal reported ' || p_error_code || '.'
      end);
      -- account_lifecycle: attempts + 1, next_retry_at (backoff), vps_host_id and lease cleared.
      update public.trading_accounts a
      set status = 'error', error_code = p_error_code, error_message = left(v_message, 1000), terminal_state = 'stopped'
      where a.id = v_account.id returning a.* into v_account;
      insert into public.notifications (user_id, kind, title, body, account_id)
      values (
        v_account.user_id,
        'account_error',
        'Account ' || v_account.login || ' could not be started',
        v_account.login || '@' || v_account.server || ': ' || v_account.error_message || ' (' || p_error_code || ') '
          || case when v_account.next_retry_at is not null
               then 'Next automatic attempt at ' || to_char(v_account.next_retry_at at time zone 'utc', 'YYYY-MM-DD HH24:MI') || ' UTC.'
               else 'No further automatic attempts: fix the account, then retry it.'
             end,
        v_account.id
      );

    when p_state = 'stopped' and v_account.deleted_at is not null then
      -- The terminal of a deleted account is gone: remove the account (with its secrets, trades
      -- and ledger, as account_action does for an account no host holds).
      delete from public.trading_accounts a where a.id = v_account.id;
      v_account.vps_host_id := null;
      v_account.terminal_state := 'stopped';
      v_removed := true;

    when p_state = 'stopped' and v_account.paused_at is not null then
      update public.trading_accounts a set vps_host_id = null, lease_expires_at = null, terminal_state = 'stopped'
      where a.id = v_account.id returning a.* into v_account;

    else -- stopped, still wanted: the host keeps it
      update public.trading_accounts a set terminal_state = 'stopped', lease_expires_at = v_lease
      where a.id = v_account.id returning a.* into v_account;
  end case;

  return query select
    v_account.id, v_account.external_account_id, v_account.status::text, v_account.terminal_state::text, v_account.error_code,
    v_account.error_message, v_account.attempts, v_account.next_retry_at,
    v_account.vps_host_id is not distinct from p_host_id and not v_removed, v_removed;
end;
$$;

create or replace function private.vps_report_terminals(p_host_id uuid, p_terminals jsonb)
returns setof uuid
language plpgsql
security definer
set search_path = ''
as $$
begin
  if p_terminals is null or jsonb_typeof(p_terminals) <> 'array' then
    raise exception 'p_terminals must be a JSON array' using errcode = 'invalid_parameter_value';
  end if;
  if exists (
    select 1 from jsonb_array_elements(p_terminals) t
    where jsonb_typeof(t) <> 'object'
       or t ->> 'account_id' is null
       or not coalesce(t ->> 'state', '') = any (enum_range(null::public.terminal_state)::text[])
  ) then
    raise exception 'each terminal needs an account_id and a state (%)',
      array_to_string(enum_range(null::public.terminal_state)::text[], ', ')
      using errcode = 'invalid_parameter_value';
  end if;
  if not exists (select 1 from private.vps_hosts h where h.id = p_host_id and h.revoked_at is null) then
    raise exception 'unknown VPS host' using errcode = 'insufficient_privilege';
  end if;

  return query
  with reported as (
    select distinct on ((t ->> 'account_id')::uuid) (t ->> 'account_id')::uuid as account_id,
           (t ->> 'state')::public.terminal_state as state
    from jsonb_array_elements(p_terminals) t
  ),
  recorded as (
    update public.trading_accounts a set terminal_state = r.state
    from reported r
    where a.id = r.account_id and a.vps_host_id = p_host_id and a.terminal_state is distinct from r.state
    returning a.id
  )
  select r.account_id from reported r
  where not exists (select 1 from public.trading_accounts a where a.id = r.account_id and a.vps_host_id = p_host_id)
  order by r.account_id;
end;
$$;

-- Nothing in `private` is executable by PUBLIC; the grants above are the only way in.
revoke execute on all functions in schema private from public;
