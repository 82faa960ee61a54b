-- Signal and session writes (20261130000600_signal_and_session_writes.sql): the volume rules
-- (private.volume_problem, private.size_by_risk), creating a signal (private.create_signal, with
-- private.same_signal answering retries), cancelling one (private.cancel_signal), and opening and
-- closing a session (private.open_session, private.close_session).
--
-- pgTAP runs as a superuser. A dashboard user is `authenticated` with claim sub; a connector EA is
-- role rubi_ea with the same claims plus ea_key_id, which is what private.enter_ea_key leaves behind (see 11): the
-- session functions are called with p_caller = that user, as the edge function does after the gate.
-- tests.clear_authentication() resets the role (and the claims) between cases.
--
-- Fixed ids (group 4 = 0012 marks this file):
--   users      A ...0012-0000000000a1  B ...0012-0000000000b1
--   EA keys    A ...0012-0000000000a2  A second key ...0012-0000000000a5  B ...0012-0000000000b2
--   sessions   A a3 active (1201, equity 10 000, specs EURUSD and USDJPY)
--              A a4 active (1202, max_open_positions 3, spec EURUSD)  A a6 disconnected (1203)
--              B b3 active (2201)
--   signals    A e1 on a3 DELIVERED  A e6 on a6 PENDING  B eb on b3 PENDING
--              A on a4: f1 DELIVERED BUY, f2 expired PENDING BUY, f3 EXECUTED BUY, f4 PENDING CLOSE_BUY
--   positions  a4: ticket 1 open, ticket 2 closed
--   terminal   A's account 1299 on Writes-Live: opened, resumed, closed and opened again below
begin;
\ir helpers/setup.psql

select plan(105);

select tests.clear_authentication();

insert into auth.users (id, aud, role, email) values
  ('00000000-0000-0000-0012-0000000000a1', 'authenticated', 'authenticated', 'a.writes@signals.test'),
  ('00000000-0000-0000-0012-0000000000b1', 'authenticated', 'authenticated', 'b.writes@signals.test');
insert into public.ea_keys (id, user_id, name) values
  ('00000000-0000-0000-0012-0000000000a2', '00000000-0000-0000-0012-0000000000a1', 'A key'),
  ('00000000-0000-0000-0012-0000000000a5', '00000000-0000-0000-0012-0000000000a1', 'A second key'),
  ('00000000-0000-0000-0012-0000000000b2', '00000000-0000-0000-0012-0000000000b1', 'B key');

insert into public.mt5_sessions (id, user_id, ea_key_id, account_number, broker, server, currency, leverage, balance, equity,
  margin_free, max_open_positions) values
  ('00000000-0000-0000-0012-0000000000a3', '00000000-0000-0000-0012-0000000000a1', '00000000-0000-0000-0012-0000000000a2',
   1201, 'Demo Broker', 'Writes-Demo', 'USD', 100, 10000, 10000, 10000, 20),
  ('00000000-0000-0000-0012-0000000000a4', '00000000-0000-0000-0012-0000000000a1', '00000000-0000-0000-0012-0000000000a2',
   1202, 'Demo Broker', 'Writes-Demo', 'USD', 100, 10000, 10000, 10000, 3),
  ('00000000-0000-0000-0012-0000000000a6', '00000000-0000-0000-0012-0000000000a1', '00000000-0000-0000-0012-0000000000a2',
   1203, 'Demo Broker', 'Writes-Demo', 'USD', 100, 10000, 10000, 10000, 10),
  ('00000000-0000-0000-0012-0000000000b3', '00000000-0000-0000-0012-0000000000b1', '00000000-0000-0000-0012-0000000000b2',
   2201, 'Demo Broker', 'Writes-Demo', 'USD', 100, 500, 500, 500, 10);

insert into public.symbol_specs (session_id, user_id, symbol, tick_size, tick_value, contract_size, volume_min, volume_max, volume_step, digits) values
  ('00000000-0000-0000-0012-0000000000a3', '00000000-0000-0000-0012-0000000000a1', 'EURUSD', 0.00001, 1, 100000, 0.01, 100, 0.01, 5),
  ('00000000-0000-0000-0012-0000000000a3', '00000000-0000-0000-0012-0000000000a1', 'USDJPY', 0.001, 0.67, 100000, 0.01, 100, 0.01, 3),
  ('00000000-0000-0000-0012-0000000000a4', '00000000-0000-0000-0012-0000000000a1', 'EURUSD', 0.00001, 1, 100000, 0.01, 100, 0.01, 5);

insert into public.trading_signals (id, user_id, session_id, type, symbol, volume, expires_at)
select v.id::uuid, v.owner::uuid, v.session::uuid, v.type, 'EURUSD', 0.1, v.expires_at
from (values
  ('00000000-0000-0000-0012-0000000000e1', '00000000-0000-0000-0012-0000000000a1', '00000000-0000-0000-0012-0000000000a3', 'BUY', null::timestamptz),
  ('00000000-0000-0000-0012-0000000000e6', '00000000-0000-0000-0012-0000000000a1', '00000000-0000-0000-0012-0000000000a6', 'BUY', null),
  ('00000000-0000-0000-0012-0000000000eb', '00000000-0000-0000-0012-0000000000b1', '00000000-0000-0000-0012-0000000000b3', 'BUY', null),
  ('00000000-0000-0000-0012-0000000000f1', '00000000-0000-0000-0012-0000000000a1', '00000000-0000-0000-0012-0000000000a4', 'BUY', null),
  ('00000000-0000-0000-0012-0000000000f2', '00000000-0000-0000-0012-0000000000a1', '00000000-0000-0000-0012-0000000000a4', 'SELL', now() - interval '1 minute'),
  ('00000000-0000-0000-0012-0000000000f3', '00000000-0000-0000-0012-0000000000a1', '00000000-0000-0000-0012-0000000000a4', 'BUY', null),
  ('00000000-0000-0000-0012-0000000000f4', '00000000-0000-0000-0012-0000000000a1', '00000000-0000-0000-0012-0000000000a4', 'CLOSE_BUY', null)
) as v (id, owner, session, type, expires_at);
update public.trading_signals set status = 'DELIVERED'
where id in ('00000000-0000-0000-0012-0000000000e1', '00000000-0000-0000-0012-0000000000f1', '00000000-0000-0000-0012-0000000000f3');
update public.trading_signals set status = 'EXECUTED' where id = '00000000-0000-0000-0012-0000000000f3';
update public.mt5_sessions set status = 'disconnected' where id = '00000000-0000-0000-0012-0000000000a6';

insert into public.positions (session_id, ticket, user_id, symbol, type, volume, open_price, opened_at, closed_at) values
  ('00000000-0000-0000-0012-0000000000a4', 1, '00000000-0000-0000-0012-0000000000a1', 'EURUSD', 'BUY', 0.1, 1.1, now() - interval '1 day', null),
  ('00000000-0000-0000-0012-0000000000a4', 2, '00000000-0000-0000-0012-0000000000a1', 'EURUSD', 'SELL', 0.1, 1.1, now() - interval '1 day',
   now() - interval '1 hour');

-- SQLSTATE and COLUMN of the error a statement raises (what get stacked diagnostics sees), or
-- 'no error'. Security invoker: runs as whoever the test is at the time.
create function tests.error_column(p_sql text) returns text
language plpgsql
as $$
declare
  v_state text;
  v_column text;
begin
  execute p_sql;
  return 'no error';
exception when others then
  get stacked diagnostics v_state = returned_sqlstate, v_column = column_name;
  return v_state || ' ' || coalesce(nullif(v_column, ''), '(no column)');
end;
$$;
grant execute on function tests.error_column(text) to authenticated;

-- =============================================================================================
-- Principals: every function here is for authenticated only (a user, or an EA after its gate).
-- =============================================================================================
select ok(has_function_privilege('authenticated', f, 'execute') and not has_function_privilege('anon', f, 'execute')
          and not has_function_privilege('service_role', f, 'execute'),
  format('only authenticated can execute %s', f))
from unnest(array[
  'private.volume_problem(numeric, numeric, numeric, numeric)',
  'private.size_by_risk(numeric, numeric, numeric, numeric, numeric, numeric, numeric, numeric, numeric)',
  'private.same_signal(public.trading_signals, uuid, text, text, numeric, numeric, numeric, numeric, numeric, text, numeric, timestamptz, timestamptz, text)',
  'private.create_signal(uuid, text, text, numeric, numeric, numeric, numeric, numeric, text, numeric, timestamptz, text, timestamptz, integer, text)',
  'private.cancel_signal(uuid)'
]) as f;
select ok(has_function_privilege('rubi_ea', f, 'execute') and not has_function_privilege('authenticated', f, 'execute')
          and not has_function_privilege('anon', f, 'execute') and not has_function_privilege('service_role', f, 'execute'),
  format('only rubi_ea (an admitted EA) can execute %s', f))
from unnest(array[
  'private.open_session(uuid, jsonb)',
  'private.close_session(uuid, uuid, jsonb)'
]) as f;

select tests.authenticate_as_anon();
select throws_ok($$ select * from private.create_signal('00000000-0000-0000-0012-0000000000a3', 'BUY', 'EURUSD', p_volume => 0.1) $$,
  '42501', null, 'anon cannot create a signal');
select tests.authenticate_as_service_role();
select throws_ok($$ select * from private.create_signal('00000000-0000-0000-0012-0000000000a3', 'BUY', 'EURUSD', p_volume => 0.1) $$,
  '42501', 'permission denied for function create_signal', 'service_role cannot create a signal');
do $$ begin
  perform set_config('role', 'authenticated', true);
  perform set_config('request.jwt.claims', '{"role": "authenticated"}', true);
end $$;
select throws_ok($$ select * from private.create_signal('00000000-0000-0000-0012-0000000000a3', 'BUY', 'EURUSD', p_volume => 0.1) $$,
  '42501', 'not allowed to create signals', 'create_signal: authenticated without a user (no sub) is refused');
select tests.clear_authentication();

-- =============================================================================================
-- Volume rules, in exact decimal arithmetic.
-- =============================================================================================
select ok(private.volume_problem(0.2, 0.01, 100, 0.01) is null, 'volume_problem: 0.2 lots on a 0.01 .. 100 / 0.01 symbol is fine');
select ok(private.volume_problem(0.58, 0.01, 100, 0.01) is null, 'volume_problem: 0.58 is a multiple of 0.01 (no binary rounding)');
select is(private.volume_problem(0.001, 0.01, 100, 0.01), 'volume 0.001 is below the symbol''s minimum of 0.01 lots',
  'volume_problem: below the minimum');
select is(private.volume_problem(100.5, 0.01, 100, 0.01), 'volume 100.5 is above the symbol''s maximum of 100 lots',
  'volume_problem: above the maximum');
select is(private.volume_problem(0.015, 0.01, 100, 0.01), 'volume 0.015 is not a multiple of the symbol''s volume step 0.01',
  'volume_problem: off the volume step');

select is(private.size_by_risk(10000, 1, 1.10000, 1.09500, 0.00001, 1, 0.01, 100, 0.01)::text, '0.2',
  'size_by_risk: EURUSD, 1 % of 10 000 over a 50-pip stop (500 ticks of 1) is 0.2 lots');
select is(private.size_by_risk(10000, 1, 1.09500, 1.10000, 0.00001, 1, 0.01, 100, 0.01)::text, '0.2',
  'size_by_risk: the same stop above the entry (a sell) is the same size');
select is(private.size_by_risk(5800, 1, 1.10000, 1.09900, 0.00001, 1, 0.01, 100, 0.01)::text, '0.58',
  'size_by_risk: 1 % of 5 800 over 100 ticks is exactly 0.58 lots (0.58 / 0.01 is 57.99... in floating point)');
select is(private.size_by_risk(10000, 1, 150.000, 149.500, 0.001, 0.67, 0.01, 100, 0.01)::text, '0.29',
  'size_by_risk: USDJPY (tick value 0.67), 1 % of 10 000 over 500 ticks is 0.2985..., floored to 0.29');
select is(private.size_by_risk(1000000, 1, 1.10000, 1.09500, 0.00001, 1, 0.01, 10, 0.01)::text, '10',
  'size_by_risk: 20 lots are capped at the symbol''s maximum of 10');
select throws_ok($$ select private.size_by_risk(100, 1, 1.10000, 1.09500, 0.00001, 1, 0.01, 100, 0.01) $$,
  '22023', 'risk too small for the minimum lot: 1% of 100 is 1 at risk, one lot loses 500 at the stop-loss, so the size would be 0.002 lots, below the minimum of 0.01',
  'size_by_risk: a size below the minimum lot is refused, with the figures');
select is(tests.error_column($$ select private.size_by_risk(100, 1, 1.10000, 1.09500, 0.00001, 1, 0.01, 100, 0.01) $$),
  '22023 body.risk_percent', '...naming body.risk_percent');
select throws_ok($$ select private.size_by_risk(10000, 1, 1.10000, 1.09500, 0.00001, 1, 0.5, 100, 0.01) $$,
  '22023', 'risk too small for the minimum lot: 1% of 10000 is 100 at risk, one lot loses 500 at the stop-loss, so the size would be 0.2 lots, below the minimum of 0.5',
  'size_by_risk: a size on the step but under a larger minimum is refused too');
select throws_ok($$ select private.size_by_risk(10000, 1, 1.1, 1.1, 0.00001, 1, 0.01, 100, 0.01) $$,
  '22023', 'the stop-loss is at the entry price: nothing to size against', 'size_by_risk: no stop distance');
select is(tests.error_column($$ select private.size_by_risk(10000, 1, 1.1, 1.1, 0.00001, 1, 0.01, 100, 0.01) $$),
  '22023 body.risk_percent', '...naming body.risk_percent');
select throws_ok($$ select private.size_by_risk(0, 1, 1.10000, 1.09500, 0.00001, 1, 0.01, 100, 0.01) $$,
  '22023', 'the session''s equity (0) leaves nothing to risk', 'size_by_risk: no equity');
select is(tests.error_column($$ select private.size_by_risk(0, 1, 1.10000, 1.09500, 0.00001, 1, 0.01, 100, 0.01) $$),
  '22023 body.risk_percent', '...naming body.risk_percent');

-- =============================================================================================
-- create_signal as A's dashboard user.
-- =============================================================================================
select tests.authenticate_as('00000000-0000-0000-0012-0000000000a1');
select results_eq(
  $$ select created, (signal).user_id, (signal).session_id, (signal).type::text, (signal).symbol, (signal).volume, (signal).entry_price,
            (signal).stop_loss, (signal).timeframe::text, (signal).confidence, (signal).source::text, (signal).status, (signal).signal_time,
            (signal).expires_at
     from private.create_signal('00000000-0000-0000-0012-0000000000a3', 'BUY', 'EURUSD', p_entry_price => 1.1, p_stop_loss => 1.095,
       p_volume => 0.1, p_timeframe => 'H1', p_confidence => 80, p_client_signal_id => 'cs-1') $$,
  $$ values (true, '00000000-0000-0000-0012-0000000000a1'::uuid, '00000000-0000-0000-0012-0000000000a3'::uuid, 'BUY', 'EURUSD',
             0.1::numeric, 1.1::numeric, 1.095::numeric, 'H1', 80::numeric, 'dashboard', 'PENDING', now(), null::timestamptz) $$,
  'create: a dashboard signal is created (source dashboard, PENDING, signal_time now)');
select results_eq(
  $$ select created, (signal).id from private.create_signal('00000000-0000-0000-0012-0000000000a3', 'BUY', 'EURUSD', p_entry_price => 1.1,
       p_stop_loss => 1.095, p_volume => 0.1, p_timeframe => 'H1', p_confidence => 80, p_client_signal_id => 'cs-1') $$,
  $$ select false, id from public.trading_signals where client_signal_id = 'cs-1' $$,
  'create: a retry with the same client_signal_id answers the same signal, created false');
select is((select count(*)::int from public.trading_signals where client_signal_id = 'cs-1'), 1, '...and writes no second signal');
select throws_ok(
  $$ select * from private.create_signal('00000000-0000-0000-0012-0000000000a3', 'SELL', 'EURUSD', p_entry_price => 1.1,
       p_stop_loss => 1.095, p_volume => 0.2, p_timeframe => 'H1', p_confidence => 80, p_client_signal_id => 'cs-1') $$,
  '23514', 'client_signal_id "cs-1" was already used for a different signal (differs in type, volume)',
  'create: the same client_signal_id for a different signal is 409, naming the fields that differ');

select is((select (signal).source::text from private.create_signal('00000000-0000-0000-0012-0000000000a3', 'SELL', 'EURUSD',
    p_volume => 0.1, p_source => 'api')), 'api', 'create: a user may say the source is api');
select throws_ok($$ select * from private.create_signal('00000000-0000-0000-0012-0000000000a3', 'BUY', 'EURUSD', p_volume => 0.1, p_source => 'ea') $$,
  '22023', 'source must be dashboard or api', 'create: a user cannot claim source ea');
select is(tests.error_column($$ select * from private.create_signal('00000000-0000-0000-0012-0000000000a3', 'BUY', 'EURUSD', p_volume => 0.1,
    p_source => 'ea') $$), '22023 body.source', '...naming body.source');

select throws_ok($$ select * from private.create_signal('00000000-0000-0000-0012-0000000000ff', 'BUY', 'EURUSD', p_volume => 0.1) $$,
  'P0002', 'session not found', 'create: an unknown session is 404');
select throws_ok($$ select * from private.create_signal('00000000-0000-0000-0012-0000000000b3', 'BUY', 'EURUSD', p_volume => 0.1,
    p_client_signal_id => 'cs-cross') $$,
  'P0002', 'session not found', 'cross-tenant: A cannot aim a signal at B''s session (404)');
select throws_ok($$ select * from private.create_signal('00000000-0000-0000-0012-0000000000b3', 'CLOSE_BUY', 'EURUSD') $$,
  'P0002', 'session not found', 'cross-tenant: nor a closing signal');
select throws_ok($$ select * from private.create_signal('00000000-0000-0000-0012-0000000000a6', 'BUY', 'EURUSD', p_volume => 0.1) $$,
  '23514', 'session is disconnected: signals can only target a live session', 'create: a disconnected session is 409');

select throws_ok($$ select * from private.create_signal('00000000-0000-0000-0012-0000000000a3', 'BUY', 'EURUSD', p_volume => 0.1,
    p_expires_at => now() - interval '1 second') $$,
  '22023', 'expires_at must be in the future', 'create: an expiry in the past is 400');
select is(tests.error_column($$ select * from private.create_signal('00000000-0000-0000-0012-0000000000a3', 'BUY', 'EURUSD', p_volume => 0.1,
    p_expires_at => now()) $$), '22023 body.expires_at', '...(now is not the future either), naming body.expires_at');
select results_eq(
  $$ select created, (signal).expires_at from private.create_signal('00000000-0000-0000-0012-0000000000a3', 'BUY', 'EURUSD',
       p_volume => 0.1, p_ttl_seconds => 600, p_client_signal_id => 'cs-ttl') $$,
  $$ values (true, now() + interval '600 seconds') $$,
  'create: ttl_seconds sets expires_at = now + ttl');
select is((select created from private.create_signal('00000000-0000-0000-0012-0000000000a3', 'BUY', 'EURUSD',
    p_volume => 0.1, p_ttl_seconds => 600, p_client_signal_id => 'cs-ttl')), false,
  'create: its retry is answered (an expiry derived from ttl_seconds is not compared)');
select results_eq(
  $$ select created, (signal).expires_at from private.create_signal('00000000-0000-0000-0012-0000000000a3', 'BUY', 'EURUSD',
       p_volume => 0.1, p_expires_at => now() + interval '1 hour', p_ttl_seconds => 60) $$,
  $$ values (true, now() + interval '1 hour') $$,
  'create: an explicit expires_at wins over ttl_seconds');

-- Risk sizing, on a3 (equity 10 000, max_risk_percent 2, EURUSD 0.00001 / 1).
select results_eq(
  $$ select created, (signal).volume, (signal).risk_percent from private.create_signal('00000000-0000-0000-0012-0000000000a3', 'BUY',
       'EURUSD', p_entry_price => 1.1, p_stop_loss => 1.095, p_risk_percent => 1, p_client_signal_id => 'cs-risk') $$,
  $$ values (true, 0.2::numeric, 1::numeric) $$,
  'create: 1 % of the session''s 10 000 equity over a 50-pip stop stores volume 0.2');
select results_eq(
  $$ select created, (signal).volume from private.create_signal('00000000-0000-0000-0012-0000000000a3', 'BUY',
       'EURUSD', p_entry_price => 1.1, p_stop_loss => 1.095, p_risk_percent => 1, p_client_signal_id => 'cs-risk') $$,
  $$ values (false, 0.2::numeric) $$,
  'create: its retry is answered (the computed volume is not compared)');
select results_eq(
  $$ select created, (signal).volume from private.create_signal('00000000-0000-0000-0012-0000000000a3', 'SELL',
       'USDJPY', p_entry_price => 150, p_stop_loss => 150.5, p_risk_percent => 1) $$,
  $$ values (true, 0.29::numeric) $$,
  'create: USDJPY (tick value 0.67) over 500 ticks stores volume 0.29');
select throws_ok($$ select * from private.create_signal('00000000-0000-0000-0012-0000000000a3', 'BUY', 'EURUSD', p_entry_price => 1.1,
    p_stop_loss => 1.095, p_risk_percent => 2.5) $$,
  '22023', 'risk_percent 2.5 exceeds the session''s max_risk_percent of 2', 'create: a risk above the session''s max_risk_percent is 400');
select is(tests.error_column($$ select * from private.create_signal('00000000-0000-0000-0012-0000000000a3', 'BUY', 'EURUSD',
    p_entry_price => 1.1, p_stop_loss => 1.095, p_risk_percent => 2.5) $$), '22023 body.risk_percent', '...naming body.risk_percent');
select throws_ok($$ select * from private.create_signal('00000000-0000-0000-0012-0000000000a3', 'BUY', 'XAUUSD', p_entry_price => 2000,
    p_stop_loss => 1990, p_risk_percent => 1) $$,
  '22023', 'no symbol specification reported for XAUUSD on this session: risk sizing needs its tick size and value',
  'create: risk sizing without the symbol''s specification is 400');
select is(tests.error_column($$ select * from private.create_signal('00000000-0000-0000-0012-0000000000a3', 'BUY', 'XAUUSD',
    p_entry_price => 2000, p_stop_loss => 1990, p_risk_percent => 1) $$), '22023 body.symbol', '...naming body.symbol');
select throws_ok($$ select * from private.create_signal('00000000-0000-0000-0012-0000000000a3', 'BUY', 'EURUSD', p_entry_price => 1.1,
    p_stop_loss => 1.1, p_risk_percent => 1) $$,
  '22023', 'the stop-loss is at the entry price: nothing to size against', 'create: a stop at the entry cannot be sized');
select throws_ok($$ select * from private.create_signal('00000000-0000-0000-0012-0000000000a3', 'BUY', 'EURUSD', p_volume => 0.015) $$,
  '22023', 'volume 0.015 is not a multiple of the symbol''s volume step 0.01', 'create: a volume off the symbol''s step is 400');
select is(tests.error_column($$ select * from private.create_signal('00000000-0000-0000-0012-0000000000a3', 'BUY', 'EURUSD',
    p_volume => 0.015) $$), '22023 body.volume', '...naming body.volume');
select throws_ok($$ select * from private.create_signal('00000000-0000-0000-0012-0000000000a3', 'BUY', 'EURUSD', p_volume => 150) $$,
  '22023', 'volume 150 is above the symbol''s maximum of 100 lots', 'create: a volume above the symbol''s maximum is 400');
select is((select (signal).volume from private.create_signal('00000000-0000-0000-0012-0000000000a3', 'BUY', 'XAUUSD', p_volume => 0.015)),
  0.015::numeric, 'create: without a specification the volume is taken as sent');

-- The position limit, on a4 (max 3): open ticket 1 + DELIVERED f1 = 2; the closed ticket, the
-- expired f2, the executed f3 and the closing f4 do not count.
select is((select created from private.create_signal('00000000-0000-0000-0012-0000000000a4', 'BUY', 'EURUSD', p_volume => 0.1,
    p_client_signal_id => 'cs-last-slot')), true, 'limit: the third slot is taken by a new opening signal');
select throws_ok($$ select * from private.create_signal('00000000-0000-0000-0012-0000000000a4', 'SELL', 'EURUSD', p_volume => 0.1) $$,
  '23514', 'max_open_positions reached: the session has 1 open position(s) and 2 opening signal(s) not yet executed, and allows 3',
  'limit: the fourth is 409, counting open positions and PENDING / DELIVERED opening signals');
select is((select created from private.create_signal('00000000-0000-0000-0012-0000000000a4', 'BUY', 'EURUSD', p_volume => 0.1,
    p_client_signal_id => 'cs-last-slot')), false, 'limit: a retry of the signal that took the last slot is answered, not refused');
select results_eq(
  $$ select created, (signal).type::text, (signal).volume from private.create_signal('00000000-0000-0000-0012-0000000000a4', 'CLOSE_BUY', 'EURUSD') $$,
  $$ values (true, 'CLOSE_BUY', null::numeric) $$,
  'limit: a closing signal is not limited');
select tests.clear_authentication();
select results_eq(
  $$ select (select count(*)::int from public.trading_signals where session_id = '00000000-0000-0000-0012-0000000000b3'),
            (select count(*)::int from public.trading_signals where client_signal_id = 'cs-cross'),
            (select count(*)::int from public.trading_signals where session_id = '00000000-0000-0000-0012-0000000000a6') $$,
  $$ values (1, 0, 1) $$,
  'cross-tenant: nothing was written to B''s session (nor to the disconnected one)');

-- =============================================================================================
-- create_signal as A's connector EA.
-- =============================================================================================
select tests.authenticate_as_ea('00000000-0000-0000-0012-0000000000a1', '00000000-0000-0000-0012-0000000000a2');
select results_eq(
  $$ select created, (signal).source::text, (signal).user_id from private.create_signal('00000000-0000-0000-0012-0000000000a3', 'SELL',
       'EURUSD', p_volume => 0.1, p_client_signal_id => 'cs-ea') $$,
  $$ values (true, 'ea', '00000000-0000-0000-0012-0000000000a1'::uuid) $$,
  'create as EA: the source is ea, the owner the key''s user');
select results_eq(
  $$ select created, (signal).id from private.create_signal('00000000-0000-0000-0012-0000000000a3', 'SELL', 'EURUSD', p_volume => 0.1,
       p_client_signal_id => 'cs-ea') $$,
  $$ select false, id from public.trading_signals where client_signal_id = 'cs-ea' $$,
  'create as EA: a retry answers the same signal, created false');
select throws_ok($$ select * from private.create_signal('00000000-0000-0000-0012-0000000000a3', 'SELL', 'EURUSD', p_volume => 0.1,
    p_source => 'dashboard') $$,
  '22023', 'source is set by the server: signals created with an EA key are ''ea''', 'create as EA: naming a source is 400');
select is(tests.error_column($$ select * from private.create_signal('00000000-0000-0000-0012-0000000000a3', 'SELL', 'EURUSD',
    p_volume => 0.1, p_source => 'ea') $$), '22023 body.source', '...even ea, naming body.source');
select throws_ok($$ select * from private.create_signal('00000000-0000-0000-0012-0000000000b3', 'SELL', 'EURUSD', p_volume => 0.1) $$,
  'P0002', 'session not found', 'cross-tenant: A''s EA cannot aim a signal at B''s session');
select tests.authenticate_as('00000000-0000-0000-0012-0000000000a1');
select throws_ok($$ select * from private.create_signal('00000000-0000-0000-0012-0000000000a3', 'SELL', 'EURUSD', p_volume => 0.1,
    p_client_signal_id => 'cs-ea') $$,
  '23514', 'client_signal_id "cs-ea" was already used for a different signal (differs in source)',
  'create: the user resending the EA''s client_signal_id differs in source');

-- =============================================================================================
-- cancel_signal.
-- =============================================================================================
select results_eq(
  $$ select id, status, status_message, completed_at from private.cancel_signal(
       (select id from public.trading_signals where client_signal_id = 'cs-1')) $$,
  $$ select id, 'CANCELLED', 'cancelled by the user', now() from public.trading_signals where client_signal_id = 'cs-1' $$,
  'cancel: a PENDING signal is CANCELLED by the user');
select results_eq(
  $$ select id, status, status_message from private.cancel_signal((select id from public.trading_signals where client_signal_id = 'cs-1')) $$,
  $$ select id, 'CANCELLED', 'cancelled by the user' from public.trading_signals where client_signal_id = 'cs-1' $$,
  'cancel: cancelling again returns the cancelled signal');
select throws_ok($$ select private.cancel_signal('00000000-0000-0000-0012-0000000000e1') $$,
  '23514', 'signal is DELIVERED: only a PENDING signal can be cancelled', 'cancel: a DELIVERED signal is 409');
select throws_ok($$ select private.cancel_signal('00000000-0000-0000-0012-0000000000eb') $$,
  'P0002', 'signal not found', 'cross-tenant: A cannot cancel B''s signal (404)');
select throws_ok($$ select private.cancel_signal('00000000-0000-0000-0012-0000000000ff') $$,
  'P0002', 'signal not found', 'cancel: an unknown signal is 404');
select tests.authenticate_as_ea('00000000-0000-0000-0012-0000000000a1', '00000000-0000-0000-0012-0000000000a2');
select results_eq(
  $$ select status, status_message from private.cancel_signal((select id from public.trading_signals where client_signal_id = 'cs-ea')) $$,
  $$ values ('CANCELLED', 'cancelled by the EA') $$,
  'cancel as EA: CANCELLED by the EA');
select throws_ok($$ select private.cancel_signal('00000000-0000-0000-0012-0000000000eb') $$,
  'P0002', 'signal not found', 'cross-tenant: A''s EA cannot cancel B''s signal');
select tests.clear_authentication();
select results_eq(
  $$ select status, status_message from public.trading_signals where id in ('00000000-0000-0000-0012-0000000000e1', '00000000-0000-0000-0012-0000000000eb')
     order by id $$,
  $$ values ('DELIVERED', null::text), ('PENDING', null) $$,
  'cancel: the delivered signal and B''s signal are untouched');

-- =============================================================================================
-- open_session / close_session, as A's connector EA after its gate.
-- =============================================================================================
create temp table terminal on commit drop as select $$ {
  "account_number": 1299, "server": "Writes-Live", "broker": "Writes Broker", "currency": "USD", "leverage": 500,
  "balance": 2000, "equity": 2100, "ea_version": "1.2.0", "terminal_build": 4000,
  "symbols": [{"symbol": "EURUSD", "tick_size": 0.00001, "tick_value": 1, "contract_size": 100000, "volume_min": 0.01,
               "volume_max": 50, "volume_step": 0.01, "digits": 5}] } $$::jsonb as t;
grant select on terminal to authenticated;
-- The terminal's live session, read as the owner.
create function tests.live_1299() returns uuid
language sql
as $$ select id from public.mt5_sessions where account_number = 1299 and server = 'Writes-Live' and status <> 'disconnected' $$;
grant execute on function tests.live_1299() to authenticated;

select tests.authenticate_as('00000000-0000-0000-0012-0000000000a1');
select throws_ok($$ select * from private.open_session('00000000-0000-0000-0012-0000000000a1', (select t from terminal)) $$,
  '42501', 'permission denied for function open_session', 'connect: a dashboard user (no ea_key_id) cannot open a session');
select throws_ok($$ select * from private.close_session('00000000-0000-0000-0012-0000000000a1', '00000000-0000-0000-0012-0000000000a3', '{}') $$,
  '42501', 'permission denied for function close_session', 'disconnect: a dashboard user cannot close a session');
select tests.authenticate_as_ea('00000000-0000-0000-0012-0000000000a1', '00000000-0000-0000-0012-0000000000a2');
select throws_ok($$ select * from private.open_session('00000000-0000-0000-0012-0000000000b1', (select t from terminal)) $$,
  '42501', 'only an admitted EA may do this', 'connect: a p_caller other than the admitted EA''s user is refused');
select throws_ok($$ select * from private.close_session('00000000-0000-0000-0012-0000000000b1', '00000000-0000-0000-0012-0000000000a3', '{}') $$,
  '42501', 'only an admitted EA may do this', 'disconnect: a p_caller other than the admitted EA''s user is refused');
select tests.clear_authentication();
select is((select count(*)::int from public.mt5_sessions where account_number = 1299), 0, 'the refused connects opened nothing');

select tests.authenticate_as_ea('00000000-0000-0000-0012-0000000000a1', '00000000-0000-0000-0012-0000000000a2');
select results_eq(
  $$ select id is not null, resumed, ping_interval_seconds, max_open_positions, max_risk_percent
     from private.open_session('00000000-0000-0000-0012-0000000000a1', (select t from terminal)) $$,
  $$ values (true, false, 30, 10, 2::numeric) $$,
  'connect: the first connect opens a session (resumed false) and hands out its settings');
select tests.clear_authentication();
create temp table first_session on commit drop as select tests.live_1299() as id;
grant select on first_session to authenticated;
select results_eq(
  $$ select user_id, ea_key_id, broker, currency, leverage, balance, equity, margin, margin_free, ea_version, terminal_build, status::text,
            connected_at, (select count(*)::int from public.symbol_specs sp where sp.session_id = s.id),
            (select tick_value from public.symbol_specs sp where sp.session_id = s.id and sp.symbol = 'EURUSD')
     from public.mt5_sessions s where s.id = (select id from first_session) $$,
  $$ values ('00000000-0000-0000-0012-0000000000a1'::uuid, '00000000-0000-0000-0012-0000000000a2'::uuid, 'Writes Broker', 'USD', 500,
             2000::numeric, 2100::numeric, 0::numeric, 0::numeric, '1.2.0', 4000, 'active', now(), 1, 1::numeric) $$,
  'connect: the session holds the terminal''s figures, the key and its symbol specification');

select tests.authenticate_as_ea('00000000-0000-0000-0012-0000000000a1', '00000000-0000-0000-0012-0000000000a2');
select results_eq(
  $$ select id, resumed from private.open_session('00000000-0000-0000-0012-0000000000a1', (select t || $j$ {
       "equity": 2200, "margin": 10, "margin_free": 2190,
       "symbols": [{"symbol": "EURUSD", "tick_size": 0.00001, "tick_value": 1.1, "contract_size": 100000, "volume_min": 0.01,
                    "volume_max": 50, "volume_step": 0.01, "digits": 5},
                   {"symbol": "GBPUSD", "tick_size": 0.00001, "tick_value": 1.27, "contract_size": 100000, "volume_min": 0.01,
                    "volume_max": 50, "volume_step": 0.01, "digits": 5}] } $j$::jsonb from terminal)) $$,
  $$ select id, true from first_session $$,
  'connect again: the live session is resumed (same id, resumed true)');
select tests.clear_authentication();
select results_eq(
  $$ select s.equity, s.margin, s.margin_free, (select count(*)::int from public.mt5_sessions m where m.account_number = 1299),
            (select string_agg(sp.symbol || '=' || sp.tick_value, ',' order by sp.symbol) from public.symbol_specs sp where sp.session_id = s.id)
     from public.mt5_sessions s where s.id = (select id from first_session) $$,
  $$ values (2200::numeric, 10::numeric, 2190::numeric, 1, 'EURUSD=1.1,GBPUSD=1.27') $$,
  'connect again: figures updated, no second session, symbol specifications upserted');

-- What the first session leaves behind: signals g1 (pending), g2 (pending, expires later),
-- g3 (pending, expired), g4 (delivered); positions 11 (open) and 12 (closed).
insert into public.trading_signals (id, user_id, session_id, type, symbol, volume, expires_at)
select v.id::uuid, '00000000-0000-0000-0012-0000000000a1', (select id from first_session), 'BUY', 'EURUSD', 0.1, v.expires_at
from (values
  ('00000000-0000-0000-0012-0000000000c1', null::timestamptz),
  ('00000000-0000-0000-0012-0000000000c2', now() + interval '1 hour'),
  ('00000000-0000-0000-0012-0000000000c3', now() - interval '1 second'),
  ('00000000-0000-0000-0012-0000000000c4', null)
) as v (id, expires_at);
update public.trading_signals set status = 'DELIVERED' where id = '00000000-0000-0000-0012-0000000000c4';
insert into public.positions (session_id, ticket, user_id, symbol, type, volume, open_price, opened_at, closed_at)
select (select id from first_session), v.ticket, '00000000-0000-0000-0012-0000000000a1', 'EURUSD', 'BUY', 0.1, 1.1,
       '2026-11-01T00:00:00Z', v.closed_at
from (values (11::bigint, null::timestamptz), (12, '2026-11-02T00:00:00Z')) as v (ticket, closed_at);

select tests.authenticate_as_ea('00000000-0000-0000-0012-0000000000a1', '00000000-0000-0000-0012-0000000000a2');
select throws_ok($$ select * from private.close_session('00000000-0000-0000-0012-0000000000a1', '00000000-0000-0000-0012-0000000000b3', '{}') $$,
  'P0002', 'session not found', 'cross-tenant: A''s EA cannot close B''s session (404)');
select throws_ok($$ select * from private.close_session('00000000-0000-0000-0012-0000000000a1', '00000000-0000-0000-0012-0000000000ff', '{}') $$,
  'P0002', 'session not found', 'disconnect: an unknown session is 404');
select results_eq(
  $$ select id, disconnected_at from private.close_session('00000000-0000-0000-0012-0000000000a1', tests.live_1299(),
       '{"signals_sent": 5, "signals_received": 4, "orders_executed": 3, "errors": 1}') $$,
  $$ select id, now() from first_session $$,
  'disconnect: the session is closed, at now');
select throws_ok($$ select * from private.close_session('00000000-0000-0000-0012-0000000000a1', (select id from first_session), '{}') $$,
  '23514', 'session is already disconnected', 'disconnect: a second disconnect is 409');
select tests.clear_authentication();
select results_eq(
  $$ select status::text, disconnected_at, signals_sent, signals_received, orders_executed, errors
     from public.mt5_sessions where id = (select id from first_session) $$,
  $$ values ('disconnected', now(), 5, 4, 3, 1) $$,
  'disconnect: status, time and the EA''s counters are stored');
select results_eq(
  $$ select status::text, disconnected_at from public.mt5_sessions where id = '00000000-0000-0000-0012-0000000000b3' $$,
  $$ values ('active', null::timestamptz) $$,
  'cross-tenant: B''s session is still active');

select tests.authenticate_as_ea('00000000-0000-0000-0012-0000000000a1', '00000000-0000-0000-0012-0000000000a2');
select results_eq(
  $$ select id <> (select id from first_session), resumed from private.open_session('00000000-0000-0000-0012-0000000000a1', (select t from terminal)) $$,
  $$ values (true, false) $$,
  'connect after a disconnect: a new session is opened (resumed false)');
select tests.clear_authentication();
create temp table second_session on commit drop as select tests.live_1299() as id;
grant select on second_session to authenticated;
select results_eq(
  $$ select g.id::text, g.session_id = (select id from second_session), g.status from public.trading_signals g
     where g.id in ('00000000-0000-0000-0012-0000000000c1', '00000000-0000-0000-0012-0000000000c2', '00000000-0000-0000-0012-0000000000c3',
                    '00000000-0000-0000-0012-0000000000c4', '00000000-0000-0000-0012-0000000000e6')
     order by g.id $$,
  $$ values ('00000000-0000-0000-0012-0000000000c1', true, 'PENDING'), ('00000000-0000-0000-0012-0000000000c2', true, 'PENDING'),
            ('00000000-0000-0000-0012-0000000000c3', false, 'PENDING'), ('00000000-0000-0000-0012-0000000000c4', true, 'DELIVERED'),
            ('00000000-0000-0000-0012-0000000000e6', false, 'PENDING') $$,
  'takeover: the unexpired PENDING signals and the unreported DELIVERED one move to the new session; the expired one stays, as does another terminal''s');
select results_eq(
  $$ select ticket, closed_at from public.positions where session_id = (select id from first_session) order by ticket $$,
  $$ values (11::bigint, now()), (12, '2026-11-02T00:00:00Z'::timestamptz) $$,
  'takeover: the old session''s open position is closed now; the closed one keeps its time');

-- The session's key, not just its owner: A's second key cannot close the session of the first.
-- The UPDATE policy's USING admits any of the owner's keys; its WITH CHECK (ea_key_id = the
-- caller's key) refuses the row, so this is 42501 from RLS, not the function's 'session not found'.
select tests.authenticate_as_ea('00000000-0000-0000-0012-0000000000a1', '00000000-0000-0000-0012-0000000000a5');
select throws_ok($$ select * from private.close_session('00000000-0000-0000-0012-0000000000a1', (select id from second_session), '{}') $$,
  '42501', 'new row violates row-level security policy for table "mt5_sessions"',
  'disconnect: a key other than the session''s cannot close it (the UPDATE policy''s check)');
select tests.clear_authentication();
select is((select status::text from public.mt5_sessions where id = (select id from second_session)), 'active',
  '...and the session is still active');

-- =============================================================================================
-- Rules that hold for any caller, not only for bodies the function's zod contract let through.
-- =============================================================================================
select throws_ok($$ select private.size_by_risk(10000, 1, null, 1.09500, 0.00001, 1, 0.01, 100, 0.01) $$,
  '22023', 'a risk-sized signal needs an entry_price to measure the stop-loss distance',
  'size_by_risk: no entry price (a market order) is refused, never sized at the maximum');
select is(tests.error_column($$ select private.size_by_risk(10000, 1, null, 1.09500, 0.00001, 1, 0.01, 100, 0.01) $$),
  '22023 body.entry_price', '...naming body.entry_price');
select throws_ok($$ select private.size_by_risk(10000, 1, 1.1, null, 0.00001, 1, 0.01, 100, 0.01) $$,
  '22023', 'a risk-sized signal needs a stop_loss', 'size_by_risk: no stop-loss is refused');
select throws_ok($$ select private.size_by_risk(null, 1, 1.1, 1.095, 0.00001, 1, 0.01, 100, 0.01) $$,
  '22023', 'the session''s equity (<NULL>) leaves nothing to risk', 'size_by_risk: unknown equity is refused');

select tests.authenticate_as('00000000-0000-0000-0012-0000000000a1');
select throws_ok($$ select * from private.create_signal('00000000-0000-0000-0012-0000000000a3', 'BUY', 'EURUSD', p_stop_loss => 1.095,
    p_risk_percent => 1) $$,
  '22023', 'a risk-sized signal needs an entry_price to measure the stop-loss distance',
  'create: a risk-sized market order straight through SQL is refused (it used to get volume_max)');
select throws_ok($$ select * from private.create_signal('00000000-0000-0000-0012-0000000000a3', 'BUY', 'EURUSD', p_volume => 0.1,
    p_ttl_seconds => -5) $$,
  '22023', 'ttl_seconds must be positive', 'create: a ttl of zero or less is refused (it would be born expired)');
select tests.clear_authentication();

select tests.authenticate_as('00000000-0000-0000-0012-0000000000a1', '{"ea_account_id": "00000000-0000-0000-0012-0000000000f1"}');
select throws_ok($$ select * from private.create_signal('00000000-0000-0000-0012-0000000000a3', 'BUY', 'EURUSD', p_volume => 0.1) $$,
  '42501', 'not allowed to create signals', 'create: a provisioned account''s EA cannot create signals');
select throws_ok($$ select * from private.cancel_signal('00000000-0000-0000-0012-0000000000c1') $$,
  '42501', 'not allowed to cancel signals', 'cancel: nor cancel them');
select tests.clear_authentication();

select tests.authenticate_as_ea('00000000-0000-0000-0012-0000000000a1', '00000000-0000-0000-0012-0000000000a2');
select lives_ok($$ select * from private.open_session('00000000-0000-0000-0012-0000000000a1', (select t || $j$ {
       "symbols": [{"symbol": "USDCHF", "tick_size": 0.00001, "tick_value": 1, "contract_size": 100000, "volume_min": 0.01,
                    "volume_max": 50, "volume_step": 0.01, "digits": 5},
                   {"symbol": "USDCHF", "tick_size": 0.00001, "tick_value": 1.13, "contract_size": 100000, "volume_min": 0.01,
                    "volume_max": 50, "volume_step": 0.01, "digits": 5}] } $j$::jsonb from terminal)) $$,
  'connect: a symbol listed twice is no error');
select tests.clear_authentication();
select is((select string_agg(sp.tick_value::text, ',') from public.symbol_specs sp
           where sp.session_id = (select id from second_session) and sp.symbol = 'USDCHF'), '1.13',
  '...the last entry counts');

-- A DELIVERED signal of an ended session, delivered longer ago than the redelivery window, stays
-- behind on takeover and is expired by the cron sweep with a message that says so; one past its
-- expiry too; one still within the window is left for the terminal's next session.
insert into public.trading_signals (id, user_id, session_id, type, symbol, volume, expires_at)
select v.id::uuid, '00000000-0000-0000-0012-0000000000a1', (select id from first_session), 'BUY', 'EURUSD', 0.1, v.expires_at
from (values
  ('00000000-0000-0000-0012-0000000000d1', null::timestamptz),
  ('00000000-0000-0000-0012-0000000000d2', now() + interval '1 minute'),
  ('00000000-0000-0000-0012-0000000000d3', null)
) as v (id, expires_at);
update public.trading_signals set status = 'DELIVERED'
where id in ('00000000-0000-0000-0012-0000000000d1', '00000000-0000-0000-0012-0000000000d2', '00000000-0000-0000-0012-0000000000d3');
update public.trading_signals set delivered_at = now() - interval '2 hours' where id = '00000000-0000-0000-0012-0000000000d1';
update public.trading_signals set expires_at = now() - interval '1 second' where id = '00000000-0000-0000-0012-0000000000d2';
select private.expire_signals();
select results_eq(
  $$ select id::text, status, status_message like 'expired unreported: its session ended%' from public.trading_signals
     where id in ('00000000-0000-0000-0012-0000000000d1', '00000000-0000-0000-0012-0000000000d2', '00000000-0000-0000-0012-0000000000d3')
     order by id $$,
  $$ values ('00000000-0000-0000-0012-0000000000d1', 'EXPIRED', true), ('00000000-0000-0000-0012-0000000000d2', 'EXPIRED', true),
            ('00000000-0000-0000-0012-0000000000d3', 'DELIVERED', null) $$,
  'expiry: a DELIVERED signal of an ended session expires past the redelivery window or its expiry, with a message that says so');

select * from finish();
rollback;
