-- Data paths that stay flat as data grows (issue #13, item 3).
--
-- 1. The EA hot path. `ping` counts a session's waiting signals and `GET /signals/pending` picks and
--    lists them; both run as the EA's user, so RLS adds `user_id = auth.uid()`. With the index
--    (session_id, status, created_at) the planner could not use that condition in the index and,
--    for a user with a large history, ANDed in a bitmap of trading_signals_user_id_idx: every ping
--    touched the whole history of the user. The new index holds user_id after (session_id, status):
--    all three conditions are index conditions, and the scan touches only the session's rows in
--    the asked status; under RLS (user_id fixed) it still yields them in created_at order.
--
--    It replaces trading_signals_session_status_idx: every query filtering on session_id does so
--    with session_id (and status) equality, which the new index serves as well; the ones that also
--    order by created_at (pick and list pending / delivered) run under RLS, where user_id is fixed
--    too; the foreign key to mt5_sessions (cascade on session delete) is served by the leading
--    session_id column.
--
-- 2. GET /accounts/stats read a count of every signal the user ever had. Per-user counters, kept by
--    statement-level triggers on trading_signals (insert, status or owner change, delete, truncate),
--    make it one row read. Concurrent writers add deltas with `insert ... on conflict do update set
--    n = n + excluded.n`, so no update is lost; one row per user (and rows taken in user_id order
--    within a statement) keeps lock order simple. Open positions are a small live set: they stay a
--    count, but over a partial index of open positions by user instead of the user's whole history.

-- ---------------------------------------------------------------------------------------------
-- 1. Pending / delivered signals of one session, under RLS.
create index trading_signals_session_status_user_idx
  on public.trading_signals (session_id, status, user_id, created_at);
drop index public.trading_signals_session_status_idx;

-- ---------------------------------------------------------------------------------------------
-- 2. Per-user signal counters. Read by their owner (RLS); written only by the triggers below.
create table public.user_signal_stats (
  user_id uuid primary key references auth.users (id) on delete cascade,
  pending bigint not null default 0,
  delivered bigint not null default 0,
  executed bigint not null default 0,
  rejected bigint not null default 0,
  failed bigint not null default 0,
  expired bigint not null default 0,
  cancelled bigint not null default 0
);
alter table public.user_signal_stats enable row level security;
create policy "owners read their signal stats" on public.user_signal_stats
  for select to authenticated using (user_id = (select auth.uid()));
revoke insert, update, delete, truncate, references, trigger on public.user_signal_stats
  from anon, authenticated, service_role;

-- The one place counters change: adds per-(user, status) deltas, users in user_id order (so two
-- statements lock counter rows in the same order), concurrent writers never losing an update.
-- Deltas for a user that no longer exists (a user deleted: the cascade removes signals and
-- counters in some order) are dropped.
create function private.add_signal_stats(p_deltas jsonb) returns void
language sql
security definer
set search_path = ''
as $$
  insert into public.user_signal_stats as s
    (user_id, pending, delivered, executed, rejected, failed, expired, cancelled)
  select d.user_id,
    coalesce(sum(d.n) filter (where d.status = 'PENDING'), 0), coalesce(sum(d.n) filter (where d.status = 'DELIVERED'), 0),
    coalesce(sum(d.n) filter (where d.status = 'EXECUTED'), 0), coalesce(sum(d.n) filter (where d.status = 'REJECTED'), 0),
    coalesce(sum(d.n) filter (where d.status = 'FAILED'), 0), coalesce(sum(d.n) filter (where d.status = 'EXPIRED'), 0),
    coalesce(sum(d.n) filter (where d.status = 'CANCELLED'), 0)
  from jsonb_to_recordset(p_deltas) as d (user_id uuid, status text, n bigint)
  where exists (select 1 from auth.users u where u.id = d.user_id)
  group by d.user_id
  order by d.user_id
  on conflict (user_id) do update set
    pending = s.pending + excluded.pending, delivered = s.delivered + excluded.delivered,
    executed = s.executed + excluded.executed, rejected = s.rejected + excluded.rejected,
    failed = s.failed + excluded.failed, expired = s.expired + excluded.expired,
    cancelled = s.cancelled + excluded.cancelled
$$;
revoke execute on function private.add_signal_stats(jsonb) from public;
comment on function private.add_signal_stats(jsonb) is
  'Adds [{user_id, status, n}] deltas to public.user_signal_stats (called by the trading_signals statement triggers only).';

-- Security definer: the signals are written by API roles, which cannot write the counters.
-- Transition tables are not visible to called functions, so each event turns its rows into
-- deltas here (grouped, so the jsonb holds one entry per user and status) and hands them over.
create function private.count_signal_stats() returns trigger
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_deltas jsonb;
begin
  if tg_op = 'INSERT' then
    select jsonb_agg(jsonb_build_object('user_id', g.user_id, 'status', g.status, 'n', g.n)) into v_deltas
    from (select r.user_id, r.status, count(*) as n from new_rows r group by 1, 2) g;
  elsif tg_op = 'DELETE' then
    select jsonb_agg(jsonb_build_object('user_id', g.user_id, 'status', g.status, 'n', -g.n)) into v_deltas
    from (select r.user_id, r.status, count(*) as n from old_rows r group by 1, 2) g;
  elsif tg_op = 'UPDATE' then
    -- Only a change of status or owner moves a count.
    select jsonb_agg(jsonb_build_object('user_id', g.user_id, 'status', g.status, 'n', g.n)) into v_deltas
    from (
      select x.user_id, x.status, sum(x.n) as n
      from old_rows o
      join new_rows w on w.id = o.id
      cross join lateral (values (o.user_id, o.status, -1), (w.user_id, w.status, 1)) as x (user_id, status, n)
      where (o.user_id, o.status) is distinct from (w.user_id, w.status)
      group by 1, 2
    ) g;
  else -- TRUNCATE
    update public.user_signal_stats
    set pending = 0, delivered = 0, executed = 0, rejected = 0, failed = 0, expired = 0, cancelled = 0;
    return null;
  end if;
  if v_deltas is not null then
    perform private.add_signal_stats(v_deltas);
  end if;
  return null;
end;
$$;
revoke execute on function private.count_signal_stats() from public;

create trigger trading_signals_stats_insert after insert on public.trading_signals
  referencing new table as new_rows
  for each statement execute function private.count_signal_stats();
create trigger trading_signals_stats_update after update on public.trading_signals
  referencing old table as old_rows new table as new_rows
  for each statement execute function private.count_signal_stats();
create trigger trading_signals_stats_delete after delete on public.trading_signals
  referencing old table as old_rows
  for each statement execute function private.count_signal_stats();
create trigger trading_signals_stats_truncate after truncate on public.trading_signals
  for each statement execute function private.count_signal_stats();

-- Backfill from the signals already there. Creating the triggers above took a lock that blocks
-- writers of trading_signals until this migration commits: nothing is counted twice or missed.
insert into public.user_signal_stats (user_id, pending, delivered, executed, rejected, failed, expired, cancelled)
select g.user_id,
  count(*) filter (where g.status = 'PENDING'), count(*) filter (where g.status = 'DELIVERED'),
  count(*) filter (where g.status = 'EXECUTED'), count(*) filter (where g.status = 'REJECTED'),
  count(*) filter (where g.status = 'FAILED'), count(*) filter (where g.status = 'EXPIRED'),
  count(*) filter (where g.status = 'CANCELLED')
from public.trading_signals g
group by g.user_id;

-- ---------------------------------------------------------------------------------------------
-- Open positions of a user (GET /accounts/stats), without walking the closed ones.
create index positions_user_open_idx on public.positions (user_id) where closed_at is null;
