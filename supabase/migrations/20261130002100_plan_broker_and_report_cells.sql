-- Two mends from a review of #17.
--
-- 1. An account's rebate plan must name the account's own broker. Ingest reads only the plans of the
--    account's broker, so a plan giving another broker was accepted and silently never applied.
--    One composite key proves it (as closed_trades (account_id, user_id) does since 001800).
-- 2. The report cells' insert branch checked, for every new trade, that its account exists: the
--    trade's foreign key already proves it. Only the delete branch (the cascade of a deleted
--    account) needs the check.

alter table public.trading_accounts add constraint trading_accounts_id_broker_key unique (id, broker_id);

alter table public.rebate_plans drop constraint rebate_plans_account_id_fkey;
alter table public.rebate_plans add constraint rebate_plans_account_broker_fkey foreign key (account_id, broker_id)
  references public.trading_accounts (id, broker_id) on delete cascade;

create or replace function private.count_report_cells() returns trigger
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
