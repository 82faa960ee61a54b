-- State machines (private.state_transitions + private.enforce_transition) for sessions, signals and
-- trading accounts: every legal transition with the actor allowed to make it, a representative set
-- of illegal ones, actor rules, the side effects of entering a state, and private.account_action.
begin;
\ir helpers/setup.psql

select plan(81);

-- Start from empty domain tables (inside this transaction only, rolled back with it), so the
-- counts below are exact even on a cluster other test tiers have written to.
delete from auth.users;
delete from private.vps_hosts;
delete from private.seen_request_ids;

-- ---------------------------------------------------------------------------------------------
-- Fixtures (as the database owner).
--   users      ...0001 (owner of everything), ...0002 (someone else)
--   EA key     ...00e1 (user 1)
--   broker     ...00d1        VPS host ...00f1
--   sessions   ...00a1..a9    signals ...00b1..bb    accounts ...00c1..cc
insert into auth.users (id, aud, role, email) values
  ('00000000-0000-0000-0000-000000000001', 'authenticated', 'authenticated', 'sm-owner@example.test'),
  ('00000000-0000-0000-0000-000000000002', 'authenticated', 'authenticated', 'sm-other@example.test');
insert into public.ea_keys (id, user_id, name) values
  ('00000000-0000-0000-0000-0000000000e1', '00000000-0000-0000-0000-000000000001', 'sm key');
insert into public.brokers (id, name, platforms, rebate_per_lot) values
  ('00000000-0000-0000-0000-0000000000d1', 'SM Broker', array['MT4', 'MT5'], 1);
insert into private.vps_hosts (id, name, key_hash, capacity) values
  ('00000000-0000-0000-0000-0000000000f1', 'sm-host', encode(extensions.digest('sm-host-key', 'sha256'), 'hex'), 50);

-- This file proves the state machines themselves, for every actor, as if an API role could write
-- these tables directly. None can (20261130001000_no_direct_writes, 13_no_direct_writes.sql): users
-- and EAs change states through private.* functions only. The machines stay a second line of
-- defence behind the grants, so they are tested here with the direct writes granted back to
-- `authenticated` (and so to rubi_ea, its member) inside this file's transaction only.
grant insert, update on public.mt5_sessions, public.trading_signals to authenticated;
create policy "test: owners write their signals" on public.trading_signals for all to authenticated
  using (user_id = (select auth.uid())) with check (user_id = (select auth.uid()));

-- The transition table itself: the rules the migrations declare, no more.
select results_eq(
  $$ select machine, count(*)::int from private.state_transitions group by machine order by machine $$,
  $$ values ('account', 15), ('session', 5), ('signal', 9) $$,
  'the transition table holds exactly the declared rules'
);

-- =============================================================================================
-- Sessions
-- =============================================================================================
select tests.authenticate_as_ea('00000000-0000-0000-0000-000000000001', '00000000-0000-0000-0000-0000000000e1');

select lives_ok(
  $$ insert into public.mt5_sessions (id, user_id, ea_key_id, account_number, broker, server, currency, leverage, updated_at)
     values ('00000000-0000-0000-0000-0000000000a1', '00000000-0000-0000-0000-000000000001',
             '00000000-0000-0000-0000-0000000000e1', 1001, 'SM Broker', 'SM-Live', 'USD', 100, now() - interval '1 hour') $$,
  'session (new) -> active: an EA opens a session'
);
select lives_ok(
  $$ update public.mt5_sessions set status = 'disconnected' where id = '00000000-0000-0000-0000-0000000000a1' $$,
  'session active -> disconnected: the EA disconnects'
);
select throws_ok(
  $$ update public.mt5_sessions set status = 'active' where id = '00000000-0000-0000-0000-0000000000a1' $$,
  '23514', 'illegal session transition: disconnected -> active',
  'session disconnected -> active is illegal (EA)'
);
select throws_ok(
  $$ insert into public.mt5_sessions (user_id, ea_key_id, account_number, broker, server, currency, leverage, status)
     values ('00000000-0000-0000-0000-000000000001', '00000000-0000-0000-0000-0000000000e1',
             1009, 'SM Broker', 'SM-Live', 'USD', 100, 'stale') $$,
  '23514', 'illegal session transition: (new) -> stale',
  'a session cannot be created stale'
);
select throws_ok(
  $$ insert into public.mt5_sessions (user_id, ea_key_id, account_number, broker, server, currency, leverage, status)
     values ('00000000-0000-0000-0000-000000000001', '00000000-0000-0000-0000-0000000000e1',
             1009, 'SM Broker', 'SM-Live', 'USD', 100, 'disconnected') $$,
  '23514', 'illegal session transition: (new) -> disconnected',
  'a session cannot be created disconnected'
);

select tests.clear_authentication();
select ok(
  (select disconnected_at = now() and status = 'disconnected' from public.mt5_sessions where id = '00000000-0000-0000-0000-0000000000a1'),
  'disconnecting stamps disconnected_at'
);
select ok(
  (select updated_at = now() from public.mt5_sessions where id = '00000000-0000-0000-0000-0000000000a1'),
  'updated_at moves on update (it was an hour old)'
);
select throws_ok(
  $$ update public.mt5_sessions set status = 'active' where id = '00000000-0000-0000-0000-0000000000a1' $$,
  '23514', 'illegal session transition: disconnected -> active',
  'session disconnected -> active is illegal even for the system'
);

-- Sessions that went quiet ten minutes ago.
insert into public.mt5_sessions (id, user_id, ea_key_id, account_number, broker, server, currency, leverage, last_ping_at) values
  ('00000000-0000-0000-0000-0000000000a2', '00000000-0000-0000-0000-000000000001', '00000000-0000-0000-0000-0000000000e1',
   1002, 'SM Broker', 'SM-Live', 'USD', 100, now() - interval '10 minutes'),
  ('00000000-0000-0000-0000-0000000000a3', '00000000-0000-0000-0000-000000000001', '00000000-0000-0000-0000-0000000000e1',
   1003, 'SM Broker', 'SM-Live', 'USD', 100, now() - interval '10 minutes'),
  ('00000000-0000-0000-0000-0000000000a4', '00000000-0000-0000-0000-000000000001', '00000000-0000-0000-0000-0000000000e1',
   1004, 'SM Broker', 'SM-Live', 'USD', 100, now() - interval '10 minutes');

select lives_ok(
  $$ update public.mt5_sessions set status = 'stale'
     where id in ('00000000-0000-0000-0000-0000000000a2', '00000000-0000-0000-0000-0000000000a3') $$,
  'session active -> stale: the system (sweep) marks sessions stale'
);

select tests.authenticate_as_ea('00000000-0000-0000-0000-000000000001', '00000000-0000-0000-0000-0000000000e1');
select throws_ok(
  $$ update public.mt5_sessions set status = 'stale' where id = '00000000-0000-0000-0000-0000000000a4' $$,
  '42501', 'session transition active -> stale is not allowed for ea',
  'an EA cannot mark a session stale (system only)'
);
-- A ping that does not move last_ping_at forward does not revive.
update public.mt5_sessions set last_ping_at = last_ping_at - interval '1 second'
where id = '00000000-0000-0000-0000-0000000000a2';
select is(
  (select status from public.mt5_sessions where id = '00000000-0000-0000-0000-0000000000a2'),
  'stale',
  'an older last_ping_at leaves a stale session stale'
);
-- A real ping revives.
update public.mt5_sessions set last_ping_at = now() where id = '00000000-0000-0000-0000-0000000000a2';
select is(
  (select status from public.mt5_sessions where id = '00000000-0000-0000-0000-0000000000a2'),
  'active',
  'a ping (last_ping_at moves forward) revives a stale session, as the EA'
);
select lives_ok(
  $$ update public.mt5_sessions set status = 'disconnected' where id = '00000000-0000-0000-0000-0000000000a3' $$,
  'session stale -> disconnected: the EA disconnects a stale session'
);
select ok(
  (select disconnected_at = now() from public.mt5_sessions where id = '00000000-0000-0000-0000-0000000000a3'),
  'disconnecting a stale session stamps disconnected_at'
);

select tests.clear_authentication();
update public.mt5_sessions set status = 'stale' where id = '00000000-0000-0000-0000-0000000000a4';
select tests.authenticate_as_ea('00000000-0000-0000-0000-000000000001', '00000000-0000-0000-0000-0000000000e1');
select lives_ok(
  $$ update public.mt5_sessions set status = 'active' where id = '00000000-0000-0000-0000-0000000000a4' $$,
  'session stale -> active (explicit): allowed for the EA'
);

-- =============================================================================================
-- Signals (session ...00a5 is the target)
-- =============================================================================================
select tests.clear_authentication();
insert into public.mt5_sessions (id, user_id, ea_key_id, account_number, broker, server, currency, leverage) values
  ('00000000-0000-0000-0000-0000000000a5', '00000000-0000-0000-0000-000000000001', '00000000-0000-0000-0000-0000000000e1',
   1005, 'SM Broker', 'SM-Live', 'USD', 100);

-- The dashboard user creates signals b1..b8.
select tests.authenticate_as('00000000-0000-0000-0000-000000000001');
select lives_ok(
  $$ insert into public.trading_signals (id, user_id, session_id, type, symbol, volume, updated_at)
     select ('00000000-0000-0000-0000-0000000000b' || n)::uuid, '00000000-0000-0000-0000-000000000001',
            '00000000-0000-0000-0000-0000000000a5', 'BUY', 'EURUSD', 0.1, now() - interval '1 hour'
     from generate_series(1, 8) n $$,
  'signal (new) -> PENDING: a dashboard user creates signals'
);
select throws_ok(
  $$ insert into public.trading_signals (user_id, session_id, type, symbol, volume, status)
     values ('00000000-0000-0000-0000-000000000001', '00000000-0000-0000-0000-0000000000a5', 'BUY', 'EURUSD', 0.1, 'DELIVERED') $$,
  '23514', 'illegal signal transition: (new) -> DELIVERED',
  'a signal cannot be created DELIVERED'
);
select throws_ok(
  $$ update public.trading_signals set status = 'DELIVERED' where id = '00000000-0000-0000-0000-0000000000b1' $$,
  '42501', 'signal transition PENDING -> DELIVERED is not allowed for user',
  'a dashboard user cannot mark their own signal DELIVERED'
);
select throws_ok(
  $$ update public.trading_signals set status = 'EXPIRED' where id = '00000000-0000-0000-0000-0000000000b6' $$,
  '42501', 'signal transition PENDING -> EXPIRED is not allowed for user',
  'a dashboard user cannot expire a signal (system only)'
);
select lives_ok(
  $$ update public.trading_signals set status = 'CANCELLED' where id = '00000000-0000-0000-0000-0000000000b5' $$,
  'signal PENDING -> CANCELLED: the user cancels their pending signal'
);
select throws_ok(
  $$ update public.trading_signals set status = 'EXECUTED' where id = '00000000-0000-0000-0000-0000000000b7' $$,
  '23514', 'illegal signal transition: PENDING -> EXECUTED',
  'PENDING -> EXECUTED (skipping DELIVERED) is illegal'
);

-- The EA fetches b1..b4 and b8.
select tests.authenticate_as_ea('00000000-0000-0000-0000-000000000001', '00000000-0000-0000-0000-0000000000e1');
select lives_ok(
  $$ update public.trading_signals set status = 'DELIVERED'
     where id in ('00000000-0000-0000-0000-0000000000b1', '00000000-0000-0000-0000-0000000000b2',
                  '00000000-0000-0000-0000-0000000000b3', '00000000-0000-0000-0000-0000000000b4',
                  '00000000-0000-0000-0000-0000000000b8') $$,
  'signal PENDING -> DELIVERED: the EA fetches'
);
select throws_ok(
  $$ update public.trading_signals set status = 'EXPIRED' where id = '00000000-0000-0000-0000-0000000000b6' $$,
  '42501', 'signal transition PENDING -> EXPIRED is not allowed for ea',
  'an EA cannot expire a signal either'
);
select tests.authenticate_as('00000000-0000-0000-0000-000000000001');
select throws_ok(
  $$ update public.trading_signals set status = 'EXECUTED' where id = '00000000-0000-0000-0000-0000000000b1' $$,
  '42501', 'signal transition DELIVERED -> EXECUTED is not allowed for user',
  'a dashboard user cannot mark their own signal EXECUTED'
);
select throws_ok(
  $$ update public.trading_signals set status = 'CANCELLED' where id = '00000000-0000-0000-0000-0000000000b4' $$,
  '23514', 'illegal signal transition: DELIVERED -> CANCELLED',
  'a delivered signal can no longer be cancelled'
);
select throws_ok(
  $$ update public.trading_signals set status = 'UNKNOWN' where id = '00000000-0000-0000-0000-0000000000b4' $$,
  '42501', 'signal transition DELIVERED -> UNKNOWN is not allowed for user',
  'a dashboard user cannot mark their own signal UNKNOWN'
);
select tests.authenticate_as_ea('00000000-0000-0000-0000-000000000001', '00000000-0000-0000-0000-0000000000e1');
select lives_ok(
  $$ update public.trading_signals set status = 'EXECUTED', order_ticket = 555 where id = '00000000-0000-0000-0000-0000000000b1' $$,
  'signal DELIVERED -> EXECUTED: the EA reports execution'
);
select lives_ok(
  $$ update public.trading_signals set status = 'REJECTED', status_message = 'market closed' where id = '00000000-0000-0000-0000-0000000000b2' $$,
  'signal DELIVERED -> REJECTED: the EA reports a rejection'
);
select lives_ok(
  $$ update public.trading_signals set status = 'FAILED', status_message = 'no money' where id = '00000000-0000-0000-0000-0000000000b3' $$,
  'signal DELIVERED -> FAILED: the EA reports a failure'
);
select lives_ok(
  $$ update public.trading_signals set status = 'UNKNOWN', status_message = 'outcome unknown: the EA restarted while this signal was being sent'
     where id = '00000000-0000-0000-0000-0000000000b4' $$,
  'signal DELIVERED -> UNKNOWN: the EA cannot tell whether its order reached the trade server'
);
select lives_ok(
  $$ update public.trading_signals set status = 'CANCELLED' where id = '00000000-0000-0000-0000-0000000000b7' $$,
  'signal PENDING -> CANCELLED (any): the EA may cancel too'
);
select throws_ok(
  $$ update public.trading_signals set status = 'PENDING' where id = '00000000-0000-0000-0000-0000000000b1' $$,
  '23514', 'illegal signal transition: EXECUTED -> PENDING',
  'EXECUTED -> PENDING is illegal'
);
select throws_ok(
  $$ update public.trading_signals set status = 'PENDING' where id = '00000000-0000-0000-0000-0000000000b5' $$,
  '23514', 'illegal signal transition: CANCELLED -> PENDING',
  'CANCELLED -> PENDING is illegal'
);
select throws_ok(
  $$ update public.trading_signals set status = 'EXECUTED' where id = '00000000-0000-0000-0000-0000000000b2' $$,
  '23514', 'illegal signal transition: REJECTED -> EXECUTED',
  'REJECTED is final'
);

select tests.clear_authentication();
select lives_ok(
  $$ update public.trading_signals set status = 'EXPIRED' where id = '00000000-0000-0000-0000-0000000000b6' $$,
  'signal PENDING -> EXPIRED: the system expires'
);
select throws_ok(
  $$ update public.trading_signals set status = 'DELIVERED' where id = '00000000-0000-0000-0000-0000000000b6' $$,
  '23514', 'illegal signal transition: EXPIRED -> DELIVERED',
  'EXPIRED -> DELIVERED is illegal even for the system'
);
select throws_ok(
  $$ update public.trading_signals set status = 'PENDING' where id = '00000000-0000-0000-0000-0000000000b8' $$,
  '23514', 'illegal signal transition: DELIVERED -> PENDING',
  'DELIVERED -> PENDING is illegal'
);

-- Side effects.
select results_eq(
  $$ select id::text, status, delivered_at = now(), completed_at is not null, updated_at = now()
     from public.trading_signals where session_id = '00000000-0000-0000-0000-0000000000a5' order by id $$,
  $$ values
     ('00000000-0000-0000-0000-0000000000b1', 'EXECUTED',  true, true, true),
     ('00000000-0000-0000-0000-0000000000b2', 'REJECTED',  true, true, true),
     ('00000000-0000-0000-0000-0000000000b3', 'FAILED',    true, true, true),
     ('00000000-0000-0000-0000-0000000000b4', 'UNKNOWN',   true, true, true),
     ('00000000-0000-0000-0000-0000000000b5', 'CANCELLED', null::boolean, true, true),
     ('00000000-0000-0000-0000-0000000000b6', 'EXPIRED',   null::boolean, true, true),
     ('00000000-0000-0000-0000-0000000000b7', 'CANCELLED', null::boolean, true, true),
     ('00000000-0000-0000-0000-0000000000b8', 'DELIVERED', true, false, true) $$,
  'delivered_at is stamped on delivery, completed_at on every final state, updated_at on every change'
);
select ok(
  (select completed_at = now() from public.trading_signals where id = '00000000-0000-0000-0000-0000000000b1'),
  'completed_at is the time of completion'
);

-- =============================================================================================
-- Trading accounts (user 1, broker d1, host f1). All transitions but two are system-only; the
-- 'any' ones (-> connected) are driven here through service_role, the way a trusted function would.
-- =============================================================================================
select lives_ok(
  $$ insert into public.trading_accounts (id, user_id, broker_id, platform, login, server, updated_at)
     select ('00000000-0000-0000-0000-0000000000c' || n)::uuid, '00000000-0000-0000-0000-000000000001',
            '00000000-0000-0000-0000-0000000000d1', 'MT5', 7000 + n, 'SM-Live', now() - interval '1 hour'
     from generate_series(1, 9) n $$,
  'account (new) -> pending_vps_setup'
);
select throws_ok(
  $$ insert into public.trading_accounts (user_id, broker_id, platform, login, server, status)
     values ('00000000-0000-0000-0000-000000000001', '00000000-0000-0000-0000-0000000000d1', 'MT5', 7999, 'SM-Live', 'connected') $$,
  '23514', 'illegal account transition: (new) -> connected',
  'an account cannot be created connected'
);
select throws_ok(
  $$ update public.trading_accounts set status = 'connected' where id = '00000000-0000-0000-0000-0000000000c1' $$,
  '23514', 'illegal account transition: pending_vps_setup -> connected',
  'pending_vps_setup -> connected is illegal (must be provisioned first)'
);

-- c1: pending -> provisioning -> connected -> disconnected -> connected -> error -> pending
--     -> disconnected -> pending
select lives_ok(
  $$ update public.trading_accounts
     set status = 'provisioning', vps_host_id = '00000000-0000-0000-0000-0000000000f1', lease_expires_at = now() + interval '3 minutes'
     where id = '00000000-0000-0000-0000-0000000000c1' $$,
  'account pending_vps_setup -> provisioning (system)'
);
select tests.authenticate_as_service_role();
select lives_ok(
  $$ update public.trading_accounts set status = 'connected', terminal_state = 'running'
     where id = '00000000-0000-0000-0000-0000000000c1' $$,
  'account provisioning -> connected'
);
select tests.clear_authentication();
select throws_ok(
  $$ update public.trading_accounts set status = 'provisioning' where id = '00000000-0000-0000-0000-0000000000c1' $$,
  '23514', 'illegal account transition: connected -> provisioning',
  'connected -> provisioning is illegal'
);
select lives_ok(
  $$ update public.trading_accounts set status = 'disconnected' where id = '00000000-0000-0000-0000-0000000000c1' $$,
  'account connected -> disconnected (system)'
);
select tests.authenticate_as_service_role();
select lives_ok(
  $$ update public.trading_accounts set status = 'connected' where id = '00000000-0000-0000-0000-0000000000c1' $$,
  'account disconnected -> connected'
);
select tests.clear_authentication();
select lives_ok(
  $$ update public.trading_accounts set status = 'error', error_code = 'E_TERMINAL_CRASH', error_message = 'terminal crashed'
     where id = '00000000-0000-0000-0000-0000000000c1' $$,
  'account connected -> error (system)'
);
select results_eq(
  $$ select attempts, next_retry_at, vps_host_id, lease_expires_at, error_code, error_message
     from public.trading_accounts where id = '00000000-0000-0000-0000-0000000000c1' $$,
  $$ select 1, now() + make_interval(secs => private.setting('account_retry_base_seconds')), null::uuid,
            null::timestamptz, 'E_TERMINAL_CRASH', 'terminal crashed' $$,
  'entering error: attempts 1, next retry after the base delay, host and lease cleared, error kept'
);
select throws_ok(
  $$ update public.trading_accounts set status = 'connected' where id = '00000000-0000-0000-0000-0000000000c1' $$,
  '23514', 'illegal account transition: error -> connected',
  'error -> connected is illegal'
);
select lives_ok(
  $$ update public.trading_accounts set status = 'pending_vps_setup' where id = '00000000-0000-0000-0000-0000000000c1' $$,
  'account error -> pending_vps_setup (system)'
);
select is(
  (select next_retry_at from public.trading_accounts where id = '00000000-0000-0000-0000-0000000000c1'),
  null::timestamptz,
  'back in the queue: next_retry_at cleared'
);
select lives_ok(
  $$ update public.trading_accounts set status = 'disconnected' where id = '00000000-0000-0000-0000-0000000000c1' $$,
  'account pending_vps_setup -> disconnected (system)'
);
select lives_ok(
  $$ update public.trading_accounts set status = 'pending_vps_setup' where id = '00000000-0000-0000-0000-0000000000c1' $$,
  'account disconnected -> pending_vps_setup (system)'
);

-- c2: pending -> provisioning -> error (twice, backoff doubles) -> disconnected
update public.trading_accounts
set status = 'provisioning', vps_host_id = '00000000-0000-0000-0000-0000000000f1', lease_expires_at = now() + interval '3 minutes'
where id = '00000000-0000-0000-0000-0000000000c2';
select lives_ok(
  $$ update public.trading_accounts set status = 'error', error_message = 'login failed' where id = '00000000-0000-0000-0000-0000000000c2' $$,
  'account provisioning -> error (system)'
);
update public.trading_accounts set status = 'pending_vps_setup' where id = '00000000-0000-0000-0000-0000000000c2';
update public.trading_accounts set status = 'provisioning', vps_host_id = '00000000-0000-0000-0000-0000000000f1'
where id = '00000000-0000-0000-0000-0000000000c2';
update public.trading_accounts set status = 'error' where id = '00000000-0000-0000-0000-0000000000c2';
select results_eq(
  $$ select attempts, next_retry_at, vps_host_id from public.trading_accounts where id = '00000000-0000-0000-0000-0000000000c2' $$,
  $$ select 2, now() + make_interval(secs => 2 * private.setting('account_retry_base_seconds')), null::uuid $$,
  'a second error: attempts 2, delay doubled (base * 2^(attempts-1))'
);
select lives_ok(
  $$ update public.trading_accounts set status = 'disconnected' where id = '00000000-0000-0000-0000-0000000000c2' $$,
  'account error -> disconnected (system)'
);

-- c3: at the attempt limit there is no automatic retry.
update public.trading_accounts set status = 'provisioning' where id = '00000000-0000-0000-0000-0000000000c3';
update public.trading_accounts set attempts = private.setting('account_retry_max_attempts')::int - 1
where id = '00000000-0000-0000-0000-0000000000c3';
update public.trading_accounts set status = 'error' where id = '00000000-0000-0000-0000-0000000000c3';
select results_eq(
  $$ select attempts, next_retry_at from public.trading_accounts where id = '00000000-0000-0000-0000-0000000000c3' $$,
  $$ select private.setting('account_retry_max_attempts')::int, null::timestamptz $$,
  'reaching account_retry_max_attempts: no next_retry_at'
);

-- c4: pending -> provisioning -> pending -> provisioning -> disconnected
update public.trading_accounts
set status = 'provisioning', vps_host_id = '00000000-0000-0000-0000-0000000000f1', lease_expires_at = now() + interval '3 minutes'
where id = '00000000-0000-0000-0000-0000000000c4';
select lives_ok(
  $$ update public.trading_accounts set status = 'pending_vps_setup' where id = '00000000-0000-0000-0000-0000000000c4' $$,
  'account provisioning -> pending_vps_setup (system)'
);
select results_eq(
  $$ select vps_host_id, lease_expires_at, claimed_at from public.trading_accounts where id = '00000000-0000-0000-0000-0000000000c4' $$,
  $$ values (null::uuid, null::timestamptz, null::timestamptz) $$,
  'entering pending_vps_setup clears host, lease and claim'
);
update public.trading_accounts set status = 'provisioning' where id = '00000000-0000-0000-0000-0000000000c4';
select lives_ok(
  $$ update public.trading_accounts set status = 'disconnected' where id = '00000000-0000-0000-0000-0000000000c4' $$,
  'account provisioning -> disconnected (system)'
);

-- c5: connected (after errors) -> pending
update public.trading_accounts set status = 'provisioning' where id = '00000000-0000-0000-0000-0000000000c5';
update public.trading_accounts set status = 'error', error_code = 'E_LOGIN', error_message = 'bad password'
where id = '00000000-0000-0000-0000-0000000000c5';
update public.trading_accounts set status = 'pending_vps_setup' where id = '00000000-0000-0000-0000-0000000000c5';
update public.trading_accounts
set status = 'provisioning', vps_host_id = '00000000-0000-0000-0000-0000000000f1', lease_expires_at = now() + interval '3 minutes'
where id = '00000000-0000-0000-0000-0000000000c5';
-- the host reports an error text while still provisioning (no status change)
update public.trading_accounts set error_code = 'E_SLOW', error_message = 'slow start' where id = '00000000-0000-0000-0000-0000000000c5';
select tests.authenticate_as_service_role();
update public.trading_accounts set status = 'connected', terminal_state = 'running' where id = '00000000-0000-0000-0000-0000000000c5';
select tests.clear_authentication();
select results_eq(
  $$ select status::text, attempts, next_retry_at, error_code, error_message, connected_at = now(), vps_host_id::text
     from public.trading_accounts where id = '00000000-0000-0000-0000-0000000000c5' $$,
  $$ values ('connected', 0, null::timestamptz, null::text, null::text, true, '00000000-0000-0000-0000-0000000000f1') $$,
  'entering connected resets attempts, clears error fields, stamps connected_at and keeps the host'
);
select lives_ok(
  $$ update public.trading_accounts set status = 'pending_vps_setup' where id = '00000000-0000-0000-0000-0000000000c5' $$,
  'account connected -> pending_vps_setup (system)'
);
select results_eq(
  $$ select vps_host_id, lease_expires_at, claimed_at, terminal_state::text from public.trading_accounts
     where id = '00000000-0000-0000-0000-0000000000c5' $$,
  $$ values (null::uuid, null::timestamptz, null::timestamptz, null::text) $$,
  'connected -> pending_vps_setup releases host, lease, claim and terminal state'
);
select ok(
  (select bool_and(updated_at = now()) from public.trading_accounts
   where id in ('00000000-0000-0000-0000-0000000000c1', '00000000-0000-0000-0000-0000000000c5')),
  'updated_at moves on update (it was an hour old)'
);

-- Accounts are never written directly by API roles: an account EA cannot set its status.
select tests.authenticate_as_account_ea('00000000-0000-0000-0000-000000000001', '00000000-0000-0000-0000-0000000000c6');
select throws_ok($$ update public.trading_accounts set status = 'disconnected' where id = '00000000-0000-0000-0000-0000000000c6' $$,
  '42501', null, 'the account EA cannot update its account directly');
select tests.authenticate_as('00000000-0000-0000-0000-000000000001');
select throws_ok($$ update public.trading_accounts set status = 'disconnected' where id = '00000000-0000-0000-0000-0000000000c6' $$,
  '42501', null, 'the owner cannot update their account directly');
select tests.clear_authentication();
select is(
  (select status from public.trading_accounts where id = '00000000-0000-0000-0000-0000000000c6'),
  'pending_vps_setup',
  'neither the account EA nor the owner can change an account status directly'
);

-- =============================================================================================
-- private.account_action, as the owner
-- =============================================================================================
-- c6 connected with a host; c7 in error (3 attempts); c8 pending, no host; c9 provisioning on f1.
update public.trading_accounts
set status = 'provisioning', vps_host_id = '00000000-0000-0000-0000-0000000000f1', lease_expires_at = now() + interval '3 minutes'
where id in ('00000000-0000-0000-0000-0000000000c6', '00000000-0000-0000-0000-0000000000c7', '00000000-0000-0000-0000-0000000000c9');
update public.trading_accounts set status = 'connected' where id = '00000000-0000-0000-0000-0000000000c6';
update public.trading_accounts set attempts = 2 where id = '00000000-0000-0000-0000-0000000000c7';
update public.trading_accounts set status = 'error', error_message = 'crash' where id = '00000000-0000-0000-0000-0000000000c7';

select tests.authenticate_as('00000000-0000-0000-0000-000000000001');
select results_eq(
  $$ select status::text, paused_at = now() from private.account_action('00000000-0000-0000-0000-0000000000c6', 'pause') $$,
  $$ values ('disconnected', true) $$,
  'pause: connected -> disconnected with paused_at set'
);
select results_eq(
  $$ select status::text, paused_at from private.account_action('00000000-0000-0000-0000-0000000000c6', 'resume') $$,
  $$ values ('pending_vps_setup', null::timestamptz) $$,
  'resume: back to pending_vps_setup, paused_at cleared'
);
select throws_ok(
  $$ select private.account_action('00000000-0000-0000-0000-0000000000c6', 'retry') $$,
  '23514', 'only an account in error can be retried (it is pending_vps_setup)',
  'retry is refused for an account that is not in error'
);
select results_eq(
  $$ select status::text, attempts, next_retry_at from private.account_action('00000000-0000-0000-0000-0000000000c7', 'retry') $$,
  $$ values ('pending_vps_setup', 0, null::timestamptz) $$,
  'retry: error -> pending_vps_setup with attempts reset'
);
select lives_ok(
  $$ select private.account_action('00000000-0000-0000-0000-0000000000c8', 'delete') $$,
  'delete an account that no host holds'
);
select lives_ok(
  $$ select private.account_action('00000000-0000-0000-0000-0000000000c9', 'delete') $$,
  'delete an account a host holds'
);
select throws_ok(
  $$ select private.account_action('00000000-0000-0000-0000-0000000000c9', 'pause') $$,
  'P0002', 'account not found',
  'a deleted account accepts no further action'
);
select throws_ok(
  $$ select private.account_action('00000000-0000-0000-0000-0000000000c6', 'frobnicate') $$,
  '22023', 'unknown action frobnicate',
  'an unknown action raises invalid_parameter_value'
);
select tests.authenticate_as('00000000-0000-0000-0000-000000000002');
select throws_ok(
  $$ select private.account_action('00000000-0000-0000-0000-0000000000c6', 'pause') $$,
  'P0002', 'account not found',
  'another user cannot act on the account'
);

select tests.clear_authentication();
select is(
  (select count(*)::int from public.trading_accounts where id = '00000000-0000-0000-0000-0000000000c8'),
  0,
  'delete removes an account no host holds at once'
);
select results_eq(
  $$ select deleted_at = now(), paused_at is not null, status::text, vps_host_id::text
     from public.trading_accounts where id = '00000000-0000-0000-0000-0000000000c9' $$,
  $$ values (true, true, 'provisioning', '00000000-0000-0000-0000-0000000000f1') $$,
  'delete of a held account only marks it (deleted_at) until the host tears it down'
);
select results_eq(
  $$ select status::text, paused_at from public.trading_accounts where id = '00000000-0000-0000-0000-0000000000c6' $$,
  $$ values ('pending_vps_setup', null::timestamptz) $$,
  'another user''s pause changed nothing'
);

select * from finish();
rollback;
