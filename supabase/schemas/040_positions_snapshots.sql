-- Signals bridge, part 3: what a terminal reports about its account: open positions (POST
-- /positions, private.push_positions), and the account snapshots every ping writes (POST /ping,
-- private.ping_session). Both run as the connector EA, through its gate (025_ea_request_path.sql).

-- ---------------------------------------------------------------------------------------------
-- Positions: the EA pushes its full list of open positions; a ticket missing from the list is
-- closed (closed_at set).
create table public.positions (
  session_id uuid not null references public.mt5_sessions (id) on delete cascade,
  ticket bigint not null check (ticket > 0),
  user_id uuid not null references auth.users (id) on delete cascade,
  symbol text not null,
  type public.trade_side not null,
  volume numeric not null check (volume > 0),
  open_price numeric not null check (open_price > 0),
  current_price numeric,
  stop_loss numeric,
  take_profit numeric,
  profit numeric not null default 0,
  swap numeric not null default 0,
  commission numeric not null default 0,
  magic bigint,
  comment text,
  opened_at timestamptz not null,
  closed_at timestamptz,
  updated_at timestamptz not null default now(),
  primary key (session_id, ticket)
);
-- GET /positions: a user's positions in list order, order by opened_at desc, session_id desc,
-- ticket desc (keyset cursor; RLS adds user_id = auth.uid()).
create index positions_user_id_opened_idx on public.positions (user_id, opened_at desc, session_id desc, ticket desc);
create index positions_open_idx on public.positions (session_id) where closed_at is null;
-- Open positions of a user (GET /accounts/stats), without walking the closed ones.
create index positions_user_open_idx on public.positions (user_id) where closed_at is null;
alter table public.positions enable row level security;

create policy "owners read their positions" on public.positions
  for select to authenticated using (user_id = (select auth.uid()));
create policy "EAs record positions" on public.positions
  for insert to rubi_ea
  with check (
    user_id = (select auth.uid()) and ((select auth.jwt()) ->> 'ea_key_id') is not null
    and exists (select 1 from public.mt5_sessions s where s.id = session_id and s.user_id = (select auth.uid()))
  );
create policy "EAs update positions" on public.positions
  for update to rubi_ea
  using (user_id = (select auth.uid()) and ((select auth.jwt()) ->> 'ea_key_id') is not null)
  with check (
    user_id = (select auth.uid())
    and exists (select 1 from public.mt5_sessions s where s.id = session_id and s.user_id = (select auth.uid()))
  );
-- Written by private.push_positions (below) and private.open_session (020_ea_keys_sessions.sql) only.
revoke insert, update, delete, truncate on public.positions from anon, authenticated;
grant insert (session_id, ticket, user_id, symbol, type, volume, open_price, current_price, stop_loss, take_profit, profit,
  swap, commission, magic, comment, opened_at, closed_at) on public.positions to rubi_ea;
grant update (symbol, type, volume, open_price, current_price, stop_loss, take_profit, profit, swap, commission, magic,
  comment, opened_at, closed_at) on public.positions to rubi_ea;
create trigger positions_updated_at before update on public.positions
  for each row execute function private.set_updated_at();
create trigger positions_broadcast after insert or update or delete on public.positions
  for each row execute function private.broadcast_to_owner();

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
grant execute on function private.push_positions(uuid, uuid, jsonb) to rubi_ea;

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
  for insert to rubi_ea
  with check (
    user_id = (select auth.uid()) and ((select auth.jwt()) ->> 'ea_key_id') is not null
    and exists (select 1 from public.mt5_sessions s where s.id = session_id and s.user_id = (select auth.uid()))
  );
-- Written by private.ping_session only (below). The partitions, in `private`, are granted to no API role.
revoke insert, update, delete, truncate on public.account_snapshots from anon, authenticated;
grant insert (session_id, user_id, captured_at, balance, equity, margin, margin_free, margin_level, profit)
  on public.account_snapshots to rubi_ea;

-- POST /ping: the figures, a snapshot, and how many signals wait. Security invoker: runs as the EA
-- (role rubi_ea).
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
  -- What the next poll returns or delivers: the unexpired PENDING signals, and every DELIVERED one
  -- not yet reported, expired or not (the poll hands those back until the EA reports them).
  select count(*)::integer into v_pending from public.trading_signals
  where session_id = p_session_id and user_id = v_user and status in ('PENDING', 'DELIVERED')
    and (status = 'DELIVERED' or expires_at is null or expires_at > now());
  return jsonb_build_object('pending_signals', v_pending, 'ping_interval_seconds', v_interval);
end;
$$;
grant execute on function private.ping_session(uuid, uuid, jsonb) to rubi_ea;

-- Cron (job rubi-maintain-snapshot-partitions, 00:30 UTC): create the daily partitions from
-- yesterday to `snapshot_partitions_ahead_days` ahead, moving any rows the default partition caught
-- for those days, and drop partitions older than `snapshot_retention_days`. Returns the number of
-- partitions created plus dropped.
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

-- The daily partitions around today exist from the start (private.account_snapshots_pYYYYMMDD).
select private.maintain_snapshot_partitions();

-- Nothing in `private` is executable by PUBLIC; the grants above are the only way in.
revoke execute on all functions in schema private from public;
