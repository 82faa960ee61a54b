-- Operations (20261130001400_ops_metrics.sql): operator keys, the settled cashback totals the
-- ledger's triggers keep, and private.ops_metrics / private.ops_fleet (service_role only; the
-- `ops` function calls them after its operator key check). The values on a fixture are tested in
-- functions/ops/ops.test.ts; this file covers grants, the triggers and a missing cron schema.
begin;
\ir helpers/setup.psql

select plan(26);

insert into auth.users (id, aud, role, email) values
  ('00000000-0000-0000-0017-000000000001', 'authenticated', 'authenticated', 'ops-1@example.test');
insert into public.brokers (id, name, platforms, rebate_per_lot) values
  ('00000000-0000-0000-0017-0000000000d1', 'Ops Broker', array['MT4', 'MT5'], 1);
insert into public.trading_accounts (id, user_id, broker_id, platform, login, server) values
  ('00000000-0000-0000-0017-0000000000a1', '00000000-0000-0000-0017-000000000001', '00000000-0000-0000-0017-0000000000d1', 'MT5', 17001, 'Ops-Live');
insert into private.operator_keys (id, name, key_hash, revoked_at) values
  ('00000000-0000-0000-0017-0000000000e1', 'pgtap-live', repeat('a1', 32), null),
  ('00000000-0000-0000-0017-0000000000e2', 'pgtap-revoked', repeat('b2', 32), now());

-- ---------------------------------------------------------------------------------------------
-- Operator keys: no API role reads the table; the check answers for live keys only.
select ok((select relrowsecurity from pg_class where oid = 'private.operator_keys'::regclass), 'private.operator_keys has RLS enabled');
select ok((select relrowsecurity from pg_class where oid = 'private.cashback_settled_totals'::regclass), 'private.cashback_settled_totals has RLS enabled');
select tests.authenticate_as_service_role();
select throws_ok('select * from private.operator_keys', '42501', null, 'service_role cannot read operator key hashes');
select is(private.authenticate_operator(repeat('a1', 32)), '00000000-0000-0000-0017-0000000000e1'::uuid, 'a live key authenticates');
select is(private.authenticate_operator(repeat('b2', 32)), null, 'a revoked key does not');
select is(private.authenticate_operator(repeat('c3', 32)), null, 'an unknown key does not');
select isnt_empty('select * from private.ops_metrics()', 'service_role reads the metrics');
select ok(private.ops_fleet() ? 'hosts', 'service_role reads the fleet');

select tests.authenticate_as('00000000-0000-0000-0017-000000000001');
select throws_ok('select * from private.ops_metrics()', '42501', null, 'a user cannot read the metrics');
select throws_ok('select private.ops_fleet()', '42501', null, 'a user cannot read the fleet');
select throws_ok(format('select private.authenticate_operator(%L)', repeat('a1', 32)), '42501', null, 'a user cannot probe operator key hashes');
select throws_ok('select * from private.operator_keys', '42501', null, 'a user cannot read operator keys');
select tests.authenticate_as_anon();
select throws_ok('select * from private.ops_metrics()', '42501', null, 'anon cannot read the metrics');
select tests.clear_authentication();

-- ---------------------------------------------------------------------------------------------
-- Settled totals follow the ledger: insert, update, delete, per currency.
create temporary table before_totals as select currency, amount from private.cashback_settled_totals;
create function pg_temp.settled_delta(p_currency text) returns numeric language sql as $$
  select coalesce((select amount from private.cashback_settled_totals where currency = p_currency), 0)
       - coalesce((select amount from before_totals where currency = p_currency), 0)
$$;
insert into public.cashback_ledger (account_id, user_id, settlement_day, trades_count, lots, amount, currency) values
  ('00000000-0000-0000-0017-0000000000a1', '00000000-0000-0000-0017-000000000001', '2026-01-01', 2, 0.2, 10.5, 'USD'),
  ('00000000-0000-0000-0017-0000000000a1', '00000000-0000-0000-0017-000000000001', '2026-01-02', 1, 0.1, 4, 'USD'),
  ('00000000-0000-0000-0017-0000000000a1', '00000000-0000-0000-0017-000000000001', '2026-01-03', 1, 0.1, 3, 'EUR');
select is(pg_temp.settled_delta('USD'), 14.5, 'inserts add to their currency');
select is(pg_temp.settled_delta('EUR'), 3::numeric, 'per currency');
update public.cashback_ledger set amount = amount + 1 where account_id = '00000000-0000-0000-0017-0000000000a1';
select is(pg_temp.settled_delta('USD'), 16.5, 'an update adds the difference');
delete from public.cashback_ledger where account_id = '00000000-0000-0000-0017-0000000000a1' and currency = 'EUR';
select is(pg_temp.settled_delta('EUR'), 0::numeric, 'a delete takes its amount back');
select is((select value from private.ops_metrics() where metric = 'rubi_cashback_settled' and labels ->> 'currency' = 'USD'),
  (select amount::double precision from private.cashback_settled_totals where currency = 'USD'), 'the metric reads the totals');

-- ---------------------------------------------------------------------------------------------
-- Unsettled cashback per account follows the trades: ingest, withheld, settlement, accrual, delete.
create function pg_temp.unsettled(p_currency text) returns numeric language sql as $$
  select coalesce((select amount from private.account_cashback_unsettled
                   where account_id = '00000000-0000-0000-0017-0000000000a1' and currency = p_currency), 0)
$$;
insert into public.closed_trades (account_id, user_id, ticket, symbol, type, lots, open_time, close_time, open_price, close_price,
  cashback_amount, currency, cashback_withheld)
select '00000000-0000-0000-0017-0000000000a1', '00000000-0000-0000-0017-000000000001', t.ticket, 'EURUSD', 'BUY', 0.1,
  now() - interval '2 hours', now() - interval '1 hour', 1.1, 1.2, t.amount, t.currency, t.withheld::public.cashback_withheld_reason
from (values (1, 1.25, 'USD', null), (2, 2, 'USD', null), (3, 5, 'EUR', null), (4, 0, 'USD', 'unverified')) t (ticket, amount, currency, withheld);
select is(pg_temp.unsettled('USD'), 3.25, 'an ingest adds its accrued trades');
select is(pg_temp.unsettled('EUR'), 5::numeric, 'per currency');
update public.closed_trades set settled_on = current_date where account_id = '00000000-0000-0000-0017-0000000000a1' and ticket = 1;
select is(pg_temp.unsettled('USD'), 2::numeric, 'a settled trade leaves the unsettled total');
update public.closed_trades set cashback_withheld = null, cashback_amount = 0.5
where account_id = '00000000-0000-0000-0017-0000000000a1' and ticket = 4;
select is(pg_temp.unsettled('USD'), 2.5, 'a withheld trade accruing later adds its amount');
delete from public.closed_trades where account_id = '00000000-0000-0000-0017-0000000000a1' and ticket = 3;
select is(pg_temp.unsettled('EUR'), 0::numeric, 'a deleted trade takes its amount back');
select is((select value from private.ops_metrics() where metric = 'rubi_cashback_accrued_unsettled' and labels ->> 'currency' = 'USD'),
  (select sum(amount)::double precision from private.account_cashback_unsettled where currency = 'USD'), 'the metric sums the accounts');

-- ---------------------------------------------------------------------------------------------
-- Without a cron schema (PGlite without its stand-in, a server without pg_cron): no cron series.
select is((select value from private.ops_metrics() where metric = 'rubi_cron_available'), 1::double precision, 'cron is there');
alter schema cron rename to cron_hidden_by_pgtap;
select results_eq($$select count(*)::int, min(value) from private.ops_metrics() where metric like 'rubi_cron%'$$,
  $$values (1, 0::double precision)$$, 'no cron schema: rubi_cron_available 0 and no job series');
alter schema cron_hidden_by_pgtap rename to cron;

select * from finish();
rollback;
