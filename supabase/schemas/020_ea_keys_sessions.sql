-- Signals bridge, part 1: EA keys, MT5 sessions (opened and closed by the connector EA), symbol
-- specifications. (How a signed EA request gets in, replay protection included:
-- 025_ea_request_path.sql. Account snapshots: 040_positions_snapshots.sql.)
--
-- RLS conventions used in every file (Supabase's performance guidance):
--   * policies name their role (`to authenticated`), so anon never evaluates them;
--   * auth.uid() / auth.jwt() are wrapped in `(select ...)` so they run once per statement;
--   * every column a policy filters on is indexed.
-- Writes that only a terminal can make (sessions, symbol specs, snapshots, positions, orders,
-- signal reports) are granted to role `rubi_ea` alone (010_foundation.sql), which only the EA gates
-- switch to, column by column as its functions need them, and their policies require the EA claim
-- `ea_key_id` as well: a dashboard user cannot forge terminal data through the Data API.
-- `anon` and `authenticated` write none of these tables (pgTAP 13_no_direct_writes.sql checks every
-- column of every public table).

-- ---------------------------------------------------------------------------------------------
-- The vocabulary of this domain (see 010_foundation.sql).
create type public.ea_scope as enum ('connect', 'ping', 'signals', 'positions');
comment on type public.ea_scope is 'What an EA key may be used for (one edge function each)';
create cast (text as public.ea_scope) with inout as assignment;

create type public.session_status as enum ('active', 'stale', 'disconnected');
comment on type public.session_status is 'State of a connector session (machine `session` in private.state_transitions)';
create cast (text as public.session_status) with inout as assignment;

-- ---------------------------------------------------------------------------------------------
-- EA keys: credentials for the connector EA. The secret is encrypted (AES-256-GCM, see
-- packages/crypto) and lives in private.ea_key_secrets; users only see metadata.
create table public.ea_keys (
  id uuid primary key default gen_random_uuid(),
  user_id uuid not null references auth.users (id) on delete cascade,
  name text not null check (length(name) between 1 and 100),
  -- A new key may do everything an EA key can, unless its creator says otherwise.
  scopes public.ea_scope[] not null default enum_range(null::public.ea_scope),
  created_at timestamptz not null default now(),
  last_used_at timestamptz,
  revoked_at timestamptz
);
create index ea_keys_user_id_idx on public.ea_keys (user_id);
alter table public.ea_keys enable row level security;

create policy "owners read their EA keys" on public.ea_keys
  for select to authenticated using (user_id = (select auth.uid()));
-- Users rename and revoke their keys (creation goes through private.create_ea_key), and change
-- nothing else of them.
create policy "owners revoke their EA keys" on public.ea_keys
  for update to authenticated
  using (user_id = (select auth.uid()))
  with check (user_id = (select auth.uid()));
revoke insert, update, delete, truncate on public.ea_keys from anon, authenticated;
grant update (name, revoked_at) on public.ea_keys to authenticated;

-- Revocation is permanent, and a key never changes owner.
create function private.guard_ea_key_update() returns trigger
language plpgsql
set search_path = ''
as $$
begin
  if old.revoked_at is not null and new.revoked_at is distinct from old.revoked_at then
    raise exception 'a revoked EA key stays revoked' using errcode = 'check_violation';
  end if;
  if new.user_id <> old.user_id or new.id <> old.id then
    raise exception 'an EA key cannot change owner' using errcode = 'check_violation';
  end if;
  return new;
end;
$$;
create trigger ea_keys_guard before update on public.ea_keys
  for each row execute function private.guard_ea_key_update();

create table private.ea_key_secrets (
  key_id uuid primary key references public.ea_keys (id) on delete cascade,
  secret_ciphertext text not null,
  encryption_key_id text not null,
  created_at timestamptz not null default now()
);
alter table private.ea_key_secrets enable row level security;

-- Creates a key for the calling user and stores its encrypted secret in one step. The caller may
-- choose the id, so it can bind the ciphertext to it (AES-GCM associated data) before the insert.
-- No scopes given: every scope there is.
create function private.create_ea_key(
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
grant execute on function private.create_ea_key(text, text[], text, text, uuid) to authenticated;

-- Used by the edge toolkit, as service_role, to verify an EA's signature: returns the owner and
-- the encrypted secret of a live key.
create function private.ea_key_credentials(p_key_id uuid)
returns table (user_id uuid, scopes text[], secret_ciphertext text, encryption_key_id text)
language sql stable
security definer
set search_path = ''
as $$
  select k.user_id, k.scopes, s.secret_ciphertext, s.encryption_key_id
  from public.ea_keys k
  join private.ea_key_secrets s on s.key_id = k.id
  where k.id = p_key_id and k.revoked_at is null
$$;
grant execute on function private.ea_key_credentials(uuid) to service_role;

-- ---------------------------------------------------------------------------------------------
-- MT5 sessions: one per connected terminal (account number + server) at a time.
create table public.mt5_sessions (
  id uuid primary key default gen_random_uuid(),
  user_id uuid not null references auth.users (id) on delete cascade,
  ea_key_id uuid references public.ea_keys (id) on delete set null,
  account_number bigint not null check (account_number > 0),
  broker text not null,
  server text not null,
  currency text not null check (currency ~ '^[A-Z0-9]{3,6}$'),
  leverage integer not null check (leverage > 0),
  ea_version text,
  terminal_build integer,
  balance numeric not null default 0,
  equity numeric not null default 0,
  margin numeric not null default 0,
  margin_free numeric not null default 0,
  margin_level numeric,
  profit numeric not null default 0,
  status public.session_status not null default 'active',
  connected_at timestamptz not null default now(),
  last_ping_at timestamptz not null default now(),
  disconnected_at timestamptz,
  ping_interval_seconds integer not null default 30 check (ping_interval_seconds between 5 and 3600),
  -- Risk settings handed to the EA on connect and applied to risk-sized signals.
  max_open_positions integer not null default 10 check (max_open_positions between 1 and 1000),
  max_risk_percent numeric not null default 2 check (max_risk_percent > 0 and max_risk_percent <= 100),
  -- Counters reported by the EA (the seed's /disconnect body).
  signals_sent integer not null default 0 check (signals_sent >= 0),
  signals_received integer not null default 0 check (signals_received >= 0),
  orders_executed integer not null default 0 check (orders_executed >= 0),
  errors integer not null default 0 check (errors >= 0),
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now()
);
-- GET /accounts/sessions: a user's sessions in list order, order by created_at desc, id desc
-- (keyset cursor; RLS adds user_id = auth.uid()). Not connected_at: a resume changes it.
create index mt5_sessions_user_id_created_idx on public.mt5_sessions (user_id, created_at desc, id desc);
create index mt5_sessions_ea_key_id_idx on public.mt5_sessions (ea_key_id);
-- At most one live session per terminal; reconnecting supersedes (see private.open_session below).
create unique index mt5_sessions_one_live_per_terminal
  on public.mt5_sessions (user_id, account_number, server) where status <> 'disconnected';
-- The stale sweep scans live sessions by last ping.
create index mt5_sessions_live_last_ping_idx on public.mt5_sessions (last_ping_at) where status = 'active';
alter table public.mt5_sessions enable row level security;

create policy "owners read their sessions" on public.mt5_sessions
  for select to authenticated using (user_id = (select auth.uid()));
create policy "EAs open sessions for their owner" on public.mt5_sessions
  for insert to rubi_ea
  with check (user_id = (select auth.uid()) and ea_key_id = ((select auth.jwt()) ->> 'ea_key_id')::uuid);
create policy "EAs update their owner's sessions" on public.mt5_sessions
  for update to rubi_ea
  using (user_id = (select auth.uid()) and ((select auth.jwt()) ->> 'ea_key_id') is not null)
  with check (user_id = (select auth.uid()) and ea_key_id = ((select auth.jwt()) ->> 'ea_key_id')::uuid);
-- Written by the connector EA's functions only: open_session, close_session (below), ping_session
-- (040_positions_snapshots.sql), report_signal's counters (030_signals.sql).
revoke insert, update, delete, truncate on public.mt5_sessions from anon, authenticated;
grant insert (user_id, ea_key_id, account_number, broker, server, currency, leverage, balance, equity, margin,
  margin_free, ea_version, terminal_build, ping_interval_seconds) on public.mt5_sessions to rubi_ea;
grant update (status, ea_key_id, broker, currency, leverage, balance, equity, margin, margin_free, margin_level, profit,
  ea_version, terminal_build, connected_at, last_ping_at, signals_sent, signals_received, orders_executed, errors)
  on public.mt5_sessions to rubi_ea;

-- The session state machine (enforced by private.enforce_transition, 010_foundation.sql).
insert into private.state_transitions (machine, from_state, to_state, actor) values
  ('session', '(new)', 'active', 'any'),
  ('session', 'active', 'disconnected', 'any'),
  ('session', 'active', 'stale', 'system'),
  ('session', 'stale', 'active', 'any'),
  ('session', 'stale', 'disconnected', 'any');

-- A ping (a new last_ping_at) revives a stale session; disconnecting stamps the time.
create function private.session_lifecycle() returns trigger
language plpgsql
set search_path = ''
as $$
begin
  if tg_op = 'UPDATE' and old.status = 'stale' and new.status = 'stale'
     and new.last_ping_at > old.last_ping_at then
    new.status := 'active';
  end if;
  if new.status = 'disconnected' and new.disconnected_at is null then
    new.disconnected_at := now();
  end if;
  return new;
end;
$$;
-- Named to sort before the transition check (triggers fire in name order).
create trigger mt5_sessions_a_lifecycle before update on public.mt5_sessions
  for each row execute function private.session_lifecycle();
create trigger mt5_sessions_transition before insert or update of status on public.mt5_sessions
  for each row execute function private.enforce_transition('session');
create trigger mt5_sessions_updated_at before update on public.mt5_sessions
  for each row execute function private.set_updated_at();
-- What a ping need not broadcast: an update that only moves last_ping_at (and updated_at) tells
-- the dashboard nothing; an idle terminal pings every 30 s all day. Figures, status and counters
-- still broadcast.
create trigger mt5_sessions_broadcast after insert or delete on public.mt5_sessions
  for each row execute function private.broadcast_to_owner();
create trigger mt5_sessions_broadcast_update after update on public.mt5_sessions
  for each row
  when ((to_jsonb(old) - 'last_ping_at' - 'updated_at') is distinct from (to_jsonb(new) - 'last_ping_at' - 'updated_at'))
  execute function private.broadcast_to_owner();

-- Cron (job rubi-sweep-stale-sessions, every minute): sessions silent for
-- `session_stale_multiplier` ping intervals become stale.
create function private.sweep_stale_sessions() returns integer
language plpgsql
security definer
set search_path = ''
as $$
declare
  n integer;
begin
  update public.mt5_sessions s
  set status = 'stale'
  where s.status = 'active'
    and s.last_ping_at < now() - make_interval(secs => s.ping_interval_seconds * private.setting('session_stale_multiplier'));
  get diagnostics n = row_count;
  return n;
end;
$$;

-- ---------------------------------------------------------------------------------------------
-- Symbol specifications reported by the EA: what risk-based lot sizing needs.
create table public.symbol_specs (
  session_id uuid not null references public.mt5_sessions (id) on delete cascade,
  user_id uuid not null references auth.users (id) on delete cascade,
  symbol text not null check (length(symbol) between 1 and 64),
  tick_size numeric not null check (tick_size > 0),
  tick_value numeric not null check (tick_value > 0),
  contract_size numeric not null check (contract_size > 0),
  volume_min numeric not null check (volume_min > 0),
  volume_max numeric not null,
  volume_step numeric not null check (volume_step > 0),
  digits integer not null check (digits between 0 and 10),
  updated_at timestamptz not null default now(),
  primary key (session_id, symbol),
  constraint symbol_specs_volume_range check (volume_max >= volume_min)
);
create index symbol_specs_user_id_idx on public.symbol_specs (user_id);
alter table public.symbol_specs enable row level security;

create policy "owners read their symbol specs" on public.symbol_specs
  for select to authenticated using (user_id = (select auth.uid()));
-- Rows that point at a session must point at one of the writer's own sessions.
create policy "EAs report symbol specs" on public.symbol_specs
  for insert to rubi_ea
  with check (
    user_id = (select auth.uid()) and ((select auth.jwt()) ->> 'ea_key_id') is not null
    and exists (select 1 from public.mt5_sessions s where s.id = session_id and s.user_id = (select auth.uid()))
  );
create policy "EAs update symbol specs" on public.symbol_specs
  for update to rubi_ea
  using (user_id = (select auth.uid()) and ((select auth.jwt()) ->> 'ea_key_id') is not null)
  with check (
    user_id = (select auth.uid())
    and exists (select 1 from public.mt5_sessions s where s.id = session_id and s.user_id = (select auth.uid()))
  );
-- Written by private.open_session only (below).
revoke insert, update, delete, truncate on public.symbol_specs from anon, authenticated;
grant insert (session_id, user_id, symbol, tick_size, tick_value, contract_size, volume_min, volume_max, volume_step, digits)
  on public.symbol_specs to rubi_ea;
grant update (tick_size, tick_value, contract_size, volume_min, volume_max, volume_step, digits) on public.symbol_specs to rubi_ea;
create trigger symbol_specs_updated_at before update on public.symbol_specs
  for each row execute function private.set_updated_at();

-- ---------------------------------------------------------------------------------------------
-- POST /connect: one live session per terminal (user, account number, server). A reconnect
-- resumes it, so signals already aimed at it are not lost. A terminal that comes back after a
-- disconnect gets a new session, which takes over what its earlier sessions left behind: signals
-- not yet delivered move to it, and so do DELIVERED ones not yet reported, delivered within
-- `signal_redelivery_window_seconds` (the next poll returns them again; the EA looks each signal id
-- up in its journal and in the terminal's history, where the order comment carries it, and reports
-- an order it already placed instead of placing a second one; older ones are expired by
-- private.expire_signals). Positions still marked open are closed, since the new session pushes the
-- true list. The symbol specifications are upserted in one statement.
-- Both run as the EA (security invoker, role rubi_ea), the caller being what the gate admitted
-- (private.ea_caller, 025_ea_request_path.sql); the session's policies and state machine decide as
-- for any write.
create function private.open_session(p_caller uuid, p_terminal jsonb)
returns table (id uuid, resumed boolean, ping_interval_seconds integer, max_open_positions integer, max_risk_percent numeric)
language plpgsql
set search_path = ''
as $$
declare
  v_user uuid := private.ea_caller(p_caller, 'ea_key_id');
  v_key uuid := (auth.jwt() ->> 'ea_key_id')::uuid;
  v_account bigint := (p_terminal ->> 'account_number')::bigint;
  v_server text := p_terminal ->> 'server';
  v_session public.mt5_sessions;
  v_resumed boolean := true;
begin
  update public.mt5_sessions s set
    status = 'active', ea_key_id = v_key, broker = p_terminal ->> 'broker', currency = p_terminal ->> 'currency',
    leverage = (p_terminal ->> 'leverage')::integer, balance = (p_terminal ->> 'balance')::numeric,
    equity = (p_terminal ->> 'equity')::numeric,
    margin = coalesce((p_terminal ->> 'margin')::numeric, s.margin), margin_free = coalesce((p_terminal ->> 'margin_free')::numeric, s.margin_free),
    ea_version = p_terminal ->> 'ea_version', terminal_build = (p_terminal ->> 'terminal_build')::integer,
    connected_at = now(), last_ping_at = now()
  where s.user_id = v_user and s.account_number = v_account and s.server = v_server and s.status <> 'disconnected'
  returning * into v_session;
  if v_session.id is null then
    v_resumed := false;
    insert into public.mt5_sessions (user_id, ea_key_id, account_number, broker, server, currency, leverage, balance, equity,
      margin, margin_free, ea_version, terminal_build, ping_interval_seconds)
    values (v_user, v_key, v_account, p_terminal ->> 'broker', v_server, p_terminal ->> 'currency',
      (p_terminal ->> 'leverage')::integer, (p_terminal ->> 'balance')::numeric, (p_terminal ->> 'equity')::numeric,
      coalesce((p_terminal ->> 'margin')::numeric, 0), coalesce((p_terminal ->> 'margin_free')::numeric, 0),
      p_terminal ->> 'ea_version', (p_terminal ->> 'terminal_build')::integer,
      private.setting('session_default_ping_interval_seconds')::integer)
    returning * into v_session;

    update public.trading_signals g set session_id = v_session.id
    where (g.expires_at is null or g.expires_at > now())
      and (g.status = 'PENDING'
           or (g.status = 'DELIVERED'
               and g.delivered_at > now() - make_interval(secs => private.setting('signal_redelivery_window_seconds'))))
      and g.session_id in (select s.id from public.mt5_sessions s
                           where s.user_id = v_user and s.account_number = v_account and s.server = v_server and s.status = 'disconnected');
    update public.positions p set closed_at = now()
    where p.closed_at is null
      and p.session_id in (select s.id from public.mt5_sessions s
                           where s.user_id = v_user and s.account_number = v_account and s.server = v_server and s.status = 'disconnected');
  end if;

  if jsonb_array_length(coalesce(p_terminal -> 'symbols', '[]'::jsonb)) > 0 then
    insert into public.symbol_specs (session_id, user_id, symbol, tick_size, tick_value, contract_size, volume_min, volume_max, volume_step, digits)
    -- A symbol listed twice: the last entry counts (one row per symbol for the upsert).
    select distinct on (sp.symbol) v_session.id, v_user, sp.symbol, sp.tick_size, sp.tick_value, sp.contract_size, sp.volume_min,
      sp.volume_max, sp.volume_step, sp.digits
    from rows from (jsonb_to_recordset(p_terminal -> 'symbols') as (symbol text, tick_size numeric, tick_value numeric,
      contract_size numeric, volume_min numeric, volume_max numeric, volume_step numeric, digits integer)) with ordinality
      as sp(symbol, tick_size, tick_value, contract_size, volume_min, volume_max, volume_step, digits, n)
    order by sp.symbol, sp.n desc
    on conflict (session_id, symbol) do update set
      tick_size = excluded.tick_size, tick_value = excluded.tick_value, contract_size = excluded.contract_size,
      volume_min = excluded.volume_min, volume_max = excluded.volume_max, volume_step = excluded.volume_step,
      digits = excluded.digits;
  end if;

  return query select v_session.id, v_resumed, v_session.ping_interval_seconds, v_session.max_open_positions, v_session.max_risk_percent;
end;
$$;
grant execute on function private.open_session(uuid, jsonb) to rubi_ea;

-- POST /disconnect: the EA closes its session with its counters.
create function private.close_session(p_caller uuid, p_session_id uuid, p_counters jsonb)
returns table (id uuid, disconnected_at timestamptz)
language plpgsql
set search_path = ''
as $$
declare
  v_status text;
  v_id uuid;
  v_at timestamptz;
begin
  perform private.ea_caller(p_caller, 'ea_key_id');
  select s.status into v_status from public.mt5_sessions s where s.id = p_session_id;
  if v_status is null then
    raise exception 'session not found' using errcode = 'no_data_found';
  end if;
  if v_status = 'disconnected' then
    raise exception 'session is already disconnected' using errcode = 'check_violation';
  end if;
  update public.mt5_sessions s set status = 'disconnected',
    signals_sent = coalesce((p_counters ->> 'signals_sent')::integer, s.signals_sent),
    signals_received = coalesce((p_counters ->> 'signals_received')::integer, s.signals_received),
    orders_executed = coalesce((p_counters ->> 'orders_executed')::integer, s.orders_executed),
    errors = coalesce((p_counters ->> 'errors')::integer, s.errors)
  where s.id = p_session_id
  returning s.id, s.disconnected_at into v_id, v_at;
  -- The session's UPDATE policy lets only the key it is connected with write it (another key of
  -- the same owner fails the policy's check with 42501 before this).
  if v_id is null then
    raise exception 'session not found' using errcode = 'no_data_found';
  end if;
  return query select v_id, v_at;
end;
$$;
grant execute on function private.close_session(uuid, uuid, jsonb) to rubi_ea;

-- Nothing in `private` is executable by PUBLIC; the grants above are the only way in.
revoke execute on all functions in schema private from public;
