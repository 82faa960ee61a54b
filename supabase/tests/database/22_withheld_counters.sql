-- Withheld closed trades per account and reason (private.account_withheld_trades, migration
-- 20261130002200): the statement triggers on closed_trades keep them equal to a count of the trades
-- through every transition (an ingest of withheld trades, a move to another reason, an accrual, an
-- update that leaves the reason alone, a reason set on an accrued trade, a delete, the cascade of a
-- removed user), and rubi_closed_trades_withheld reads them: every reason, 0 included.
begin;
\ir helpers/setup.psql

select plan(21);

insert into auth.users (id, aud, role, email) values
  ('00000000-0000-0000-0022-000000000001', 'authenticated', 'authenticated', 'wc-1@example.test'),
  ('00000000-0000-0000-0022-000000000002', 'authenticated', 'authenticated', 'wc-2@example.test');
insert into public.brokers (id, name, platforms, rebate_per_lot) values
  ('00000000-0000-0000-0022-0000000000d1', 'WC Broker', array['MT5'], 1);
insert into public.trading_accounts (id, user_id, broker_id, platform, login, server) values
  ('00000000-0000-0000-0022-0000000000a1', '00000000-0000-0000-0022-000000000001', '00000000-0000-0000-0022-0000000000d1', 'MT5', 22001, 'WC-Live'),
  ('00000000-0000-0000-0022-0000000000a2', '00000000-0000-0000-0022-000000000002', '00000000-0000-0000-0022-0000000000d1', 'MT5', 22002, 'WC-Live');

-- The counters against a count of the trades: per account and reason (zero rows are equal to no
-- row), over every account; and the metric against a count per reason, every reason listed.
create function pg_temp.counters_match() returns boolean language sql as $$
  select not exists (
    (select c.account_id, c.reason, c.trades from private.account_withheld_trades c where c.trades <> 0
     except
     select t.account_id, t.cashback_withheld, count(*) from public.closed_trades t
     where t.cashback_withheld is not null group by 1, 2)
    union all
    (select t.account_id, t.cashback_withheld, count(*) from public.closed_trades t
     where t.cashback_withheld is not null group by 1, 2
     except
     select c.account_id, c.reason, c.trades from private.account_withheld_trades c where c.trades <> 0))
$$;
create function pg_temp.metric_matches() returns boolean language sql as $$
  select coalesce(jsonb_object_agg(m.labels ->> 'reason', m.value), '{}') = (
    select jsonb_object_agg(e.r::text, (select count(*) from public.closed_trades t where t.cashback_withheld = e.r)::double precision)
    from unnest(enum_range(null::public.cashback_withheld_reason)) e (r))
  from private.ops_metrics() m where m.metric = 'rubi_closed_trades_withheld'
$$;
create function pg_temp.held(p_account uuid, p_reason public.cashback_withheld_reason) returns bigint language sql as $$
  select coalesce((select c.trades from private.account_withheld_trades c where c.account_id = p_account and c.reason = p_reason), 0)
$$;

select ok((select relrowsecurity from pg_class where oid = 'private.account_withheld_trades'::regclass),
  'private.account_withheld_trades has RLS enabled');
select tests.authenticate_as_service_role();
select throws_ok('select * from private.account_withheld_trades', '42501', null, 'service_role cannot read the counters');
select tests.clear_authentication();
select ok(pg_temp.counters_match() and pg_temp.metric_matches(), 'before: the counters match the trades');

-- Insert: a1 two unverified, one paused, one filtered, one accrued; a2 one unverified, one waiting
-- for a EUR -> USD rate.
insert into public.closed_trades (account_id, user_id, ticket, symbol, type, lots, open_time, close_time, open_price, close_price,
  cashback_amount, currency, cashback_withheld, rebate_amount, rebate_currency)
select t.account_id::uuid, t.user_id::uuid, t.ticket, 'EURUSD', 'BUY', 0.1, now() - interval '2 hours', now() - interval '1 hour', 1.1, 1.2,
  t.amount, 'USD', t.withheld::public.cashback_withheld_reason, t.rebate, t.rebate_currency
from (values
  ('00000000-0000-0000-0022-0000000000a1', '00000000-0000-0000-0022-000000000001', 1, 0, 'unverified', null, null),
  ('00000000-0000-0000-0022-0000000000a1', '00000000-0000-0000-0022-000000000001', 2, 0, 'unverified', null, null),
  ('00000000-0000-0000-0022-0000000000a1', '00000000-0000-0000-0022-000000000001', 3, 0, 'paused', null, null),
  ('00000000-0000-0000-0022-0000000000a1', '00000000-0000-0000-0022-000000000001', 4, 0, 'filtered', null, null),
  ('00000000-0000-0000-0022-0000000000a1', '00000000-0000-0000-0022-000000000001', 5, 1.5, null, null, null),
  ('00000000-0000-0000-0022-0000000000a2', '00000000-0000-0000-0022-000000000002', 1, 0, 'unverified', null, null),
  ('00000000-0000-0000-0022-0000000000a2', '00000000-0000-0000-0022-000000000002', 2, 0, 'no_fx_rate', 2::numeric, 'EUR'))
  t (account_id, user_id, ticket, amount, withheld, rebate, rebate_currency);
select is(pg_temp.held('00000000-0000-0000-0022-0000000000a1', 'unverified'), 2::bigint, 'insert: counted per account and reason');
select is(pg_temp.held('00000000-0000-0000-0022-0000000000a2', 'no_fx_rate'), 1::bigint, 'insert: per account');
select ok(pg_temp.counters_match(), 'insert: the counters match the trades');
select ok(pg_temp.metric_matches(), 'insert: the metric matches the trades');

-- Update to another reason: another user proved a2 is theirs (unverified -> owned_elsewhere).
select private.stop_owned_elsewhere(array['00000000-0000-0000-0022-0000000000a2'::uuid]);
select is(pg_temp.held('00000000-0000-0000-0022-0000000000a2', 'owned_elsewhere'), 1::bigint, 'another reason: counted under the new one');
select is(pg_temp.held('00000000-0000-0000-0022-0000000000a2', 'unverified'), 0::bigint, 'another reason: out of the old one');
select ok(pg_temp.counters_match() and pg_temp.metric_matches(), 'another reason: the counters and the metric match the trades');

-- Update to null: a rate set (no_fx_rate accrues), and a1's unverified trades accruing.
select is(private.set_fx_rate('EUR', 'USD', 1.1, now() - interval '1 minute'), 1, 'the rate accrues the waiting trade');
update public.closed_trades set cashback_withheld = null, cashback_amount = 0.7
where account_id = '00000000-0000-0000-0022-0000000000a1' and cashback_withheld = 'unverified';
select is(pg_temp.held('00000000-0000-0000-0022-0000000000a1', 'unverified'), 0::bigint, 'to null: out of its reason');
select ok(pg_temp.counters_match() and pg_temp.metric_matches(), 'to null: the counters and the metric match the trades');

-- An update that leaves the reason alone (a settlement), and one that withholds an accrued trade,
-- in one statement with one moving between reasons.
update public.closed_trades set settled_on = current_date where account_id = '00000000-0000-0000-0022-0000000000a1';
select ok(pg_temp.counters_match(), 'the reason unchanged: the counters too');
update public.closed_trades
set cashback_withheld = case ticket when 5 then 'paused'::public.cashback_withheld_reason when 3 then 'filtered' end
where account_id = '00000000-0000-0000-0022-0000000000a1' and ticket in (3, 5);
select is(pg_temp.held('00000000-0000-0000-0022-0000000000a1', 'filtered'), 2::bigint, 'one statement, several moves: into filtered');
select is(pg_temp.held('00000000-0000-0000-0022-0000000000a1', 'paused'), 1::bigint, 'one statement, several moves: paused in and out');
select ok(pg_temp.counters_match() and pg_temp.metric_matches(), 'several moves: the counters and the metric match the trades');

-- Delete a trade, then remove a user (the cascade takes the account, its trades and its counters).
delete from public.closed_trades where account_id = '00000000-0000-0000-0022-0000000000a1' and ticket = 4;
select is(pg_temp.held('00000000-0000-0000-0022-0000000000a1', 'filtered'), 1::bigint, 'delete: taken back');
select ok(pg_temp.counters_match() and pg_temp.metric_matches(), 'delete: the counters and the metric match the trades');
delete from auth.users where id = '00000000-0000-0000-0022-000000000002';
select is((select count(*) from private.account_withheld_trades where account_id = '00000000-0000-0000-0022-0000000000a2'), 0::bigint,
  'a removed user: the account''s counters go with it');
select ok(pg_temp.counters_match() and pg_temp.metric_matches(), 'a removed user: the counters and the metric match the trades');

select * from finish();
rollback;
