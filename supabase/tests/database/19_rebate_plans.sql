-- Rebate plans (issue #17): the symbol groups, the plan and rule a trade is priced by (versions,
-- precedence, minimums, kinds), the payout currency and its rate, per-account filters, the worked
-- examples with exact figures, and who may read and write the plans.
begin;
\ir helpers/setup.psql

select plan(42);

delete from auth.users;
delete from private.vps_hosts;
delete from private.seen_request_ids;

-- =============================================================================================
-- Symbol groups, on real broker symbols
-- =============================================================================================
select results_eq(
  $$ select s, private.symbol_group(s)::text from (values
       ('EURUSD'), ('EURUSD.r'), ('EURUSDm'), ('eurusd'), ('EURUSD-ECN'), ('EURUSD_i'), ('#EURUSD'), ('GBPJPY.pro'),
       ('USDCNH'), ('EURNOK'), ('XAUUSD'), ('XAUUSDm'), ('GOLD'), ('XAGUSD.r'), ('XPTUSD'), ('US30'), ('US30.cash'),
       ('#US30'), ('NAS100'), ('USTEC'), ('GER40'), ('DE40Cash'), ('SPX500'), ('UK100'), ('JP225'), ('USDX'),
       ('XTIUSD'), ('USOIL'), ('BRENT'), ('NGAS'), ('XBRUSD.r'), ('BTCUSD'), ('BTCUSDT'), ('ETHUSD#'), ('XRPUSD'),
       ('AAPL.US'), ('TSLA.NAS'), ('VOW3.DE'), ('COFFEE'), ('AAPL'), ('EURUSDMICROLOT')) v(s) order by s $$,
  $$ select * from (values
       ('EURUSD', 'forex'), ('EURUSD.r', 'forex'), ('EURUSDm', 'forex'), ('eurusd', 'forex'), ('EURUSD-ECN', 'forex'),
       ('EURUSD_i', 'forex'), ('#EURUSD', 'forex'), ('GBPJPY.pro', 'forex'), ('USDCNH', 'forex'), ('EURNOK', 'forex'),
       ('XAUUSD', 'metals'), ('XAUUSDm', 'metals'), ('GOLD', 'metals'), ('XAGUSD.r', 'metals'), ('XPTUSD', 'metals'),
       ('US30', 'indices'), ('US30.cash', 'indices'), ('#US30', 'indices'), ('NAS100', 'indices'), ('USTEC', 'indices'),
       ('GER40', 'indices'), ('DE40Cash', 'indices'), ('SPX500', 'indices'), ('UK100', 'indices'), ('JP225', 'indices'),
       ('USDX', 'indices'), ('XTIUSD', 'energies'), ('USOIL', 'energies'), ('BRENT', 'energies'), ('NGAS', 'energies'),
       ('XBRUSD.r', 'energies'), ('BTCUSD', 'crypto'), ('BTCUSDT', 'crypto'), ('ETHUSD#', 'crypto'), ('XRPUSD', 'crypto'),
       ('AAPL.US', 'stocks'), ('TSLA.NAS', 'stocks'), ('VOW3.DE', 'stocks'), ('COFFEE', 'other'), ('AAPL', 'other'),
       ('EURUSDMICROLOT', 'other')) v(s, g) order by s $$,
  'private.symbol_group classifies broker symbols, suffixes and prefixes stripped'
);

-- =============================================================================================
-- Fixtures (as the database owner)
--   brokers   e1 7 USD/lot | e2 1050 JPY/lot | e3 7 USD/lot (plan versions)
--   accounts  a1 (e1) | a2 (e2, paid in USD) | a3 (e1, unverified) | a4 (e1, own plan) | a5 (e2, paid in EUR)
--             a6 (e3); all user 1, verified unless said
-- =============================================================================================
insert into auth.users (id, aud, role, email) values
  ('00000000-0000-0000-0000-000000000001', 'authenticated', 'authenticated', 'rp-owner@example.test'),
  ('00000000-0000-0000-0000-000000000002', 'authenticated', 'authenticated', 'rp-other@example.test');
insert into public.brokers (id, name, platforms, rebate_per_lot, currency) values
  ('00000000-0000-0000-0017-0000000000e1', 'RP Dollar', array['MT5'], 7, 'USD'),
  ('00000000-0000-0000-0017-0000000000e2', 'RP Yen', array['MT5'], 1050, 'JPY'),
  ('00000000-0000-0000-0017-0000000000e3', 'RP Versions', array['MT5'], 7, 'USD');
insert into public.trading_accounts (id, user_id, broker_id, platform, login, server, verified_at, payout_currency) values
  ('00000000-0000-0000-0017-0000000000a1', '00000000-0000-0000-0000-000000000001', '00000000-0000-0000-0017-0000000000e1', 'MT5', 1701, 'RP-Live', now(), null),
  ('00000000-0000-0000-0017-0000000000a2', '00000000-0000-0000-0000-000000000001', '00000000-0000-0000-0017-0000000000e2', 'MT5', 1702, 'RP-Live', now(), 'USD'),
  ('00000000-0000-0000-0017-0000000000a3', '00000000-0000-0000-0000-000000000001', '00000000-0000-0000-0017-0000000000e1', 'MT5', 1703, 'RP-Live', null, null),
  ('00000000-0000-0000-0017-0000000000a4', '00000000-0000-0000-0000-000000000001', '00000000-0000-0000-0017-0000000000e1', 'MT5', 1704, 'RP-Live', now(), null),
  ('00000000-0000-0000-0017-0000000000a5', '00000000-0000-0000-0000-000000000001', '00000000-0000-0000-0017-0000000000e2', 'MT5', 1705, 'RP-Live', now(), 'EUR'),
  ('00000000-0000-0000-0017-0000000000a6', '00000000-0000-0000-0000-000000000001', '00000000-0000-0000-0017-0000000000e3', 'MT5', 1706, 'RP-Live', now(), null);

select results_eq(
  $$ select b.name, p.name, p.valid_from, r.symbol, r.symbol_pattern, r.symbol_group::text, r.side::text, r.kind::text, r.amount, r.currency
     from public.brokers b join public.rebate_plans p on p.broker_id = b.id join public.rebate_rules r on r.plan_id = p.id
     where b.name like 'RP %' order by b.name $$,
  $$ values ('RP Dollar', 'RP Dollar (default)', '-infinity'::timestamptz, null::text, null::text, null::text, 'close', 'per_lot', 7::numeric, 'USD'),
            ('RP Versions', 'RP Versions (default)', '-infinity', null, null, null, 'close', 'per_lot', 7, 'USD'),
            ('RP Yen', 'RP Yen (default)', '-infinity', null, null, null, 'close', 'per_lot', 1050, 'JPY') $$,
  'every broker gets a plan: one default rule, any symbol, per lot, close side, its rebate_per_lot in its currency'
);

-- e1's second version, in force from 10 days ago: the worked examples and the precedence.
insert into public.rebate_plans (id, broker_id, name, valid_from) values
  ('00000000-0000-0000-0017-0000000000f2', '00000000-0000-0000-0017-0000000000e1', 'RP Dollar v2', now() - interval '10 days');
insert into public.rebate_rules (id, plan_id, symbol, symbol_pattern, symbol_group, side, kind, amount, lot_multiplier,
    min_lots, min_duration_seconds, currency, priority) values
  ('00000000-0000-0000-0017-000000000001', '00000000-0000-0000-0017-0000000000f2', null, null, null, 'close', 'per_lot', 7, 1, 0, 0, 'USD', 0),
  ('00000000-0000-0000-0017-000000000002', '00000000-0000-0000-0017-0000000000f2', null, null, 'metals', 'close', 'per_lot', 7, 1.5, 0, 0, 'USD', 0),
  ('00000000-0000-0000-0017-000000000003', '00000000-0000-0000-0017-0000000000f2', null, null, 'crypto', 'close', 'commission_percent', 20, 1, 0, 0, 'USD', 0),
  ('00000000-0000-0000-0017-000000000004', '00000000-0000-0000-0017-0000000000f2', 'GBPUSD', null, null, 'both', 'per_lot', 4.5, 1, 0, 0, 'USD', 0),
  ('00000000-0000-0000-0017-000000000005', '00000000-0000-0000-0017-0000000000f2', null, 'GBP%', null, 'close', 'per_lot', 1, 1, 0, 0, 'USD', 100),
  ('00000000-0000-0000-0017-000000000006', '00000000-0000-0000-0017-0000000000f2', null, null, 'energies', 'close', 'per_lot', 3, 1, 0, 0, 'USD', 0),
  ('00000000-0000-0000-0017-000000000007', '00000000-0000-0000-0017-0000000000f2', null, null, 'energies', 'close', 'per_lot', 4, 1, 0, 0, 'USD', 5),
  ('00000000-0000-0000-0017-000000000008', '00000000-0000-0000-0017-0000000000f2', 'US30', null, null, 'close', 'per_lot', 2, 1, 0.1, 120, 'USD', 0);
-- a4's own plan overrides its broker's.
insert into public.rebate_plans (id, broker_id, account_id, name, valid_from) values
  ('00000000-0000-0000-0017-0000000000f4', '00000000-0000-0000-0017-0000000000e1', '00000000-0000-0000-0017-0000000000a4', 'a4 VIP', '-infinity');
insert into public.rebate_rules (id, plan_id, amount, currency) values
  ('00000000-0000-0000-0017-000000000040', '00000000-0000-0000-0017-0000000000f4', 8, 'USD');
-- An account's plan names the account's own broker: ingest would never read one of another broker.
select throws_ok($$ insert into public.rebate_plans (broker_id, account_id, name) values
    ('00000000-0000-0000-0017-0000000000e1', '00000000-0000-0000-0017-0000000000a2', 'a2 at the wrong broker') $$,
  '23503', null, 'an account plan naming another broker than the account''s is refused');
select is(private.set_fx_rate('JPY', 'USD', 0.0066, now() - interval '1 minute'), 0, 'a JPY -> USD rate is set (nothing was waiting for it)');

-- =============================================================================================
-- Worked examples, as a1's EA (a verified account of e1, v2 in force)
-- =============================================================================================
select tests.authenticate_as_account_ea('00000000-0000-0000-0000-000000000001', '00000000-0000-0000-0017-0000000000a1');
select results_eq(
  $$ select accepted, cashback_accrued from private.ingest_trades('00000000-0000-0000-0000-000000000001', '00000000-0000-0000-0017-0000000000a1',
       jsonb_build_array(tests.trade(1, 1, p_symbol => 'EURUSD'), tests.trade(2, 1, p_symbol => 'XAUUSD'),
         tests.trade(3, 0.5, p_symbol => 'BTCUSD') || '{"commission": -12.5}', tests.trade(4, 1, p_symbol => 'GBPUSD'),
         tests.trade(5, 1, p_symbol => 'GBPJPY'), tests.trade(6, 1, p_symbol => 'XTIUSD'),
         tests.trade(7, 1, now(), now() - interval '60 seconds', 'US30'), tests.trade(8, 1, p_symbol => 'US30.cash'),
         tests.trade(9, 0.05, p_symbol => 'US30'), tests.trade(10, 0.2, now() - interval '20 days', p_symbol => 'XAUUSD'))) $$,
  $$ values ('{1,2,3,4,5,6,7,8,9,10}'::bigint[], 42.4::numeric) $$,
  'a batch of ten trades, each priced by its rule: 7 + 10.5 + 2.5 + 9 + 1 + 4 + 0 + 7 + 0 + 1.4 = 42.40 (each below)'
);
select tests.clear_authentication();
select results_eq(
  $$ select ticket, symbol_group::text, rebate_rule_id, rebate_amount, rebate_currency, fx_rate, cashback_rate, cashback_amount, currency, cashback_withheld::text
     from public.closed_trades where account_id = '00000000-0000-0000-0017-0000000000a1' and ticket = 1 $$,
  $$ values (1::bigint, 'forex', '00000000-0000-0000-0017-000000000001'::uuid, 7::numeric, 'USD', 1::numeric, 7::numeric, 7::numeric, 'USD', null::text) $$,
  'worked example 1: EURUSD, 1 lot, on close at 7.00 USD/lot = 7.00 USD (the default rule, rate 1)'
);
select results_eq(
  $$ select rebate_rule_id, rebate_amount, cashback_rate, cashback_amount from public.closed_trades
     where account_id = '00000000-0000-0000-0017-0000000000a1' and ticket = 2 $$,
  $$ values ('00000000-0000-0000-0017-000000000002'::uuid, 10.5::numeric, 10.5::numeric, 10.5::numeric) $$,
  'worked example 2: XAUUSD, 1 lot, at 150 % of 7.00 (the metals rule, lot multiplier 1.5) = 10.50 USD'
);
select results_eq(
  $$ select symbol_group::text, rebate_rule_id, rebate_amount, cashback_rate, cashback_amount from public.closed_trades
     where account_id = '00000000-0000-0000-0017-0000000000a1' and ticket = 3 $$,
  $$ values ('crypto', '00000000-0000-0000-0017-000000000003'::uuid, 2.5::numeric, 5::numeric, 2.5::numeric) $$,
  'worked example 3: BTCUSD, 0.5 lots, commission -12.50, paid 20 % of its commission = 2.50 USD'
);
select results_eq(
  $$ select ticket, rebate_rule_id, cashback_amount from public.closed_trades
     where account_id = '00000000-0000-0000-0017-0000000000a1' and ticket in (4, 5, 6) order by ticket $$,
  $$ values (4::bigint, '00000000-0000-0000-0017-000000000004'::uuid, 9::numeric),
            (5, '00000000-0000-0000-0017-000000000005'::uuid, 1::numeric),
            (6, '00000000-0000-0000-0017-000000000007'::uuid, 4::numeric) $$,
  'precedence: exact GBPUSD (both sides: 2 x 4.50) beats the pattern GBP% of priority 100; the pattern beats the group; between two group rules the higher priority wins'
);
select results_eq(
  $$ select ticket, rebate_rule_id, rebate_amount, cashback_rate, cashback_amount, cashback_withheld::text from public.closed_trades
     where account_id = '00000000-0000-0000-0017-0000000000a1' and ticket in (7, 8, 9) order by ticket $$,
  $$ values (7::bigint, '00000000-0000-0000-0017-000000000008'::uuid, 0::numeric, 0::numeric, 0::numeric, null::text),
            (8, '00000000-0000-0000-0017-000000000001'::uuid, 7, 7, 7, null),
            (9, '00000000-0000-0000-0017-000000000008'::uuid, 0, 0, 0, null) $$,
  'minimums: US30 held 60 s (< 120 s) or of 0.05 lots (< 0.1) earns 0 under its rule; US30.cash is not the symbol US30 (the default rule)'
);
select results_eq(
  $$ select rebate_rule_id, cashback_amount from public.closed_trades
     where account_id = '00000000-0000-0000-0017-0000000000a1' and ticket = 10 $$,
  $$ values ((select r.id from public.rebate_rules r join public.rebate_plans p on p.id = r.plan_id
              where p.broker_id = '00000000-0000-0000-0017-0000000000e1' and p.account_id is null and p.valid_from = '-infinity'), 1.4::numeric) $$,
  'a trade closed before v2 (20 days ago), reported now, is priced by the plan then in force: XAUUSD at the flat 7.00'
);

-- JPY-denominated rule, account paid in USD.
select tests.authenticate_as_account_ea('00000000-0000-0000-0000-000000000001', '00000000-0000-0000-0017-0000000000a2');
select results_eq(
  $$ select cashback_accrued from private.ingest_trades('00000000-0000-0000-0000-000000000001', '00000000-0000-0000-0017-0000000000a2',
       jsonb_build_array(tests.trade(1, 1, p_symbol => 'USDJPY'))) $$,
  $$ values (6.93::numeric) $$,
  'worked example 4: 1,050 JPY for a lot of USDJPY, paid in USD...'
);
select tests.clear_authentication();
select results_eq(
  $$ select rebate_amount, rebate_currency, fx_rate, cashback_amount, currency from public.closed_trades
     where account_id = '00000000-0000-0000-0017-0000000000a2' and ticket = 1 $$,
  $$ values (1050::numeric, 'JPY', 0.0066::numeric, 6.93::numeric, 'USD') $$,
  '...records 1,050 JPY at 0.0066 = 6.93 USD (round(rebate x rate, 4)); the ledger gets USD'
);

-- The account's own plan.
select tests.authenticate_as_account_ea('00000000-0000-0000-0000-000000000001', '00000000-0000-0000-0017-0000000000a4');
select results_eq(
  $$ select cashback_accrued from private.ingest_trades('00000000-0000-0000-0000-000000000001', '00000000-0000-0000-0017-0000000000a4',
       jsonb_build_array(tests.trade(1, 1, p_symbol => 'XAUUSD'))) $$,
  $$ values (8::numeric) $$,
  'an account''s plan overrides its broker''s (8.00 for any symbol, not the broker''s metals rule)'
);
select tests.clear_authentication();

-- =============================================================================================
-- A plan change: trades closed after it; past accruals never move
-- =============================================================================================
select tests.authenticate_as_account_ea('00000000-0000-0000-0000-000000000001', '00000000-0000-0000-0017-0000000000a6');
select results_eq(
  $$ select cashback_accrued from private.ingest_trades('00000000-0000-0000-0000-000000000001', '00000000-0000-0000-0017-0000000000a6',
       jsonb_build_array(tests.trade(1, 1, now() - interval '1 hour'))) $$,
  $$ values (7::numeric) $$, 'e3 pays 7.00 a lot'
);
select tests.clear_authentication();
update public.brokers set rebate_per_lot = 9 where id = '00000000-0000-0000-0017-0000000000e3';
select results_eq(
  $$ select p.valid_from = now(), r.amount from public.rebate_plans p join public.rebate_rules r on r.plan_id = p.id
     where p.broker_id = '00000000-0000-0000-0017-0000000000e3' order by p.valid_from $$,
  $$ values (false, 7::numeric), (true, 9::numeric) $$,
  'changing the broker''s rebate_per_lot makes a new version of its plan, in force from now'
);
select tests.authenticate_as_account_ea('00000000-0000-0000-0000-000000000001', '00000000-0000-0000-0017-0000000000a6');
select results_eq(
  $$ select cashback_accrued from private.ingest_trades('00000000-0000-0000-0000-000000000001', '00000000-0000-0000-0017-0000000000a6',
       jsonb_build_array(tests.trade(2, 1, now() - interval '2 hours'), tests.trade(3, 1, now()))) $$,
  $$ values (16::numeric) $$,
  'after the change: a trade closed before it earns 7.00, one closed after it 9.00'
);
select tests.clear_authentication();
select results_eq(
  $$ select ticket, cashback_amount from public.closed_trades where account_id = '00000000-0000-0000-0017-0000000000a6' order by ticket $$,
  $$ values (1::bigint, 7::numeric), (2, 7), (3, 9) $$,
  'past accruals never move'
);

-- =============================================================================================
-- No rate to the payout currency: withheld, accrued once when the rate is set
-- =============================================================================================
select tests.authenticate_as_account_ea('00000000-0000-0000-0000-000000000001', '00000000-0000-0000-0017-0000000000a5');
select results_eq(
  $$ select cashback_accrued from private.ingest_trades('00000000-0000-0000-0000-000000000001', '00000000-0000-0000-0017-0000000000a5',
       jsonb_build_array(tests.trade(1, 1, now() - interval '2 days'))) $$,
  $$ values (0::numeric) $$, 'a JPY rule for an account paid in EUR, with no JPY -> EUR rate, accrues nothing...'
);
select tests.clear_authentication();
select results_eq(
  $$ select rebate_amount, rebate_currency, fx_rate, cashback_amount, currency, cashback_withheld::text from public.closed_trades
     where account_id = '00000000-0000-0000-0017-0000000000a5' $$,
  $$ values (1050::numeric, 'JPY', null::numeric, 0::numeric, 'EUR', 'no_fx_rate') $$,
  '...the trade is withheld as no_fx_rate, its rebate recorded'
);
select private.settle_cashback();
select is((select settled_on from public.closed_trades where account_id = '00000000-0000-0000-0017-0000000000a5'), null,
  'settlement leaves a no_fx_rate trade alone');
select is(private.set_fx_rate('JPY', 'EUR', 0.0061), 1, 'setting the rate accrues the waiting trade...');
select results_eq(
  $$ select fx_rate, cashback_amount, cashback_withheld::text from public.closed_trades where account_id = '00000000-0000-0000-0017-0000000000a5' $$,
  $$ values (0.0061::numeric, 6.405::numeric, null::text) $$, '...at that rate: 1,050 x 0.0061 = 6.405 EUR'
);
select is(private.set_fx_rate('JPY', 'EUR', 0.0062), 0, 'a second rate accrues nothing again (exactly once)');
select is((select cashback_amount from public.closed_trades where account_id = '00000000-0000-0000-0017-0000000000a5'), 6.405::numeric,
  'and the accrued trade keeps its rate');

-- =============================================================================================
-- Unverified: the recorded rebate accrues at verification
-- =============================================================================================
select tests.authenticate_as_account_ea('00000000-0000-0000-0000-000000000001', '00000000-0000-0000-0017-0000000000a3');
select results_eq(
  $$ select cashback_accrued, ownership from private.ingest_trades('00000000-0000-0000-0000-000000000001', '00000000-0000-0000-0017-0000000000a3',
       jsonb_build_array(tests.trade(1, 1, p_symbol => 'XAUUSD'))) $$,
  $$ values (0::numeric, 'unverified') $$, 'an unverified account''s trade is withheld...'
);
select results_eq(
  $$ select ownership from private.ingest_trades('00000000-0000-0000-0000-000000000001', '00000000-0000-0000-0017-0000000000a3',
       '[]'::jsonb, array[(select ownership_code from public.trading_accounts where id = '00000000-0000-0000-0017-0000000000a3')]) $$,
  $$ values ('verified') $$, '...until the owner proves the account'
);
select tests.clear_authentication();
select results_eq(
  $$ select rebate_rule_id, rebate_amount, fx_rate, cashback_amount, cashback_withheld::text from public.closed_trades
     where account_id = '00000000-0000-0000-0017-0000000000a3' $$,
  $$ values ('00000000-0000-0000-0017-000000000002'::uuid, 10.5::numeric, 1::numeric, 10.5::numeric, null::text) $$,
  'at verification the trade accrues the rebate and rate recorded at ingest'
);

-- =============================================================================================
-- Filters
-- =============================================================================================
update public.trading_accounts set excluded_magics = '{777}', excluded_symbols = '{XAU%}'
where id = '00000000-0000-0000-0017-0000000000a1';
select tests.authenticate_as_account_ea('00000000-0000-0000-0000-000000000001', '00000000-0000-0000-0017-0000000000a1');
select results_eq(
  $$ select accepted, cashback_accrued from private.ingest_trades('00000000-0000-0000-0000-000000000001', '00000000-0000-0000-0017-0000000000a1',
       jsonb_build_array(tests.trade(11, 1) || '{"magic": 777}', tests.trade(12, 1, p_symbol => 'xauusdm'),
         tests.trade(13, 1) || '{"magic": 778}')) $$,
  $$ values ('{11,12,13}'::bigint[], 7::numeric) $$,
  'filters: the trades excluded by magic number and by symbol pattern are stored and earn nothing; the others accrue'
);
select tests.clear_authentication();
select results_eq(
  $$ select ticket, rebate_rule_id, rebate_amount, cashback_amount, cashback_withheld::text from public.closed_trades
     where account_id = '00000000-0000-0000-0017-0000000000a1' and ticket in (11, 12) order by ticket $$,
  $$ values (11::bigint, null::uuid, null::numeric, 0::numeric, 'filtered'), (12, null, null, 0, 'filtered') $$,
  'a filtered trade records no rule and is withheld as filtered'
);

-- =============================================================================================
-- Who reads and writes the plans
-- =============================================================================================
select tests.authenticate_as('00000000-0000-0000-0000-000000000001');
select throws_ok($$ insert into public.rebate_plans (broker_id, name) values ('00000000-0000-0000-0017-0000000000e1', 'mine') $$,
  '42501', null, 'a user cannot create a plan');
select throws_ok($$ insert into public.rebate_rules (plan_id, amount, currency) values ('00000000-0000-0000-0017-0000000000f2', 100, 'USD') $$,
  '42501', null, 'a user cannot add a rule');
select throws_ok($$ update public.rebate_rules set amount = 100 $$, '42501', null, 'a user cannot change a rule');
select throws_ok($$ delete from public.fx_rates $$, '42501', null, 'a user cannot delete a rate');
select throws_ok($$ select private.set_fx_rate('JPY', 'USD', 1) $$, '42501', null, 'a user cannot set a rate');
select results_eq(
  $$ select name from public.rebate_plans order by name collate "C" $$,
  $$ values ('RP Dollar (default)'), ('RP Dollar v2'), ('RP Versions (default)'), ('RP Versions (rebate_per_lot 9 USD)'),
            ('RP Yen (default)'), ('a4 VIP') $$,
  'a user reads the plans of their accounts'' brokers and of their own accounts'
);
select lives_ok($$ select private.set_account_cashback_settings('00000000-0000-0000-0017-0000000000a1', null, '{42}', '{btc%}') $$,
  'the owner sets the account''s filters through private.set_account_cashback_settings');
select results_eq(
  $$ select excluded_magics, excluded_symbols from public.trading_accounts where id = '00000000-0000-0000-0017-0000000000a1' $$,
  $$ values ('{42}'::bigint[], '{BTC%}'::text[]) $$, 'the filters are stored, patterns upper-cased');
select tests.authenticate_as('00000000-0000-0000-0000-000000000002');
select throws_ok($$ select private.set_account_cashback_settings('00000000-0000-0000-0017-0000000000a1', null, '{}', '{}') $$,
  'P0002', 'account not found', 'another user cannot set them (not found)');
select is_empty($$ select 1 from public.rebate_plans union all select 1 from public.rebate_rules $$,
  'a user without accounts reads no plan and no rule');
select tests.authenticate_as_anon();
select throws_ok($$ insert into public.fx_rates (base, quote, rate) values ('EUR', 'USD', 2) $$, '42501', null, 'anon cannot set a rate');
select is_empty($$ select 1 from public.rebate_plans union all select 1 from public.rebate_rules $$, 'anon reads no plan and no rule');
select tests.clear_authentication();

select * from finish();
rollback;
