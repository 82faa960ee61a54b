-- A rebate rule or plan that priced a trade is never deleted nor changed in place (the guards of
-- 092_rebate_plans.sql, migrations 20261130001900 and 20261130002300): refused with 23001 and a
-- message naming the rule or plan (not counting its trades), nothing changed. Unused plans and their rules may change or go, a
-- used plan may be renamed, and removing a user still removes their account plans with their trades.
-- A used plan's whole rule set is frozen (migration 20261130002000): none of its rules, not even one
-- that priced nothing, is changed, moved out or deleted, and no rule is added to it (inserted or
-- moved in); a new version may copy it.
begin;
\ir helpers/setup.psql

select plan(28);

delete from auth.users;
delete from private.vps_hosts;
delete from private.seen_request_ids;

-- Fixtures (as the database owner): broker g1 with a version g2 (from 10 days ago) of three rules
-- and a future version g3 of two; account b1 (g1) and b2 (g1, user 2, with its own plan g4 of two
-- rules), both verified.
insert into auth.users (id, aud, role, email) values
  ('00000000-0000-0000-0000-000000000001', 'authenticated', 'authenticated', 'rg-owner@example.test'),
  ('00000000-0000-0000-0000-000000000002', 'authenticated', 'authenticated', 'rg-other@example.test');
insert into public.brokers (id, name, platforms, rebate_per_lot, currency) values
  ('00000000-0000-0000-0019-0000000000e1', 'RG Dollar', array['MT5'], 7, 'USD');
insert into public.trading_accounts (id, user_id, broker_id, platform, login, server, verified_at) values
  ('00000000-0000-0000-0019-0000000000b1', '00000000-0000-0000-0000-000000000001', '00000000-0000-0000-0019-0000000000e1', 'MT5', 1901, 'RG-Live', now()),
  ('00000000-0000-0000-0019-0000000000b2', '00000000-0000-0000-0000-000000000002', '00000000-0000-0000-0019-0000000000e1', 'MT5', 1902, 'RG-Live', now());
insert into public.rebate_plans (id, broker_id, account_id, name, valid_from) values
  ('00000000-0000-0000-0019-0000000000f2', '00000000-0000-0000-0019-0000000000e1', null, 'RG v2', now() - interval '10 days'),
  ('00000000-0000-0000-0019-0000000000f3', '00000000-0000-0000-0019-0000000000e1', null, 'RG v3 (future)', now() + interval '10 days'),
  ('00000000-0000-0000-0019-0000000000f4', '00000000-0000-0000-0019-0000000000e1', '00000000-0000-0000-0019-0000000000b2', 'b2 VIP', '-infinity');
insert into public.rebate_rules (id, plan_id, symbol, symbol_group, amount, currency) values
  ('00000000-0000-0000-0019-000000000001', '00000000-0000-0000-0019-0000000000f2', null, null, 7, 'USD'),
  ('00000000-0000-0000-0019-000000000002', '00000000-0000-0000-0019-0000000000f2', null, 'metals', 10.5, 'USD'),
  ('00000000-0000-0000-0019-000000000003', '00000000-0000-0000-0019-0000000000f2', 'US30', null, 2, 'USD'),
  ('00000000-0000-0000-0019-000000000031', '00000000-0000-0000-0019-0000000000f3', null, null, 8, 'USD'),
  ('00000000-0000-0000-0019-000000000033', '00000000-0000-0000-0019-0000000000f3', null, 'metals', 11, 'USD'),
  ('00000000-0000-0000-0019-000000000040', '00000000-0000-0000-0019-0000000000f4', null, null, 9, 'USD'),
  ('00000000-0000-0000-0019-000000000041', '00000000-0000-0000-0019-0000000000f4', null, 'metals', 12, 'USD');

-- One EURUSD trade on each account: b1's priced by rule 1 (g2's default), b2's by rule 40 (its own plan).
select tests.authenticate_as_account_ea('00000000-0000-0000-0000-000000000001', '00000000-0000-0000-0019-0000000000b1');
select results_eq(
  $$ select cashback_accrued from private.ingest_trades('00000000-0000-0000-0000-000000000001', '00000000-0000-0000-0019-0000000000b1',
       jsonb_build_array(tests.trade(1, 1, now() - interval '1 hour'))) $$,
  $$ values (7::numeric) $$, 'b1''s trade is priced by g2''s default rule');
select tests.authenticate_as_account_ea('00000000-0000-0000-0000-000000000002', '00000000-0000-0000-0019-0000000000b2');
select results_eq(
  $$ select cashback_accrued from private.ingest_trades('00000000-0000-0000-0000-000000000002', '00000000-0000-0000-0019-0000000000b2',
       jsonb_build_array(tests.trade(1, 1, now() - interval '1 hour'))) $$,
  $$ values (9::numeric) $$, 'b2''s trade is priced by its own plan');
select tests.clear_authentication();

-- =============================================================================================
-- Rules
-- =============================================================================================
select lives_ok($$ delete from public.rebate_rules where id = '00000000-0000-0000-0019-000000000033' $$,
  'a rule of a plan that priced no trade can be deleted');
select lives_ok($$ update public.rebate_rules set amount = 8.5, priority = 1 where id = '00000000-0000-0000-0019-000000000031' $$,
  'and changed');
select throws_ok($$ delete from public.rebate_rules where id = '00000000-0000-0000-0019-000000000002' $$,
  '23001', 'rebate plan 00000000-0000-0000-0019-0000000000f2 ("RG v2") priced trades: its rule 00000000-0000-0000-0019-000000000002 cannot be deleted; add a new plan version instead',
  'a rule that priced nothing cannot be deleted from a plan that priced a trade (a late metals trade would fall to the default rule)');
select throws_ok($$ update public.rebate_rules set amount = 3, priority = 1 where id = '00000000-0000-0000-0019-000000000003' $$,
  '23001', 'rebate plan 00000000-0000-0000-0019-0000000000f2 ("RG v2") priced trades: its rule 00000000-0000-0000-0019-000000000003 cannot be changed; add a new plan version instead',
  'nor changed');
select throws_ok($$ update public.rebate_rules set plan_id = '00000000-0000-0000-0019-0000000000f3' where id = '00000000-0000-0000-0019-000000000003' $$,
  '23001', 'rebate plan 00000000-0000-0000-0019-0000000000f2 ("RG v2") priced trades: its rule 00000000-0000-0000-0019-000000000003 cannot be changed; add a new plan version instead',
  'nor moved out of it');
select throws_ok($$ delete from public.rebate_rules where id = '00000000-0000-0000-0019-000000000001' $$,
  '23001', 'rebate rule 00000000-0000-0000-0019-000000000001 priced trades: it cannot be deleted; add a new plan version instead',
  'a rule that priced a trade cannot be deleted');
select throws_ok($$ update public.rebate_rules set amount = 8 where id = '00000000-0000-0000-0019-000000000001' $$,
  '23001', 'rebate rule 00000000-0000-0000-0019-000000000001 priced trades: it cannot be changed; add a new plan version instead',
  'a rule that priced a trade cannot be repriced in place');
select throws_ok($$ update public.rebate_rules set plan_id = '00000000-0000-0000-0019-0000000000f3' where id = '00000000-0000-0000-0019-000000000001' $$,
  '23001', null, 'nor moved to another plan');
select lives_ok($$ update public.rebate_rules set amount = amount where plan_id = '00000000-0000-0000-0019-0000000000f2' $$,
  'an update that changes nothing passes');

-- =============================================================================================
-- Plans
-- =============================================================================================
select throws_ok($$ delete from public.rebate_plans where id = '00000000-0000-0000-0019-0000000000f2' $$,
  '23001', 'rebate plan 00000000-0000-0000-0019-0000000000f2 ("RG v2") priced trades: it cannot be deleted; add a new plan version instead',
  'a plan whose rule priced a trade cannot be deleted');
select throws_ok($$ update public.rebate_plans set valid_from = now() - interval '1 day' where id = '00000000-0000-0000-0019-0000000000f2' $$,
  '23001', 'rebate plan 00000000-0000-0000-0019-0000000000f2 ("RG v2") priced trades: it cannot be moved (valid_from, broker, account); add a new plan version instead',
  'nor moved in time');
select throws_ok($$ update public.rebate_plans set account_id = '00000000-0000-0000-0019-0000000000b1' where id = '00000000-0000-0000-0019-0000000000f2' $$,
  '23001', null, 'nor given to an account');
select throws_ok($$ delete from public.brokers where id = '00000000-0000-0000-0019-0000000000e1' $$,
  '23503', null, 'the broker cannot go either (its accounts hold it)');
select lives_ok($$ update public.rebate_plans set name = 'RG v2 (2026 terms)' where id = '00000000-0000-0000-0019-0000000000f2' $$,
  'a used plan can be renamed');
select results_eq(
  $$ select p.name, p.valid_from = now() - interval '10 days', r.id, r.amount, r.priority
     from public.rebate_plans p join public.rebate_rules r on r.plan_id = p.id
     where p.id = '00000000-0000-0000-0019-0000000000f2' order by r.id $$,
  $$ values ('RG v2 (2026 terms)', true, '00000000-0000-0000-0019-000000000001'::uuid, 7::numeric, 0),
            ('RG v2 (2026 terms)', true, '00000000-0000-0000-0019-000000000002', 10.5, 0),
            ('RG v2 (2026 terms)', true, '00000000-0000-0000-0019-000000000003', 2, 0) $$,
  'the refusals changed nothing: the plan keeps its rules and their prices, and its time');
select results_eq(
  $$ select rebate_rule_id, rebate_amount, cashback_amount from public.closed_trades where account_id = '00000000-0000-0000-0019-0000000000b1' $$,
  $$ values ('00000000-0000-0000-0019-000000000001'::uuid, 7::numeric, 7::numeric) $$,
  'and the trade still names the rule that priced it, with the same figures');
-- =============================================================================================
-- A used plan's rule set is frozen (migration 20261130002000): no rule is added to it either
-- =============================================================================================
select lives_ok($$ insert into public.rebate_rules (id, plan_id, symbol, amount, currency)
                   values ('00000000-0000-0000-0019-000000000032', '00000000-0000-0000-0019-0000000000f3', 'XAUUSD', 12, 'USD') $$,
  'a rule can be added to a plan that priced no trade');
select throws_ok($$ insert into public.rebate_rules (plan_id, symbol, amount, currency) values ('00000000-0000-0000-0019-0000000000f2', 'XAUUSD', 12, 'USD') $$,
  '23001', 'rebate plan 00000000-0000-0000-0019-0000000000f2 ("RG v2 (2026 terms)") priced trades: it cannot be given a new rule; add a new plan version instead',
  'a rule cannot be added to a plan that priced a trade');
select throws_ok($$ update public.rebate_rules set plan_id = '00000000-0000-0000-0019-0000000000f2' where id = '00000000-0000-0000-0019-000000000032' $$,
  '23001', 'rebate plan 00000000-0000-0000-0019-0000000000f2 ("RG v2 (2026 terms)") priced trades: it cannot be given a new rule; add a new plan version instead',
  'nor moved into it from another plan');
select results_eq(
  $$ select plan_id, id from public.rebate_rules
     where plan_id in ('00000000-0000-0000-0019-0000000000f2', '00000000-0000-0000-0019-0000000000f3') order by plan_id, id $$,
  $$ values ('00000000-0000-0000-0019-0000000000f2'::uuid, '00000000-0000-0000-0019-000000000001'::uuid),
            ('00000000-0000-0000-0019-0000000000f2', '00000000-0000-0000-0019-000000000002'),
            ('00000000-0000-0000-0019-0000000000f2', '00000000-0000-0000-0019-000000000003'),
            ('00000000-0000-0000-0019-0000000000f3', '00000000-0000-0000-0019-000000000031'),
            ('00000000-0000-0000-0019-0000000000f3', '00000000-0000-0000-0019-000000000032') $$,
  'the refusals added nothing to the used plan, and the rule meant to move stayed where it was');
select lives_ok($$
  with plan as (
    insert into public.rebate_plans (id, broker_id, name, valid_from)
    values ('00000000-0000-0000-0019-0000000000f5', '00000000-0000-0000-0019-0000000000e1', 'RG v2.1', now() - interval '1 day') returning id)
  insert into public.rebate_rules (plan_id, symbol, symbol_pattern, symbol_group, side, kind, amount, lot_multiplier,
    min_lots, min_duration_seconds, currency, priority)
  select plan.id, r.symbol, r.symbol_pattern, r.symbol_group, r.side, r.kind, r.amount, r.lot_multiplier,
    r.min_lots, r.min_duration_seconds, r.currency, r.priority
  from plan cross join public.rebate_rules r where r.plan_id = '00000000-0000-0000-0019-0000000000f2' $$,
  'a new version with the used plan''s rules copied (what create --copy-rules does) is fine');
select lives_ok($$ insert into public.rebate_rules (plan_id, symbol, amount, currency) values ('00000000-0000-0000-0019-0000000000f5', 'XAUUSD', 12, 'USD') $$,
  'and the new rule goes there');
select lives_ok($$ update public.brokers set rebate_per_lot = 8 where id = '00000000-0000-0000-0019-0000000000e1' $$,
  'a change of the broker''s rebate_per_lot makes a version from its rules too (private.broker_default_plan)');
select results_eq(
  $$ select p.name, count(r.id)::int from public.rebate_plans p join public.rebate_rules r on r.plan_id = p.id
     where p.broker_id = '00000000-0000-0000-0019-0000000000e1' and p.account_id is null and p.valid_from between now() - interval '2 days' and now()
     group by p.name, p.valid_from order by p.valid_from $$,
  $$ values ('RG v2.1', 4), ('RG Dollar (rebate_per_lot 8 USD)', 4) $$,
  'both new versions hold their rules');

select lives_ok($$ delete from public.rebate_plans where id = '00000000-0000-0000-0019-0000000000f3' $$,
  'a plan that priced no trade can be deleted, its rules with it');

-- =============================================================================================
-- Removing a user removes their account plans with their trades (a cascade, left to the key)
-- =============================================================================================
delete from auth.users where id = '00000000-0000-0000-0000-000000000002';
select is_empty(
  $$ select 1 from public.rebate_plans where id = '00000000-0000-0000-0019-0000000000f4'
     union all select 1 from public.rebate_rules where id in ('00000000-0000-0000-0019-000000000040', '00000000-0000-0000-0019-000000000041',
       '00000000-0000-0000-0019-000000000031') $$,
  'a removed user''s account plan goes with their account and trades, its unused rule too (and g3''s rules went with g3)');

select * from finish();
rollback;
