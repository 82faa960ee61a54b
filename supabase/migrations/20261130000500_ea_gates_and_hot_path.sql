-- Each EA request is one transaction, and the hot path one round trip (issue #13, items 1 to 3).
--
-- Before: the edge toolkit looked the credentials up (one transaction), remembered the request id
-- (a second transaction), then ran the endpoint's statements as the EA (a third): 13 to 15 round
-- trips. A request whose work failed had already burnt its id, so its retry got 401.
--
-- Now the function verifies the signature in TypeScript with the secret it has (cached sealed, see
-- packages/edge/src/ea-credentials.ts: the secret never travels to SQL in clear) and sends ONE
-- statement, on the connection's own role, in Postgres's implicit transaction:
--
--   select private.ping_session(private.enter_ea_key($key, $request_id, $sealed, $scopes), $session, $figures)
--
-- `private.enter_ea_key` (the gate) checks that the key is live and still the one the function
-- verified with, remembers the request id, stamps the key's last use, then switches the
-- transaction to role `authenticated` with the EA's claims, exactly as PostgREST would. The
-- endpoint function then runs as the EA, under RLS and the state machines. Everything commits or
-- rolls back together: a request that failed can be retried with the same X-Trade-Id.
--
-- Error convention, from SQL to HTTP (packages/edge/src/errors.ts maps SQLSTATEs, nothing else):
--   28000 invalid_authorization_specification  401  unknown/revoked credential, replayed request id
--   28P01 invalid_password                     (retried once by the toolkit: the cached credential
--                                               changed, e.g. a re-issued api secret or new scopes)
--   22023 invalid_parameter_value (+ COLUMN)   400  naming the offending field (`body.symbol`, ...)
--   P0002 no_data_found                        404  with the message (`session not found`)
--   42501 insufficient_privilege               404  (RLS and privilege failures reveal nothing)
--   23514 check_violation                      409  with the message (rules, state machines)
--   23505 unique_violation                     409

-- ---------------------------------------------------------------------------------------------
-- Gates. `admit_*` are security definer: they read credentials and write the replay table, which
-- no API role can. `enter_*` are security invoker (a security definer function may not change
-- role); their SET clause pins search_path only, and a SET clause restores only the settings it
-- names on return, so the role switch they make lasts until the end of the caller's transaction.
-- Neither is granted to any API role: only the connection's own role (which verified the
-- signature) may call them.

create function private.admit_ea_key(p_key_id uuid, p_request_id text, p_sealed_secret text, p_scopes text[])
returns uuid
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_user uuid;
  v_scopes text[];
  v_sealed text;
begin
  select k.user_id, k.scopes, s.secret_ciphertext into v_user, v_scopes, v_sealed
  from public.ea_keys k
  join private.ea_key_secrets s on s.key_id = k.id
  where k.id = p_key_id and k.revoked_at is null;
  if v_user is null then
    raise exception 'unknown or revoked EA key' using errcode = 'invalid_authorization_specification';
  end if;
  if v_sealed is distinct from p_sealed_secret or v_scopes is distinct from p_scopes then
    raise exception 'EA key credentials changed since they were read' using errcode = 'invalid_password';
  end if;
  if not private.remember_request_id('ea_key:' || p_key_id::text, p_request_id) then
    raise exception 'replayed request (X-Trade-Id already used)' using errcode = 'invalid_authorization_specification';
  end if;
  -- The key's last use, at most once a minute (a write per request would serialise a busy key).
  update public.ea_keys set last_used_at = now()
  where id = p_key_id and (last_used_at is null or last_used_at < now() - interval '1 minute');
  return v_user;
end;
$$;

create function private.enter_ea_key(p_key_id uuid, p_request_id text, p_sealed_secret text, p_scopes text[])
returns uuid
language plpgsql
set search_path = ''
as $$
declare
  v_user uuid := private.admit_ea_key(p_key_id, p_request_id, p_sealed_secret, p_scopes);
begin
  perform set_config('role', 'authenticated', true),
    set_config('request.jwt.claims',
      json_build_object('aud', 'authenticated', 'ea_key_id', p_key_id, 'sub', v_user, 'role', 'authenticated')::text, true);
  return v_user;
end;
$$;

create function private.admit_account_ea(p_external_account_id uuid, p_request_id text, p_sealed_secret text)
returns table (account_id uuid, user_id uuid)
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_account uuid;
  v_user uuid;
  v_sealed text;
begin
  select a.id, a.user_id, s.api_secret_ciphertext into v_account, v_user, v_sealed
  from public.trading_accounts a
  join private.account_secrets s on s.account_id = a.id
  where a.external_account_id = p_external_account_id and a.deleted_at is null and s.api_secret_ciphertext is not null;
  if v_account is null then
    raise exception 'unknown account or not registered' using errcode = 'invalid_authorization_specification';
  end if;
  if v_sealed is distinct from p_sealed_secret then
    raise exception 'account credentials changed since they were read' using errcode = 'invalid_password';
  end if;
  if not private.remember_request_id('account:' || v_account::text, p_request_id) then
    raise exception 'replayed request (X-Trade-Id already used)' using errcode = 'invalid_authorization_specification';
  end if;
  return query select v_account, v_user;
end;
$$;

create function private.enter_account_ea(p_external_account_id uuid, p_request_id text, p_sealed_secret text)
returns uuid
language plpgsql
set search_path = ''
as $$
declare
  v_account uuid;
  v_user uuid;
begin
  select a.account_id, a.user_id into v_account, v_user
  from private.admit_account_ea(p_external_account_id, p_request_id, p_sealed_secret) a;
  perform set_config('role', 'authenticated', true),
    set_config('request.jwt.claims',
      json_build_object('aud', 'authenticated', 'ea_account_id', v_account, 'sub', v_user, 'role', 'authenticated')::text, true);
  return v_user;
end;
$$;

revoke execute on function private.admit_ea_key(uuid, text, text, text[]), private.enter_ea_key(uuid, text, text, text[]),
  private.admit_account_ea(uuid, text, text), private.enter_account_ea(uuid, text, text)
  from public, anon, authenticated, service_role;

-- ---------------------------------------------------------------------------------------------
-- The caller of an endpoint function: the EA the gate admitted. `p_caller` is the gate's result,
-- which also makes the gate run first (an argument is evaluated before the call).
create function private.ea_caller(p_caller uuid, p_claim text) returns uuid
language plpgsql stable
set search_path = ''
as $$
begin
  if p_caller is null or p_caller is distinct from auth.uid() or coalesce(auth.jwt() ->> p_claim, '') = '' then
    raise exception 'only an admitted EA may do this' using errcode = 'insufficient_privilege';
  end if;
  return p_caller;
end;
$$;

-- A session the EA names, which must exist (RLS: and be its owner's) and not be disconnected.
create function private.live_session(p_session_id uuid, p_disconnected text default 'session is disconnected: connect again')
returns text
language plpgsql stable
set search_path = ''
as $$
declare
  v_status text;
begin
  select s.status into v_status from public.mt5_sessions s where s.id = p_session_id;
  if v_status is null then
    raise exception 'session not found' using errcode = 'no_data_found';
  end if;
  if v_status = 'disconnected' then
    raise exception '%', p_disconnected using errcode = 'check_violation';
  end if;
  return v_status;
end;
$$;

-- ---------------------------------------------------------------------------------------------
-- POST /ping: the figures, a snapshot, and how many signals wait. Security invoker: runs as the EA.
create function private.ping_session(p_caller uuid, p_session_id uuid, p_figures jsonb) returns jsonb
language plpgsql
set search_path = ''
as $$
declare
  v_user uuid;
  v_interval integer;
  v_pinged timestamptz;
  v_pending integer;
begin
  perform private.ea_caller(p_caller, 'ea_key_id');
  -- A newer last_ping_at revives a stale session (trigger mt5_sessions_a_lifecycle). The session's
  -- UPDATE policy lets only the key it is connected with write it (another key of the same owner
  -- fails the policy's check: 42501).
  update public.mt5_sessions
  set last_ping_at = greatest(now(), last_ping_at + interval '1 microsecond'),
      balance = (p_figures ->> 'balance')::numeric, equity = (p_figures ->> 'equity')::numeric,
      margin = (p_figures ->> 'margin')::numeric, margin_free = (p_figures ->> 'margin_free')::numeric,
      margin_level = (p_figures ->> 'margin_level')::numeric, profit = (p_figures ->> 'profit')::numeric
  where id = p_session_id and status <> 'disconnected'
  returning user_id, ping_interval_seconds, last_ping_at into v_user, v_interval, v_pinged;
  if v_user is null then
    perform private.live_session(p_session_id);
    raise exception 'session not found' using errcode = 'no_data_found';
  end if;
  insert into public.account_snapshots (session_id, user_id, captured_at, balance, equity, margin, margin_free, margin_level, profit)
  values (p_session_id, v_user, v_pinged, (p_figures ->> 'balance')::numeric, (p_figures ->> 'equity')::numeric,
    (p_figures ->> 'margin')::numeric, (p_figures ->> 'margin_free')::numeric, (p_figures ->> 'margin_level')::numeric,
    (p_figures ->> 'profit')::numeric)
  on conflict do nothing;
  select count(*)::integer into v_pending from public.trading_signals
  where session_id = p_session_id and user_id = v_user and status in ('PENDING', 'DELIVERED')
    and (expires_at is null or expires_at > now());
  return jsonb_build_object('pending_signals', v_pending, 'ping_interval_seconds', v_interval);
end;
$$;

-- GET /signals/pending: delivers the oldest waiting signals, at most `p_limit` in all with those
-- delivered and not yet reported, and returns everything delivered and not yet reported
-- (including what an earlier poll delivered whose response may never have reached the EA).
-- SKIP LOCKED: a concurrent poll neither delivers the same PENDING signal twice nor waits.
create function private.deliver_signals(p_caller uuid, p_session_id uuid, p_limit integer)
returns setof public.trading_signals
language plpgsql
set search_path = ''
as $$
declare
  v_user uuid := private.ea_caller(p_caller, 'ea_key_id');
begin
  perform private.live_session(p_session_id);
  with picked as (
    select s.id from public.trading_signals s
    where s.session_id = p_session_id and s.user_id = v_user and s.status = 'PENDING'
      and (s.expires_at is null or s.expires_at > now())
    order by s.created_at, s.id
    limit greatest(0, p_limit - (select count(*) from public.trading_signals d
                                 where d.session_id = p_session_id and d.user_id = v_user and d.status = 'DELIVERED'))
    for update skip locked
  )
  update public.trading_signals t set status = 'DELIVERED' from picked where t.id = picked.id;
  return query
    select s.* from public.trading_signals s
    where s.session_id = p_session_id and s.user_id = v_user and s.status = 'DELIVERED'
    order by s.created_at, s.id
    limit p_limit;
end;
$$;

-- POST /signals/{id}/status: the EA's report on a delivered signal, with the order it placed.
-- The same report again (a retry after a lost response) returns the state it produced.
create function private.report_signal(
  p_caller uuid,
  p_signal_id uuid,
  p_status text,
  p_ticket bigint,
  p_price numeric,
  p_volume numeric,
  p_retcode integer,
  p_message text,
  p_executed_at timestamptz
) returns public.trading_signals
language plpgsql
set search_path = ''
as $$
declare
  v_user uuid := private.ea_caller(p_caller, 'ea_key_id');
  v_current public.trading_signals;
  v_updated public.trading_signals;
begin
  if p_status is null or p_status not in ('EXECUTED', 'REJECTED', 'FAILED') then
    raise exception 'status must be EXECUTED, REJECTED or FAILED' using errcode = 'invalid_parameter_value', column = 'body.status';
  end if;
  select * into v_current from public.trading_signals where id = p_signal_id for update;
  if v_current.id is null then
    raise exception 'signal not found' using errcode = 'no_data_found';
  end if;
  if v_current.status::text = p_status and v_current.order_ticket is not distinct from p_ticket then
    return v_current;
  end if;
  if v_current.status <> 'DELIVERED' then
    raise exception 'signal is %: only a DELIVERED signal takes a status report', v_current.status using errcode = 'check_violation';
  end if;
  insert into public.trading_orders (user_id, signal_id, session_id, result, ticket, price, volume, retcode, comment, requested_at, executed_at)
  values (v_user, v_current.id, v_current.session_id, p_status, p_ticket, p_price, p_volume, p_retcode, p_message,
    v_current.delivered_at, coalesce(p_executed_at, case when p_status = 'EXECUTED' then now() end));
  -- The state machine (trigger) decides whether the EA may make this transition.
  update public.trading_signals set status = p_status, status_message = p_message, order_ticket = coalesce(p_ticket, order_ticket)
  where id = p_signal_id
  returning * into v_updated;
  if v_updated.id is null then
    raise exception 'signal not found' using errcode = 'no_data_found';
  end if;
  -- Session counters, when the reporting key is the one the session is connected with (the
  -- session's UPDATE policy only lets that key write it).
  if p_status = 'EXECUTED' then
    update public.mt5_sessions set orders_executed = orders_executed + 1
    where id = v_current.session_id and ea_key_id = (auth.jwt() ->> 'ea_key_id')::uuid;
  elsif p_status = 'FAILED' then
    update public.mt5_sessions set errors = errors + 1
    where id = v_current.session_id and ea_key_id = (auth.jwt() ->> 'ea_key_id')::uuid;
  end if;
  return v_updated;
end;
$$;

-- POST /positions: the EA's full list of open positions. A listed ticket is upserted (unchanged
-- values are not written: no updated_at bump, no broadcast); an unlisted open one is closed.
-- The session row is locked (no key: pings may still insert snapshots that reference it), so two
-- pushes for one session apply one after the other, each against the other's result.
create function private.push_positions(p_caller uuid, p_session_id uuid, p_positions jsonb) returns bigint[]
language plpgsql
set search_path = ''
as $$
declare
  v_user uuid := private.ea_caller(p_caller, 'ea_key_id');
  v_status text;
  v_closed bigint[];
begin
  select s.status into v_status from public.mt5_sessions s where s.id = p_session_id for no key update;
  if v_status is null then
    raise exception 'session not found' using errcode = 'no_data_found';
  end if;
  if v_status = 'disconnected' then
    raise exception 'session is disconnected: connect again' using errcode = 'check_violation';
  end if;
  with incoming as (
    select * from jsonb_to_recordset(p_positions) as i(
      ticket bigint, symbol text, type text, volume numeric, open_price numeric, current_price numeric,
      stop_loss numeric, take_profit numeric, profit numeric, swap numeric, commission numeric,
      magic bigint, comment text, opened_at timestamptz)
  ),
  upserted as (
    insert into public.positions as t (session_id, ticket, user_id, symbol, type, volume, open_price, current_price,
      stop_loss, take_profit, profit, swap, commission, magic, comment, opened_at, closed_at)
    select p_session_id, i.ticket, v_user, i.symbol, i.type, i.volume, i.open_price, i.current_price,
      nullif(i.stop_loss, 0), nullif(i.take_profit, 0), i.profit, i.swap, i.commission, i.magic, i.comment, i.opened_at, null
    from incoming i
    on conflict (session_id, ticket) do update set
      symbol = excluded.symbol, type = excluded.type, volume = excluded.volume, open_price = excluded.open_price,
      current_price = excluded.current_price, stop_loss = excluded.stop_loss, take_profit = excluded.take_profit,
      profit = excluded.profit, swap = excluded.swap, commission = excluded.commission, magic = excluded.magic,
      comment = excluded.comment, opened_at = excluded.opened_at, closed_at = null
    where (t.symbol, t.type, t.volume, t.open_price, t.current_price, t.stop_loss, t.take_profit, t.profit, t.swap,
           t.commission, t.magic, t.comment, t.opened_at, t.closed_at)
      is distinct from (excluded.symbol, excluded.type, excluded.volume, excluded.open_price, excluded.current_price,
           excluded.stop_loss, excluded.take_profit, excluded.profit, excluded.swap, excluded.commission, excluded.magic,
           excluded.comment, excluded.opened_at, null::timestamptz)
    returning t.ticket
  ),
  closed as (
    update public.positions t set closed_at = now()
    where t.session_id = p_session_id and t.closed_at is null
      and not exists (select 1 from incoming i where i.ticket = t.ticket)
    returning t.ticket
  )
  select coalesce((select array_agg(c.ticket order by c.ticket) from closed c), '{}'::bigint[])
  into v_closed
  -- Forces the upsert to run before the result is read (a CTE nobody reads still runs, but this
  -- keeps the intent visible).
  from (select count(*) from upserted) u;
  return v_closed;
end;
$$;

-- POST /trades: a provisioned account's EA reports closed trades. Security definer: closed trades
-- are written only here, so the cashback is computed once per statement (the broker's rebate
-- read once, not looked up by a trigger for every row). A ticket already stored for the account
-- is skipped, so a resent batch inserts and accrues nothing again. Hearing from the EA keeps the
-- account connected (and revives a silent one), in the same transaction.
create function private.ingest_trades(p_caller uuid, p_account_id uuid, p_trades jsonb)
returns table (accepted bigint[], cashback_accrued numeric)
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_user uuid := private.ea_caller(p_caller, 'ea_account_id');
  v_rate numeric;
  v_currency text;
begin
  if p_account_id is distinct from (auth.jwt() ->> 'ea_account_id')::uuid then
    raise exception 'only the account''s own EA reports for it' using errcode = 'insufficient_privilege';
  end if;
  -- The broker's terms, read once for the batch. An account that is not the caller's (or is
  -- deleted) is refused, not silently given no trades.
  select case when b.active then b.rebate_per_lot else 0 end, b.currency into v_rate, v_currency
  from public.trading_accounts a
  join public.brokers b on b.id = a.broker_id
  where a.id = p_account_id and a.user_id = v_user and a.deleted_at is null;
  if not found then
    raise exception 'only the account''s own EA reports for it' using errcode = 'insufficient_privilege';
  end if;
  return query
  with incoming as (
    select * from jsonb_to_recordset(p_trades) as i(
      ticket bigint, symbol text, type text, lots numeric, open_time timestamptz, close_time timestamptz,
      open_price numeric, close_price numeric, commission numeric, swap numeric, profit numeric, magic bigint, comment text)
  ),
  inserted as (
    insert into public.closed_trades (account_id, user_id, ticket, symbol, type, lots, open_time, close_time, open_price,
      close_price, commission, swap, profit, magic, comment, cashback_rate, cashback_amount, currency)
    select p_account_id, v_user, i.ticket, i.symbol, i.type, i.lots, i.open_time, i.close_time, i.open_price,
      i.close_price, coalesce(i.commission, 0), coalesce(i.swap, 0), coalesce(i.profit, 0), i.magic, i.comment,
      v_rate, round(i.lots * v_rate, 4), v_currency
    from incoming i
    order by i.ticket
    on conflict (account_id, ticket) do nothing
    returning ticket, cashback_amount
  )
  select coalesce((select array_agg(n.ticket order by n.ticket) from inserted n), '{}'::bigint[]),
    (select coalesce(sum(n.cashback_amount), 0) from inserted n);
  perform private.touch_account(p_account_id);
end;
$$;

-- What account_heard_from does, for callers that already proved who they are (ingest_trades).
create function private.touch_account(p_account_id uuid) returns text
language sql
security definer
set search_path = ''
as $$
  update public.trading_accounts a
  set last_seen_at = now(),
      status = case when a.status = 'disconnected' and a.paused_at is null then 'connected' else a.status end
  where a.id = p_account_id and a.deleted_at is null
  returning a.status
$$;
revoke execute on function private.touch_account(uuid) from public, anon, authenticated, service_role;

-- Closed trades are written by ingest_trades only: the per-row accrual trigger and the EAs' direct
-- insert policy go (no API role may write them, service_role included: without the trigger a direct
-- insert would store whatever cashback it names; the function is the one place the rule lives).
drop trigger closed_trades_accrue on public.closed_trades;
drop function private.accrue_cashback();
drop policy "account EAs report closed trades" on public.closed_trades;
revoke insert, update, delete, truncate on public.closed_trades from anon, authenticated, service_role;

grant execute on function private.ea_caller(uuid, text), private.live_session(uuid, text),
  private.ping_session(uuid, uuid, jsonb), private.deliver_signals(uuid, uuid, integer),
  private.report_signal(uuid, uuid, text, bigint, numeric, numeric, integer, text, timestamptz),
  private.push_positions(uuid, uuid, jsonb), private.ingest_trades(uuid, uuid, jsonb)
  to authenticated;

-- ---------------------------------------------------------------------------------------------
-- What a ping need not broadcast: an update that only moves last_ping_at (and updated_at) tells
-- the dashboard nothing; an idle terminal pings every 30 s all day. Figures, status and counters
-- still broadcast.
drop trigger mt5_sessions_broadcast on public.mt5_sessions;
create trigger mt5_sessions_broadcast after insert or delete on public.mt5_sessions
  for each row execute function private.broadcast_to_owner();
create trigger mt5_sessions_broadcast_update after update on public.mt5_sessions
  for each row
  when ((to_jsonb(old) - 'last_ping_at' - 'updated_at') is distinct from (to_jsonb(new) - 'last_ping_at' - 'updated_at'))
  execute function private.broadcast_to_owner();

revoke execute on all functions in schema private from public;
