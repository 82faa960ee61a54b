-- The operator's count of withheld closed trades by reason (rubi_closed_trades_withheld) stops
-- counting trades. private.ops_metrics counted them over the partial index closed_trades_withheld_idx,
-- which grows with history ('paused' and 'owned_elsewhere' are final); it now sums
-- private.account_withheld_trades, one row per account and reason, kept by the statement triggers
-- that already keep the unsettled cashback per account (private.count_cashback_unsettled: one
-- more upsert per statement and account, no fourth trigger pass on ingest). The metric's output is
-- unchanged. The index stays: private.set_fx_rate finds the 'no_fx_rate' trades through it.
--
-- The definitions are those of supabase/schemas/095_operations.sql.

-- Writers of closed_trades wait until this migration commits (after it, the trigger counts them):
-- the backfill below misses nothing and counts nothing twice. (In a DO block: the CLI sends a file
-- as one implicit transaction, where a top-level LOCK is refused.)
do $$ begin lock table public.closed_trades in share row exclusive mode; end $$;

-- Withheld closed trades per account and reason (cashback_withheld not null), kept by the same
-- statement triggers: an ingest adds its withheld trades, an update (accrual at verification, an
-- ownership found elsewhere, a rate set for 'no_fx_rate') moves them between reasons or out, a
-- delete takes them back. Per account, like the unsettled totals: an account's trades come from its
-- one EA, so no counter row is one that every EA's ingest updates.
-- Read by private.ops_metrics (summed per reason), instead of counting trades: 'paused' and
-- 'owned_elsewhere' are final, so their trades only accumulate.
create table private.account_withheld_trades (
  account_id uuid not null references public.trading_accounts (id) on delete cascade,
  reason public.cashback_withheld_reason not null,
  trades bigint not null default 0,
  primary key (account_id, reason)
);
alter table private.account_withheld_trades enable row level security;

create or replace function private.count_cashback_unsettled() returns trigger
language plpgsql
security definer
set search_path = ''
as $$
begin
  if tg_op = 'TRUNCATE' then
    delete from private.account_cashback_unsettled;
    delete from private.account_withheld_trades;
    return null;
  end if;
  -- Deltas of a deleted account (the cascade from trading_accounts) are dropped with it.
  if tg_op = 'INSERT' then
    -- (A new trade's account exists: its foreign key checked it before this statement trigger.)
    insert into private.account_cashback_unsettled as t (account_id, currency, amount)
    select r.account_id, r.currency, sum(r.cashback_amount) from new_rows r
    where r.settled_on is null and r.cashback_withheld is null and r.cashback_amount <> 0
    group by r.account_id, r.currency order by r.account_id, r.currency
    on conflict (account_id, currency) do update set amount = t.amount + excluded.amount;
    insert into private.account_withheld_trades as t (account_id, reason, trades)
    select r.account_id, r.cashback_withheld, count(*) from new_rows r
    where r.cashback_withheld is not null
    group by r.account_id, r.cashback_withheld order by r.account_id, r.cashback_withheld
    on conflict (account_id, reason) do update set trades = t.trades + excluded.trades;
  elsif tg_op = 'DELETE' then
    insert into private.account_cashback_unsettled as t (account_id, currency, amount)
    select r.account_id, r.currency, -sum(r.cashback_amount) from old_rows r
    where r.settled_on is null and r.cashback_withheld is null and r.cashback_amount <> 0
      and exists (select 1 from public.trading_accounts a where a.id = r.account_id)
    group by r.account_id, r.currency order by r.account_id, r.currency
    on conflict (account_id, currency) do update set amount = t.amount + excluded.amount;
    insert into private.account_withheld_trades as t (account_id, reason, trades)
    select r.account_id, r.cashback_withheld, -count(*) from old_rows r
    where r.cashback_withheld is not null
      and exists (select 1 from public.trading_accounts a where a.id = r.account_id)
    group by r.account_id, r.cashback_withheld order by r.account_id, r.cashback_withheld
    on conflict (account_id, reason) do update set trades = t.trades + excluded.trades;
  else
    insert into private.account_cashback_unsettled as t (account_id, currency, amount)
    select d.account_id, d.currency, sum(d.amount)
    from (
      select r.account_id, r.currency, r.cashback_amount as amount from new_rows r
      where r.settled_on is null and r.cashback_withheld is null
      union all
      select r.account_id, r.currency, -r.cashback_amount from old_rows r
      where r.settled_on is null and r.cashback_withheld is null
    ) d
    where exists (select 1 from public.trading_accounts a where a.id = d.account_id)
    group by d.account_id, d.currency
    having sum(d.amount) <> 0
    order by d.account_id, d.currency
    on conflict (account_id, currency) do update set amount = t.amount + excluded.amount;
    insert into private.account_withheld_trades as t (account_id, reason, trades)
    select d.account_id, d.reason, sum(d.n)
    from (
      select r.account_id, r.cashback_withheld as reason, 1 as n from new_rows r where r.cashback_withheld is not null
      union all
      select r.account_id, r.cashback_withheld, -1 from old_rows r where r.cashback_withheld is not null
    ) d
    where exists (select 1 from public.trading_accounts a where a.id = d.account_id)
    group by d.account_id, d.reason
    having sum(d.n) <> 0
    order by d.account_id, d.reason
    on conflict (account_id, reason) do update set trades = t.trades + excluded.trades;
  end if;
  return null;
end;
$$;

-- Backfill from the trades so far.
insert into private.account_withheld_trades (account_id, reason, trades)
select t.account_id, t.cashback_withheld, count(*) from public.closed_trades t
where t.cashback_withheld is not null
group by t.account_id, t.cashback_withheld;

create or replace function private.ops_metrics()
returns table (metric text, labels jsonb, value double precision)
language plpgsql stable
security definer
set search_path = ''
as $$
declare
  v_window interval := make_interval(secs => private.setting('ops_metrics_window_seconds')::double precision);
  v_nan constant double precision := 'NaN';
begin
  -- Sessions by status: the live ones exactly, the disconnected ones estimated.
  return query
    with live as (
      select s.status, count(*) as n from public.mt5_sessions s where s.status <> 'disconnected' group by s.status
    )
    select 'rubi_sessions', jsonb_build_object('status', e.st::text),
      (case when e.st = 'disconnected'
            then greatest((select c.reltuples from pg_catalog.pg_class c where c.oid = 'public.mt5_sessions'::regclass)
                          - (select coalesce(sum(l.n), 0) from live l), 0)
            else coalesce((select l.n from live l where l.status = e.st), 0) end)::double precision
    from unnest(enum_range(null::public.session_status)) e (st);

  return query
    select 'rubi_terminals_heard_from', '{"kind": "session"}'::jsonb, count(*)::double precision
    from public.mt5_sessions s where s.status = 'active' and s.last_ping_at >= now() - v_window
    union all
    select 'rubi_terminals_heard_from', '{"kind": "account"}'::jsonb, count(*)::double precision
    from public.trading_accounts a where a.last_seen_at >= now() - v_window and a.deleted_at is null;

  -- Signals by status, from the per-user counters.
  return query
    select 'rubi_signals', jsonb_build_object('status', x.status), coalesce(x.n, 0)::double precision
    from (select sum(u.pending) as pending, sum(u.delivered) as delivered, sum(u.executed) as executed,
                 sum(u.rejected) as rejected, sum(u.failed) as failed, sum(u.unknown) as unknown,
                 sum(u.expired) as expired, sum(u.cancelled) as cancelled
          from public.user_signal_stats u) t
    cross join lateral (values ('PENDING', t.pending), ('DELIVERED', t.delivered), ('EXECUTED', t.executed),
                               ('REJECTED', t.rejected), ('FAILED', t.failed), ('UNKNOWN', t.unknown),
                               ('EXPIRED', t.expired), ('CANCELLED', t.cancelled)) x (status, n);

  return query
    select 'rubi_signal_oldest_pending_age_seconds', '{}'::jsonb,
      coalesce(extract(epoch from now() - min(s.created_at)), 0)::double precision
    from public.trading_signals s where s.status = 'PENDING';

  -- Delivery latency over the window: created -> delivered (every delivered signal that completed
  -- in it) and delivered -> reported (those the EA reported: EXECUTED, REJECTED, FAILED, UNKNOWN).
  return query
    with w as (
      select extract(epoch from s.delivered_at - s.created_at)::double precision as delivered,
        case when s.status in ('EXECUTED', 'REJECTED', 'FAILED', 'UNKNOWN')
             then extract(epoch from s.completed_at - s.delivered_at)::double precision end as reported
      from public.trading_signals s
      where s.delivered_at is not null and s.completed_at >= now() - v_window
    ), q as (
      select percentile_cont(array[0.5, 0.9, 0.99]::double precision[]) within group (order by w.delivered) as delivered,
        percentile_cont(array[0.5, 0.9, 0.99]::double precision[]) within group (order by w.reported) as reported,
        count(*) as n_delivered, count(w.reported) as n_reported
      from w
    )
    select 'rubi_signal_latency_seconds', jsonb_build_object('stage', st.stage, 'quantile', qs.quantile),
      coalesce(st.quantiles[qs.i], v_nan)
    from q
    cross join lateral (values ('delivered', q.delivered), ('reported', q.reported)) st (stage, quantiles)
    cross join (values (1, '0.5'), (2, '0.9'), (3, '0.99')) qs (i, quantile)
    union all
    select 'rubi_signal_latency_window_signals', jsonb_build_object('stage', st.stage), st.n::double precision
    from q cross join lateral (values ('delivered', q.n_delivered), ('reported', q.n_reported)) st (stage, n);

  -- Closed trades (estimate) and the withheld ones by reason (exact, the per-account counters).
  return query
    select 'rubi_closed_trades', '{}'::jsonb,
      greatest((select c.reltuples from pg_catalog.pg_class c where c.oid = 'public.closed_trades'::regclass), 0)::double precision;
  return query
    with w as (
      select t.reason, sum(t.trades) as n from private.account_withheld_trades t group by t.reason
    )
    select 'rubi_closed_trades_withheld', jsonb_build_object('reason', e.r::text),
      coalesce((select w.n from w where w.reason = e.r), 0)::double precision
    from unnest(enum_range(null::public.cashback_withheld_reason)) e (r);

  -- Cashback: accrued and not settled yet (per-account totals), settled (the ledger's totals).
  return query
    select 'rubi_cashback_accrued_unsettled', jsonb_build_object('currency', u.currency), sum(u.amount)::double precision
    from private.account_cashback_unsettled u
    group by u.currency;
  return query
    select 'rubi_cashback_settled', jsonb_build_object('currency', s.currency), s.amount::double precision
    from private.cashback_settled_totals s;

  -- Trading accounts (not deleted) by status, and those in error by code.
  return query
    with a as (
      select t.status, count(*) as n from public.trading_accounts t where t.deleted_at is null group by t.status
    )
    select 'rubi_accounts', jsonb_build_object('status', e.st::text),
      coalesce((select a.n from a where a.status = e.st), 0)::double precision
    from unnest(enum_range(null::public.account_status)) e (st);
  return query
    select 'rubi_accounts_in_error', jsonb_build_object('error_code', coalesce(t.error_code, 'none')), count(*)::double precision
    from public.trading_accounts t where t.status = 'error' and t.deleted_at is null
    group by coalesce(t.error_code, 'none');

  -- VPS hosts: how many, and per live host its heartbeat age, capacity and accounts held.
  return query
    select 'rubi_vps_hosts', jsonb_build_object('state', x.state), x.n::double precision
    from (select count(*) filter (where h.revoked_at is null) as live, count(*) filter (where h.revoked_at is not null) as revoked
          from private.vps_hosts h) c
    cross join lateral (values ('active', c.live), ('revoked', c.revoked)) x (state, n);
  return query
    select x.metric, jsonb_build_object('host', h.name), x.value
    from private.vps_hosts h
    cross join lateral (select count(*) as n from public.trading_accounts a where a.vps_host_id = h.id) held
    cross join lateral (values
      ('rubi_vps_host_heartbeat_age_seconds', coalesce(extract(epoch from now() - h.last_heartbeat_at)::double precision, v_nan)),
      ('rubi_vps_host_capacity', h.capacity::double precision),
      ('rubi_vps_host_accounts', held.n::double precision)) x (metric, value)
    where h.revoked_at is null;

  -- pg_cron: each job's newest run. Absent (no cron schema): no series, and rubi_cron_available 0.
  if to_regclass('cron.job') is null or to_regclass('cron.job_run_details') is null then
    return query select 'rubi_cron_available', '{}'::jsonb, 0::double precision;
  else
    return query select 'rubi_cron_available', '{}'::jsonb, 1::double precision;
    return query
      select x.metric, jsonb_build_object('job', j.jobname::text), x.value
      from cron.job j
      cross join lateral (
        select r.start_time, r.status from cron.job_run_details r where r.jobid = j.jobid order by r.runid desc limit 1
      ) d
      cross join lateral (values
        ('rubi_cron_job_last_run_timestamp_seconds', extract(epoch from d.start_time)::double precision),
        ('rubi_cron_job_last_run_success', case d.status when 'succeeded' then 1 when 'failed' then 0 else v_nan end)) x (metric, value)
      where j.jobname is not null and d.start_time is not null;
  end if;

  -- Housekeeping tables: replay protection and rate limits (row estimates, bytes on disk).
  return query
    select x.metric, jsonb_build_object('table', t.name), x.value
    from (values ('seen_request_ids', 'private.seen_request_ids'::regclass), ('rate_limits', 'private.rate_limits'::regclass)) t (name, rel)
    cross join lateral (values
      ('rubi_table_rows_estimate', greatest((select c.reltuples from pg_catalog.pg_class c where c.oid = t.rel), 0)::double precision),
      ('rubi_table_size_bytes', pg_catalog.pg_total_relation_size(t.rel)::double precision)) x (metric, value);
end;
$$;
