-- Signals bridge, part 1: EA keys, MT5 sessions, account snapshots, symbol specifications.
--
-- RLS conventions used in every migration (Supabase's performance guidance):
--   * policies name their role (`to authenticated`), so anon never evaluates them;
--   * auth.uid() / auth.jwt() are wrapped in `(select ...)` so they run once per statement;
--   * every column a policy filters on is indexed.
-- Writes that only a terminal can make (sessions, snapshots, positions, orders) require the
-- EA claim `ea_key_id`, which our edge toolkit sets after verifying the request signature and
-- which Supabase Auth never puts in a user's JWT: a dashboard user cannot forge terminal data
-- through the Data API.

-- ---------------------------------------------------------------------------------------------
-- EA keys: credentials for the connector EA. The secret is encrypted (AES-256-GCM, see
-- packages/crypto) and lives in private.ea_key_secrets; users only see metadata.
create table public.ea_keys (
  id uuid primary key default gen_random_uuid(),
  user_id uuid not null references auth.users (id) on delete cascade,
  name text not null check (length(name) between 1 and 100),
  scopes text[] not null default array['connect', 'ping', 'signals', 'positions'],
  created_at timestamptz not null default now(),
  last_used_at timestamptz,
  revoked_at timestamptz,
  constraint ea_keys_scopes_known check (scopes <@ array['connect', 'ping', 'signals', 'positions'])
);
create index ea_keys_user_id_idx on public.ea_keys (user_id);
alter table public.ea_keys enable row level security;

create policy "owners read their EA keys" on public.ea_keys
  for select to authenticated using (user_id = (select auth.uid()));
-- Users rename and revoke their keys (creation goes through private.create_ea_key).
create policy "owners revoke their EA keys" on public.ea_keys
  for update to authenticated
  using (user_id = (select auth.uid()))
  with check (user_id = (select auth.uid()));

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
  values (coalesce(p_id, gen_random_uuid()), v_user, p_name, coalesce(p_scopes, array['connect', 'ping', 'signals', 'positions']))
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
  status text not null default 'active' check (status in ('active', 'disconnected', 'stale')),
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
create index mt5_sessions_user_id_idx on public.mt5_sessions (user_id, connected_at desc);
create index mt5_sessions_ea_key_id_idx on public.mt5_sessions (ea_key_id);
-- At most one live session per terminal; reconnecting supersedes (see the connect function).
create unique index mt5_sessions_one_live_per_terminal
  on public.mt5_sessions (user_id, account_number, server) where status <> 'disconnected';
-- The stale sweep scans live sessions by last ping.
create index mt5_sessions_live_last_ping_idx on public.mt5_sessions (last_ping_at) where status = 'active';
alter table public.mt5_sessions enable row level security;

create policy "owners read their sessions" on public.mt5_sessions
  for select to authenticated using (user_id = (select auth.uid()));
create policy "EAs open sessions for their owner" on public.mt5_sessions
  for insert to authenticated
  with check (user_id = (select auth.uid()) and ea_key_id = ((select auth.jwt()) ->> 'ea_key_id')::uuid);
create policy "EAs update their owner's sessions" on public.mt5_sessions
  for update to authenticated
  using (user_id = (select auth.uid()) and ((select auth.jwt()) ->> 'ea_key_id') is not null)
  with check (user_id = (select auth.uid()) and ea_key_id = ((select auth.jwt()) ->> 'ea_key_id')::uuid);

insert into private.state_transitions (machine, from_state, to_state, actor) values
  ('session', '(new)', 'active', 'any'),
  ('session', 'active', 'disconnected', 'any'),
  ('session', 'active', 'stale', 'system'),
  ('session', 'stale', 'active', 'any'),
  ('session', 'stale', 'disconnected', 'any');

create trigger mt5_sessions_transition before insert or update of status on public.mt5_sessions
  for each row execute function private.enforce_transition('session');

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
create trigger mt5_sessions_updated_at before update on public.mt5_sessions
  for each row execute function private.set_updated_at();
create trigger mt5_sessions_broadcast after insert or update or delete on public.mt5_sessions
  for each row execute function private.broadcast_to_owner();

-- Cron: sessions silent for `session_stale_multiplier` ping intervals become stale.
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
  for insert to authenticated
  with check (
    user_id = (select auth.uid()) and ((select auth.jwt()) ->> 'ea_key_id') is not null
    and exists (select 1 from public.mt5_sessions s where s.id = session_id and s.user_id = (select auth.uid()))
  );
create policy "EAs update symbol specs" on public.symbol_specs
  for update to authenticated
  using (user_id = (select auth.uid()) and ((select auth.jwt()) ->> 'ea_key_id') is not null)
  with check (
    user_id = (select auth.uid())
    and exists (select 1 from public.mt5_sessions s where s.id = session_id and s.user_id = (select auth.uid()))
  );
create trigger symbol_specs_updated_at before update on public.symbol_specs
  for each row execute function private.set_updated_at();

-- ---------------------------------------------------------------------------------------------
-- Account snapshots: a time series written by every ping. Native range partitioning by day
-- (partitions live in `private`, out of the Data API's reach; the parent's RLS applies to every
-- query through it), a BRIN index for time scans, retention by dropping whole partitions.
create table public.account_snapshots (
  session_id uuid not null references public.mt5_sessions (id) on delete cascade,
  user_id uuid not null references auth.users (id) on delete cascade,
  captured_at timestamptz not null default now(),
  balance numeric not null,
  equity numeric not null,
  margin numeric not null default 0,
  margin_free numeric not null default 0,
  margin_level numeric,
  profit numeric not null default 0,
  primary key (session_id, captured_at)
) partition by range (captured_at);
create index account_snapshots_captured_at_brin on public.account_snapshots using brin (captured_at);
create index account_snapshots_user_id_idx on public.account_snapshots (user_id);
-- Rows outside every daily partition (e.g. if maintenance stopped) still have a home.
create table private.account_snapshots_default partition of public.account_snapshots default;
alter table public.account_snapshots enable row level security;

create policy "owners read their snapshots" on public.account_snapshots
  for select to authenticated using (user_id = (select auth.uid()));
create policy "EAs record snapshots" on public.account_snapshots
  for insert to authenticated
  with check (
    user_id = (select auth.uid()) and ((select auth.jwt()) ->> 'ea_key_id') is not null
    and exists (select 1 from public.mt5_sessions s where s.id = session_id and s.user_id = (select auth.uid()))
  );

-- Cron: create the daily partitions from yesterday to `snapshot_partitions_ahead_days` ahead,
-- moving any rows the default partition caught for those days, and drop partitions older than
-- `snapshot_retention_days`. Returns the number of partitions created plus dropped.
create function private.maintain_snapshot_partitions() returns integer
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_day date;
  v_name text;
  v_changes integer := 0;
  v_part record;
  v_keep_from date := (now() at time zone 'utc')::date - private.setting('snapshot_retention_days')::integer;
begin
  for v_day in
    select d::date from generate_series(
      (now() at time zone 'utc')::date - 1,
      (now() at time zone 'utc')::date + private.setting('snapshot_partitions_ahead_days')::integer,
      interval '1 day') as d
  loop
    v_name := 'account_snapshots_p' || to_char(v_day, 'YYYYMMDD');
    continue when to_regclass('private.' || v_name) is not null;
    execute format('create table private.%I (like public.account_snapshots including defaults including constraints)', v_name);
    execute format(
      'with moved as (delete from private.account_snapshots_default where captured_at >= $1 and captured_at < $2 returning *)
       insert into private.%I select * from moved', v_name)
      using (v_day::timestamp at time zone 'utc'), ((v_day + 1)::timestamp at time zone 'utc');
    execute format('alter table public.account_snapshots attach partition private.%I for values from (%L) to (%L)',
      v_name, (v_day::timestamp at time zone 'utc'), ((v_day + 1)::timestamp at time zone 'utc'));
    v_changes := v_changes + 1;
  end loop;

  for v_part in
    select c.relname
    from pg_catalog.pg_inherits i
    join pg_catalog.pg_class c on c.oid = i.inhrelid
    join pg_catalog.pg_namespace n on n.oid = c.relnamespace
    where i.inhparent = 'public.account_snapshots'::regclass
      and n.nspname = 'private'
      and c.relname ~ '^account_snapshots_p[0-9]{8}$'
      and to_date(substring(c.relname from '[0-9]{8}$'), 'YYYYMMDD') < v_keep_from
  loop
    execute format('drop table private.%I', v_part.relname);
    v_changes := v_changes + 1;
  end loop;
  -- Rows the default partition caught are subject to the same retention.
  delete from private.account_snapshots_default where captured_at < (v_keep_from::timestamp at time zone 'utc');
  return v_changes;
end;
$$;

select private.maintain_snapshot_partitions();

-- Nothing in `private` is executable by PUBLIC; the grants above are the only way in.
revoke execute on all functions in schema private from public;
