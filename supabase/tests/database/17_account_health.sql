-- Account health (20261130001500_account_health.sql): the EA's report on its terminal, sent with
-- POST /trades (private.ingest_trades) and stored by private.touch_account in the update that marks
-- the account heard from: broker_connected (+ when it changed, when last reported), and how far the
-- history is sent (history_backfill_complete, history_synced_until). Optional: an older EA's
-- request (no report) leaves what is stored. Bad input is refused and nothing is written.
begin;
\ir helpers/setup.psql

select plan(30);

delete from auth.users;

-- ---------------------------------------------------------------------------------------------
-- Fixtures (as the database owner).
--   users     u1 owns h1 and h2 | u2 another user
--   accounts  h1 (connected) | h2 (connected, never reports: an older EA)
insert into auth.users (id, aud, role, email) values
  ('00000000-0000-0000-0017-0000000000a1', 'authenticated', 'authenticated', 'health-owner@example.test'),
  ('00000000-0000-0000-0017-0000000000a2', 'authenticated', 'authenticated', 'health-other@example.test');
insert into public.brokers (id, name, platforms, rebate_per_lot, currency) values
  ('00000000-0000-0000-0017-0000000000b1', 'Health Broker', array['MT4', 'MT5'], 2, 'USD');
insert into public.trading_accounts (id, user_id, broker_id, platform, login, server, verified_at) values
  ('00000000-0000-0000-0017-0000000000c1', '00000000-0000-0000-0017-0000000000a1', '00000000-0000-0000-0017-0000000000b1', 'MT5', 8000001, 'Health-Live', now()),
  ('00000000-0000-0000-0017-0000000000c2', '00000000-0000-0000-0017-0000000000a1', '00000000-0000-0000-0017-0000000000b1', 'MT4', 8000002, 'Health-Live', now());
update public.trading_accounts set status = 'provisioning' where user_id = '00000000-0000-0000-0017-0000000000a1';
update public.trading_accounts set status = 'connected' where user_id = '00000000-0000-0000-0017-0000000000a1';

-- =============================================================================================
-- Principals
-- =============================================================================================
select ok(not has_function_privilege(r, 'private.touch_account(uuid, boolean, timestamptz, boolean)', 'execute'),
  format('%s cannot execute touch_account (the report is stored behind the gate only)', r))
from unnest(array['anon', 'authenticated', 'service_role', 'rubi_ea']) as r;
select ok(has_function_privilege('rubi_ea', 'private.ingest_trades(uuid, uuid, jsonb, text[], boolean, timestamptz, boolean)', 'execute')
          and not has_function_privilege('authenticated', 'private.ingest_trades(uuid, uuid, jsonb, text[], boolean, timestamptz, boolean)', 'execute')
          and not has_function_privilege('service_role', 'private.ingest_trades(uuid, uuid, jsonb, text[], boolean, timestamptz, boolean)', 'execute'),
  'only the admitted account EA reports');
select is((select count(*)::int from pg_proc p join pg_namespace n on n.oid = p.pronamespace
           where n.nspname = 'private' and p.proname in ('ingest_trades', 'touch_account')), 2,
  'one ingest_trades and one touch_account (the old signatures are gone)');
select ok(not has_column_privilege('authenticated', 'public.trading_accounts', 'broker_connected', 'update'),
  'an owner cannot write the report');

-- A user cannot report for their own account (no EA gate).
select tests.authenticate_as('00000000-0000-0000-0017-0000000000a1');
select throws_ok($$
  select private.ingest_trades('00000000-0000-0000-0017-0000000000a1', '00000000-0000-0000-0017-0000000000c1', '[]'::jsonb, '{}', false, null, null)
$$, '42501', null, 'a dashboard user cannot report the broker connection');
select tests.clear_authentication();

-- Another user's EA cannot report for this account.
select tests.authenticate_as_account_ea('00000000-0000-0000-0017-0000000000a2', '00000000-0000-0000-0017-0000000000c1');
select throws_ok($$
  select private.ingest_trades('00000000-0000-0000-0017-0000000000a2', '00000000-0000-0000-0017-0000000000c1', '[]'::jsonb, '{}', false, null, null)
$$, '42501', null, 'another user''s EA cannot report for the account');
select tests.clear_authentication();
select is((select broker_connected from public.trading_accounts where id = '00000000-0000-0000-0017-0000000000c1'), null, 'refused: nothing stored');

-- =============================================================================================
-- The report
-- =============================================================================================
update public.trading_accounts set last_seen_at = now() - interval '1 hour' where id = '00000000-0000-0000-0017-0000000000c1';
select tests.authenticate_as_account_ea('00000000-0000-0000-0017-0000000000a1', '00000000-0000-0000-0017-0000000000c1');
select lives_ok($$
  select private.ingest_trades('00000000-0000-0000-0017-0000000000a1', '00000000-0000-0000-0017-0000000000c1', '[]'::jsonb, '{}',
    true, null, false)
$$, 'an empty batch with the report');
select tests.clear_authentication();
select is((select (broker_connected, broker_connected_changed_at = now(), broker_reported_at = now(), last_seen_at = now(),
                   history_backfill_complete, history_synced_until)::text
           from public.trading_accounts where id = '00000000-0000-0000-0017-0000000000c1'),
  '(t,t,t,t,f,)', 'stored: connected since now, reported now, heard from now; backfill under way');

-- The same state again: reported_at moves, changed_at does not.
update public.trading_accounts set broker_connected_changed_at = now() - interval '2 hours', broker_reported_at = now() - interval '1 hour'
  where id = '00000000-0000-0000-0017-0000000000c1';
select tests.authenticate_as_account_ea('00000000-0000-0000-0017-0000000000a1', '00000000-0000-0000-0017-0000000000c1');
select lives_ok($$
  select private.ingest_trades('00000000-0000-0000-0017-0000000000a1', '00000000-0000-0000-0017-0000000000c1',
    jsonb_build_array(tests.trade(1, 1)), '{}', true, now() - interval '1 minute', true)
$$, 'a batch with trades and the report: backfill complete');
select tests.clear_authentication();
select is((select (broker_connected_changed_at = now() - interval '2 hours', broker_reported_at = now(), history_backfill_complete,
                   history_synced_until = now() - interval '1 minute')::text
           from public.trading_accounts where id = '00000000-0000-0000-0017-0000000000c1'),
  '(t,t,t,t)', 'still connected: changed_at kept, reported_at moves; history synchronised up to the reported instant');
select is((select count(*)::int from public.closed_trades where account_id = '00000000-0000-0000-0017-0000000000c1'), 1, 'the trade is stored too');

-- Disconnected from the broker: changed_at moves.
update public.trading_accounts set broker_connected_changed_at = now() - interval '2 hours' where id = '00000000-0000-0000-0017-0000000000c1';
select tests.authenticate_as_account_ea('00000000-0000-0000-0017-0000000000a1', '00000000-0000-0000-0017-0000000000c1');
select lives_ok($$
  select private.ingest_trades('00000000-0000-0000-0017-0000000000a1', '00000000-0000-0000-0017-0000000000c1', '[]'::jsonb, '{}', false, null, null)
$$, 'a terminal not connected to the broker still reports (an empty batch)');
select tests.clear_authentication();
select is((select (broker_connected, broker_connected_changed_at = now(), history_backfill_complete)::text
           from public.trading_accounts where id = '00000000-0000-0000-0017-0000000000c1'),
  '(f,t,t)', 'disconnected since now; the history report is left as it was (not reported this time)');

-- An older EA (no report): everything stays, only last_seen_at moves.
update public.trading_accounts set last_seen_at = now() - interval '1 hour', broker_reported_at = now() - interval '1 hour'
  where id = '00000000-0000-0000-0017-0000000000c1';
select tests.authenticate_as_account_ea('00000000-0000-0000-0017-0000000000a1', '00000000-0000-0000-0017-0000000000c1');
select lives_ok($$
  select private.ingest_trades('00000000-0000-0000-0017-0000000000a1', '00000000-0000-0000-0017-0000000000c1', '[]'::jsonb)
$$, 'the older call (four arguments) still works');
select tests.clear_authentication();
select is((select (broker_connected, broker_reported_at = now() - interval '1 hour', last_seen_at = now(), history_backfill_complete)::text
           from public.trading_accounts where id = '00000000-0000-0000-0017-0000000000c1'),
  '(f,t,t,t)', 'no report: the stored one stays; heard from now');

-- A new backfill (a re-registered EA) reports false and no instant: the old mark is cleared.
select tests.authenticate_as_account_ea('00000000-0000-0000-0017-0000000000a1', '00000000-0000-0000-0017-0000000000c1');
select lives_ok($$
  select private.ingest_trades('00000000-0000-0000-0017-0000000000a1', '00000000-0000-0000-0017-0000000000c1', '[]'::jsonb, '{}', true, null, false)
$$, 'a new backfill');
select tests.clear_authentication();
select is((select (history_backfill_complete, history_synced_until)::text
           from public.trading_accounts where id = '00000000-0000-0000-0017-0000000000c1'),
  '(f,)', 'backfill under way again: history_synced_until cleared');

-- The account that never reports.
select tests.authenticate_as_account_ea('00000000-0000-0000-0017-0000000000a1', '00000000-0000-0000-0017-0000000000c2');
select lives_ok($$
  select private.ingest_trades('00000000-0000-0000-0017-0000000000a1', '00000000-0000-0000-0017-0000000000c2', '[]'::jsonb, '{}')
$$, 'an older EA');
select tests.clear_authentication();
select is((select (broker_connected, broker_connected_changed_at, broker_reported_at, history_backfill_complete, history_synced_until, last_seen_at = now())::text
           from public.trading_accounts where id = '00000000-0000-0000-0017-0000000000c2'),
  '(,,,,,t)', 'never reported: all null (unknown), heard from');

-- =============================================================================================
-- Realtime: a report that only moves broker_reported_at / history_synced_until (and last_seen_at)
-- is not broadcast; a change of broker_connected is
-- =============================================================================================
create function tests.account_updates() returns integer
language sql
as $$
  select count(*)::int from realtime.messages
  where event = 'trading_accounts' and payload ->> 'operation' = 'UPDATE' and payload -> 'record' ->> 'id' = '00000000-0000-0000-0017-0000000000c1'
$$;
create temp table health_before as select tests.account_updates() as n;
update public.trading_accounts set broker_reported_at = now() - interval '1 minute', history_synced_until = now() - interval '2 minutes',
  last_seen_at = now() - interval '1 minute' where id = '00000000-0000-0000-0017-0000000000c1';
select is(tests.account_updates(), (select n from health_before), 'moving only the report''s times and last_seen_at: no message');
select tests.authenticate_as_account_ea('00000000-0000-0000-0017-0000000000a1', '00000000-0000-0000-0017-0000000000c1');
select lives_ok($$
  select private.ingest_trades('00000000-0000-0000-0017-0000000000a1', '00000000-0000-0000-0017-0000000000c1', '[]'::jsonb, '{}', false, null, null)
$$, 'the broker connection changes');
select tests.clear_authentication();
select is(tests.account_updates(), (select n from health_before) + 1, 'a change of broker_connected is broadcast (once)');

-- =============================================================================================
-- Bad input: refused, nothing written
-- =============================================================================================
update public.trading_accounts set last_seen_at = now() - interval '1 hour' where id = '00000000-0000-0000-0017-0000000000c1';
select tests.authenticate_as_account_ea('00000000-0000-0000-0017-0000000000a1', '00000000-0000-0000-0017-0000000000c1');
select throws_ok($$
  select private.ingest_trades('00000000-0000-0000-0017-0000000000a1', '00000000-0000-0000-0017-0000000000c1',
    jsonb_build_array(tests.trade(2, 1)), '{}', true, now() + interval '1 hour', true)
$$, '22023', 'history_synced_until is later than the server''s clock', 'a history_synced_until in the future is refused');
select tests.clear_authentication();
select is((select (last_seen_at = now() - interval '1 hour', history_backfill_complete)::text
           from public.trading_accounts where id = '00000000-0000-0000-0017-0000000000c1'),
  '(t,f)', 'refused: not heard from, the report unchanged');
select is((select count(*)::int from public.closed_trades where account_id = '00000000-0000-0000-0017-0000000000c1'), 1, 'refused: the batch''s trade is not stored');

-- A deleted account: the EA is refused.
update public.trading_accounts set deleted_at = now() where id = '00000000-0000-0000-0017-0000000000c2';
select tests.authenticate_as_account_ea('00000000-0000-0000-0017-0000000000a1', '00000000-0000-0000-0017-0000000000c2');
select throws_ok($$
  select private.ingest_trades('00000000-0000-0000-0017-0000000000a1', '00000000-0000-0000-0017-0000000000c2', '[]'::jsonb, '{}', false, null, null)
$$, '42501', null, 'a deleted account''s EA cannot report');
select tests.clear_authentication();

select * from finish();
rollback;
