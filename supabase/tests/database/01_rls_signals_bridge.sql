-- Row-level security of the signals bridge tables: ea_keys, mt5_sessions, symbol_specs,
-- account_snapshots, trading_signals, trading_orders, positions.
--
-- Two users, A and B, each own one row in every table (created as the database owner). Then,
-- as A (a dashboard user), as A's connector EA, and as anon, we check what can be read and
-- written. Fixed ids (group 4 = 0001 marks this file):
--   users    A ...0001-0000000000a1  B ...0001-0000000000b1
--   EA keys  A ...0001-0000000000a2  B ...0001-0000000000b2
--   sessions A ...0001-0000000000a3  B ...0001-0000000000b3
--   signals  A ...0001-0000000000a4  B ...0001-0000000000b4
--   orders   A ...0001-0000000000a5  B ...0001-0000000000b5
begin;
\ir helpers/setup.psql

select plan(100);

-- ---------------------------------------------------------------------------------------------
-- Fixture, as the database owner.
select tests.clear_authentication();

insert into auth.users (id, aud, role, email) values
  ('00000000-0000-0000-0001-0000000000a1', 'authenticated', 'authenticated', 'a.signals@rls.test'),
  ('00000000-0000-0000-0001-0000000000b1', 'authenticated', 'authenticated', 'b.signals@rls.test');

insert into public.ea_keys (id, user_id, name) values
  ('00000000-0000-0000-0001-0000000000a2', '00000000-0000-0000-0001-0000000000a1', 'A key'),
  ('00000000-0000-0000-0001-0000000000b2', '00000000-0000-0000-0001-0000000000b1', 'B key');

insert into public.mt5_sessions (id, user_id, ea_key_id, account_number, broker, server, currency, leverage, balance) values
  ('00000000-0000-0000-0001-0000000000a3', '00000000-0000-0000-0001-0000000000a1',
   '00000000-0000-0000-0001-0000000000a2', 1001, 'Demo Broker', 'RLS-Signals-Demo', 'USD', 100, 1000),
  ('00000000-0000-0000-0001-0000000000b3', '00000000-0000-0000-0001-0000000000b1',
   '00000000-0000-0000-0001-0000000000b2', 2001, 'Demo Broker', 'RLS-Signals-Demo', 'USD', 100, 2000);

insert into public.symbol_specs (session_id, user_id, symbol, tick_size, tick_value, contract_size,
                                 volume_min, volume_max, volume_step, digits) values
  ('00000000-0000-0000-0001-0000000000a3', '00000000-0000-0000-0001-0000000000a1', 'EURUSD', 0.00001, 1, 100000, 0.01, 100, 0.01, 5),
  ('00000000-0000-0000-0001-0000000000b3', '00000000-0000-0000-0001-0000000000b1', 'EURUSD', 0.00001, 1, 100000, 0.01, 100, 0.01, 5);

insert into public.account_snapshots (session_id, user_id, captured_at, balance, equity) values
  ('00000000-0000-0000-0001-0000000000a3', '00000000-0000-0000-0001-0000000000a1', now(), 1000, 1000),
  ('00000000-0000-0000-0001-0000000000b3', '00000000-0000-0000-0001-0000000000b1', now(), 2000, 2000);

insert into public.trading_signals (id, user_id, session_id, type, symbol, volume) values
  ('00000000-0000-0000-0001-0000000000a4', '00000000-0000-0000-0001-0000000000a1',
   '00000000-0000-0000-0001-0000000000a3', 'BUY', 'EURUSD', 0.10),
  ('00000000-0000-0000-0001-0000000000b4', '00000000-0000-0000-0001-0000000000b1',
   '00000000-0000-0000-0001-0000000000b3', 'SELL', 'EURUSD', 0.20);

insert into public.trading_orders (id, user_id, signal_id, session_id, result, ticket, price, volume) values
  ('00000000-0000-0000-0001-0000000000a5', '00000000-0000-0000-0001-0000000000a1',
   '00000000-0000-0000-0001-0000000000a4', '00000000-0000-0000-0001-0000000000a3', 'EXECUTED', 11, 1.1, 0.10),
  ('00000000-0000-0000-0001-0000000000b5', '00000000-0000-0000-0001-0000000000b1',
   '00000000-0000-0000-0001-0000000000b4', '00000000-0000-0000-0001-0000000000b3', 'EXECUTED', 21, 1.1, 0.20);

insert into public.positions (session_id, ticket, user_id, symbol, type, volume, open_price, opened_at) values
  ('00000000-0000-0000-0001-0000000000a3', 11, '00000000-0000-0000-0001-0000000000a1', 'EURUSD', 'BUY', 0.10, 1.1, now()),
  ('00000000-0000-0000-0001-0000000000b3', 21, '00000000-0000-0000-0001-0000000000b1', 'EURUSD', 'SELL', 0.20, 1.1, now());

-- The fixture is really there: otherwise every "B's row is invisible" below would pass vacuously.
select is(
  (select count(*)::int from public.ea_keys where user_id = '00000000-0000-0000-0001-0000000000b1')
  + (select count(*)::int from public.mt5_sessions where user_id = '00000000-0000-0000-0001-0000000000b1')
  + (select count(*)::int from public.symbol_specs where user_id = '00000000-0000-0000-0001-0000000000b1')
  + (select count(*)::int from public.account_snapshots where user_id = '00000000-0000-0000-0001-0000000000b1')
  + (select count(*)::int from public.trading_signals where user_id = '00000000-0000-0000-0001-0000000000b1')
  + (select count(*)::int from public.trading_orders where user_id = '00000000-0000-0000-0001-0000000000b1')
  + (select count(*)::int from public.positions where user_id = '00000000-0000-0000-0001-0000000000b1'),
  7, 'fixture: B owns one row in each of the seven tables');

-- ---------------------------------------------------------------------------------------------
-- As user A (dashboard JWT, no EA claim): reads.
select tests.authenticate_as('00000000-0000-0000-0001-0000000000a1');

select is((select count(*)::int from public.ea_keys where id = '00000000-0000-0000-0001-0000000000a2'), 1, 'A reads own EA key');
select is((select count(*)::int from public.ea_keys where id = '00000000-0000-0000-0001-0000000000b2'), 0, 'A cannot read B''s EA key');
select is((select count(*)::int from public.mt5_sessions where id = '00000000-0000-0000-0001-0000000000a3'), 1, 'A reads own session');
select is((select count(*)::int from public.mt5_sessions where id = '00000000-0000-0000-0001-0000000000b3'), 0, 'A cannot read B''s session');
select is((select count(*)::int from public.symbol_specs where session_id = '00000000-0000-0000-0001-0000000000a3'), 1, 'A reads own symbol spec');
select is((select count(*)::int from public.symbol_specs where session_id = '00000000-0000-0000-0001-0000000000b3'), 0, 'A cannot read B''s symbol spec');
select is((select count(*)::int from public.account_snapshots where session_id = '00000000-0000-0000-0001-0000000000a3'), 1, 'A reads own snapshot');
select is((select count(*)::int from public.account_snapshots where session_id = '00000000-0000-0000-0001-0000000000b3'), 0, 'A cannot read B''s snapshot');
select is((select count(*)::int from public.trading_signals where id = '00000000-0000-0000-0001-0000000000a4'), 1, 'A reads own signal');
select is((select count(*)::int from public.trading_signals where id = '00000000-0000-0000-0001-0000000000b4'), 0, 'A cannot read B''s signal');
select is((select count(*)::int from public.trading_orders where id = '00000000-0000-0000-0001-0000000000a5'), 1, 'A reads own order');
select is((select count(*)::int from public.trading_orders where id = '00000000-0000-0000-0001-0000000000b5'), 0, 'A cannot read B''s order');
select is((select count(*)::int from public.positions where session_id = '00000000-0000-0000-0001-0000000000a3'), 1, 'A reads own position');
select is((select count(*)::int from public.positions where session_id = '00000000-0000-0000-0001-0000000000b3'), 0, 'A cannot read B''s position');

-- Whole-table reads return nothing but A's rows.
select is_empty($$
  select 'ea_keys' from public.ea_keys where user_id <> '00000000-0000-0000-0001-0000000000a1'
  union all select 'mt5_sessions' from public.mt5_sessions where user_id <> '00000000-0000-0000-0001-0000000000a1'
  union all select 'symbol_specs' from public.symbol_specs where user_id <> '00000000-0000-0000-0001-0000000000a1'
  union all select 'account_snapshots' from public.account_snapshots where user_id <> '00000000-0000-0000-0001-0000000000a1'
  union all select 'trading_signals' from public.trading_signals where user_id <> '00000000-0000-0000-0001-0000000000a1'
  union all select 'trading_orders' from public.trading_orders where user_id <> '00000000-0000-0000-0001-0000000000a1'
  union all select 'positions' from public.positions where user_id <> '00000000-0000-0000-0001-0000000000a1'
$$, 'an unfiltered read by A returns no row of anyone else in any signals-bridge table');

-- ---------------------------------------------------------------------------------------------
-- As user A: inserts. A dashboard user writes no terminal data, not even for themselves.
select throws_ok($$
  insert into public.ea_keys (user_id, name) values ('00000000-0000-0000-0001-0000000000a1', 'direct')
$$, '42501', null, 'A cannot insert an EA key directly, even for themselves (private.create_ea_key only)');
select throws_ok($$
  insert into public.ea_keys (user_id, name) values ('00000000-0000-0000-0001-0000000000b1', 'for B')
$$, '42501', null, 'A cannot insert an EA key owned by B');
select throws_ok($$
  insert into public.mt5_sessions (user_id, ea_key_id, account_number, broker, server, currency, leverage)
  values ('00000000-0000-0000-0001-0000000000a1', '00000000-0000-0000-0001-0000000000a2', 1002, 'Demo Broker', 'RLS-Signals-Demo', 'USD', 100)
$$, '42501', null, 'a plain user (no ea_key_id claim) cannot open a session, even their own');
select throws_ok($$
  insert into public.mt5_sessions (user_id, ea_key_id, account_number, broker, server, currency, leverage)
  values ('00000000-0000-0000-0001-0000000000b1', '00000000-0000-0000-0001-0000000000b2', 2002, 'Demo Broker', 'RLS-Signals-Demo', 'USD', 100)
$$, '42501', null, 'A cannot open a session owned by B');
select throws_ok($$
  insert into public.symbol_specs (session_id, user_id, symbol, tick_size, tick_value, contract_size, volume_min, volume_max, volume_step, digits)
  values ('00000000-0000-0000-0001-0000000000a3', '00000000-0000-0000-0001-0000000000a1', 'GBPUSD', 0.00001, 1, 100000, 0.01, 100, 0.01, 5)
$$, '42501', null, 'a plain user cannot write symbol specs, even for their own session');
select throws_ok($$
  insert into public.account_snapshots (session_id, user_id, balance, equity)
  values ('00000000-0000-0000-0001-0000000000a3', '00000000-0000-0000-0001-0000000000a1', 1, 1)
$$, '42501', null, 'a plain user cannot write snapshots, even for their own session');
select throws_ok($$
  insert into public.trading_orders (user_id, signal_id, session_id, result)
  values ('00000000-0000-0000-0001-0000000000a1', '00000000-0000-0000-0001-0000000000a4', '00000000-0000-0000-0001-0000000000a3', 'EXECUTED')
$$, '42501', null, 'a plain user cannot record orders, even for their own signal');
select throws_ok($$
  insert into public.positions (session_id, ticket, user_id, symbol, type, volume, open_price, opened_at)
  values ('00000000-0000-0000-0001-0000000000a3', 12, '00000000-0000-0000-0001-0000000000a1', 'EURUSD', 'BUY', 1, 1.1, now())
$$, '42501', null, 'a plain user cannot write positions, even for their own session');

-- Signals: a user creates them through private.create_signal (which checks the session's limits),
-- for a session of their own only; never directly.
select throws_ok($$
  insert into public.trading_signals (id, user_id, session_id, type, symbol, volume)
  values ('00000000-0000-0000-0001-0000000000a6', '00000000-0000-0000-0001-0000000000a1', '00000000-0000-0000-0001-0000000000a3', 'SELL', 'EURUSD', 0.3)
$$, '42501', null, 'A cannot insert a signal directly, even for their own session');
select is((select (signal).status from private.create_signal('00000000-0000-0000-0001-0000000000a3', 'SELL', 'EURUSD', p_volume => 0.3)),
  'PENDING', 'A creates a signal for their own session through private.create_signal');
select throws_ok($$
  insert into public.trading_signals (user_id, session_id, type, symbol, volume)
  values ('00000000-0000-0000-0001-0000000000a1', '00000000-0000-0000-0001-0000000000b3', 'BUY', 'EURUSD', 0.1)
$$, '42501', null, 'A cannot create a signal (owned by A) targeting B''s session');
select throws_ok($$
  insert into public.trading_signals (user_id, session_id, type, symbol, volume)
  values ('00000000-0000-0000-0001-0000000000b1', '00000000-0000-0000-0001-0000000000b3', 'BUY', 'EURUSD', 0.1)
$$, '42501', null, 'A cannot create a signal owned by B');

-- ---------------------------------------------------------------------------------------------
-- As user A: updates and deletes of B's rows reach nothing.
with u as (update public.ea_keys set name = 'hijacked', revoked_at = now() where id = '00000000-0000-0000-0001-0000000000b2' returning 1)
select is(count(*)::int, 0, 'A cannot update (revoke) B''s EA key') from u;
select throws_ok($$ update public.mt5_sessions set balance = -1 where id = '00000000-0000-0000-0001-0000000000b3' $$,
  '42501', null, 'A cannot update B''s session');
select throws_ok($$ update public.symbol_specs set digits = 0 where session_id = '00000000-0000-0000-0001-0000000000b3' $$,
  '42501', null, 'A cannot update B''s symbol spec');
select throws_ok($$ update public.account_snapshots set balance = -1 where session_id = '00000000-0000-0000-0001-0000000000b3' $$,
  '42501', null, 'A cannot update B''s snapshot');
select throws_ok($$ update public.trading_signals set status = 'CANCELLED' where id = '00000000-0000-0000-0001-0000000000b4' $$,
  '42501', null, 'A cannot update (cancel) B''s signal');
select throws_ok($$ update public.trading_orders set comment = 'hijacked' where id = '00000000-0000-0000-0001-0000000000b5' $$,
  '42501', null, 'A cannot update B''s order');
select throws_ok($$ update public.positions set volume = 99 where session_id = '00000000-0000-0000-0001-0000000000b3' $$,
  '42501', null, 'A cannot update B''s position');

select throws_ok($$ delete from public.ea_keys where id = '00000000-0000-0000-0001-0000000000b2' $$,
  '42501', null, 'A cannot delete B''s EA key');
select throws_ok($$ delete from public.mt5_sessions where id = '00000000-0000-0000-0001-0000000000b3' $$,
  '42501', null, 'A cannot delete B''s session');
select throws_ok($$ delete from public.symbol_specs where session_id = '00000000-0000-0000-0001-0000000000b3' $$,
  '42501', null, 'A cannot delete B''s symbol spec');
select throws_ok($$ delete from public.account_snapshots where session_id = '00000000-0000-0000-0001-0000000000b3' $$,
  '42501', null, 'A cannot delete B''s snapshot');
select throws_ok($$ delete from public.trading_signals where id = '00000000-0000-0000-0001-0000000000b4' $$,
  '42501', null, 'A cannot delete B''s signal');
select throws_ok($$ delete from public.trading_orders where id = '00000000-0000-0000-0001-0000000000b5' $$,
  '42501', null, 'A cannot delete B''s order');
select throws_ok($$ delete from public.positions where session_id = '00000000-0000-0000-0001-0000000000b3' $$,
  '42501', null, 'A cannot delete B''s position');

-- A's own rows: revoking a key is allowed; terminal data is the EA's to change, not the user's.
with u as (update public.ea_keys set revoked_at = now() where id = '00000000-0000-0000-0001-0000000000a2' returning 1)
select is(count(*)::int, 1, 'A revokes their own EA key') from u;
select throws_ok($$ update public.mt5_sessions set balance = 1e9 where id = '00000000-0000-0000-0001-0000000000a3' $$,
  '42501', null, 'a plain user cannot rewrite their own session (EA claim required)');
select throws_ok($$ update public.positions set profit = 1e9 where session_id = '00000000-0000-0000-0001-0000000000a3' $$,
  '42501', null, 'a plain user cannot rewrite their own positions (EA claim required)');
select throws_ok($$ delete from public.mt5_sessions where id = '00000000-0000-0000-0001-0000000000a3' $$,
  '42501', null, 'a user cannot delete their own session through the Data API');
-- A signal may not be re-targeted at someone else's session after creation either.
select throws_ok($$
  update public.trading_signals set session_id = '00000000-0000-0000-0001-0000000000b3'
  where id = '00000000-0000-0000-0001-0000000000a6'
$$, '42501', null, 'A cannot move their own signal onto B''s session');

-- ---------------------------------------------------------------------------------------------
-- As A's connector EA (claims: sub = A, ea_key_id = A's key).
select tests.authenticate_as_ea('00000000-0000-0000-0001-0000000000a1', '00000000-0000-0000-0001-0000000000a2');

select lives_ok($$
  insert into public.mt5_sessions (user_id, ea_key_id, account_number, broker, server, currency, leverage)
  values ('00000000-0000-0000-0001-0000000000a1', '00000000-0000-0000-0001-0000000000a2',
          1003, 'Demo Broker', 'RLS-Signals-Demo', 'USD', 100)
$$, 'A''s EA opens a session for A');
select throws_ok($$
  insert into public.mt5_sessions (user_id, ea_key_id, account_number, broker, server, currency, leverage)
  values ('00000000-0000-0000-0001-0000000000a1', '00000000-0000-0000-0001-0000000000b2', 1004, 'Demo Broker', 'RLS-Signals-Demo', 'USD', 100)
$$, '42501', null, 'A''s EA cannot open a session under a key other than its own');
select throws_ok($$
  insert into public.mt5_sessions (user_id, ea_key_id, account_number, broker, server, currency, leverage)
  values ('00000000-0000-0000-0001-0000000000b1', '00000000-0000-0000-0001-0000000000a2', 2003, 'Demo Broker', 'RLS-Signals-Demo', 'USD', 100)
$$, '42501', null, 'A''s EA cannot open a session owned by B');

select lives_ok($$
  insert into public.symbol_specs (session_id, user_id, symbol, tick_size, tick_value, contract_size, volume_min, volume_max, volume_step, digits)
  values ('00000000-0000-0000-0001-0000000000a3', '00000000-0000-0000-0001-0000000000a1', 'GBPUSD', 0.00001, 1, 100000, 0.01, 100, 0.01, 5)
$$, 'A''s EA reports a symbol spec for A''s session');
select throws_ok($$
  insert into public.symbol_specs (session_id, user_id, symbol, tick_size, tick_value, contract_size, volume_min, volume_max, volume_step, digits)
  values ('00000000-0000-0000-0001-0000000000b3', '00000000-0000-0000-0001-0000000000b1', 'GBPUSD', 0.00001, 1, 100000, 0.01, 100, 0.01, 5)
$$, '42501', null, 'A''s EA cannot write a symbol spec owned by B');
select throws_ok($$
  insert into public.symbol_specs (session_id, user_id, symbol, tick_size, tick_value, contract_size, volume_min, volume_max, volume_step, digits)
  values ('00000000-0000-0000-0001-0000000000b3', '00000000-0000-0000-0001-0000000000a1', 'USDJPY', 0.001, 1, 100000, 0.01, 100, 0.01, 3)
$$, '42501', null, 'A''s EA cannot attach a symbol spec (owned by A) to B''s session');

select lives_ok($$
  insert into public.account_snapshots (session_id, user_id, captured_at, balance, equity)
  values ('00000000-0000-0000-0001-0000000000a3', '00000000-0000-0000-0001-0000000000a1', now() + interval '1 second', 1001, 1001)
$$, 'A''s EA records a snapshot for A''s session');
select throws_ok($$
  insert into public.account_snapshots (session_id, user_id, captured_at, balance, equity)
  values ('00000000-0000-0000-0001-0000000000b3', '00000000-0000-0000-0001-0000000000b1', now() + interval '1 second', 1, 1)
$$, '42501', null, 'A''s EA cannot record a snapshot owned by B');
select throws_ok($$
  insert into public.account_snapshots (session_id, user_id, captured_at, balance, equity)
  values ('00000000-0000-0000-0001-0000000000b3', '00000000-0000-0000-0001-0000000000a1', now() + interval '2 seconds', 1, 1)
$$, '42501', null, 'A''s EA cannot attach a snapshot (owned by A) to B''s session');

select lives_ok($$
  insert into public.positions (session_id, ticket, user_id, symbol, type, volume, open_price, opened_at)
  values ('00000000-0000-0000-0001-0000000000a3', 12, '00000000-0000-0000-0001-0000000000a1', 'EURUSD', 'BUY', 1, 1.1, now())
$$, 'A''s EA records a position for A''s session');
select throws_ok($$
  insert into public.positions (session_id, ticket, user_id, symbol, type, volume, open_price, opened_at)
  values ('00000000-0000-0000-0001-0000000000b3', 22, '00000000-0000-0000-0001-0000000000b1', 'EURUSD', 'BUY', 1, 1.1, now())
$$, '42501', null, 'A''s EA cannot record a position owned by B');
select throws_ok($$
  insert into public.positions (session_id, ticket, user_id, symbol, type, volume, open_price, opened_at)
  values ('00000000-0000-0000-0001-0000000000b3', 23, '00000000-0000-0000-0001-0000000000a1', 'EURUSD', 'BUY', 1, 1.1, now())
$$, '42501', null, 'A''s EA cannot attach a position (owned by A) to B''s session, squatting B''s ticket numbers');

select lives_ok($$
  insert into public.trading_orders (user_id, signal_id, session_id, result, ticket)
  values ('00000000-0000-0000-0001-0000000000a1', '00000000-0000-0000-0001-0000000000a4', '00000000-0000-0000-0001-0000000000a3', 'EXECUTED', 12)
$$, 'A''s EA records an order for A''s signal');
select throws_ok($$
  insert into public.trading_orders (user_id, signal_id, session_id, result)
  values ('00000000-0000-0000-0001-0000000000b1', '00000000-0000-0000-0001-0000000000b4', '00000000-0000-0000-0001-0000000000b3', 'FAILED')
$$, '42501', null, 'A''s EA cannot record an order owned by B');
select throws_ok($$
  insert into public.trading_orders (user_id, signal_id, session_id, result)
  values ('00000000-0000-0000-0001-0000000000a1', '00000000-0000-0000-0001-0000000000b4', '00000000-0000-0000-0001-0000000000b3', 'FAILED')
$$, '42501', null, 'A''s EA cannot record an order (owned by A) against B''s signal and session');

with u as (update public.mt5_sessions set last_ping_at = now(), balance = 1500 where id = '00000000-0000-0000-0001-0000000000a3' returning 1)
select is(count(*)::int, 1, 'A''s EA updates A''s session (a ping)') from u;
with u as (update public.mt5_sessions set balance = -1 where id = '00000000-0000-0000-0001-0000000000b3' returning 1)
select is(count(*)::int, 0, 'A''s EA cannot update B''s session') from u;
with u as (update public.positions set volume = 99 where session_id = '00000000-0000-0000-0001-0000000000b3' and ticket = 21 returning 1)
select is(count(*)::int, 0, 'A''s EA cannot update B''s positions') from u;
with u as (update public.symbol_specs set digits = 0 where session_id = '00000000-0000-0000-0001-0000000000b3' and symbol = 'EURUSD' returning 1)
select is(count(*)::int, 0, 'A''s EA cannot update B''s symbol specs') from u;
select throws_ok($$
  update public.mt5_sessions set user_id = '00000000-0000-0000-0001-0000000000b1' where account_number = 1003
$$, '42501', null, 'A''s EA cannot hand a session over to B');
select is((select count(*)::int from public.mt5_sessions where user_id <> '00000000-0000-0000-0001-0000000000a1'), 0,
  'A''s EA reads none of B''s sessions');

-- The EA (claims) of A cannot act on B by naming B's key in its claims while signed in as A.
select tests.authenticate_as_ea('00000000-0000-0000-0001-0000000000a1', '00000000-0000-0000-0001-0000000000b2');
select throws_ok($$
  insert into public.mt5_sessions (user_id, ea_key_id, account_number, broker, server, currency, leverage)
  values ('00000000-0000-0000-0001-0000000000b1', '00000000-0000-0000-0001-0000000000b2', 2004, 'Demo Broker', 'RLS-Signals-Demo', 'USD', 100)
$$, '42501', null, 'claims sub = A with B''s key id still cannot write B''s session (owner comes from sub)');

-- ---------------------------------------------------------------------------------------------
-- As anon: no policies, so nothing is visible and nothing can be written.
select tests.authenticate_as_anon();

select is((select count(*)::int from public.ea_keys), 0, 'anon reads no EA keys');
select is((select count(*)::int from public.mt5_sessions), 0, 'anon reads no sessions');
select is((select count(*)::int from public.symbol_specs), 0, 'anon reads no symbol specs');
select is((select count(*)::int from public.account_snapshots), 0, 'anon reads no snapshots');
select is((select count(*)::int from public.trading_signals), 0, 'anon reads no signals');
select is((select count(*)::int from public.trading_orders), 0, 'anon reads no orders');
select is((select count(*)::int from public.positions), 0, 'anon reads no positions');

select throws_ok($$
  insert into public.ea_keys (user_id, name) values ('00000000-0000-0000-0001-0000000000a1', 'anon')
$$, '42501', null, 'anon cannot insert an EA key');
select throws_ok($$
  insert into public.mt5_sessions (user_id, ea_key_id, account_number, broker, server, currency, leverage)
  values ('00000000-0000-0000-0001-0000000000a1', '00000000-0000-0000-0001-0000000000a2', 1005, 'Demo Broker', 'RLS-Signals-Demo', 'USD', 100)
$$, '42501', null, 'anon cannot open a session');
select throws_ok($$
  insert into public.symbol_specs (session_id, user_id, symbol, tick_size, tick_value, contract_size, volume_min, volume_max, volume_step, digits)
  values ('00000000-0000-0000-0001-0000000000a3', '00000000-0000-0000-0001-0000000000a1', 'XAUUSD', 0.01, 1, 100, 0.01, 100, 0.01, 2)
$$, '42501', null, 'anon cannot write a symbol spec');
select throws_ok($$
  insert into public.account_snapshots (session_id, user_id, balance, equity)
  values ('00000000-0000-0000-0001-0000000000a3', '00000000-0000-0000-0001-0000000000a1', 1, 1)
$$, '42501', null, 'anon cannot write a snapshot');
select throws_ok($$
  insert into public.trading_signals (user_id, session_id, type, symbol, volume)
  values ('00000000-0000-0000-0001-0000000000a1', '00000000-0000-0000-0001-0000000000a3', 'BUY', 'EURUSD', 0.1)
$$, '42501', null, 'anon cannot create a signal');
select throws_ok($$
  insert into public.trading_orders (user_id, signal_id, session_id, result)
  values ('00000000-0000-0000-0001-0000000000a1', '00000000-0000-0000-0001-0000000000a4', '00000000-0000-0000-0001-0000000000a3', 'EXECUTED')
$$, '42501', null, 'anon cannot record an order');
select throws_ok($$
  insert into public.positions (session_id, ticket, user_id, symbol, type, volume, open_price, opened_at)
  values ('00000000-0000-0000-0001-0000000000a3', 13, '00000000-0000-0000-0001-0000000000a1', 'EURUSD', 'BUY', 1, 1.1, now())
$$, '42501', null, 'anon cannot write a position');
select throws_ok($$ update public.trading_signals set status = 'CANCELLED' where id = '00000000-0000-0000-0001-0000000000a4' $$,
  '42501', null, 'anon cannot cancel a signal');
select throws_ok($$ delete from public.mt5_sessions $$,
  '42501', null, 'anon cannot delete sessions');

-- ---------------------------------------------------------------------------------------------
-- Back to the owner: B's rows survived every attempt unchanged; A's legitimate writes landed.
select tests.clear_authentication();

select is((select name || '/' || (revoked_at is null)::text from public.ea_keys where id = '00000000-0000-0000-0001-0000000000b2'),
  'B key/true', 'B''s EA key is unchanged and not revoked');
select is((select balance from public.mt5_sessions where id = '00000000-0000-0000-0001-0000000000b3'), 2000::numeric,
  'B''s session is unchanged');
select is((select count(*)::int from public.mt5_sessions where user_id = '00000000-0000-0000-0001-0000000000b1'), 1,
  'B still has exactly one session (none added, none deleted)');
select is((select digits from public.symbol_specs where session_id = '00000000-0000-0000-0001-0000000000b3' and symbol = 'EURUSD'), 5,
  'B''s symbol spec is unchanged');
select is((select count(*)::int from public.symbol_specs where session_id = '00000000-0000-0000-0001-0000000000b3'), 1,
  'nothing was attached to B''s session in symbol_specs');
select is((select count(*)::int from public.account_snapshots where session_id = '00000000-0000-0000-0001-0000000000b3' and balance = 2000), 1,
  'B''s snapshot is unchanged');
select is((select count(*)::int from public.account_snapshots where session_id = '00000000-0000-0000-0001-0000000000b3'), 1,
  'nothing was attached to B''s session in account_snapshots');
select is((select status from public.trading_signals where id = '00000000-0000-0000-0001-0000000000b4'), 'PENDING',
  'B''s signal is still pending');
select is((select count(*)::int from public.trading_signals where session_id = '00000000-0000-0000-0001-0000000000b3'), 1,
  'no signal targets B''s session but B''s own');
select is((select comment from public.trading_orders where id = '00000000-0000-0000-0001-0000000000b5'), null,
  'B''s order is unchanged');
select is((select count(*)::int from public.trading_orders where session_id = '00000000-0000-0000-0001-0000000000b3'), 1,
  'no order was recorded against B''s session but B''s own');
select is((select volume from public.positions where session_id = '00000000-0000-0000-0001-0000000000b3' and ticket = 21), 0.20::numeric,
  'B''s position is unchanged');
select is((select count(*)::int from public.positions where session_id = '00000000-0000-0000-0001-0000000000b3'), 1,
  'nothing was attached to B''s session in positions');
select is((select balance from public.mt5_sessions where id = '00000000-0000-0000-0001-0000000000a3'), 1500::numeric,
  'the ping by A''s EA landed (and the plain user''s rewrite did not)');
select is((select count(*)::int from public.trading_signals where type = 'SELL' and volume = 0.3
           and user_id = '00000000-0000-0000-0001-0000000000a1'), 1,
  'the signal A created exists, owned by A');

select * from finish();
rollback;
