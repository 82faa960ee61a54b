-- Settlement is safe to run concurrently: one settlement at a time, by design (issue #14 item 3).
--
-- private.settle_cashback locked the due trades (`select ... for update`) in whatever order its scan
-- met them. Over a large backlog that scan is sequential, and PostgreSQL synchronizes sequential
-- scans of a table larger than a quarter of shared_buffers: a run started while another is under
-- way joins it midway, locks from there and wraps around to the rows the first one holds. Runs for
-- different days (and, once rows are left behind, for the same day) then wait on each other in a
-- cycle: tests/integration/settlement-concurrency.test.ts (4 runs at once over 60,000 trades a
-- round) failed every time, 1 to 3 of the 4 runs with 40P01 deadlock detected. The money stayed
-- exact (a deadlocked run rolls back whole), but the cron job or a manual re-run failed.
--
-- Fixed lock order (`order by t.id for update`) also passed that test, but was not chosen:
--   * it gains nothing: runs over the same backlog still wait on each other's rows and finish one
--     after the other (in the test's same-day rounds one run settles every trade and the other
--     three none, with either fix), and it adds a sort of every due trade to each run;
--   * it is safe only while nothing else the function does (ledger upsert, notifications, the
--     broadcast triggers behind them) ever takes locks in an order that can cross another run's,
--     a property the next edit of this function can lose without any test noticing.
-- So the function now takes a transaction-scoped advisory lock first: concurrent runs queue, each
-- starts only when the previous one has committed or rolled back, and then sees its work (same
-- day: nothing left to settle; a later day: only the trades still due). Nothing else takes this
-- lock. The caller must run in READ COMMITTED (pg_cron does): the settling statement takes its
-- snapshot after the lock. Under REPEATABLE READ a queued run would fail with 40001 instead (it
-- never settles a trade twice). Signature, grants and behaviour are otherwise unchanged.

create or replace function private.settle_cashback(p_day date default null) returns integer
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_day date := coalesce(p_day, (now() at time zone 'utc')::date - 1);
  n integer;
begin
  -- One settlement at a time (see the top of 20261130000800_settlement_lock_order.sql): taken
  -- before the statement below, so its snapshot already sees what an earlier run settled.
  perform pg_advisory_xact_lock(hashtextextended('private.settle_cashback', 0));
  with due as (
    select t.id, t.account_id, t.user_id, t.lots, t.cashback_amount, t.currency
    from public.closed_trades t
    where t.settled_on is null
      and t.close_time < (v_day + 1)::timestamp at time zone 'utc'
    for update
  ),
  totals as (
    select d.account_id, d.user_id, count(*)::integer as trades_count, sum(d.lots) as lots,
           sum(d.cashback_amount) as amount, min(d.currency) as currency
    from due d
    group by d.account_id, d.user_id
  ),
  ledger as (
    insert into public.cashback_ledger as l (account_id, user_id, settlement_day, trades_count, lots, amount, currency)
    select account_id, user_id, v_day, trades_count, lots, amount, currency from totals
    on conflict (account_id, settlement_day) do update
      set trades_count = l.trades_count + excluded.trades_count,
          lots = l.lots + excluded.lots,
          amount = l.amount + excluded.amount
    returning 1
  ),
  told as (
    insert into public.notifications (user_id, kind, title, body, account_id)
    select t.user_id, 'cashback_settled',
           'Cashback settled: ' || to_char(t.amount, 'FM999999999990.00') || ' ' || t.currency,
           to_char(t.amount, 'FM999999999990.00') || ' ' || t.currency || ' for ' || t.trades_count
             || case when t.trades_count = 1 then ' trade' else ' trades' end
             || coalesce(' on account ' || a.login, '') || ', settled for ' || to_char(v_day, 'YYYY-MM-DD') || '.',
           t.account_id
    from totals t
    left join public.trading_accounts a on a.id = t.account_id
    where t.amount > 0
    returning 1
  ),
  settled as (
    update public.closed_trades t
    set settled_on = v_day
    from due
    where t.id = due.id
    returning 1
  )
  select count(*)::integer into n from settled;
  return n;
end;
$$;


-- Nothing in `private` is executable by PUBLIC; the grants above are the only way in.
revoke execute on all functions in schema private from public;
