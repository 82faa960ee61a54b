-- Cashback reports (issue #17): the user's closed trades summed by period (day, ISO week from
-- Monday, month, of close_time in the time zone asked for) and, optionally, by symbol group; per
-- payout currency: trades, lots, cashback accrued, the part of it settled (settled_on not null),
-- and the trades withheld by reason ({"paused": 2, ...}). One account, or every account of the
-- user (deleted ones included: their trades happened).
--
-- Cheap at any history size: the statement triggers below keep the sums per 15-minute cell of
-- close_time (UTC), account, symbol group, currency and withheld reason in
-- private.cashback_report_cells, and the report adds up cells, not trades (a million trades in a
-- month are a few thousand cells). Every time zone in use since 1972 is offset from UTC by a
-- multiple of 15 minutes, so a cell never straddles a local day. The parts of the range that do not
-- start or end on a cell boundary (less than 15 minutes at each end) are read from the trades.

-- ---------------------------------------------------------------------------------------------
create table private.cashback_report_cells (
  user_id uuid not null,
  account_id uuid not null references public.trading_accounts (id) on delete cascade,
  -- close_time floored to 15 minutes (date_bin from 2000-01-01 00:00 UTC).
  bucket timestamptz not null,
  symbol_group public.symbol_group not null,
  currency text not null,
  -- The trades' cashback_withheld reason; '' for the trades that accrued.
  withheld text not null,
  trades bigint not null default 0,
  lots numeric not null default 0,
  accrued numeric not null default 0,
  settled numeric not null default 0,
  primary key (user_id, bucket, account_id, symbol_group, currency, withheld)
);
create index cashback_report_cells_account_idx on private.cashback_report_cells (account_id, bucket);
alter table private.cashback_report_cells enable row level security;
comment on table private.cashback_report_cells is
  'Sums of closed trades per 15-minute cell of close_time, account, symbol group, currency and withheld reason (private.cashback_report); kept by statement triggers on public.closed_trades';

-- Adds each statement's difference to the cells it touches (an ingest, a settlement, an accrual at
-- verification, a delete), in key order. Deltas of a deleted account (the cascade from
-- trading_accounts) are dropped with it; new rows need no such check (their foreign key holds). A cell emptied by an update stays, at zero (the report
-- skips it).
create function private.count_report_cells() returns trigger
language plpgsql
security definer
set search_path = ''
as $$
begin
  if tg_op = 'TRUNCATE' then
    delete from private.cashback_report_cells;
    return null;
  end if;
  -- An update takes the old rows out of their cells, then adds the new ones.
  if tg_op in ('DELETE', 'UPDATE') then
    insert into private.cashback_report_cells as c (user_id, account_id, bucket, symbol_group, currency, withheld, trades, lots, accrued, settled)
    select r.user_id, r.account_id, date_bin('15 minutes', r.close_time, timestamptz '2000-01-01 00:00Z'), r.symbol_group, r.currency,
           coalesce(r.cashback_withheld::text, ''), -count(*), -sum(r.lots), -sum(r.cashback_amount),
           -coalesce(sum(r.cashback_amount) filter (where r.settled_on is not null), 0)
    from old_rows r
    where exists (select 1 from public.trading_accounts a where a.id = r.account_id)
    group by 1, 2, 3, 4, 5, 6
    order by 1, 3, 2, 4, 5, 6
    on conflict (user_id, bucket, account_id, symbol_group, currency, withheld) do update
      set trades = c.trades + excluded.trades, lots = c.lots + excluded.lots,
          accrued = c.accrued + excluded.accrued, settled = c.settled + excluded.settled;
  end if;
  if tg_op in ('INSERT', 'UPDATE') then
    insert into private.cashback_report_cells as c (user_id, account_id, bucket, symbol_group, currency, withheld, trades, lots, accrued, settled)
    select r.user_id, r.account_id, date_bin('15 minutes', r.close_time, timestamptz '2000-01-01 00:00Z'), r.symbol_group, r.currency,
           coalesce(r.cashback_withheld::text, ''), count(*), sum(r.lots), sum(r.cashback_amount),
           coalesce(sum(r.cashback_amount) filter (where r.settled_on is not null), 0)
    from new_rows r
    group by 1, 2, 3, 4, 5, 6
    order by 1, 3, 2, 4, 5, 6
    on conflict (user_id, bucket, account_id, symbol_group, currency, withheld) do update
      set trades = c.trades + excluded.trades, lots = c.lots + excluded.lots,
          accrued = c.accrued + excluded.accrued, settled = c.settled + excluded.settled;
  end if;
  return null;
end;
$$;

create trigger closed_trades_report_insert after insert on public.closed_trades
  referencing new table as new_rows
  for each statement execute function private.count_report_cells();
create trigger closed_trades_report_update after update on public.closed_trades
  referencing old table as old_rows new table as new_rows
  for each statement execute function private.count_report_cells();
create trigger closed_trades_report_delete after delete on public.closed_trades
  referencing old table as old_rows
  for each statement execute function private.count_report_cells();
create trigger closed_trades_report_truncate after truncate on public.closed_trades
  for each statement execute function private.count_report_cells();

-- ---------------------------------------------------------------------------------------------
-- The report. Security definer with explicit tenancy: the cells are private, so every read is
-- limited to user_id = auth.uid() here (and an account to the caller's live ones); another user's
-- (or a deleted, or no) account is no_data_found (404), so a user cannot tell it from one that does
-- not exist. Executable by signed-in users only.
--
-- Bounded: [p_from, p_to) may span at most private.settings cashback_report_max_days. Bad
-- arguments are class 22 naming the query field (400). The statement is planned with the actual
-- arguments (execute ... using), so the account-or-user choice picks its index.
create function private.cashback_report(
  p_account_id uuid, p_from timestamptz, p_to timestamptz, p_period text, p_by_group boolean, p_tz text default 'UTC'
) returns table (
  period_start date, symbol_group text, currency text, trades bigint, lots numeric,
  cashback_accrued numeric, cashback_settled numeric, withheld jsonb
)
language plpgsql
stable
security definer
set search_path = ''
as $$
declare
  v_user uuid := auth.uid();
  v_max_days numeric := private.setting('cashback_report_max_days');
  v_lo timestamptz;
  v_hi timestamptz;
begin
  if p_period is null or p_period not in ('day', 'week', 'month') then
    raise exception 'period must be day, week or month' using errcode = 'invalid_parameter_value', column = 'query.period';
  end if;
  if p_from is null then
    raise exception 'from is required' using errcode = 'invalid_parameter_value', column = 'query.from';
  end if;
  if p_to is null then
    raise exception 'to is required' using errcode = 'invalid_parameter_value', column = 'query.to';
  end if;
  if p_to <= p_from then
    raise exception 'to must be after from' using errcode = 'invalid_parameter_value', column = 'query.to';
  end if;
  if p_to - p_from > make_interval(days => v_max_days::int) then
    raise exception 'the range from..to may span at most % days', v_max_days
      using errcode = 'invalid_parameter_value', column = 'query.from';
  end if;
  if p_tz is null then
    raise exception 'tz is required' using errcode = 'invalid_parameter_value', column = 'query.tz';
  end if;
  begin
    perform now() at time zone p_tz;
  exception when invalid_parameter_value then
    raise exception 'unknown time zone %', p_tz using errcode = 'invalid_parameter_value', column = 'query.tz';
  end;
  if v_user is null or (p_account_id is not null and not exists (
    select 1 from public.trading_accounts a where a.id = p_account_id and a.user_id = v_user and a.deleted_at is null
  )) then
    raise exception 'trading account not found' using errcode = 'no_data_found';
  end if;

  -- The cells cover [v_lo, v_hi), the whole cells inside the range; the trades the rest.
  v_lo := date_bin('15 minutes', p_from, timestamptz '2000-01-01 00:00Z');
  if v_lo < p_from then
    v_lo := v_lo + interval '15 minutes';
  end if;
  v_hi := greatest(v_lo, date_bin('15 minutes', p_to, timestamptz '2000-01-01 00:00Z'));

  return query execute $q$
    with parts as (
      select c.bucket as at, c.symbol_group, c.currency, c.withheld, c.trades, c.lots, c.accrued, c.settled
      from private.cashback_report_cells c
      where c.user_id = $7 and ($1::uuid is null or c.account_id = $1) and c.bucket >= $8 and c.bucket < $9
      union all
      select t.close_time, t.symbol_group, t.currency, coalesce(t.cashback_withheld::text, ''), 1, t.lots, t.cashback_amount,
             case when t.settled_on is not null then t.cashback_amount else 0 end
      from public.closed_trades t
      where t.user_id = $7 and ($1::uuid is null or t.account_id = $1)
        and t.close_time >= $2 and t.close_time < $3 and (t.close_time < $8 or t.close_time >= $9)
    ),
    cells as (
      select date_trunc($4, p.at at time zone $6)::date as period_start,
             case when $5 then p.symbol_group::text end as symbol_group,
             p.currency, p.withheld,
             sum(p.trades) as trades, sum(p.lots) as lots, sum(p.accrued) as accrued, sum(p.settled) as settled
      from parts p
      group by 1, 2, 3, 4
      having sum(p.trades) <> 0
    )
    select c.period_start, c.symbol_group, c.currency, sum(c.trades)::bigint, sum(c.lots), sum(c.accrued), sum(c.settled),
           coalesce(jsonb_object_agg(c.withheld, c.trades) filter (where c.withheld <> ''), '{}'::jsonb)
    from cells c
    group by c.period_start, c.symbol_group, c.currency
    order by c.period_start, c.symbol_group nulls first, c.currency
  $q$ using p_account_id, p_from, p_to, p_period, coalesce(p_by_group, false), p_tz, v_user, v_lo, v_hi;
end;
$$;
comment on function private.cashback_report(uuid, timestamptz, timestamptz, text, boolean, text) is
  'GET /accounts/cashback/report: the caller''s closed trades and cashback by period (and symbol group) and currency, from private.cashback_report_cells';
grant execute on function private.cashback_report(uuid, timestamptz, timestamptz, text, boolean, text) to authenticated;

-- Nothing in `private` is executable by PUBLIC; the grants above are the only way in.
revoke execute on all functions in schema private from public;
