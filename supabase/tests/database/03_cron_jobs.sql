-- The pg_cron jobs, each called directly: what must change, and what must not.
begin;
\ir helpers/setup.psql

select plan(53);

-- Start from empty domain tables (inside this transaction only, rolled back with it), so the
-- counts below are exact even on a cluster other test tiers have written to.
delete from auth.users;
delete from private.vps_hosts;
delete from private.seen_request_ids;

-- ---------------------------------------------------------------------------------------------
-- Fixtures (as the database owner).
insert into auth.users (id, aud, role, email) values
  ('00000000-0000-0000-0000-000000000001', 'authenticated', 'authenticated', 'cron-owner@example.test'),
  ('00000000-0000-0000-0000-000000000002', 'authenticated', 'authenticated', 'cron-other@example.test');
insert into public.ea_keys (id, user_id, name) values
  ('00000000-0000-0000-0000-0000000000e1', '00000000-0000-0000-0000-000000000001', 'cron key');
insert into public.brokers (id, name, platforms, rebate_per_lot) values
  ('00000000-0000-0000-0000-0000000000d1', 'Cron Broker', array['MT4', 'MT5'], 1);
insert into private.vps_hosts (id, name, key_hash, capacity) values
  ('00000000-0000-0000-0000-0000000000f1', 'cron-host-1', encode(extensions.digest('cron-k1', 'sha256'), 'hex'), 10),
  ('00000000-0000-0000-0000-0000000000f2', 'cron-host-2', encode(extensions.digest('cron-k2', 'sha256'), 'hex'), 10);

-- The jobs run as the owner (pg_cron); no signed-in user may run them.
select is_empty(
  $$ select p::text from unnest(array[
       'private.sweep_stale_sessions()', 'private.expire_signals()', 'private.retry_errored_accounts()',
       'private.reclaim_expired_leases()', 'private.disconnect_silent_accounts()', 'private.settle_cashback(date)',
       'private.cleanup_seen_request_ids()', 'private.cleanup_cron_history()', 'private.maintain_snapshot_partitions()'
     ]::regprocedure[]) p
     where has_function_privilege('authenticated', p, 'execute') or has_function_privilege('anon', p, 'execute') $$,
  'the cron functions are not executable by anon or authenticated'
);

-- =============================================================================================
-- private.sweep_stale_sessions()   (default ping interval 30 s, multiplier 3 => 90 s)
-- =============================================================================================
insert into public.mt5_sessions (id, user_id, ea_key_id, account_number, broker, server, currency, leverage,
                                 ping_interval_seconds, last_ping_at) values
  -- silent for 10 minutes: stale
  ('00000000-0000-0000-0000-0000000000a1', '00000000-0000-0000-0000-000000000001', '00000000-0000-0000-0000-0000000000e1',
   2001, 'Cron Broker', 'Cron-Live', 'USD', 100, 30, now() - interval '10 minutes'),
  -- pinged a minute ago: fresh
  ('00000000-0000-0000-0000-0000000000a2', '00000000-0000-0000-0000-000000000001', '00000000-0000-0000-0000-0000000000e1',
   2002, 'Cron Broker', 'Cron-Live', 'USD', 100, 30, now() - interval '60 seconds'),
  -- silent for 10 minutes but pings every 5 minutes (limit 15 minutes): fresh
  ('00000000-0000-0000-0000-0000000000a3', '00000000-0000-0000-0000-000000000001', '00000000-0000-0000-0000-0000000000e1',
   2003, 'Cron Broker', 'Cron-Live', 'USD', 100, 300, now() - interval '10 minutes'),
  -- will be disconnected, silent for an hour
  ('00000000-0000-0000-0000-0000000000a4', '00000000-0000-0000-0000-000000000001', '00000000-0000-0000-0000-0000000000e1',
   2004, 'Cron Broker', 'Cron-Live', 'USD', 100, 30, now() - interval '1 hour');
update public.mt5_sessions set status = 'disconnected', disconnected_at = now() - interval '1 hour'
where id = '00000000-0000-0000-0000-0000000000a4';

-- The multiplier is a live setting: with 25 x 30 s = 750 s nothing is stale yet.
update private.settings set value = 25 where key = 'session_stale_multiplier';
select is(private.sweep_stale_sessions(), 0, 'sweep: honours session_stale_multiplier (750 s limit, nothing stale)');
update private.settings set value = 3 where key = 'session_stale_multiplier';
select is(private.sweep_stale_sessions(), 1, 'sweep: returns the number of sessions marked stale');
select results_eq(
  $$ select id::text, status::text from public.mt5_sessions where account_number between 2001 and 2004 order by account_number $$,
  $$ values ('00000000-0000-0000-0000-0000000000a1', 'stale'),
            ('00000000-0000-0000-0000-0000000000a2', 'active'),
            ('00000000-0000-0000-0000-0000000000a3', 'active'),
            ('00000000-0000-0000-0000-0000000000a4', 'disconnected') $$,
  'sweep: only the active session silent past interval x multiplier became stale'
);
select is(
  (select disconnected_at from public.mt5_sessions where id = '00000000-0000-0000-0000-0000000000a4'),
  now() - interval '1 hour',
  'sweep: a disconnected session is untouched'
);
select is(private.sweep_stale_sessions(), 0, 'sweep: a second run finds nothing');

-- =============================================================================================
-- private.expire_signals()
-- =============================================================================================
insert into public.trading_signals (id, user_id, session_id, type, symbol, volume, expires_at, status_message) values
  ('00000000-0000-0000-0000-0000000000b1', '00000000-0000-0000-0000-000000000001', '00000000-0000-0000-0000-0000000000a2',
   'BUY', 'EURUSD', 0.1, now() - interval '1 second', null),
  ('00000000-0000-0000-0000-0000000000b2', '00000000-0000-0000-0000-000000000001', '00000000-0000-0000-0000-0000000000a2',
   'BUY', 'EURUSD', 0.1, now() + interval '1 hour', null),
  ('00000000-0000-0000-0000-0000000000b3', '00000000-0000-0000-0000-000000000001', '00000000-0000-0000-0000-0000000000a2',
   'BUY', 'EURUSD', 0.1, null, null),
  ('00000000-0000-0000-0000-0000000000b4', '00000000-0000-0000-0000-000000000001', '00000000-0000-0000-0000-0000000000a2',
   'SELL', 'EURUSD', 0.1, now() - interval '1 minute', null),
  ('00000000-0000-0000-0000-0000000000b5', '00000000-0000-0000-0000-000000000001', '00000000-0000-0000-0000-0000000000a2',
   'SELL', 'GBPUSD', 0.2, now() - interval '1 day', 'market order for the open');
update public.trading_signals set status = 'DELIVERED' where id = '00000000-0000-0000-0000-0000000000b4';

select is(private.expire_signals(), 2, 'expire: returns the number of signals expired');
select results_eq(
  $$ select id::text, status, status_message, completed_at is not null
     from public.trading_signals where session_id = '00000000-0000-0000-0000-0000000000a2' order by id $$,
  $$ values ('00000000-0000-0000-0000-0000000000b1', 'EXPIRED', 'expired before delivery', true),
            ('00000000-0000-0000-0000-0000000000b2', 'PENDING', null, false),
            ('00000000-0000-0000-0000-0000000000b3', 'PENDING', null, false),
            ('00000000-0000-0000-0000-0000000000b4', 'DELIVERED', null, false),
            ('00000000-0000-0000-0000-0000000000b5', 'EXPIRED', 'market order for the open', true) $$,
  'expire: only PENDING past expires_at expire (message set, an existing one kept); future, no expiry, DELIVERED untouched'
);
select is(private.expire_signals(), 0, 'expire: a second run finds nothing');

-- =============================================================================================
-- private.retry_errored_accounts()
-- =============================================================================================
-- c11 error, backoff elapsed | c12 error, backoff running | c13 error at the attempt limit
-- c14 error, elapsed but paused | c15 error, elapsed but deleted (still held by a host)
insert into public.trading_accounts (id, user_id, broker_id, platform, login, server)
select ('00000000-0000-0000-0000-000000000c1' || n)::uuid, '00000000-0000-0000-0000-000000000001',
       '00000000-0000-0000-0000-0000000000d1', 'MT5', 8010 + n, 'Cron-Live'
from generate_series(1, 5) n;
update public.trading_accounts set status = 'provisioning', vps_host_id = '00000000-0000-0000-0000-0000000000f1',
  lease_expires_at = now() + interval '3 minutes'
where id::text like '00000000-0000-0000-0000-000000000c1_';
update public.trading_accounts set attempts = private.setting('account_retry_max_attempts')::int - 1
where id = '00000000-0000-0000-0000-000000000c13';
update public.trading_accounts set status = 'error', error_message = 'login failed'
where id::text like '00000000-0000-0000-0000-000000000c1_' and id <> '00000000-0000-0000-0000-000000000c15';
-- c15 is marked deleted (and nothing else) while its host still holds it, then errors out: a
-- deleted account is never requeued.
update public.trading_accounts set deleted_at = now() where id = '00000000-0000-0000-0000-000000000c15';
update public.trading_accounts set status = 'error' where id = '00000000-0000-0000-0000-000000000c15';
update public.trading_accounts set next_retry_at = now() - interval '1 second'
where id in ('00000000-0000-0000-0000-000000000c11', '00000000-0000-0000-0000-000000000c14', '00000000-0000-0000-0000-000000000c15');
update public.trading_accounts set paused_at = now() where id = '00000000-0000-0000-0000-000000000c14';

select is(
  (select next_retry_at from public.trading_accounts where id = '00000000-0000-0000-0000-000000000c13'),
  null::timestamptz,
  'retry: an account at the attempt limit has no next_retry_at'
);
select is(private.retry_errored_accounts(), 1, 'retry: returns the number of accounts requeued');
select results_eq(
  $$ select id::text, status::text, next_retry_at is null from public.trading_accounts
     where id::text like '00000000-0000-0000-0000-000000000c1_' order by id $$,
  $$ values ('00000000-0000-0000-0000-000000000c11', 'pending_vps_setup', true),
            ('00000000-0000-0000-0000-000000000c12', 'error', false),
            ('00000000-0000-0000-0000-000000000c13', 'error', true),
            ('00000000-0000-0000-0000-000000000c14', 'error', false),
            ('00000000-0000-0000-0000-000000000c15', 'error', false) $$,
  'retry: only the unpaused, undeleted error past next_retry_at is requeued'
);
select is(
  (select attempts from public.trading_accounts where id = '00000000-0000-0000-0000-000000000c11'),
  1,
  'retry: requeueing keeps the attempt count (backoff continues)'
);

-- Backoff grows: c16 (the oldest pending, so each claim takes it) cycles
-- error -> retry -> provisioning (claim) -> error three times.
insert into public.trading_accounts (id, user_id, broker_id, platform, login, server, created_at) values
  ('00000000-0000-0000-0000-000000000c16', '00000000-0000-0000-0000-000000000001', '00000000-0000-0000-0000-0000000000d1',
   'MT5', 8016, 'Cron-Live', now() - interval '1 day');
create temp table backoff (round int, attempts int, delay interval, claimed_by uuid);

select is(
  (select id::text from private.claim_accounts('00000000-0000-0000-0000-0000000000f1', 1)),
  '00000000-0000-0000-0000-000000000c16',
  'backoff: the host claims the account'
);
update public.trading_accounts set status = 'error' where id = '00000000-0000-0000-0000-000000000c16';
insert into backoff select 1, attempts, next_retry_at - now(), vps_host_id from public.trading_accounts
where id = '00000000-0000-0000-0000-000000000c16';
update public.trading_accounts set next_retry_at = now() - interval '1 second' where id = '00000000-0000-0000-0000-000000000c16';
select is(private.retry_errored_accounts(), 1, 'backoff: round 1 requeued');

select is(
  (select id::text from private.claim_accounts('00000000-0000-0000-0000-0000000000f1', 1)),
  '00000000-0000-0000-0000-000000000c16',
  'backoff: claimed again'
);
update public.trading_accounts set status = 'error' where id = '00000000-0000-0000-0000-000000000c16';
insert into backoff select 2, attempts, next_retry_at - now(), vps_host_id from public.trading_accounts
where id = '00000000-0000-0000-0000-000000000c16';
update public.trading_accounts set next_retry_at = now() - interval '1 second' where id = '00000000-0000-0000-0000-000000000c16';
select is(private.retry_errored_accounts(), 1, 'backoff: round 2 requeued');

select is(
  (select id::text from private.claim_accounts('00000000-0000-0000-0000-0000000000f1', 1)),
  '00000000-0000-0000-0000-000000000c16',
  'backoff: claimed a third time'
);
update public.trading_accounts set status = 'error' where id = '00000000-0000-0000-0000-000000000c16';
insert into backoff select 3, attempts, next_retry_at - now(), vps_host_id from public.trading_accounts
where id = '00000000-0000-0000-0000-000000000c16';

select results_eq(
  $$ select round, attempts, abs(extract(epoch from delay) - b.base * power(2, round - 1)) < 1, claimed_by
     from backoff, (select private.setting('account_retry_base_seconds')::float8 as base) b order by round $$,
  $$ values (1, 1, true, null::uuid), (2, 2, true, null::uuid), (3, 3, true, null::uuid) $$,
  'backoff: attempts 1, 2, 3 with delays base, 2 x base, 4 x base, and the host released each time'
);

-- The delay is capped by account_retry_max_delay_seconds.
update private.settings set value = 100 where key = 'account_retry_max_delay_seconds';
update public.trading_accounts set status = 'pending_vps_setup' where id = '00000000-0000-0000-0000-000000000c12';
update public.trading_accounts set status = 'provisioning' where id = '00000000-0000-0000-0000-000000000c12';
update public.trading_accounts set status = 'error' where id = '00000000-0000-0000-0000-000000000c12';
select results_eq(
  $$ select attempts, next_retry_at from public.trading_accounts where id = '00000000-0000-0000-0000-000000000c12' $$,
  $$ values (2, now() + interval '100 seconds') $$,
  'backoff: the delay never exceeds account_retry_max_delay_seconds'
);

-- =============================================================================================
-- private.reclaim_expired_leases()   (host f2)
-- =============================================================================================
-- c21 provisioning, lease expired       c22 connected, lease expired
-- c23 provisioning, lease running       c24 paused (disconnected), lease expired
-- c25 deleted, lease expired            c26 deleted, lease running
-- c27 silent (disconnected, not paused), lease expired
insert into public.trading_accounts (id, user_id, broker_id, platform, login, server)
select ('00000000-0000-0000-0000-000000000c2' || n)::uuid, '00000000-0000-0000-0000-000000000001',
       '00000000-0000-0000-0000-0000000000d1', 'MT5', 8020 + n, 'Cron-Live'
from generate_series(1, 7) n;
update public.trading_accounts set status = 'provisioning', vps_host_id = '00000000-0000-0000-0000-0000000000f2',
  lease_expires_at = now() + interval '3 minutes'
where id::text like '00000000-0000-0000-0000-000000000c2_';
update public.trading_accounts set status = 'connected'
where id in ('00000000-0000-0000-0000-000000000c22', '00000000-0000-0000-0000-000000000c27');
update public.trading_accounts set status = 'disconnected'
where id in ('00000000-0000-0000-0000-000000000c24', '00000000-0000-0000-0000-000000000c27');
update public.trading_accounts set paused_at = now() where id = '00000000-0000-0000-0000-000000000c24';
update public.trading_accounts set deleted_at = now(), paused_at = now()
where id in ('00000000-0000-0000-0000-000000000c25', '00000000-0000-0000-0000-000000000c26');
update public.trading_accounts set lease_expires_at = now() - interval '1 minute'
where id::text like '00000000-0000-0000-0000-000000000c2_'
  and id not in ('00000000-0000-0000-0000-000000000c23', '00000000-0000-0000-0000-000000000c26');

select is(private.reclaim_expired_leases(), 3, 'reclaim: returns the number of accounts requeued');
select results_eq(
  $$ select id::text, status::text, vps_host_id::text, lease_expires_at is null
     from public.trading_accounts where id::text like '00000000-0000-0000-0000-000000000c2_' order by id $$,
  $$ values ('00000000-0000-0000-0000-000000000c21', 'pending_vps_setup', null, true),
            ('00000000-0000-0000-0000-000000000c22', 'pending_vps_setup', null, true),
            ('00000000-0000-0000-0000-000000000c23', 'provisioning', '00000000-0000-0000-0000-0000000000f2', false),
            ('00000000-0000-0000-0000-000000000c24', 'disconnected', null, true),
            ('00000000-0000-0000-0000-000000000c26', 'provisioning', '00000000-0000-0000-0000-0000000000f2', false),
            ('00000000-0000-0000-0000-000000000c27', 'pending_vps_setup', null, true) $$,
  'reclaim: expired leases requeue (host cleared), a running lease stays, a paused account only loses its host, an expired deleted account is gone'
);
select is(
  (select paused_at is not null from public.trading_accounts where id = '00000000-0000-0000-0000-000000000c24'),
  true,
  'reclaim: the paused account stays paused'
);
select is(private.reclaim_expired_leases(), 0, 'reclaim: a second run finds nothing');

-- =============================================================================================
-- private.disconnect_silent_accounts()   (account_silent_seconds = 600)
-- =============================================================================================
-- c31 connected, last seen 11 min ago    c32 connected, last seen 1 min ago
-- c33 connected 20 min ago, never seen   c34 paused (disconnected), last seen an hour ago
-- c35 user 2, connected, last seen 11 min ago
insert into public.trading_accounts (id, user_id, broker_id, platform, login, server)
select ('00000000-0000-0000-0000-000000000c3' || n)::uuid,
       case when n = 5 then '00000000-0000-0000-0000-000000000002' else '00000000-0000-0000-0000-000000000001' end::uuid,
       '00000000-0000-0000-0000-0000000000d1', 'MT5', 8030 + n, 'Cron-Live'
from generate_series(1, 5) n;
update public.trading_accounts set status = 'provisioning', vps_host_id = '00000000-0000-0000-0000-0000000000f1',
  lease_expires_at = now() + interval '3 minutes'
where id::text like '00000000-0000-0000-0000-000000000c3_';
update public.trading_accounts set status = 'connected' where id::text like '00000000-0000-0000-0000-000000000c3_';
update public.trading_accounts set status = 'disconnected', paused_at = now() where id = '00000000-0000-0000-0000-000000000c34';
-- they connected an hour ago
update public.trading_accounts set connected_at = now() - interval '1 hour' where id::text like '00000000-0000-0000-0000-000000000c3_';
update public.trading_accounts set last_seen_at = now() - interval '11 minutes'
where id in ('00000000-0000-0000-0000-000000000c31', '00000000-0000-0000-0000-000000000c35');
update public.trading_accounts set last_seen_at = now() - interval '1 minute' where id = '00000000-0000-0000-0000-000000000c32';
-- (connecting stamps last_seen_at; c33's EA has not reported since it connected 20 minutes ago)
update public.trading_accounts set connected_at = now() - interval '20 minutes', last_seen_at = null where id = '00000000-0000-0000-0000-000000000c33';
update public.trading_accounts set last_seen_at = now() - interval '1 hour' where id = '00000000-0000-0000-0000-000000000c34';

select is(private.disconnect_silent_accounts(), 3, 'silent: returns the number of accounts disconnected');
select results_eq(
  $$ select id::text, status::text from public.trading_accounts where id::text like '00000000-0000-0000-0000-000000000c3_' order by id $$,
  $$ values ('00000000-0000-0000-0000-000000000c31', 'disconnected'),
            ('00000000-0000-0000-0000-000000000c32', 'connected'),
            ('00000000-0000-0000-0000-000000000c33', 'disconnected'),
            ('00000000-0000-0000-0000-000000000c34', 'disconnected'),
            ('00000000-0000-0000-0000-000000000c35', 'disconnected') $$,
  'silent: connected accounts silent past account_silent_seconds are disconnected, a recent one stays connected'
);
select results_eq(
  $$ select account_id::text, user_id::text, kind::text, title from public.notifications order by account_id $$,
  $$ values ('00000000-0000-0000-0000-000000000c31', '00000000-0000-0000-0000-000000000001', 'account_disconnected', 'Account 8031 went silent'),
            ('00000000-0000-0000-0000-000000000c33', '00000000-0000-0000-0000-000000000001', 'account_disconnected', 'Account 8033 went silent'),
            ('00000000-0000-0000-0000-000000000c35', '00000000-0000-0000-0000-000000000002', 'account_disconnected', 'Account 8035 went silent') $$,
  'silent: one account_disconnected notification per disconnected account, for its owner'
);
select ok(
  (select body like '%8031@Cron-Live%' || to_char((now() - interval '11 minutes') at time zone 'utc', 'YYYY-MM-DD HH24:MI') || ' UTC.'
   from public.notifications where account_id = '00000000-0000-0000-0000-000000000c31'),
  'silent: the notification says when the EA was last seen'
);
select is(
  (select paused_at from public.trading_accounts where id = '00000000-0000-0000-0000-000000000c34'),
  now(),
  'silent: the paused account is untouched'
);
select is(private.disconnect_silent_accounts(), 0, 'silent: a second run disconnects and notifies nothing more');
select is((select count(*)::int from public.notifications), 3, 'silent: no duplicate notifications');

-- c36: silent an hour ago, disconnected, then reconnected just now (a new terminal launch). Its
-- last_seen_at is from the previous connection; the fresh connection gets the full silent window.
insert into public.trading_accounts (id, user_id, broker_id, platform, login, server) values
  ('00000000-0000-0000-0000-000000000c36', '00000000-0000-0000-0000-000000000001', '00000000-0000-0000-0000-0000000000d1',
   'MT5', 8036, 'Cron-Live');
update public.trading_accounts set status = 'provisioning', vps_host_id = '00000000-0000-0000-0000-0000000000f1',
  lease_expires_at = now() + interval '3 minutes' where id = '00000000-0000-0000-0000-000000000c36';
update public.trading_accounts set status = 'connected' where id = '00000000-0000-0000-0000-000000000c36';
update public.trading_accounts set last_seen_at = now() - interval '1 hour' where id = '00000000-0000-0000-0000-000000000c36';
update public.trading_accounts set status = 'disconnected' where id = '00000000-0000-0000-0000-000000000c36';
update public.trading_accounts set status = 'connected' where id = '00000000-0000-0000-0000-000000000c36';
select is(private.disconnect_silent_accounts(), 0, 'silent: an account reconnected just now is not disconnected');
select is(
  (select status from public.trading_accounts where id = '00000000-0000-0000-0000-000000000c36'),
  'connected',
  'silent: a last_seen_at from the previous connection does not count against a fresh connection'
);

-- =============================================================================================
-- Replay protection: private.remember_request_id / private.cleanup_seen_request_ids()
-- =============================================================================================
select is(private.remember_request_id('key-1', 'req-1'), true, 'remember: a new id is accepted');
select is(private.remember_request_id('key-1', 'req-1'), false, 'remember: the same id for the same credential is a replay');
select is(private.remember_request_id('key-2', 'req-1'), true, 'remember: the same id under another credential is new');
select is(
  (select expires_at from private.seen_request_ids where credential_id = 'key-1' and request_id = 'req-1'),
  now() + make_interval(secs => private.setting('seen_request_ttl_seconds')),
  'remember: kept for seen_request_ttl_seconds'
);
insert into private.seen_request_ids (credential_id, request_id, seen_at, expires_at) values
  ('key-1', 'req-old', now() - interval '1 hour', now() - interval '1 second'),
  ('key-3', 'req-old', now() - interval '1 day', now() - interval '23 hours');
select is(private.cleanup_seen_request_ids(), 2, 'cleanup ids: returns the number of expired ids removed');
select results_eq(
  $$ select credential_id, request_id from private.seen_request_ids order by 1, 2 $$,
  $$ values ('key-1', 'req-1'), ('key-2', 'req-1') $$,
  'cleanup ids: expired ids are gone, live ones kept'
);
select is(private.remember_request_id('key-1', 'req-old'), true, 'remember: an id whose memory expired is accepted again');
select is(private.remember_request_id('key-1', 'req-1'), false, 'remember: a live id is still a replay after cleanup');

-- =============================================================================================
-- private.cleanup_cron_history()   (cron_history_days = 7)
-- =============================================================================================
insert into cron.job_run_details (jobid, job_pid, database, username, command, status, return_message, start_time, end_time) values
  (0, 1, 'postgres', 'postgres', 'select 03_cron_jobs_test_30d', 'succeeded', '1 row', now() - interval '30 days', now() - interval '30 days'),
  (0, 1, 'postgres', 'postgres', 'select 03_cron_jobs_test_8d',  'succeeded', '1 row', now() - interval '8 days',  now() - interval '8 days'),
  (0, 1, 'postgres', 'postgres', 'select 03_cron_jobs_test_6d',  'succeeded', '1 row', now() - interval '6 days',  now() - interval '6 days'),
  (0, 1, 'postgres', 'postgres', 'select 03_cron_jobs_test_1h',  'succeeded', '1 row', now() - interval '1 hour',  now() - interval '1 hour');
select count(*) as old_cron_rows from cron.job_run_details where end_time < now() - interval '7 days' \gset
select is(:old_cron_rows::int >= 2, true, 'cron history: the two old rows are there before the cleanup');
select is(private.cleanup_cron_history(), :old_cron_rows::int, 'cron history: returns the number of rows deleted');
select results_eq(
  $$ select command from cron.job_run_details where command like 'select 03_cron_jobs_test_%' order by start_time $$,
  $$ values ('select 03_cron_jobs_test_6d'), ('select 03_cron_jobs_test_1h') $$,
  'cron history: rows older than cron_history_days are deleted, recent ones kept'
);

-- =============================================================================================
-- private.maintain_snapshot_partitions()
-- =============================================================================================
-- Partitions from the past: far too old, one day too old, exactly at the retention limit.
create table private.account_snapshots_p20000101 partition of public.account_snapshots
  for values from ('2000-01-01') to ('2000-01-02');
do $$
declare
  d date;
begin
  foreach d in array array[(now() at time zone 'utc')::date - 31, (now() at time zone 'utc')::date - 30] loop
    execute format('create table private.%I partition of public.account_snapshots for values from (%L) to (%L)',
      'account_snapshots_p' || to_char(d, 'YYYYMMDD'),
      d::timestamp at time zone 'utc', (d + 1)::timestamp at time zone 'utc');
  end loop;
end
$$;

-- Ten days ahead from now on; a snapshot 9 days ahead arrives before its partition exists.
update private.settings set value = 10 where key = 'snapshot_partitions_ahead_days';
insert into public.account_snapshots (session_id, user_id, captured_at, balance, equity) values
  ('00000000-0000-0000-0000-0000000000a2', '00000000-0000-0000-0000-000000000001',
   ((now() at time zone 'utc')::date + 9)::timestamp at time zone 'utc' + interval '1 hour', 1000, 1000);
select is(
  (select tableoid::regclass::text from public.account_snapshots where session_id = '00000000-0000-0000-0000-0000000000a2'),
  'private.account_snapshots_default',
  'partitions: a snapshot for a day without partition lands in the default partition'
);

-- Expected: every missing day from yesterday to 10 days ahead is created, and the two partitions
-- older than the 30-day retention are dropped.
select count(*) as missing_days
from generate_series((now() at time zone 'utc')::date - 1, (now() at time zone 'utc')::date + 10, interval '1 day') d
where to_regclass('private.account_snapshots_p' || to_char(d, 'YYYYMMDD')) is null \gset
select ok(:missing_days >= 3, 'partitions: days 8 to 10 ahead are missing before the run');
select is(private.maintain_snapshot_partitions(), :missing_days::int + 2,
  'partitions: returns the number of partitions created plus dropped');

select is(
  (select count(*)::int
   from generate_series((now() at time zone 'utc')::date, (now() at time zone 'utc')::date + 10, interval '1 day') d
   join pg_class c on c.oid = to_regclass('private.account_snapshots_p' || to_char(d, 'YYYYMMDD'))
   join pg_inherits i on i.inhrelid = c.oid and i.inhparent = 'public.account_snapshots'::regclass),
  11,
  'partitions: today and the next snapshot_partitions_ahead_days days exist, attached to account_snapshots'
);
select results_eq(
  $$ select to_regclass('private.account_snapshots_p20000101') is null,
            to_regclass('private.account_snapshots_p' || to_char((now() at time zone 'utc')::date - 31, 'YYYYMMDD')) is null,
            to_regclass('private.account_snapshots_p' || to_char((now() at time zone 'utc')::date - 30, 'YYYYMMDD')) is not null $$,
  $$ values (true, true, true) $$,
  'partitions: partitions older than snapshot_retention_days are dropped, the one at the limit is kept'
);
select is(
  (select tableoid::regclass::text from public.account_snapshots where session_id = '00000000-0000-0000-0000-0000000000a2'),
  'private.account_snapshots_p' || to_char((now() at time zone 'utc')::date + 9, 'YYYYMMDD'),
  'partitions: the row the default partition caught was moved into its new partition'
);
select is(
  (select count(*)::int from private.account_snapshots_default),
  0,
  'partitions: the default partition is empty again'
);
insert into public.account_snapshots (session_id, user_id, captured_at, balance, equity) values
  ('00000000-0000-0000-0000-0000000000a2', '00000000-0000-0000-0000-000000000001',
   ((now() at time zone 'utc')::date + 11)::timestamp at time zone 'utc' - interval '1 microsecond', 1000, 1000),
  ('00000000-0000-0000-0000-0000000000a2', '00000000-0000-0000-0000-000000000001',
   ((now() at time zone 'utc')::date + 10)::timestamp at time zone 'utc', 1000, 1000);
select results_eq(
  $$ select tableoid::regclass::text from public.account_snapshots
     where session_id = '00000000-0000-0000-0000-0000000000a2' order by captured_at $$,
  $$ select 'private.account_snapshots_p' || to_char((now() at time zone 'utc')::date + d, 'YYYYMMDD')
     from (values (9), (10), (10)) v(d) $$,
  'partitions: the new partitions cover whole UTC days'
);
select is(private.maintain_snapshot_partitions(), 0, 'partitions: a second run has nothing to do');

select * from finish();
rollback;
