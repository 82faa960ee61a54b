-- The money path under review (issue #13, helper R1): defects found by reading it, each shown here
-- first as a failing test, then fixed.
--   1. A trade reported while its registration was unverified, priced in a currency with no rate to
--      the payout currency then, accrues when the registration is proven at the rate in force by
--      then: not withheld as 'no_fx_rate' for a rate the operator already set (nothing would ever
--      set it again, so the cashback would never accrue).
--   2. A settlement day's ledger row is in the currency of the cashback it sums, not the
--      alphabetically first currency among the day's trades (a filtered trade of 0 in the old
--      payout currency is settled with the accrued ones after a change of payout currency).
--   3. One real trade (a ticket of a login on a trade server) is paid once across registrations of
--      the real account: a registration proven after the paid one was deleted (soft or for good, or
--      with its user) does not accrue the tickets the deleted one was paid for ('already_paid',
--      private.paid_tickets), at ingest, at proof, or when a rate is set; a ticket the deleted one
--      was not paid for (filtered) still accrues.
--   4. private.set_fx_rate refuses an as_of later than now.
begin;
\ir helpers/setup.psql

select plan(35);

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
-- 3. The same real trade reported by two registrations of one real account.
-- =============================================================================================
-- The EA of p_account reports p_trades (with its ownership code when p_prove).
create function pg_temp.ea_ingest(p_user uuid, p_account uuid, p_trades jsonb, p_prove boolean default false)
returns table (accepted bigint[], cashback_accrued numeric, ownership text)
language plpgsql as $$
declare
  v_codes text[] := '{}';
begin
  if p_prove then
    select array[a.ownership_code] into v_codes from public.trading_accounts a where a.id = p_account;
  end if;
  perform tests.authenticate_as_account_ea(p_user, p_account);
  return query select * from private.ingest_trades(p_user, p_account, p_trades, v_codes);
  perform tests.clear_authentication();
end;
$$;

insert into auth.users (id, aud, role, email) values
  ('00000000-0000-0000-0023-000000000002', 'authenticated', 'authenticated', 'mp-2@example.test'),
  ('00000000-0000-0000-0023-000000000003', 'authenticated', 'authenticated', 'mp-3@example.test');
insert into public.trading_accounts (id, user_id, broker_id, platform, login, server, verified_at) values
  ('00000000-0000-0000-0023-0000000000a3', '00000000-0000-0000-0023-000000000001', '00000000-0000-0000-0023-0000000000e2', 'MT5', 2303, 'MP-Live', now()),
  ('00000000-0000-0000-0023-0000000000a4', '00000000-0000-0000-0023-000000000002', '00000000-0000-0000-0023-0000000000e2', 'MT5', 2303, 'MP-Live', null);
select results_eq(
  $$ select cashback_accrued from pg_temp.ea_ingest('00000000-0000-0000-0023-000000000001', '00000000-0000-0000-0023-0000000000a3',
       jsonb_build_array(tests.trade(7, 1, now() - interval '3 hours'))) $$,
  $$ values (7::numeric) $$,
  'the verified registration is paid 7 USD for ticket 7'
);
update public.trading_accounts set deleted_at = now() where id = '00000000-0000-0000-0023-0000000000a3';
select results_eq(
  $$ select cashback_accrued, ownership from pg_temp.ea_ingest('00000000-0000-0000-0023-000000000002', '00000000-0000-0000-0023-0000000000a4',
       jsonb_build_array(tests.trade(7, 1, now() - interval '3 hours'), tests.trade(8, 1, now() - interval '2 hours')), true) $$,
  $$ values (7::numeric, 'verified') $$,
  'another user''s registration, proven once the paid one is deleted: 7 USD for its new ticket 8 only'
);
select is(
  (select sum(cashback_amount) from public.closed_trades where ticket = 7 and account_id in
     ('00000000-0000-0000-0023-0000000000a3', '00000000-0000-0000-0023-0000000000a4')),
  7::numeric,
  'ticket 7 of real account 2303@MP-Live is paid once, not again to the registration proven after the paid one was deleted'
);
select results_eq(
  $$ select cashback_withheld::text, cashback_amount from public.closed_trades
     where account_id = '00000000-0000-0000-0023-0000000000a4' and ticket = 7 $$,
  $$ values ('already_paid', 0::numeric) $$,
  'the second registration''s ticket 7 is stored withheld as already_paid'
);

-- The same user re-registers after deleting the paid registration for good (its trades go with it).
insert into public.trading_accounts (id, user_id, broker_id, platform, login, server, verified_at) values
  ('00000000-0000-0000-0023-0000000000a5', '00000000-0000-0000-0023-000000000001', '00000000-0000-0000-0023-0000000000e2', 'MT5', 2304, 'MP-Live', now());
select results_eq(
  $$ select cashback_accrued from pg_temp.ea_ingest('00000000-0000-0000-0023-000000000001', '00000000-0000-0000-0023-0000000000a5',
       jsonb_build_array(tests.trade(1, 1, now() - interval '3 hours'))) $$,
  $$ values (7::numeric) $$,
  'a5 is paid 7 USD for ticket 1 of 2304@MP-Live'
);
delete from public.trading_accounts where id = '00000000-0000-0000-0023-0000000000a5';
select is((select count(*) from public.closed_trades where account_id = '00000000-0000-0000-0023-0000000000a5'), 0::bigint,
  'deleted for good: its trades are gone with it');
insert into public.trading_accounts (id, user_id, broker_id, platform, login, server, verified_at) values
  ('00000000-0000-0000-0023-0000000000a6', '00000000-0000-0000-0023-000000000001', '00000000-0000-0000-0023-0000000000e2', 'MT5', 2304, ' mp-live ', null);
select results_eq(
  $$ select accepted, cashback_accrued, ownership from pg_temp.ea_ingest('00000000-0000-0000-0023-000000000001', '00000000-0000-0000-0023-0000000000a6',
       jsonb_build_array(tests.trade(1, 1, now() - interval '3 hours'), tests.trade(2, 1, now() - interval '2 hours')), true) $$,
  $$ values ('{1,2}'::bigint[], 7::numeric, 'verified') $$,
  'the same user''s new registration (server spelled '' mp-live ''), proven: ticket 1 earns nothing again, ticket 2 7 USD'
);
select results_eq(
  $$ select ticket, cashback_withheld::text from public.closed_trades
     where account_id = '00000000-0000-0000-0023-0000000000a6' order by ticket $$,
  $$ values (1::bigint, 'already_paid'), (2::bigint, null) $$,
  're-registered: ticket 1 already_paid, ticket 2 accrued'
);

-- Another user's registration after the paid one's user is deleted entirely.
insert into public.trading_accounts (id, user_id, broker_id, platform, login, server, verified_at) values
  ('00000000-0000-0000-0023-0000000000a7', '00000000-0000-0000-0023-000000000003', '00000000-0000-0000-0023-0000000000e2', 'MT5', 2305, 'MP-Live', now());
select results_eq(
  $$ select cashback_accrued from pg_temp.ea_ingest('00000000-0000-0000-0023-000000000003', '00000000-0000-0000-0023-0000000000a7',
       jsonb_build_array(tests.trade(1, 1, now() - interval '3 hours'))) $$,
  $$ values (7::numeric) $$,
  'user 3''s a7 is paid 7 USD for ticket 1 of 2305@MP-Live'
);
delete from auth.users where id = '00000000-0000-0000-0023-000000000003';
select results_eq(
  $$ select account_id from private.paid_tickets where server_key = 'mp-live' and login = 2305 $$,
  $$ values ('00000000-0000-0000-0023-0000000000a7'::uuid) $$,
  'the record of the paid ticket outlives the registration and its user'
);
insert into public.trading_accounts (id, user_id, broker_id, platform, login, server, verified_at) values
  ('00000000-0000-0000-0023-0000000000a8', '00000000-0000-0000-0023-000000000002', '00000000-0000-0000-0023-0000000000e2', 'MT5', 2305, 'MP-Live', null);
select results_eq(
  $$ select cashback_accrued, ownership from pg_temp.ea_ingest('00000000-0000-0000-0023-000000000002', '00000000-0000-0000-0023-0000000000a8',
       jsonb_build_array(tests.trade(1, 1, now() - interval '3 hours')), true) $$,
  $$ values (0::numeric, 'verified') $$,
  'user 2 registers 2305@MP-Live once user 3 is deleted: ticket 1 earns nothing again'
);

-- A ticket the deleted registration was not paid for (filtered there) accrues on the next one.
insert into public.trading_accounts (id, user_id, broker_id, platform, login, server, verified_at, excluded_magics) values
  ('00000000-0000-0000-0023-0000000000b1', '00000000-0000-0000-0023-000000000001', '00000000-0000-0000-0023-0000000000e2', 'MT5', 2306, 'MP-Live', now(), '{99}'),
  ('00000000-0000-0000-0023-0000000000b2', '00000000-0000-0000-0023-000000000002', '00000000-0000-0000-0023-0000000000e2', 'MT5', 2306, 'MP-Live', null, '{}');
select results_eq(
  $$ select cashback_accrued from pg_temp.ea_ingest('00000000-0000-0000-0023-000000000001', '00000000-0000-0000-0023-0000000000b1',
       jsonb_build_array(tests.trade(3, 1, now() - interval '3 hours') || '{"magic": 99}')) $$,
  $$ values (0::numeric) $$,
  'b1 filters ticket 3 (magic 99): not paid'
);
update public.trading_accounts set deleted_at = now() where id = '00000000-0000-0000-0023-0000000000b1';
select results_eq(
  $$ select cashback_accrued from pg_temp.ea_ingest('00000000-0000-0000-0023-000000000002', '00000000-0000-0000-0023-0000000000b2',
       jsonb_build_array(tests.trade(3, 1, now() - interval '3 hours') || '{"magic": 99}'), true) $$,
  $$ values (7::numeric) $$,
  'b2, proven once b1 is deleted, is paid 7 USD for ticket 3: nobody was paid for it'
);

-- Accrued at proof, and when a rate is set. The broker pays in JPY; no JPY -> EUR nor JPY -> GBP rate yet.
insert into public.trading_accounts (id, user_id, broker_id, platform, login, server, verified_at, payout_currency) values
  ('00000000-0000-0000-0023-0000000000c1', '00000000-0000-0000-0023-000000000001', '00000000-0000-0000-0023-0000000000e1', 'MT5', 2307, 'MP-Live', now(), 'EUR'),
  ('00000000-0000-0000-0023-0000000000c2', '00000000-0000-0000-0023-000000000002', '00000000-0000-0000-0023-0000000000e1', 'MT5', 2307, 'MP-Live', null, 'EUR'),
  ('00000000-0000-0000-0023-0000000000d1', '00000000-0000-0000-0023-000000000001', '00000000-0000-0000-0023-0000000000e1', 'MT5', 2308, 'MP-Live', now(), 'GBP'),
  ('00000000-0000-0000-0023-0000000000d2', '00000000-0000-0000-0023-000000000002', '00000000-0000-0000-0023-0000000000e1', 'MT5', 2308, 'MP-Live', null, 'GBP');
-- c1 (verified) waits for a JPY -> EUR rate for tickets 5 and 6; deleted; c2 reports 5, unproven.
select pg_temp.ea_ingest('00000000-0000-0000-0023-000000000001', '00000000-0000-0000-0023-0000000000c1',
  jsonb_build_array(tests.trade(5, 1, now() - interval '3 hours'), tests.trade(6, 1, now() - interval '3 hours')));
update public.trading_accounts set deleted_at = now() where id = '00000000-0000-0000-0023-0000000000c1';
select results_eq(
  $$ select cashback_accrued, ownership from pg_temp.ea_ingest('00000000-0000-0000-0023-000000000002', '00000000-0000-0000-0023-0000000000c2',
       jsonb_build_array(tests.trade(5, 1, now() - interval '3 hours'))) $$,
  $$ values (0::numeric, 'unverified') $$,
  'c2 reports ticket 5 before it is proven: withheld, unverified'
);
select is(private.set_fx_rate('JPY', 'EUR', 0.0061, now() - interval '1 minute'), 2,
  'the JPY -> EUR rate accrues c1''s tickets 5 and 6 (unverified c2 is not the rate''s to accrue)');
select results_eq(
  $$ select cashback_accrued, ownership from pg_temp.ea_ingest('00000000-0000-0000-0023-000000000002', '00000000-0000-0000-0023-0000000000c2',
       jsonb_build_array(tests.trade(6, 1, now() - interval '3 hours'), tests.trade(9, 1, now() - interval '1 hour')), true) $$,
  $$ values (6.405::numeric, 'verified') $$,
  'c2 is proven, with tickets 6 and 9: only ticket 9 earns (1050 JPY x 0.0061 = 6.405 EUR)'
);
select results_eq(
  $$ select ticket, cashback_withheld::text, cashback_amount from public.closed_trades
     where account_id = '00000000-0000-0000-0023-0000000000c2' order by ticket $$,
  $$ values (5::bigint, 'already_paid', 0::numeric), (6::bigint, 'already_paid', 0::numeric), (9::bigint, null, 6.405::numeric) $$,
  'at proof, c2''s unverified ticket 5 (paid to c1 meanwhile) becomes already_paid, not accrued; ticket 6 likewise at ingest'
);
-- d1 (verified) waits for a JPY -> GBP rate for ticket 7; deleted; d2, proven, waits for it for tickets 7 and 8.
select pg_temp.ea_ingest('00000000-0000-0000-0023-000000000001', '00000000-0000-0000-0023-0000000000d1',
  jsonb_build_array(tests.trade(7, 1, now() - interval '3 hours')));
update public.trading_accounts set deleted_at = now() where id = '00000000-0000-0000-0023-0000000000d1';
select results_eq(
  $$ select cashback_accrued, ownership from pg_temp.ea_ingest('00000000-0000-0000-0023-000000000002', '00000000-0000-0000-0023-0000000000d2',
       jsonb_build_array(tests.trade(7, 1, now() - interval '3 hours'), tests.trade(8, 1, now() - interval '2 hours')), true) $$,
  $$ values (0::numeric, 'verified') $$,
  'd2, proven, waits for a JPY -> GBP rate for tickets 7 and 8 (ticket 7 paid to nobody yet)'
);
select is(private.set_fx_rate('JPY', 'GBP', 0.005, now() - interval '1 minute'), 2,
  'the JPY -> GBP rate accrues two trades: ticket 7 once (of d1 and d2) and d2''s ticket 8');
select results_eq(
  $$ select count(*) filter (where cashback_withheld is null), count(*) filter (where cashback_withheld = 'already_paid'),
            sum(cashback_amount)
     from public.closed_trades where ticket = 7 and account_id in
       ('00000000-0000-0000-0023-0000000000d1', '00000000-0000-0000-0023-0000000000d2') $$,
  $$ values (1::bigint, 1::bigint, 5.25::numeric) $$,
  'ticket 7 of 2308@MP-Live: one trade accrued 5.25 GBP, the other already_paid'
);
select results_eq(
  $$ select cashback_withheld::text, cashback_amount from public.closed_trades
     where account_id = '00000000-0000-0000-0023-0000000000d2' and ticket = 8 $$,
  $$ values (null::text, 5.25::numeric) $$,
  'd2''s ticket 8 accrued 5.25 GBP'
);
select results_eq(
  $$ select reason::text, trades from private.account_withheld_trades
     where account_id = '00000000-0000-0000-0023-0000000000c2' and trades <> 0 $$,
  $$ values ('already_paid', 2::bigint) $$,
  'the withheld counters count already_paid like any reason'
);

-- =============================================================================================
-- 4. A rate dated in the future is refused.
-- =============================================================================================
select throws_ok($$ select private.set_fx_rate('JPY', 'CHF', 0.006, now() + interval '1 hour') $$, '22023', null,
  'an as_of later than now is refused (22023)');

-- The record is the database's alone: no signed-in user or service key reads or writes it.
select ok((select relrowsecurity from pg_class where oid = 'private.paid_tickets'::regclass),
  'private.paid_tickets has RLS enabled');
select tests.authenticate_as('00000000-0000-0000-0023-000000000001');
select throws_ok('select * from private.paid_tickets', '42501', null, 'a signed-in user cannot read the paid tickets');
select tests.clear_authentication();
select tests.authenticate_as_service_role();
select throws_ok($$ insert into private.paid_tickets (server_key, login, ticket, account_id)
  values ('x', 1, 1, '00000000-0000-0000-0023-0000000000a3') $$, '42501', null, 'service_role cannot write the paid tickets');
select tests.clear_authentication();

select * from finish();
rollback;
