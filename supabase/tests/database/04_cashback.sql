-- Cashback: accrual on closed trades (private.ingest_trades, as the account's EA) and settlement
-- into the ledger (private.settle_cashback).
begin;
\ir helpers/setup.psql

select plan(38);

-- Start from empty domain tables (inside this transaction only, rolled back with it), so the
-- counts below are exact even on a cluster other test tiers have written to.
delete from auth.users;
delete from private.vps_hosts;
delete from private.seen_request_ids;

-- ---------------------------------------------------------------------------------------------
-- Fixtures (as the database owner).
--   brokers   d1 active 3.5 USD/lot | d2 inactive 5 USD/lot | d3 active 2 EUR/lot
--   accounts  c1 (user 1, d1) | c2 (user 1, d2) | c3 (user 1, d1) | c4 (user 2, d3)
insert into auth.users (id, aud, role, email) values
  ('00000000-0000-0000-0000-000000000001', 'authenticated', 'authenticated', 'cb-owner@example.test'),
  ('00000000-0000-0000-0000-000000000002', 'authenticated', 'authenticated', 'cb-other@example.test');
insert into public.brokers (id, name, platforms, rebate_per_lot, currency, active) values
  ('00000000-0000-0000-0000-0000000000d1', 'CB Active', array['MT4', 'MT5'], 3.5, 'USD', true),
  ('00000000-0000-0000-0000-0000000000d2', 'CB Inactive', array['MT4', 'MT5'], 5, 'USD', false),
  ('00000000-0000-0000-0000-0000000000d3', 'CB Euro', array['MT5'], 2, 'EUR', true);
-- All verified: their owners proved them theirs (cashback accrues only then; see 16_account_identity.sql).
insert into public.trading_accounts (id, user_id, broker_id, platform, login, server, verified_at) values
  ('00000000-0000-0000-0000-0000000000c1', '00000000-0000-0000-0000-000000000001', '00000000-0000-0000-0000-0000000000d1', 'MT5', 9001, 'CB-Live', now()),
  ('00000000-0000-0000-0000-0000000000c2', '00000000-0000-0000-0000-000000000001', '00000000-0000-0000-0000-0000000000d2', 'MT4', 9002, 'CB-Live', now()),
  ('00000000-0000-0000-0000-0000000000c3', '00000000-0000-0000-0000-000000000001', '00000000-0000-0000-0000-0000000000d1', 'MT5', 9003, 'CB-Live', now()),
  ('00000000-0000-0000-0000-0000000000c4', '00000000-0000-0000-0000-000000000002', '00000000-0000-0000-0000-0000000000d3', 'MT5', 9004, 'CB-Live', now());

-- =============================================================================================
-- Accrual by private.ingest_trades (the only writer of closed trades), as the account's EA
-- =============================================================================================
select tests.authenticate_as_account_ea('00000000-0000-0000-0000-000000000001', '00000000-0000-0000-0000-0000000000c1');
select results_eq(
  $$ select accepted, cashback_accrued from private.ingest_trades('00000000-0000-0000-0000-000000000001',
       '00000000-0000-0000-0000-0000000000c1', jsonb_build_array(tests.trade(1001, 0.33333))) $$,
  $$ values ('{1001}'::bigint[], 1.1667::numeric) $$,
  'the account EA reports a closed trade through private.ingest_trades, which returns what it accrued'
);
select results_eq(
  $$ select user_id::text, cashback_rate, cashback_amount, currency, settled_on
     from public.closed_trades where account_id = '00000000-0000-0000-0000-0000000000c1' and ticket = 1001 $$,
  $$ values ('00000000-0000-0000-0000-000000000001', 3.5::numeric, 1.1667::numeric, 'USD', null::date) $$,
  'accrual: rate = the broker''s rebate_per_lot, amount = round(lots x rate, 4), currency from the broker'
);
select results_eq(
  $$ select accepted from private.ingest_trades('00000000-0000-0000-0000-000000000001', '00000000-0000-0000-0000-0000000000c1',
       jsonb_build_array(tests.trade(1002, 2, p_type => 'SELL') || jsonb_build_object(
         'account_id', '00000000-0000-0000-0000-0000000000c3', 'user_id', '00000000-0000-0000-0000-000000000002',
         'cashback_rate', 100, 'cashback_amount', 9999, 'currency', 'JPY', 'settled_on', '2000-01-01'))) $$,
  $$ values ('{1002}'::bigint[]) $$,
  'a trade with forged account, owner, rate, amount, currency and settlement is accepted...'
);
select results_eq(
  $$ select user_id::text, cashback_rate, cashback_amount, currency, settled_on
     from public.closed_trades where account_id = '00000000-0000-0000-0000-0000000000c1' and ticket = 1002 $$,
  $$ values ('00000000-0000-0000-0000-000000000001', 3.5::numeric, 7.0::numeric, 'USD', null::date) $$,
  '...but every forged value is replaced by the account''s owner and the broker''s terms'
);
select results_eq(
  $$ select accepted, cashback_accrued from private.ingest_trades('00000000-0000-0000-0000-000000000001',
       '00000000-0000-0000-0000-0000000000c1', jsonb_build_array(tests.trade(1001, 0.5))) $$,
  $$ values ('{}'::bigint[], 0::numeric) $$,
  'a ticket already reported for the account is skipped: nothing accepted, nothing accrued'
);
select results_eq(
  $$ select count(*)::int, min(lots), min(cashback_amount) from public.closed_trades
     where account_id = '00000000-0000-0000-0000-0000000000c1' and ticket = 1001 $$,
  $$ values (1, 0.33333::numeric, 1.1667::numeric) $$,
  '...and the stored trade keeps its first values'
);
select throws_ok(
  $$ select * from private.ingest_trades('00000000-0000-0000-0000-000000000001', '00000000-0000-0000-0000-0000000000c3',
       jsonb_build_array(tests.trade(1003, 0.5))) $$,
  '42501', 'only the account''s own EA reports for it',
  'an account EA cannot report trades for another account of the same owner'
);
-- Accrued cashback cannot be edited afterwards: no API role writes closed trades directly.
select throws_ok(
  $$ update public.closed_trades set cashback_amount = 9999 where ticket = 1001 $$,
  '42501', 'permission denied for table closed_trades',
  'the account EA cannot update a closed trade'
);
select tests.clear_authentication();
select is(
  (select cashback_amount from public.closed_trades where account_id = '00000000-0000-0000-0000-0000000000c1' and ticket = 1001),
  1.1667::numeric,
  'the account EA cannot change an accrued amount'
);

select tests.authenticate_as_account_ea('00000000-0000-0000-0000-000000000001', '00000000-0000-0000-0000-0000000000c3');
select results_eq(
  $$ select accepted from private.ingest_trades('00000000-0000-0000-0000-000000000001', '00000000-0000-0000-0000-0000000000c3',
       jsonb_build_array(tests.trade(1001, 0.5))) $$,
  $$ values ('{1001}'::bigint[]) $$,
  'the same ticket on another account is fine'
);

select tests.authenticate_as_account_ea('00000000-0000-0000-0000-000000000001', '00000000-0000-0000-0000-0000000000c2');
select is(
  (select cashback_accrued from private.ingest_trades('00000000-0000-0000-0000-000000000001', '00000000-0000-0000-0000-0000000000c2',
     jsonb_build_array(tests.trade(1001, 3, p_symbol => 'XAUUSD')))),
  0::numeric, 'a trade on an inactive broker''s account accrues nothing'
);
select tests.authenticate_as_account_ea('00000000-0000-0000-0000-000000000002', '00000000-0000-0000-0000-0000000000c4');
select is(
  (select cashback_accrued from private.ingest_trades('00000000-0000-0000-0000-000000000002', '00000000-0000-0000-0000-0000000000c4',
     jsonb_build_array(tests.trade(1001, 1.25)))),
  2.5::numeric, 'a trade on the euro broker''s account accrues at that broker''s rate'
);
select tests.clear_authentication();
select results_eq(
  $$ select account_id::text, user_id::text, cashback_rate, cashback_amount, currency
     from public.closed_trades where ticket = 1001 and account_id in
       ('00000000-0000-0000-0000-0000000000c2', '00000000-0000-0000-0000-0000000000c4') order by account_id $$,
  $$ values ('00000000-0000-0000-0000-0000000000c2', '00000000-0000-0000-0000-000000000001', 0::numeric, 0::numeric, 'USD'),
            ('00000000-0000-0000-0000-0000000000c4', '00000000-0000-0000-0000-000000000002', 2::numeric, 2.5::numeric, 'EUR') $$,
  'an inactive broker accrues 0; another broker''s rate and currency apply to its accounts'
);

-- A dashboard user cannot report trades, not even for their own account.
select tests.authenticate_as('00000000-0000-0000-0000-000000000001');
select throws_ok(
  $$ insert into public.closed_trades (account_id, user_id, ticket, symbol, type, lots, open_time, close_time, open_price, close_price)
     values ('00000000-0000-0000-0000-0000000000c1', '00000000-0000-0000-0000-000000000001', 4242, 'EURUSD', 'BUY', 100,
             now() - interval '1 hour', now(), 1.1, 1.2) $$,
  '42501', 'permission denied for table closed_trades',
  'a dashboard user cannot insert closed trades'
);
select throws_ok(
  $$ select * from private.ingest_trades('00000000-0000-0000-0000-000000000001', '00000000-0000-0000-0000-0000000000c1',
       jsonb_build_array(tests.trade(4242, 100))) $$,
  '42501', 'permission denied for function ingest_trades',
  'a dashboard user cannot report trades through private.ingest_trades either'
);

-- An account EA whose claim names an unknown account is refused.
select tests.authenticate_as_account_ea('00000000-0000-0000-0000-000000000001', '00000000-0000-0000-0000-0000000000cf');
select throws_ok(
  $$ select * from private.ingest_trades('00000000-0000-0000-0000-000000000001', '00000000-0000-0000-0000-0000000000cf',
       jsonb_build_array(tests.trade(1, 1))) $$,
  '42501', 'only the account''s own EA reports for it',
  'a trade for an unknown account is rejected'
);
select tests.clear_authentication();

-- =============================================================================================
-- Settlement: private.settle_cashback(day)   (settlement day 2025-03-10, UTC)
-- =============================================================================================
-- c1: 10:00 1 lot, 23:59:59 0.5 lot, the day before 0.25 lot (unsettled until now), next day 00:00 0.75 lot
-- c3: 12:00 2 lots | c2 (inactive broker): 1 lot. Reported by each account's EA (real accrual).
select tests.authenticate_as_account_ea('00000000-0000-0000-0000-000000000001', '00000000-0000-0000-0000-0000000000c1');
select from private.ingest_trades('00000000-0000-0000-0000-000000000001', '00000000-0000-0000-0000-0000000000c1', jsonb_build_array(
  tests.trade(2001, 1, '2025-03-10 10:00+00'),
  tests.trade(2002, 0.5, '2025-03-10 23:59:59.999999+00', '2025-03-10 09:00+00'),
  tests.trade(2003, 0.25, '2025-03-09 10:00+00', p_type => 'SELL'),
  tests.trade(2004, 0.75, '2025-03-11 00:00+00', '2025-03-10 22:00+00', p_type => 'SELL')));
select tests.authenticate_as_account_ea('00000000-0000-0000-0000-000000000001', '00000000-0000-0000-0000-0000000000c3');
select from private.ingest_trades('00000000-0000-0000-0000-000000000001', '00000000-0000-0000-0000-0000000000c3',
  jsonb_build_array(tests.trade(2005, 2, '2025-03-10 12:00+00', p_symbol => 'GBPUSD')));
select tests.authenticate_as_account_ea('00000000-0000-0000-0000-000000000001', '00000000-0000-0000-0000-0000000000c2');
select from private.ingest_trades('00000000-0000-0000-0000-000000000001', '00000000-0000-0000-0000-0000000000c2',
  jsonb_build_array(tests.trade(2006, 1, '2025-03-10 12:00+00', p_symbol => 'XAUUSD')));
select tests.clear_authentication();

select is(private.settle_cashback('2025-03-10'), 5, 'settle: returns the number of trades settled');
select results_eq(
  $$ select account_id::text, user_id::text, settlement_day, trades_count, lots, amount, currency
     from public.cashback_ledger order by account_id, settlement_day $$,
  $$ values ('00000000-0000-0000-0000-0000000000c1', '00000000-0000-0000-0000-000000000001', '2025-03-10'::date, 3, 1.75::numeric, 6.125::numeric, 'USD'),
            ('00000000-0000-0000-0000-0000000000c2', '00000000-0000-0000-0000-000000000001', '2025-03-10'::date, 1, 1::numeric, 0::numeric, 'USD'),
            ('00000000-0000-0000-0000-0000000000c3', '00000000-0000-0000-0000-000000000001', '2025-03-10'::date, 1, 2::numeric, 7::numeric, 'USD') $$,
  'settle: one ledger row per account for the day, with trades, lots and amount summed'
);
select results_eq(
  $$ select ticket, settled_on from public.closed_trades where ticket between 2001 and 2006 order by ticket $$,
  $$ values (2001::bigint, '2025-03-10'::date), (2002, '2025-03-10'), (2003, '2025-03-10'),
            (2004, null), (2005, '2025-03-10'), (2006, '2025-03-10') $$,
  'settle: settled trades carry settled_on = the day; a trade closed at the next midnight is not settled'
);
select results_eq(
  $$ select count(*)::int, count(settled_on)::int from public.closed_trades where ticket in (1001, 1002) $$,
  $$ values (5, 0) $$,
  'settle: trades closed after the day (today''s) are left unsettled'
);

-- Idempotent: a second run for the same day changes nothing.
create temp table ledger_before as
  select id, account_id, settlement_day, trades_count, lots, amount, currency, updated_at from public.cashback_ledger;
create temp table settled_before as select id, settled_on from public.closed_trades;
select is(private.settle_cashback('2025-03-10'), 0, 'settle: a second run for the same day settles nothing');
select results_eq(
  $$ select id, account_id, settlement_day, trades_count, lots, amount, currency, updated_at from public.cashback_ledger order by id $$,
  $$ select * from ledger_before order by id $$,
  'settle: the ledger is unchanged by the second run'
);
select results_eq(
  $$ select id, settled_on from public.closed_trades order by id $$,
  $$ select * from settled_before order by id $$,
  'settle: no trade''s settled_on changed in the second run'
);

-- A late trade, closed on the settled day but reported afterwards, joins that day's row.
select tests.authenticate_as_account_ea('00000000-0000-0000-0000-000000000001', '00000000-0000-0000-0000-0000000000c1');
select from private.ingest_trades('00000000-0000-0000-0000-000000000001', '00000000-0000-0000-0000-0000000000c1',
  jsonb_build_array(tests.trade(2007, 0.1, '2025-03-10 15:00+00')));
select tests.clear_authentication();
select is(private.settle_cashback('2025-03-10'), 1, 'settle: the next run settles the late trade');
select results_eq(
  $$ select l.id, l.trades_count, l.lots, l.amount from public.cashback_ledger l
     where l.account_id = '00000000-0000-0000-0000-0000000000c1' and l.settlement_day = '2025-03-10' $$,
  $$ select b.id, 4, 1.85::numeric, 6.475::numeric from ledger_before b
     where b.account_id = '00000000-0000-0000-0000-0000000000c1' and b.settlement_day = '2025-03-10' $$,
  'settle: the late trade is added to the same ledger row of that day'
);
select results_eq(
  $$ select account_id, trades_count, lots, amount from public.cashback_ledger
     where account_id <> '00000000-0000-0000-0000-0000000000c1' order by account_id $$,
  $$ select account_id, trades_count, lots, amount from ledger_before
     where account_id <> '00000000-0000-0000-0000-0000000000c1' order by account_id $$,
  'settle: other accounts'' rows are untouched by the late run'
);
select is(
  (select settled_on from public.closed_trades where ticket = 2007),
  '2025-03-10'::date,
  'settle: the late trade is marked settled on that day'
);

-- The next day picks up the trade closed at midnight, in a new row.
select is(private.settle_cashback('2025-03-11'), 1, 'settle: the next day settles the trade closed at its midnight');
select results_eq(
  $$ select settlement_day, trades_count, lots, amount from public.cashback_ledger
     where account_id = '00000000-0000-0000-0000-0000000000c1' order by settlement_day $$,
  $$ values ('2025-03-10'::date, 4, 1.85::numeric, 6.475::numeric), ('2025-03-11'::date, 1, 0.75::numeric, 2.625::numeric) $$,
  'settle: a new ledger row for the new day; the previous day''s row is unchanged'
);

-- Default day: yesterday (UTC). A trade closed a second before today's midnight is settled, today's are not.
select tests.authenticate_as_account_ea('00000000-0000-0000-0000-000000000001', '00000000-0000-0000-0000-0000000000c3');
select from private.ingest_trades('00000000-0000-0000-0000-000000000001', '00000000-0000-0000-0000-0000000000c3',
  jsonb_build_array(tests.trade(2008, 1, (now() at time zone 'utc')::date::timestamp at time zone 'utc' - interval '1 second',
                                (now() at time zone 'utc')::date::timestamp at time zone 'utc' - interval '2 seconds')));
select tests.clear_authentication();
select is(private.settle_cashback(), 1, 'settle (default day): settles up to the end of yesterday only');
select results_eq(
  $$ select settled_on, (select count(*)::int from public.cashback_ledger l
                         where l.account_id = '00000000-0000-0000-0000-0000000000c3' and l.settlement_day = t.settled_on)
     from public.closed_trades t where ticket = 2008 $$,
  $$ values ((now() at time zone 'utc')::date - 1, 1) $$,
  'settle (default day): the ledger day is yesterday (UTC)'
);
select is(
  (select count(*)::int from public.closed_trades where settled_on is null),
  5,
  'settle (default day): the five trades closed today stay unsettled'
);

-- The owners see their ledger, and only theirs.
select tests.authenticate_as('00000000-0000-0000-0000-000000000002');
select is((select count(*)::int from public.cashback_ledger), 0, 'another user sees none of the ledger');
select tests.authenticate_as('00000000-0000-0000-0000-000000000001');
select is((select count(*)::int from public.cashback_ledger), 5, 'the owner sees their ledger rows');
select tests.clear_authentication();

-- One foreign key (account_id, user_id) -> trading_accounts (id, user_id): a trade's user is its
-- account's owner, proved by the one check per row (20261130001800_cheaper_ingest.sql).
select fk_ok('public', 'closed_trades', array['account_id', 'user_id'], 'public', 'trading_accounts', array['id', 'user_id'],
  'closed_trades (account_id, user_id) references trading_accounts (id, user_id)');
select throws_ok(
  $$ insert into public.closed_trades (account_id, user_id, ticket, symbol, type, lots, open_time, close_time, open_price, close_price)
     values ('00000000-0000-0000-0000-0000000000c1', '00000000-0000-0000-0000-000000000002', 9999, 'EURUSD', 'BUY', 1,
             now() - interval '1 hour', now(), 1.1, 1.2) $$,
  '23503', null,
  'a closed trade whose user is not its account''s owner is refused (even to the database owner)'
);
select is(
  (select count(*)::int from pg_catalog.pg_constraint
   where conrelid = 'public.closed_trades'::regclass and contype = 'f' and confrelid = 'auth.users'::regclass),
  0,
  'closed_trades has no foreign key of its own to auth.users (a user''s deletion cascades through their accounts)'
);
select is(
  (select proconfig @> array['plan_cache_mode=force_generic_plan'] from pg_catalog.pg_proc
   where oid = 'private.ingest_trades(uuid, uuid, jsonb, text[], boolean, timestamptz, boolean)'::regprocedure),
  true,
  'private.ingest_trades keeps one generic plan for its batch (not planned again for every batch)'
);

select * from finish();
rollback;
