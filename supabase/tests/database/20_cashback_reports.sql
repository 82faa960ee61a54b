-- Cashback reports (20261130001700_cashback_reports.sql): private.cashback_report sums the
-- caller's closed trades by period (day, ISO week, month; in a time zone) and symbol group, per
-- currency, with the settled part and the withheld trades by reason, from the 15-minute cells the
-- triggers on closed_trades keep (private.cashback_report_cells), and the trades at the range's
-- ragged ends; security definer limited to auth.uid(). The HTTP shape (JSON, CSV, 400/404/401) is tested in
-- functions/accounts/cashback-report.test.ts.
begin;
\ir helpers/setup.psql

select plan(33);

insert into auth.users (id, aud, role, email) values
  ('00000000-0000-0000-0020-000000000001', 'authenticated', 'authenticated', 'report-a@example.test'),
  ('00000000-0000-0000-0020-000000000002', 'authenticated', 'authenticated', 'report-b@example.test');
insert into public.brokers (id, name, platforms, rebate_per_lot) values
  ('00000000-0000-0000-0020-0000000000d1', 'Report Broker', array['MT4', 'MT5'], 5);
insert into public.trading_accounts (id, user_id, broker_id, platform, login, server) values
  ('00000000-0000-0000-0020-0000000000a1', '00000000-0000-0000-0020-000000000001', '00000000-0000-0000-0020-0000000000d1', 'MT5', 20001, 'Report-Live'),
  ('00000000-0000-0000-0020-0000000000a2', '00000000-0000-0000-0020-000000000001', '00000000-0000-0000-0020-0000000000d1', 'MT5', 20002, 'Report-Live'),
  ('00000000-0000-0000-0020-0000000000b1', '00000000-0000-0000-0020-000000000002', '00000000-0000-0000-0020-0000000000d1', 'MT5', 20003, 'Report-Live'),
  ('00000000-0000-0000-0020-0000000000a3', '00000000-0000-0000-0020-000000000001', '00000000-0000-0000-0020-0000000000d1', 'MT5', 20004, 'Report-Live');
update public.trading_accounts set deleted_at = now() where id = '00000000-0000-0000-0020-0000000000a3';

-- A1 (USD): Monday 5 Jan .. Sunday 11 Jan 23:30 UTC (Monday 12 Jan in Tokyo), then two withheld in
-- February. A2 (EUR): one settled, one unverified. B1: user B's.
insert into public.closed_trades (account_id, user_id, ticket, symbol, symbol_group, type, lots, open_time, close_time, open_price, close_price,
  cashback_amount, currency, settled_on, cashback_withheld)
select a.id, a.user_id, t.ticket, t.symbol, t.grp::public.symbol_group, 'BUY', t.lots, t.close_time - interval '1 minute', t.close_time, 1.1, 1.2,
  t.amount, t.currency, t.settled_on::date, t.withheld::public.cashback_withheld_reason
from (values
  ('a1', 1, 'EURUSD', 'forex',   0.10, timestamptz '2026-01-05 10:00Z', 0.50, 'USD', '2026-01-06', null),
  ('a1', 2, 'XAUUSD', 'metals',  0.20, timestamptz '2026-01-07 12:00Z', 3.00, 'USD', null, null),
  ('a1', 3, 'EURUSD', 'forex',   0.30, timestamptz '2026-01-11 23:30Z', 1.50, 'USD', null, null),
  ('a1', 4, 'BTCUSD', 'crypto',  1.00, timestamptz '2026-02-02 09:00Z', 0,    'USD', null, 'paused'),
  ('a1', 5, 'EURUSD', 'forex',   0.50, timestamptz '2026-02-03 09:00Z', 0,    'USD', null, 'filtered'),
  ('a2', 6, 'DE40',   'indices', 2.00, timestamptz '2026-01-20 08:00Z', 4.00, 'EUR', '2026-01-21', null),
  ('a2', 7, 'DE40',   'indices', 1.00, timestamptz '2026-01-21 08:00Z', 0,    'EUR', null, 'unverified'),
  ('b1', 8, 'EURUSD', 'forex',   5.00, timestamptz '2026-01-05 11:00Z', 25,   'USD', '2026-01-06', null),
  ('a3', 9, 'EURUSD', 'forex',   1.00, timestamptz '2026-01-05 12:00Z', 5,    'USD', null, null)
) as t (acct, ticket, symbol, grp, lots, close_time, amount, currency, settled_on, withheld)
join public.trading_accounts a on a.id = ('00000000-0000-0000-0020-0000000000' || t.acct)::uuid;

select is(private.setting('cashback_report_max_days'), 400::numeric, 'the range limit is a setting');

-- The cells equal the trades, summed afresh.
create function pg_temp.cells_match() returns boolean language sql as $$
  select not exists (
    (select user_id, account_id, bucket, symbol_group, currency, withheld, trades, lots, accrued, settled
     from private.cashback_report_cells where trades <> 0 or lots <> 0 or accrued <> 0 or settled <> 0
     except
     select user_id, account_id, date_bin('15 minutes', close_time, timestamptz '2000-01-01 00:00Z'), symbol_group, currency,
            coalesce(cashback_withheld::text, ''), count(*), sum(lots), sum(cashback_amount),
            coalesce(sum(cashback_amount) filter (where settled_on is not null), 0)
     from public.closed_trades group by 1, 2, 3, 4, 5, 6)
    union all
    (select user_id, account_id, date_bin('15 minutes', close_time, timestamptz '2000-01-01 00:00Z'), symbol_group, currency,
            coalesce(cashback_withheld::text, ''), count(*), sum(lots), sum(cashback_amount),
            coalesce(sum(cashback_amount) filter (where settled_on is not null), 0)
     from public.closed_trades group by 1, 2, 3, 4, 5, 6
     except
     select user_id, account_id, bucket, symbol_group, currency, withheld, trades, lots, accrued, settled
     from private.cashback_report_cells where trades <> 0 or lots <> 0 or accrued <> 0 or settled <> 0)
  )
$$;
select ok(pg_temp.cells_match(), 'the cells hold the inserted trades');
select is((select count(*) from private.cashback_report_cells where account_id = '00000000-0000-0000-0020-0000000000a1')::int, 5,
  'one cell per 15 minutes, group, currency and reason');

select tests.authenticate_as('00000000-0000-0000-0020-000000000001');
-- ---------------------------------------------------------------------------------------------
-- Figures: one account, by month.
select results_eq($$
  select period_start, symbol_group, currency, trades, lots, cashback_accrued, cashback_settled, withheld
  from private.cashback_report('00000000-0000-0000-0020-0000000000a1', '2026-01-01Z', '2026-03-01Z', 'month', false)
$$, $$ values
  ('2026-01-01'::date, null::text, 'USD'::text, 3::bigint, 0.6::numeric, 5.0::numeric, 0.5::numeric, '{}'::jsonb),
  ('2026-02-01', null, 'USD', 2, 1.5, 0, 0, '{"paused": 1, "filtered": 1}')
$$, 'by month: trades, lots, accrued, settled, withheld by reason');

-- By ISO week (Monday) and symbol group.
select results_eq($$
  select period_start, symbol_group, currency, trades, lots, cashback_accrued, cashback_settled, withheld
  from private.cashback_report('00000000-0000-0000-0020-0000000000a1', '2026-01-01Z', '2026-03-01Z', 'week', true)
$$, $$ values
  ('2026-01-05'::date, 'forex'::text, 'USD'::text, 2::bigint, 0.4::numeric, 2.0::numeric, 0.5::numeric, '{}'::jsonb),
  ('2026-01-05', 'metals', 'USD', 1, 0.2, 3.0, 0, '{}'),
  ('2026-02-02', 'crypto', 'USD', 1, 1.0, 0, 0, '{"paused": 1}'),
  ('2026-02-02', 'forex', 'USD', 1, 0.5, 0, 0, '{"filtered": 1}')
$$, 'by ISO week from Monday and symbol group');

-- The same week in Tokyo: Sunday 23:30 UTC is Monday 08:30 there.
select results_eq($$
  select period_start, trades, lots
  from private.cashback_report('00000000-0000-0000-0020-0000000000a1', '2026-01-01Z', '2026-03-01Z', 'week', false, 'Asia/Tokyo')
$$, $$ values ('2026-01-05'::date, 2::bigint, 0.3::numeric), ('2026-01-12', 1, 0.3), ('2026-02-02', 2, 1.5) $$,
  'periods are cut in the time zone asked for');

-- By day, another currency, unverified withheld.
select results_eq($$
  select period_start, currency, trades, cashback_accrued, cashback_settled, withheld
  from private.cashback_report('00000000-0000-0000-0020-0000000000a2', '2026-01-01Z', '2026-03-01Z', 'day', false)
$$, $$ values ('2026-01-20'::date, 'EUR'::text, 1::bigint, 4.0::numeric, 4.0::numeric, '{}'::jsonb),
              ('2026-01-21', 'EUR', 1, 0, 0, '{"unverified": 1}') $$,
  'by day: the settled trade and the withheld one');

-- Every account of the user (the deleted one's trades included), per currency.
select results_eq($$
  select period_start, symbol_group, currency, trades, lots, cashback_accrued, cashback_settled, withheld
  from private.cashback_report(null, '2026-01-01Z', '2026-03-01Z', 'month', false)
$$, $$ values
  ('2026-01-01'::date, null::text, 'EUR'::text, 2::bigint, 3.0::numeric, 4.0::numeric, 4.0::numeric, '{"unverified": 1}'::jsonb),
  ('2026-01-01', null, 'USD', 4, 1.6, 10.0, 0.5, '{}'),
  ('2026-02-01', null, 'USD', 2, 1.5, 0, 0, '{"paused": 1, "filtered": 1}')
$$, 'per user: every account, one row per currency; none of user B''s trades');

-- The range: from inclusive, to exclusive.
select results_eq($$
  select trades from private.cashback_report('00000000-0000-0000-0020-0000000000a1', '2026-01-05 10:00Z', '2026-01-07 12:00Z', 'day', false)
$$, $$ values (1::bigint) $$, 'from is inclusive, to exclusive');
select is_empty($$ select * from private.cashback_report('00000000-0000-0000-0020-0000000000a1', '2025-01-01Z', '2025-12-31Z', 'month', true) $$,
  'no trades in range: no rows');

select results_eq($$
  select trades from private.cashback_report('00000000-0000-0000-0020-0000000000a1', '2026-01-05 09:55Z', '2026-01-05 10:05Z', 'day', false)
$$, $$ values (1::bigint) $$, 'a range inside one cell is read from the trades');
select is_empty($$
  select * from private.cashback_report('00000000-0000-0000-0020-0000000000a1', '2026-01-05 10:00:00.000001Z', '2026-01-05 10:15Z', 'day', false)
$$, 'a ragged start excludes the trade its cell holds');
select results_eq($$
  select trades, lots from private.cashback_report('00000000-0000-0000-0020-0000000000a1', '2026-01-05 10:00Z', '2026-01-11 23:30:00.000001Z', 'month', false)
$$, $$ values (3::bigint, 0.6::numeric) $$, 'a ragged end includes the trades before it');

-- ---------------------------------------------------------------------------------------------
-- Tenancy: another user's account is not found, their trades never counted.
select throws_ok($$ select * from private.cashback_report('00000000-0000-0000-0020-0000000000b1', '2026-01-01Z', '2026-03-01Z', 'month', false) $$,
  'P0002', 'trading account not found', 'A cannot report on B''s account');
select throws_ok($$ select * from private.cashback_report('00000000-0000-0000-0020-0000000000a3', '2026-01-01Z', '2026-03-01Z', 'month', false) $$,
  'P0002', 'trading account not found', 'a deleted account is not found');
select throws_ok($$ select * from private.cashback_report(gen_random_uuid(), '2026-01-01Z', '2026-03-01Z', 'month', false) $$,
  'P0002', 'trading account not found', 'an unknown account is not found');

select tests.authenticate_as('00000000-0000-0000-0020-000000000002');
select throws_ok($$ select * from private.cashback_report('00000000-0000-0000-0020-0000000000a1', '2026-01-01Z', '2026-03-01Z', 'month', false) $$,
  'P0002', 'trading account not found', 'B cannot report on A''s account');
select results_eq($$ select trades, lots, cashback_settled from private.cashback_report(null, '2026-01-01Z', '2026-03-01Z', 'month', true) $$,
  $$ values (1::bigint, 5.0::numeric, 25::numeric) $$, 'B''s report holds B''s trade only');
select results_eq($$ select trades from private.cashback_report('00000000-0000-0000-0020-0000000000b1', '2026-01-01Z', '2026-03-01Z', 'month', false) $$,
  $$ values (1::bigint) $$, 'B reports on B''s account');

-- ---------------------------------------------------------------------------------------------
-- Bad arguments: class 22 (the function names the query field in COLUMN; 400 at the edge).
select throws_ok($$ select * from private.cashback_report(null, '2026-01-01Z', '2026-03-01Z', 'year', false) $$,
  '22023', 'period must be day, week or month', 'an unknown period');
select throws_ok($$ select * from private.cashback_report(null, null, '2026-03-01Z', 'month', false) $$, '22023', 'from is required', 'from is required');
select throws_ok($$ select * from private.cashback_report(null, '2026-01-01Z', null, 'month', false) $$, '22023', 'to is required', 'to is required');
select throws_ok($$ select * from private.cashback_report(null, '2026-03-01Z', '2026-03-01Z', 'month', false) $$,
  '22023', 'to must be after from', 'an empty range');
select throws_ok($$ select * from private.cashback_report(null, '2024-01-01Z', '2026-03-01Z', 'month', false) $$,
  '22023', 'the range from..to may span at most 400 days', 'a range beyond the limit');
select lives_ok($$ select * from private.cashback_report(null, '2025-01-26Z', '2026-03-01Z', 'day', false) $$, 'a range of 399 days is fine');
select throws_ok($$ select * from private.cashback_report(null, '2026-01-01Z', '2026-03-01Z', 'month', false, 'Mars/Olympus') $$,
  '22023', 'unknown time zone Mars/Olympus', 'an unknown time zone');
select throws_ok($$ select * from private.cashback_report(null, '2026-01-01Z', '2026-03-01Z', 'month', false, null) $$,
  '22023', 'tz is required', 'a null time zone');

-- ---------------------------------------------------------------------------------------------
-- Who may call it: signed-in users (as themselves); anon may not.
select tests.authenticate_as_anon();
select throws_ok($$ select * from private.cashback_report(null, '2026-01-01Z', '2026-03-01Z', 'month', false) $$, '42501', null,
  'anon cannot execute it');
select tests.authenticate_as('00000000-0000-0000-0020-000000000001');
select throws_ok('select * from private.cashback_report_cells', '42501', null, 'a user cannot read the cells');
select tests.clear_authentication();

-- ---------------------------------------------------------------------------------------------
-- The cells follow every write: a settlement, an accrual at verification, a delete, an account's delete.
update public.closed_trades set settled_on = '2026-01-10' where account_id = '00000000-0000-0000-0020-0000000000a1' and settled_on is null;
update public.closed_trades set cashback_withheld = null, cashback_amount = 2 where ticket = 7;
delete from public.closed_trades where ticket = 4;
select ok(pg_temp.cells_match(), 'the cells follow settlement, accrual and delete');
select tests.authenticate_as('00000000-0000-0000-0020-000000000001');
select results_eq($$
  select period_start, currency, trades, cashback_accrued, cashback_settled, withheld
  from private.cashback_report(null, '2026-01-01Z', '2026-03-01Z', 'month', false)
$$, $$ values ('2026-01-01'::date, 'EUR'::text, 2::bigint, 6.0::numeric, 4.0::numeric, '{}'::jsonb),
              ('2026-01-01', 'USD', 4, 10.0, 5.0, '{}'),
              ('2026-02-01', 'USD', 1, 0, 0, '{"filtered": 1}') $$,
  'the report follows them');
select tests.clear_authentication();
delete from public.trading_accounts where id = '00000000-0000-0000-0020-0000000000a2';
select is((select count(*) from private.cashback_report_cells where account_id = '00000000-0000-0000-0020-0000000000a2')::int, 0,
  'an account''s cells go with it');
select ok(pg_temp.cells_match(), 'and the rest still match');

select * from finish();
rollback;
