-- The money path under review (issue #13, helper R1): defects found by reading it, each shown here
-- first as a failing test, then fixed.
--   1. A trade reported while its registration was unverified, priced in a currency with no rate to
--      the payout currency then, accrues when the registration is proven at the rate in force by
--      then: not withheld as 'no_fx_rate' for a rate the operator already set (nothing would ever
--      set it again, so the cashback would never accrue).
--   2. A settlement day's ledger row is in the currency of the cashback it sums, not the
--      alphabetically first currency among the day's trades (a filtered trade of 0 in the old
--      payout currency is settled with the accrued ones after a change of payout currency).
--   TODO (not fixed, a design decision; see the review's report): one real trade paid twice across
--      registrations of one real account. The dedupe key is (registration, ticket); a registration
--      proven once the verified one is deleted accrues the tickets the deleted one was paid for
--      (and once the deletion completes, the paid trades and their ledger are gone with it).
begin;
\ir helpers/setup.psql

select plan(11);

insert into auth.users (id, aud, role, email) values
  ('00000000-0000-0000-0023-000000000001', 'authenticated', 'authenticated', 'mp-1@example.test');
insert into public.brokers (id, name, platforms, rebate_per_lot, currency) values
  ('00000000-0000-0000-0023-0000000000e1', 'MP Yen', array['MT5'], 1050, 'JPY'),
  ('00000000-0000-0000-0023-0000000000e2', 'MP Dollar', array['MT5'], 7, 'USD');
-- a1: unverified, paid in USD, its broker pays in JPY (no JPY -> USD rate yet).
-- a2: verified, its broker pays in USD, paid in EUR at first, magic 99 excluded.
insert into public.trading_accounts (id, user_id, broker_id, platform, login, server, verified_at, payout_currency, excluded_magics) values
  ('00000000-0000-0000-0023-0000000000a1', '00000000-0000-0000-0023-000000000001', '00000000-0000-0000-0023-0000000000e1', 'MT5', 2301, 'MP-Live', null, 'USD', '{}'),
  ('00000000-0000-0000-0023-0000000000a2', '00000000-0000-0000-0023-000000000001', '00000000-0000-0000-0023-0000000000e2', 'MT5', 2302, 'MP-Live', now(), 'EUR', '{99}');

-- =============================================================================================
-- 1. Unverified, no rate at ingest; the rate is set; then the registration is proven.
-- =============================================================================================
select tests.authenticate_as_account_ea('00000000-0000-0000-0023-000000000001', '00000000-0000-0000-0023-0000000000a1');
select results_eq(
  $$ select accepted, cashback_accrued, ownership from private.ingest_trades('00000000-0000-0000-0023-000000000001',
       '00000000-0000-0000-0023-0000000000a1', jsonb_build_array(tests.trade(1, 1, now() - interval '1 hour'))) $$,
  $$ values ('{1}'::bigint[], 0::numeric, 'unverified') $$,
  'an unverified account''s trade is stored, withheld'
);
select tests.clear_authentication();
select results_eq(
  $$ select cashback_withheld::text, rebate_amount, rebate_currency, fx_rate from public.closed_trades
     where account_id = '00000000-0000-0000-0023-0000000000a1' and ticket = 1 $$,
  $$ values ('unverified', 1050::numeric, 'JPY', null::numeric) $$,
  'priced at 1050 JPY, no JPY -> USD rate recorded (there was none)'
);
select is(private.set_fx_rate('JPY', 'USD', 0.0066, now() - interval '1 minute'), 0,
  'the operator sets a JPY -> USD rate (the unverified trade is not the rate''s to accrue)');
select tests.authenticate_as_account_ea('00000000-0000-0000-0023-000000000001', '00000000-0000-0000-0023-0000000000a1');
select results_eq(
  $$ select ownership from private.ingest_trades('00000000-0000-0000-0023-000000000001', '00000000-0000-0000-0023-0000000000a1', '[]',
       array[(select ownership_code from public.trading_accounts where id = '00000000-0000-0000-0023-0000000000a1')]) $$,
  $$ values ('verified') $$,
  'the EA brings the ownership code: verified'
);
select tests.clear_authentication();
select results_eq(
  $$ select cashback_withheld::text, fx_rate, cashback_amount, currency from public.closed_trades
     where account_id = '00000000-0000-0000-0023-0000000000a1' and ticket = 1 $$,
  $$ values (null::text, 0.0066::numeric, 6.93::numeric, 'USD') $$,
  'proving the registration accrues the trade at the rate in force by then: 1050 JPY x 0.0066 = 6.93 USD, not left waiting for a rate that exists'
);

-- =============================================================================================
-- 2. A filtered trade in EUR, the payout currency changed to USD, an accrued trade in USD.
-- =============================================================================================
select tests.authenticate_as_account_ea('00000000-0000-0000-0023-000000000001', '00000000-0000-0000-0023-0000000000a2');
select results_eq(
  $$ select accepted, cashback_accrued from private.ingest_trades('00000000-0000-0000-0023-000000000001',
       '00000000-0000-0000-0023-0000000000a2', jsonb_build_array(tests.trade(1, 1, now() - interval '2 hours') || '{"magic": 99}')) $$,
  $$ values ('{1}'::bigint[], 0::numeric) $$,
  'a trade with an excluded magic: filtered, 0 EUR'
);
select tests.clear_authentication();
select tests.authenticate_as('00000000-0000-0000-0023-000000000001');
select private.set_account_cashback_settings('00000000-0000-0000-0023-0000000000a2', null, '{}', '{}');
select tests.authenticate_as_account_ea('00000000-0000-0000-0023-000000000001', '00000000-0000-0000-0023-0000000000a2');
select results_eq(
  $$ select accepted, cashback_accrued from private.ingest_trades('00000000-0000-0000-0023-000000000001',
       '00000000-0000-0000-0023-0000000000a2', jsonb_build_array(tests.trade(2, 1, now() - interval '1 hour'))) $$,
  $$ values ('{2}'::bigint[], 7::numeric) $$,
  'paid in the broker''s USD now: 7 USD accrued'
);
select tests.clear_authentication();
select is(private.settle_cashback((now() at time zone 'utc')::date), 3, 'the night settles a1''s trade and both of a2''s');
select results_eq(
  $$ select trades_count, amount, currency from public.cashback_ledger where account_id = '00000000-0000-0000-0023-0000000000a2' $$,
  $$ values (2, 7::numeric, 'USD') $$,
  'the day''s ledger row is 7 USD (the currency of the cashback it sums), not 7 EUR'
);

-- =============================================================================================
-- TODO: the same real trade accrued by two registrations of one real account.
-- =============================================================================================
insert into auth.users (id, aud, role, email) values
  ('00000000-0000-0000-0023-000000000002', 'authenticated', 'authenticated', 'mp-2@example.test');
insert into public.trading_accounts (id, user_id, broker_id, platform, login, server, verified_at) values
  ('00000000-0000-0000-0023-0000000000a3', '00000000-0000-0000-0023-000000000001', '00000000-0000-0000-0023-0000000000e2', 'MT5', 2303, 'MP-Live', now()),
  ('00000000-0000-0000-0023-0000000000a4', '00000000-0000-0000-0023-000000000002', '00000000-0000-0000-0023-0000000000e2', 'MT5', 2303, 'MP-Live', null);
select tests.authenticate_as_account_ea('00000000-0000-0000-0023-000000000001', '00000000-0000-0000-0023-0000000000a3');
select results_eq(
  $$ select cashback_accrued from private.ingest_trades('00000000-0000-0000-0023-000000000001',
       '00000000-0000-0000-0023-0000000000a3', jsonb_build_array(tests.trade(7, 1, now() - interval '3 hours'))) $$,
  $$ values (7::numeric) $$,
  'the verified registration is paid 7 USD for ticket 7'
);
select tests.clear_authentication();
update public.trading_accounts set deleted_at = now() where id = '00000000-0000-0000-0023-0000000000a3';
select tests.authenticate_as_account_ea('00000000-0000-0000-0023-000000000002', '00000000-0000-0000-0023-0000000000a4');
select ingest.ownership from private.ingest_trades('00000000-0000-0000-0023-000000000002', '00000000-0000-0000-0023-0000000000a4',
  jsonb_build_array(tests.trade(7, 1, now() - interval '3 hours')),
  array[(select ownership_code from public.trading_accounts where id = '00000000-0000-0000-0023-0000000000a4')]) ingest;
select tests.clear_authentication();
select todo('one real trade paid twice across registrations: dedupe is per registration (design decision pending)', 1);
select is(
  (select sum(cashback_amount) from public.closed_trades where ticket = 7 and account_id in
     ('00000000-0000-0000-0023-0000000000a3', '00000000-0000-0000-0023-0000000000a4')),
  7::numeric,
  'ticket 7 of real account 2303@MP-Live is paid once, not again to the registration proven after the paid one was deleted'
);

select * from finish();
rollback;
