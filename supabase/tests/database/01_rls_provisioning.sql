-- Row-level security of the provisioning and cashback tables: brokers, trading_accounts,
-- closed_trades, cashback_ledger, notifications.
--
-- Fixed ids (group 4 = 0002 marks this file):
--   users            A ...0002-0000000000a1  B ...0002-0000000000b1
--   brokers          active ...0002-0000000000c1  inactive ...0002-0000000000c2
--   trading accounts A ...0002-0000000000a6  A's second ...0002-0000000000a7  B ...0002-0000000000b6
--   closed trades    A ...0002-0000000000a8  B ...0002-0000000000b8
--   ledger rows      A ...0002-0000000000a9  B ...0002-0000000000b9
--   notifications    A ...0002-0000000000aa  B ...0002-0000000000ba
begin;
\ir helpers/setup.psql

select plan(75);

-- ---------------------------------------------------------------------------------------------
-- Fixture, as the database owner.
select tests.clear_authentication();

insert into auth.users (id, aud, role, email) values
  ('00000000-0000-0000-0002-0000000000a1', 'authenticated', 'authenticated', 'a.provisioning@rls.test'),
  ('00000000-0000-0000-0002-0000000000b1', 'authenticated', 'authenticated', 'b.provisioning@rls.test');

insert into public.brokers (id, name, platforms, rebate_per_lot, currency, active) values
  ('00000000-0000-0000-0002-0000000000c1', 'RLS Provisioning Active Broker', array['MT4', 'MT5'], 5, 'USD', true),
  ('00000000-0000-0000-0002-0000000000c2', 'RLS Provisioning Inactive Broker', array['MT4', 'MT5'], 7, 'USD', false);

-- Verified: their owners proved them theirs (cashback accrues only then).
insert into public.trading_accounts (id, user_id, broker_id, platform, login, server, verified_at) values
  ('00000000-0000-0000-0002-0000000000a6', '00000000-0000-0000-0002-0000000000a1', '00000000-0000-0000-0002-0000000000c1', 'MT5', 5001, 'RLS-Provisioning-Demo', now()),
  ('00000000-0000-0000-0002-0000000000a7', '00000000-0000-0000-0002-0000000000a1', '00000000-0000-0000-0002-0000000000c1', 'MT4', 5002, 'RLS-Provisioning-Demo', now()),
  ('00000000-0000-0000-0002-0000000000b6', '00000000-0000-0000-0002-0000000000b1', '00000000-0000-0000-0002-0000000000c1', 'MT5', 6001, 'RLS-Provisioning-Demo', now());

-- Fixture rows, written as the owner (the API writes them through private.ingest_trades only).
insert into public.closed_trades (id, account_id, user_id, ticket, symbol, type, lots, open_time, close_time, open_price, close_price) values
  ('00000000-0000-0000-0002-0000000000a8', '00000000-0000-0000-0002-0000000000a6', '00000000-0000-0000-0002-0000000000a1',
   1, 'EURUSD', 'BUY', 1, now() - interval '2 hours', now() - interval '1 hour', 1.1, 1.2),
  ('00000000-0000-0000-0002-0000000000b8', '00000000-0000-0000-0002-0000000000b6', '00000000-0000-0000-0002-0000000000b1',
   1, 'EURUSD', 'SELL', 2, now() - interval '2 hours', now() - interval '1 hour', 1.1, 1.0);

insert into public.cashback_ledger (id, account_id, user_id, settlement_day, trades_count, lots, amount, currency) values
  ('00000000-0000-0000-0002-0000000000a9', '00000000-0000-0000-0002-0000000000a6', '00000000-0000-0000-0002-0000000000a1',
   current_date - 1, 1, 1, 5, 'USD'),
  ('00000000-0000-0000-0002-0000000000b9', '00000000-0000-0000-0002-0000000000b6', '00000000-0000-0000-0002-0000000000b1',
   current_date - 1, 1, 2, 10, 'USD');

insert into public.notifications (id, user_id, kind, title, body, account_id) values
  ('00000000-0000-0000-0002-0000000000aa', '00000000-0000-0000-0002-0000000000a1', 'account_connected', 'A', 'A connected',
   '00000000-0000-0000-0002-0000000000a6'),
  ('00000000-0000-0000-0002-0000000000ba', '00000000-0000-0000-0002-0000000000b1', 'account_connected', 'B', 'B connected',
   '00000000-0000-0000-0002-0000000000b6');

select is(
  (select count(*)::int from public.trading_accounts where user_id = '00000000-0000-0000-0002-0000000000b1')
  + (select count(*)::int from public.closed_trades where user_id = '00000000-0000-0000-0002-0000000000b1')
  + (select count(*)::int from public.cashback_ledger where user_id = '00000000-0000-0000-0002-0000000000b1')
  + (select count(*)::int from public.notifications where user_id = '00000000-0000-0000-0002-0000000000b1'),
  4, 'fixture: B owns one row in each user-owned provisioning table');

-- ---------------------------------------------------------------------------------------------
-- As user A: reads.
select tests.authenticate_as('00000000-0000-0000-0002-0000000000a1');

select is((select count(*)::int from public.brokers where id = '00000000-0000-0000-0002-0000000000c1'), 1, 'A reads an active broker');
select is((select count(*)::int from public.brokers where id = '00000000-0000-0000-0002-0000000000c2'), 0, 'A cannot read an inactive broker');
select is_empty($$ select name from public.brokers where not active $$, 'no inactive broker is visible to a signed-in user');

select is((select count(*)::int from public.trading_accounts where id = '00000000-0000-0000-0002-0000000000a6'), 1, 'A reads own trading account');
select is((select count(*)::int from public.trading_accounts where id = '00000000-0000-0000-0002-0000000000b6'), 0, 'A cannot read B''s trading account');
select is((select count(*)::int from public.closed_trades where id = '00000000-0000-0000-0002-0000000000a8'), 1, 'A reads own closed trade');
select is((select count(*)::int from public.closed_trades where id = '00000000-0000-0000-0002-0000000000b8'), 0, 'A cannot read B''s closed trade');
select is((select count(*)::int from public.cashback_ledger where id = '00000000-0000-0000-0002-0000000000a9'), 1, 'A reads own ledger row');
select is((select count(*)::int from public.cashback_ledger where id = '00000000-0000-0000-0002-0000000000b9'), 0, 'A cannot read B''s ledger row');
select is((select count(*)::int from public.notifications where id = '00000000-0000-0000-0002-0000000000aa'), 1, 'A reads own notification');
select is((select count(*)::int from public.notifications where id = '00000000-0000-0000-0002-0000000000ba'), 0, 'A cannot read B''s notification');
select is_empty($$
  select 'trading_accounts' from public.trading_accounts where user_id <> '00000000-0000-0000-0002-0000000000a1'
  union all select 'closed_trades' from public.closed_trades where user_id <> '00000000-0000-0000-0002-0000000000a1'
  union all select 'cashback_ledger' from public.cashback_ledger where user_id <> '00000000-0000-0000-0002-0000000000a1'
  union all select 'notifications' from public.notifications where user_id <> '00000000-0000-0000-0002-0000000000a1'
$$, 'an unfiltered read by A returns no row of anyone else in any provisioning table');

-- ---------------------------------------------------------------------------------------------
-- As user A: direct inserts. Accounts go through private.register_trading_account, trades come
-- from the account's EA only (through private.ingest_trades), ledger rows and notifications from
-- the backend only.
select throws_ok($$
  insert into public.brokers (name, platforms) values ('A''s own broker', array['MT5'])
$$, '42501', null, 'a user cannot create a broker');
select throws_ok($$
  insert into public.trading_accounts (user_id, broker_id, platform, login, server)
  values ('00000000-0000-0000-0002-0000000000a1', '00000000-0000-0000-0002-0000000000c1', 'MT5', 5003, 'RLS-Provisioning-Demo')
$$, '42501', null, 'a user cannot insert a trading account directly, even their own');
select throws_ok($$
  insert into public.trading_accounts (user_id, broker_id, platform, login, server)
  values ('00000000-0000-0000-0002-0000000000b1', '00000000-0000-0000-0002-0000000000c1', 'MT5', 6002, 'RLS-Provisioning-Demo')
$$, '42501', null, 'A cannot insert a trading account owned by B');
select throws_ok($$
  insert into public.closed_trades (account_id, user_id, ticket, symbol, type, lots, open_time, close_time, open_price, close_price)
  values ('00000000-0000-0000-0002-0000000000a6', '00000000-0000-0000-0002-0000000000a1', 2, 'EURUSD', 'BUY', 1, now(), now(), 1.1, 1.1)
$$, '42501', null, 'a plain user cannot report a closed trade, even on their own account');
select throws_ok($$
  insert into public.closed_trades (account_id, user_id, ticket, symbol, type, lots, open_time, close_time, open_price, close_price)
  values ('00000000-0000-0000-0002-0000000000b6', '00000000-0000-0000-0002-0000000000b1', 2, 'EURUSD', 'BUY', 1, now(), now(), 1.1, 1.1)
$$, '42501', null, 'A cannot report a closed trade on B''s account');
select throws_ok($$
  insert into public.cashback_ledger (account_id, user_id, settlement_day, trades_count, lots, amount, currency)
  values ('00000000-0000-0000-0002-0000000000a6', '00000000-0000-0000-0002-0000000000a1', current_date, 1, 1, 1000, 'USD')
$$, '42501', null, 'a user cannot credit their own cashback ledger');
select throws_ok($$
  insert into public.cashback_ledger (account_id, user_id, settlement_day, trades_count, lots, amount, currency)
  values ('00000000-0000-0000-0002-0000000000b6', '00000000-0000-0000-0002-0000000000b1', current_date, 1, 1, 1000, 'USD')
$$, '42501', null, 'A cannot write B''s cashback ledger');
select throws_ok($$
  insert into public.notifications (user_id, kind, title, body)
  values ('00000000-0000-0000-0002-0000000000a1', 'account_error', 'x', 'y')
$$, '42501', null, 'a user cannot write notifications, even their own');
select throws_ok($$
  insert into public.notifications (user_id, kind, title, body)
  values ('00000000-0000-0000-0002-0000000000b1', 'account_error', 'phish', 'log in at evil.example')
$$, '42501', null, 'A cannot send B a notification');

-- ---------------------------------------------------------------------------------------------
-- As user A: updates and deletes.
select throws_ok($$ update public.brokers set rebate_per_lot = 1000 where id = '00000000-0000-0000-0002-0000000000c1' $$,
  '42501', null, 'a user cannot change a broker''s rebate');
select throws_ok($$ delete from public.brokers where id = '00000000-0000-0000-0002-0000000000c1' $$,
  '42501', null, 'a user cannot delete a broker');

select throws_ok($$ update public.trading_accounts set paused_at = now() where id = '00000000-0000-0000-0002-0000000000b6' $$,
  '42501', null, 'A cannot update B''s trading account');
select throws_ok($$ update public.closed_trades set lots = 100 where id = '00000000-0000-0000-0002-0000000000b8' $$,
  '42501', 'permission denied for table closed_trades', 'A cannot update B''s closed trade');
select throws_ok($$ update public.cashback_ledger set amount = 0 where id = '00000000-0000-0000-0002-0000000000b9' $$,
  '42501', null, 'A cannot update B''s ledger row');
with u as (update public.notifications set read_at = now() where id = '00000000-0000-0000-0002-0000000000ba' returning 1)
select is(count(*)::int, 0, 'A cannot mark B''s notification read') from u;

select throws_ok($$ delete from public.trading_accounts where id = '00000000-0000-0000-0002-0000000000b6' $$,
  '42501', null, 'A cannot delete B''s trading account');
select throws_ok($$ delete from public.closed_trades where id = '00000000-0000-0000-0002-0000000000b8' $$,
  '42501', 'permission denied for table closed_trades', 'A cannot delete B''s closed trade');
select throws_ok($$ delete from public.cashback_ledger where id = '00000000-0000-0000-0002-0000000000b9' $$,
  '42501', null, 'A cannot delete B''s ledger row');
with d as (delete from public.notifications where id = '00000000-0000-0000-0002-0000000000ba' returning 1)
select is(count(*)::int, 0, 'A cannot delete B''s notification') from d;

-- A's own rows: state changes go through functions; money is never user-editable.
select throws_ok($$ update public.trading_accounts set status = 'connected' where id = '00000000-0000-0000-0002-0000000000a6' $$,
  '42501', null, 'A cannot change their own account''s status directly');
select throws_ok($$ update public.closed_trades set lots = 100 where id = '00000000-0000-0000-0002-0000000000a8' $$,
  '42501', 'permission denied for table closed_trades', 'A cannot inflate the lots of their own closed trade');
select throws_ok($$ update public.cashback_ledger set amount = 1e6 where id = '00000000-0000-0000-0002-0000000000a9' $$,
  '42501', null, 'A cannot change their own ledger amount');
select throws_ok($$ delete from public.cashback_ledger where id = '00000000-0000-0000-0002-0000000000a9' $$,
  '42501', null, 'A cannot delete their own ledger row');
select throws_ok($$ delete from public.closed_trades where id = '00000000-0000-0000-0002-0000000000a8' $$,
  '42501', 'permission denied for table closed_trades', 'A cannot delete their own closed trade');
select throws_ok($$ delete from public.trading_accounts where id = '00000000-0000-0000-0002-0000000000a7' $$,
  '42501', null, 'A cannot delete their own account directly (private.account_action only)');
with u as (update public.notifications set read_at = now() where id = '00000000-0000-0000-0002-0000000000aa' returning 1)
select is(count(*)::int, 1, 'A marks their own notification read') from u;
select throws_ok($$
  update public.notifications set user_id = '00000000-0000-0000-0002-0000000000b1' where id = '00000000-0000-0000-0002-0000000000aa'
$$, '42501', null, 'A cannot hand a notification over to B');

-- ---------------------------------------------------------------------------------------------
-- The sanctioned write paths, as user A: rows are owned by the caller (auth.uid()), whatever else
-- the claims say.
select tests.authenticate_as('00000000-0000-0000-0002-0000000000a1',
  '{"user_id": "00000000-0000-0000-0002-0000000000b1", "ea_account_id": "00000000-0000-0000-0002-0000000000b6"}');
select is(
  (select user_id from private.register_trading_account('00000000-0000-0000-0002-0000000000c1', 'MT5', 5004,
     'RLS-Provisioning-Demo', 'ciphertext', 'k1')),
  '00000000-0000-0000-0002-0000000000a1'::uuid,
  'private.register_trading_account creates an account owned by the caller');
select is(
  (select user_id from private.create_ea_key('A key', null, 'ciphertext', 'k1')),
  '00000000-0000-0000-0002-0000000000a1'::uuid,
  'private.create_ea_key creates a key owned by the caller');
select throws_ok($$
  select private.register_trading_account('00000000-0000-0000-0002-0000000000c2', 'MT5', 5005, 'RLS-Provisioning-Demo', 'c', 'k1')
$$, '23503', null, 'an account cannot be registered with an inactive broker');
select throws_ok($$
  select private.register_trading_account('00000000-0000-0000-0002-0000000000c1', 'MT5', 5001, ' rls-provisioning-demo ', 'c', 'k1')
$$, '23505', null, 'a login A already registered on that server (in any case and spacing) cannot be registered again by A');
select is((select status from private.account_action('00000000-0000-0000-0002-0000000000a7', 'pause')), 'disconnected',
  'private.account_action pauses A''s own account');

-- ---------------------------------------------------------------------------------------------
-- As the provisioned EA of A's first account (claim ea_account_id): trades go through
-- private.ingest_trades, for that account only.
select tests.authenticate_as_account_ea('00000000-0000-0000-0002-0000000000a1', '00000000-0000-0000-0002-0000000000a6');
select throws_ok($$
  insert into public.closed_trades (account_id, user_id, ticket, symbol, type, lots, open_time, close_time, open_price, close_price)
  values ('00000000-0000-0000-0002-0000000000a6', '00000000-0000-0000-0002-0000000000a1', 3, 'EURUSD', 'BUY', 0.5, now() - interval '1 hour', now(), 1.1, 1.2)
$$, '42501', 'permission denied for table closed_trades', 'the account EA cannot insert a closed trade directly, even on its own account');
select is(
  (select accepted from private.ingest_trades('00000000-0000-0000-0002-0000000000a1', '00000000-0000-0000-0002-0000000000a6',
     jsonb_build_array(tests.trade(3, 0.5)))),
  '{3}'::bigint[], 'the account EA reports a closed trade for its own account');
select throws_ok($$
  select * from private.ingest_trades('00000000-0000-0000-0002-0000000000a1', '00000000-0000-0000-0002-0000000000b6',
    jsonb_build_array(tests.trade(4, 0.5)))
$$, '42501', null, 'the account EA cannot report a trade on B''s account');
select throws_ok($$
  select * from private.ingest_trades('00000000-0000-0000-0002-0000000000a1', '00000000-0000-0000-0002-0000000000a7',
    jsonb_build_array(tests.trade(4, 0.5)))
$$, '42501', null, 'the account EA cannot report a trade on another of A''s accounts');
select is(
  (select cashback_rate::text || '/' || cashback_amount::text from public.closed_trades
   where account_id = '00000000-0000-0000-0002-0000000000a6' and ticket = 3),
  '5/2.5000', 'the reported trade''s cashback comes from the broker, not the client');
select throws_ok($$ update public.closed_trades set lots = 100 where account_id = '00000000-0000-0000-0002-0000000000a6' and ticket = 3 $$,
  '42501', 'permission denied for table closed_trades', 'the account EA cannot rewrite a trade once reported');

-- The account EA of A cannot act for B by naming B's account while signed in as A.
select tests.authenticate_as_account_ea('00000000-0000-0000-0002-0000000000a1', '00000000-0000-0000-0002-0000000000b6');
select throws_ok($$
  select * from private.ingest_trades('00000000-0000-0000-0002-0000000000a1', '00000000-0000-0000-0002-0000000000b6',
    jsonb_build_array(tests.trade(5, 0.5)))
$$, '42501', 'only the account''s own EA reports for it',
  'claims sub = A with B''s account id still cannot report trades on B''s account');

-- ---------------------------------------------------------------------------------------------
-- As anon: nothing visible, nothing writable.
select tests.authenticate_as_anon();

select is((select count(*)::int from public.brokers), 0, 'anon reads no brokers');
select is((select count(*)::int from public.trading_accounts), 0, 'anon reads no trading accounts');
select is((select count(*)::int from public.closed_trades), 0, 'anon reads no closed trades');
select is((select count(*)::int from public.cashback_ledger), 0, 'anon reads no ledger rows');
select is((select count(*)::int from public.notifications), 0, 'anon reads no notifications');
select throws_ok($$
  insert into public.brokers (name, platforms) values ('anon broker', array['MT5'])
$$, '42501', null, 'anon cannot create a broker');
select throws_ok($$
  insert into public.trading_accounts (user_id, broker_id, platform, login, server)
  values ('00000000-0000-0000-0002-0000000000a1', '00000000-0000-0000-0002-0000000000c1', 'MT5', 5006, 'RLS-Provisioning-Demo')
$$, '42501', null, 'anon cannot insert a trading account');
select throws_ok($$
  insert into public.closed_trades (account_id, user_id, ticket, symbol, type, lots, open_time, close_time, open_price, close_price)
  values ('00000000-0000-0000-0002-0000000000a6', '00000000-0000-0000-0002-0000000000a1', 6, 'EURUSD', 'BUY', 1, now(), now(), 1.1, 1.1)
$$, '42501', null, 'anon cannot report a closed trade');
select throws_ok($$
  insert into public.cashback_ledger (account_id, user_id, settlement_day, trades_count, lots, amount, currency)
  values ('00000000-0000-0000-0002-0000000000a6', '00000000-0000-0000-0002-0000000000a1', current_date, 1, 1, 1, 'USD')
$$, '42501', null, 'anon cannot write the cashback ledger');
select throws_ok($$
  insert into public.notifications (user_id, kind, title, body) values ('00000000-0000-0000-0002-0000000000a1', 'account_error', 'x', 'y')
$$, '42501', null, 'anon cannot write notifications');
select throws_ok($$
  select private.register_trading_account('00000000-0000-0000-0002-0000000000c1', 'MT5', 5007, 'RLS-Provisioning-Demo', 'c', 'k1')
$$, '42501', null, 'anon cannot register a trading account');

-- service_role maintains reference data.
select tests.authenticate_as_service_role();
select lives_ok($$
  insert into public.brokers (name, platforms, rebate_per_lot) values ('RLS Provisioning Service Broker', array['MT4'], 1)
$$, 'service_role creates a broker');

-- ---------------------------------------------------------------------------------------------
-- Back to the owner: B's rows are intact, A's legitimate writes landed.
select tests.clear_authentication();

select is((select paused_at from public.trading_accounts where id = '00000000-0000-0000-0002-0000000000b6'), null,
  'B''s trading account is not paused');
select is((select lots from public.closed_trades where id = '00000000-0000-0000-0002-0000000000b8'), 2::numeric,
  'B''s closed trade is unchanged');
select is((select count(*)::int from public.closed_trades where account_id = '00000000-0000-0000-0002-0000000000b6'), 1,
  'no trade was added to B''s account');
select is((select amount from public.cashback_ledger where id = '00000000-0000-0000-0002-0000000000b9'), 10::numeric,
  'B''s ledger row is unchanged');
select is((select count(*)::int from public.cashback_ledger
           where user_id in ('00000000-0000-0000-0002-0000000000a1', '00000000-0000-0000-0002-0000000000b1')), 2,
  'no ledger row was added for A or B');
select is((select read_at from public.notifications where id = '00000000-0000-0000-0002-0000000000ba'), null,
  'B''s notification is still unread');
select is((select count(*)::int from public.notifications where user_id = '00000000-0000-0000-0002-0000000000b1'), 1,
  'B received no notification from A');
select is((select rebate_per_lot from public.brokers where id = '00000000-0000-0000-0002-0000000000c1'), 5::numeric,
  'the broker''s rebate is unchanged');
select is((select status from public.trading_accounts where id = '00000000-0000-0000-0002-0000000000a6'), 'pending_vps_setup',
  'A''s account status was not changed directly');
select is((select count(*)::int from public.trading_accounts where user_id = '00000000-0000-0000-0002-0000000000b1'), 1,
  'the registration with B''s claims attached created nothing for B');
select is((select count(*)::int from public.ea_keys where user_id = '00000000-0000-0000-0002-0000000000b1'), 0,
  'the key creation with B''s claims attached created nothing for B');

select * from finish();
rollback;
