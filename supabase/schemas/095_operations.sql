-- Operations (issue #16): what an operator sees of the running system, and the key they see it with.
--
-- The `ops` Edge Function serves two routes to an operator key (private.operator_keys): GET
-- /ops/metrics (Prometheus text, from private.ops_metrics) and GET /ops/fleet (JSON, from
-- private.ops_fleet). Both functions are security definer and executable by service_role only;
-- the function calls them after it checked the key (private.authenticate_operator).
--
-- A scrape every 15 s must stay cheap however long the history is, so private.ops_metrics never
-- scans a table that grows with history. What each figure reads:
--   sessions            live ones (status <> 'disconnected', the partial unique index); the
--                       disconnected ones are pg_class.reltuples minus the live ones: an estimate
--   terminals heard     live sessions by last ping (partial index); accounts by last_seen_at
--   signals by status   public.user_signal_stats (one row per user, kept by statement triggers)
--   oldest PENDING      the partial index on PENDING signals
--   delivery latency    signals completed in the last window (trading_signals_completed_at_idx,
--                       030_signals.sql): quantiles computed at scrape time, see below
--   closed trades       pg_class.reltuples (an estimate); withheld ones exactly, by reason, from
--                       private.account_withheld_trades (below): one row per account and reason,
--                       kept by the same statement triggers on closed_trades
--   cashback accrued    private.account_cashback_unsettled (below): one row per account and
--                       currency, kept by statement triggers on closed_trades
--   cashback settled    private.cashback_settled_totals (below), kept by statement triggers on the
--                       ledger, whose only writer is the daily settlement
--   accounts, hosts     public.trading_accounts and private.vps_hosts: one row per account or host
--                       (the fleet's size, not its history)
--   cron                each job's newest run (cron.job_run_details by runid, newest first)
--   replay, rate limits pg_class.reltuples (estimates) and pg_total_relation_size
--
-- Delivery latency is computed from the window's signals, not kept in histogram buckets by the
-- signal triggers: buckets would be a few counter rows every report of every EA updates (one hot
-- row per bucket across all users, on the EA's hot path), while the window's rows are an index
-- range the scrape reads once; the price is one more index entry when a signal completes (an
-- update that changes `status`, indexed already, so never a HOT update anyway).

-- ---------------------------------------------------------------------------------------------
-- Operator keys: one per operator or scraper (Prometheus, the fleet command), stored as the
-- SHA-256 of the key (shown once by `npm run vps-host -- operator-key create <name>`). Not the
-- service_role key (which opens everything) and not a VPS host key (which acts as one host).
create table private.operator_keys (
  id uuid primary key default gen_random_uuid(),
  name text not null unique check (name ~ '^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$'),
  key_hash text not null unique check (key_hash ~ '^[0-9a-f]{64}$'),
  created_at timestamptz not null default now(),
  revoked_at timestamptz
);
alter table private.operator_keys enable row level security;
comment on table private.operator_keys is
  'Keys of the operator routes (GET /ops/metrics, GET /ops/fleet), as SHA-256 hashes. Revoked keys stay (their name too).';

create function private.authenticate_operator(p_key_hash text) returns uuid
language sql stable
security definer
set search_path = ''
as $$
  select k.id from private.operator_keys k where k.key_hash = p_key_hash and k.revoked_at is null
$$;
grant execute on function private.authenticate_operator(text) to service_role;

-- ---------------------------------------------------------------------------------------------
-- Cashback accrued and not settled yet, per account and currency: the sum of cashback_amount of
-- the account's unsettled, not withheld closed trades, kept by the statement triggers below (an
-- ingest, a settlement, an accrual at verification, a delete each add their difference). Per
-- account, not per currency: an account's trades come from its one EA, so ingests never queue on
-- another account's row (one row per currency would be a hot row every ingest of every EA
-- updates); the nightly settlement updates the rows of the accounts it settles, in account order.
-- Read by private.ops_metrics (summed per currency: one row per account, not per trade).
create table private.account_cashback_unsettled (
  account_id uuid not null references public.trading_accounts (id) on delete cascade,
  currency text not null,
  amount numeric not null default 0,
  primary key (account_id, currency)
);
alter table private.account_cashback_unsettled enable row level security;

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

create function private.count_cashback_unsettled() returns trigger
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

create trigger closed_trades_unsettled_insert after insert on public.closed_trades
  referencing new table as new_rows
  for each statement execute function private.count_cashback_unsettled();
create trigger closed_trades_unsettled_update after update on public.closed_trades
  referencing old table as old_rows new table as new_rows
  for each statement execute function private.count_cashback_unsettled();
create trigger closed_trades_unsettled_delete after delete on public.closed_trades
  referencing old table as old_rows
  for each statement execute function private.count_cashback_unsettled();
create trigger closed_trades_unsettled_truncate after truncate on public.closed_trades
  for each statement execute function private.count_cashback_unsettled();

-- ---------------------------------------------------------------------------------------------
-- Settled cashback per currency, as the ledger holds it: the sum of public.cashback_ledger.amount,
-- kept by the statement triggers below (the ledger's only writer is the daily settlement, so the
-- rows are never contended). Read by private.ops_metrics instead of summing the whole ledger.
create table private.cashback_settled_totals (
  currency text primary key,
  amount numeric not null default 0
);
alter table private.cashback_settled_totals enable row level security;

create function private.count_cashback_settled() returns trigger
language plpgsql
security definer
set search_path = ''
as $$
begin
  if tg_op = 'TRUNCATE' then
    delete from private.cashback_settled_totals;
    return null;
  end if;
  if tg_op in ('INSERT', 'UPDATE') then
    insert into private.cashback_settled_totals as t (currency, amount)
    select r.currency, sum(r.amount) from new_rows r group by r.currency order by r.currency
    on conflict (currency) do update set amount = t.amount + excluded.amount;
  end if;
  if tg_op in ('UPDATE', 'DELETE') then
    insert into private.cashback_settled_totals as t (currency, amount)
    select r.currency, -sum(r.amount) from old_rows r group by r.currency order by r.currency
    on conflict (currency) do update set amount = t.amount + excluded.amount;
  end if;
  return null;
end;
$$;

create trigger cashback_ledger_settled_insert after insert on public.cashback_ledger
  referencing new table as new_rows
  for each statement execute function private.count_cashback_settled();
create trigger cashback_ledger_settled_update after update on public.cashback_ledger
  referencing old table as old_rows new table as new_rows
  for each statement execute function private.count_cashback_settled();
create trigger cashback_ledger_settled_delete after delete on public.cashback_ledger
  referencing old table as old_rows
  for each statement execute function private.count_cashback_settled();
create trigger cashback_ledger_settled_truncate after truncate on public.cashback_ledger
  for each statement execute function private.count_cashback_settled();

-- ---------------------------------------------------------------------------------------------
-- The metrics, one row per sample: its name, its labels and its value. Names, HELP and TYPE live
-- in functions/ops/metrics.ts, which renders the Prometheus text and refuses a name it does not know.
create function private.ops_metrics()
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
comment on function private.ops_metrics() is
  'Every backend metric as (name, labels, value) rows, for GET /ops/metrics. Cheap at any history size: see 095_operations.sql.';
grant execute on function private.ops_metrics() to service_role;

-- ---------------------------------------------------------------------------------------------
-- The fleet, for GET /ops/fleet: every VPS host with its terminals (the accounts it holds), and
-- every account in error across the fleet, newest error first (error_at: when it entered `error`;
-- updated_at moves with any later write). No secret, ciphertext or ownership code.
create function private.ops_fleet() returns jsonb
language sql stable
security definer
set search_path = ''
as $$
  select jsonb_build_object(
    'server_time', now(),
    'hosts', coalesce((
      select jsonb_agg(jsonb_build_object(
        'name', h.name,
        'version', h.version,
        'capacity', h.capacity,
        'accounts_held', (select count(*) from public.trading_accounts a where a.vps_host_id = h.id),
        'dedicated', h.dedicated_user_id is not null,
        'revoked', h.revoked_at is not null,
        'last_heartbeat_at', h.last_heartbeat_at,
        'heartbeat_age_seconds', floor(extract(epoch from now() - h.last_heartbeat_at)),
        'terminals', coalesce((
          select jsonb_agg(jsonb_build_object(
            'account_id', a.id, 'platform', a.platform, 'login', a.login, 'server', a.server,
            'status', a.status, 'terminal_state', a.terminal_state, 'last_seen_at', a.last_seen_at,
            'error_code', a.error_code, 'paused', a.paused_at is not null, 'deleted', a.deleted_at is not null
          ) order by a.login, a.server, a.id)
          from public.trading_accounts a where a.vps_host_id = h.id), '[]'::jsonb)
      ) order by h.name)
      from private.vps_hosts h), '[]'::jsonb),
    'accounts_in_error', coalesce((
      select jsonb_agg(jsonb_build_object(
        'account_id', a.id, 'platform', a.platform, 'login', a.login, 'server', a.server,
        'host', (select h.name from private.vps_hosts h where h.id = a.vps_host_id),
        'error_code', a.error_code, 'error_message', a.error_message, 'attempts', a.attempts,
        'next_retry_at', a.next_retry_at, 'credentials_rejected', a.credentials_rejected_at is not null
      ) order by a.error_at desc nulls last, a.id)
      from public.trading_accounts a where a.status = 'error' and a.deleted_at is null), '[]'::jsonb)
  )
$$;
comment on function private.ops_fleet() is
  'Every VPS host with its terminals, and every account in error, for GET /ops/fleet. No secrets.';
grant execute on function private.ops_fleet() to service_role;

-- Nothing in `private` is executable by PUBLIC; the grants above are the only way in.
revoke execute on all functions in schema private from public;
