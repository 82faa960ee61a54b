-- VPS hosts: authentication, claiming accounts (private.claim_accounts) and heartbeats that renew
-- leases (private.vps_heartbeat). Concurrent claims (SKIP LOCKED) are tested in vitest with two
-- connections.
begin;
\ir helpers/setup.psql

select plan(41);

-- Start from empty domain tables (inside this transaction only, rolled back with it), so the
-- counts below are exact even on a cluster other test tiers have written to.
delete from auth.users;
delete from private.vps_hosts;
delete from private.seen_request_ids;

-- ---------------------------------------------------------------------------------------------
-- Fixtures (as the database owner).
--   hosts     f1 capacity 2 (key k1) | f2 capacity 5 (key k2) | f3 revoked (key k3)
--   accounts  c1..c7 pending, oldest first; c3 paused, c4 deleted; c9 disconnected (not pending)
insert into auth.users (id, aud, role, email) values
  ('00000000-0000-0000-0000-000000000001', 'authenticated', 'authenticated', 'vps-owner@example.test');
insert into public.brokers (id, name, platforms, rebate_per_lot) values
  ('00000000-0000-0000-0000-0000000000d1', 'VPS Broker', array['MT4', 'MT5'], 1);
insert into private.vps_hosts (id, name, key_hash, capacity, revoked_at) values
  ('00000000-0000-0000-0000-0000000000f1', 'pgtap-vps-1', encode(extensions.digest('k1', 'sha256'), 'hex'), 2, null),
  ('00000000-0000-0000-0000-0000000000f2', 'pgtap-vps-2', encode(extensions.digest('k2', 'sha256'), 'hex'), 5, null),
  ('00000000-0000-0000-0000-0000000000f3', 'pgtap-vps-3', encode(extensions.digest('k3', 'sha256'), 'hex'), 5, now() - interval '1 day');
insert into public.trading_accounts (id, user_id, broker_id, platform, login, server, created_at)
select ('00000000-0000-0000-0000-0000000000c' || n)::uuid, '00000000-0000-0000-0000-000000000001',
       '00000000-0000-0000-0000-0000000000d1', 'MT5', 6000 + n, 'VPS-Live', now() - make_interval(hours => 10 - n)
from generate_series(1, 9) n;
update public.trading_accounts set paused_at = now() where id = '00000000-0000-0000-0000-0000000000c3';
update public.trading_accounts set deleted_at = now() where id = '00000000-0000-0000-0000-0000000000c4';
update public.trading_accounts set status = 'disconnected' where id = '00000000-0000-0000-0000-0000000000c9';
-- c8 is kept out of the queue until later
update public.trading_accounts set status = 'disconnected' where id = '00000000-0000-0000-0000-0000000000c8';

-- =============================================================================================
-- private.authenticate_vps_host(key_hash)
-- =============================================================================================
select tests.authenticate_as_service_role();
select is(
  private.authenticate_vps_host(encode(extensions.digest('k1', 'sha256'), 'hex')),
  '00000000-0000-0000-0000-0000000000f1'::uuid,
  'authenticate: a known key hash returns its host'
);
select is(
  private.authenticate_vps_host(encode(extensions.digest('k2', 'sha256'), 'hex')),
  '00000000-0000-0000-0000-0000000000f2'::uuid,
  'authenticate: each key maps to its own host'
);
select is(
  private.authenticate_vps_host(encode(extensions.digest('nope', 'sha256'), 'hex')),
  null::uuid,
  'authenticate: an unknown key hash returns null'
);
select is(
  private.authenticate_vps_host(encode(extensions.digest('k3', 'sha256'), 'hex')),
  null::uuid,
  'authenticate: a revoked host returns null'
);
select tests.authenticate_as('00000000-0000-0000-0000-000000000001');
select throws_ok(
  $$ select private.authenticate_vps_host(encode(extensions.digest('k1', 'sha256'), 'hex')) $$,
  '42501', 'permission denied for function authenticate_vps_host',
  'authenticate: not callable by a signed-in user'
);
-- (unknown host ids: were the call allowed, it would fail with 'unknown VPS host' and change nothing)
select throws_ok(
  $$ select * from private.claim_accounts('00000000-0000-0000-0000-0000000000ff', 1) $$,
  '42501', 'permission denied for function claim_accounts',
  'claim: not callable by a signed-in user'
);
select throws_ok(
  $$ select private.vps_heartbeat('00000000-0000-0000-0000-0000000000ff', null, null) $$,
  '42501', 'permission denied for function vps_heartbeat',
  'heartbeat: not callable by a signed-in user'
);

-- =============================================================================================
-- private.claim_accounts(host, limit)   (as service_role, like the vps function)
-- =============================================================================================
select tests.authenticate_as_service_role();
select is_empty(
  $$ select * from private.claim_accounts('00000000-0000-0000-0000-0000000000f1', 0) $$,
  'claim: p_limit 0 returns nothing'
);
select is_empty(
  $$ select * from private.claim_accounts('00000000-0000-0000-0000-0000000000f1', -3) $$,
  'claim: a negative p_limit returns nothing'
);
select results_eq(
  $$ select id::text, status::text, vps_host_id::text from private.claim_accounts('00000000-0000-0000-0000-0000000000f1', 10) order by created_at $$,
  $$ values ('00000000-0000-0000-0000-0000000000c1', 'provisioning', '00000000-0000-0000-0000-0000000000f1'),
            ('00000000-0000-0000-0000-0000000000c2', 'provisioning', '00000000-0000-0000-0000-0000000000f1') $$,
  'claim: the oldest pending accounts first, never more than the host''s capacity (2)'
);
select results_eq(
  $$ select status::text, vps_host_id::text, lease_expires_at, claimed_at from public.trading_accounts
     where id in ('00000000-0000-0000-0000-0000000000c1', '00000000-0000-0000-0000-0000000000c2') $$,
  $$ select 'provisioning', '00000000-0000-0000-0000-0000000000f1',
            now() + make_interval(secs => private.setting('account_lease_seconds')), now()
     from generate_series(1, 2) $$,
  'claim: claimed accounts are provisioning, held by the host, leased for account_lease_seconds'
);
select is_empty(
  $$ select * from private.claim_accounts('00000000-0000-0000-0000-0000000000f1', 10) $$,
  'claim: a host at capacity gets nothing more'
);
select results_eq(
  $$ select id::text from private.claim_accounts('00000000-0000-0000-0000-0000000000f2', 1) $$,
  $$ values ('00000000-0000-0000-0000-0000000000c5') $$,
  'claim: a second host skips what the first holds, the paused and the deleted accounts, and honours p_limit'
);
select tests.clear_authentication();
update private.settings set value = 240 where key = 'account_lease_seconds';
select tests.authenticate_as_service_role();
select results_eq(
  $$ select id::text, lease_expires_at from private.claim_accounts('00000000-0000-0000-0000-0000000000f2', 10) order by created_at $$,
  $$ values ('00000000-0000-0000-0000-0000000000c6', now() + interval '240 seconds'),
            ('00000000-0000-0000-0000-0000000000c7', now() + interval '240 seconds') $$,
  'claim: takes what is left (only pending accounts) with the current lease setting'
);
select results_eq(
  $$ select id::text, status::text, vps_host_id from public.trading_accounts
     where id in ('00000000-0000-0000-0000-0000000000c3', '00000000-0000-0000-0000-0000000000c4', '00000000-0000-0000-0000-0000000000c9')
     order by id $$,
  $$ values ('00000000-0000-0000-0000-0000000000c3', 'pending_vps_setup', null::uuid),
            ('00000000-0000-0000-0000-0000000000c4', 'pending_vps_setup', null::uuid),
            ('00000000-0000-0000-0000-0000000000c9', 'disconnected', null::uuid) $$,
  'claim: paused, deleted and non-pending accounts were never claimed'
);
select results_eq(
  $$ select vps_host_id::text, count(*)::int from public.trading_accounts where vps_host_id is not null group by 1 order by 1 $$,
  $$ values ('00000000-0000-0000-0000-0000000000f1', 2), ('00000000-0000-0000-0000-0000000000f2', 3) $$,
  'claim: no account is held by two hosts'
);
select is_empty(
  $$ select * from private.claim_accounts('00000000-0000-0000-0000-0000000000f2', 10) $$,
  'claim: an empty queue returns nothing'
);
select throws_ok(
  $$ select * from private.claim_accounts('00000000-0000-0000-0000-0000000000f3', 1) $$,
  '42501', 'unknown VPS host',
  'claim: a revoked host is refused'
);
select throws_ok(
  $$ select * from private.claim_accounts('00000000-0000-0000-0000-0000000000ff', 1) $$,
  '42501', 'unknown VPS host',
  'claim: an unknown host is refused'
);

-- Free capacity is capacity minus what the host holds, whatever the state.
select tests.clear_authentication();
update public.trading_accounts set status = 'pending_vps_setup' where id = '00000000-0000-0000-0000-0000000000c8';
update public.trading_accounts set status = 'error' where id = '00000000-0000-0000-0000-0000000000c1';   -- releases the host
update public.trading_accounts set status = 'connected' where id = '00000000-0000-0000-0000-0000000000c2';
select tests.authenticate_as_service_role();
select results_eq(
  $$ select id::text from private.claim_accounts('00000000-0000-0000-0000-0000000000f1', 10) $$,
  $$ values ('00000000-0000-0000-0000-0000000000c8') $$,
  'claim: an account leaving the host (error) frees one slot'
);
select tests.clear_authentication();
update public.trading_accounts set status = 'disconnected', paused_at = now() where id = '00000000-0000-0000-0000-0000000000c8';
update public.trading_accounts set paused_at = null where id = '00000000-0000-0000-0000-0000000000c3';
select tests.authenticate_as_service_role();
select is_empty(
  $$ select * from private.claim_accounts('00000000-0000-0000-0000-0000000000f1', 10) $$,
  'claim: a paused account still held by the host still takes its slot'
);
select results_eq(
  $$ select id::text from private.claim_accounts('00000000-0000-0000-0000-0000000000f2', 10) $$,
  $$ values ('00000000-0000-0000-0000-0000000000c3') $$,
  'claim: a resumed account is claimable again'
);

-- Platforms: a host claims only what it can run (an MT4 account waits for an MT4 host).
select tests.clear_authentication();
insert into public.trading_accounts (id, user_id, broker_id, platform, login, server, created_at) values
  ('00000000-0000-0000-0000-0000000000e4', '00000000-0000-0000-0000-000000000001', '00000000-0000-0000-0000-0000000000d1',
   'MT4', 7004, 'VPS-Live', now() - interval '20 hours');
select tests.authenticate_as_service_role();
select is_empty(
  $$ select * from private.claim_accounts('00000000-0000-0000-0000-0000000000f2', 10, array['MT5']) $$,
  'claim: an MT5-only host does not take an MT4 account, however old'
);
select is_empty(
  $$ select * from private.claim_accounts('00000000-0000-0000-0000-0000000000f2', 10, array[]::text[]) $$,
  'claim: a host with no platform takes nothing'
);
select results_eq(
  $$ select id::text, platform::text from private.claim_accounts('00000000-0000-0000-0000-0000000000f2', 10, array['MT4']) $$,
  $$ values ('00000000-0000-0000-0000-0000000000e4', 'MT4') $$,
  'claim: an MT4 host takes it'
);
select tests.clear_authentication();
delete from public.trading_accounts where id = '00000000-0000-0000-0000-0000000000e4';  -- keep the counts below as they were
select tests.authenticate_as_service_role();

-- =============================================================================================
-- private.vps_heartbeat(host, version, capacity)
-- =============================================================================================
select tests.clear_authentication();
-- Leases that are about to run out (f2) or already ran out (f1, not reclaimed yet).
update public.trading_accounts set lease_expires_at = now() + interval '5 seconds'
where vps_host_id = '00000000-0000-0000-0000-0000000000f2';
update public.trading_accounts set lease_expires_at = now() - interval '1 minute'
where vps_host_id = '00000000-0000-0000-0000-0000000000f1';
update private.settings set value = 300 where key = 'account_lease_seconds';

select tests.authenticate_as_service_role();
select is(
  private.vps_heartbeat('00000000-0000-0000-0000-0000000000f2', '1.4.0', 7),
  4,
  'heartbeat: returns the number of leases renewed (the 4 accounts the host holds)'
);
select tests.clear_authentication();
select results_eq(
  $$ select last_heartbeat_at, version, capacity from private.vps_hosts where id = '00000000-0000-0000-0000-0000000000f2' $$,
  $$ values (now(), '1.4.0', 7) $$,
  'heartbeat: records the time, the agent version and the capacity'
);
select results_eq(
  $$ select count(*)::int, min(lease_expires_at), max(lease_expires_at) from public.trading_accounts
     where vps_host_id = '00000000-0000-0000-0000-0000000000f2' $$,
  $$ values (4, now() + interval '300 seconds', now() + interval '300 seconds') $$,
  'heartbeat: every lease of the host is renewed for account_lease_seconds'
);
select results_eq(
  $$ select count(*)::int, max(lease_expires_at) from public.trading_accounts
     where vps_host_id = '00000000-0000-0000-0000-0000000000f1' $$,
  $$ values (2, now() - interval '1 minute') $$,
  'heartbeat: another host''s leases are untouched'
);
select is(
  (select last_heartbeat_at from private.vps_hosts where id = '00000000-0000-0000-0000-0000000000f1'),
  null::timestamptz,
  'heartbeat: another host''s heartbeat time is untouched'
);
select is(
  (select status from public.trading_accounts where id = '00000000-0000-0000-0000-0000000000c2'),
  'connected',
  'heartbeat: renewing a lease does not change an account''s state'
);

select tests.authenticate_as_service_role();
select is(
  private.vps_heartbeat('00000000-0000-0000-0000-0000000000f1', null, null),
  2,
  'heartbeat: an expired lease not yet reclaimed is renewed too'
);
select tests.clear_authentication();
select results_eq(
  $$ select version, capacity, last_heartbeat_at from private.vps_hosts where id = '00000000-0000-0000-0000-0000000000f1' $$,
  $$ values (null::text, 2, now()) $$,
  'heartbeat: null version and capacity keep the stored values'
);
select is(private.reclaim_expired_leases(), 0, 'heartbeat: after it, the reclaim job finds no expired lease');

-- The new capacity is used by the next claim: f2 holds 4 of 7.
insert into public.trading_accounts (id, user_id, broker_id, platform, login, server)
select ('00000000-0000-0000-0000-0000000001c' || n)::uuid, '00000000-0000-0000-0000-000000000001',
       '00000000-0000-0000-0000-0000000000d1', 'MT5', 6100 + n, 'VPS-Live'
from generate_series(1, 5) n;
select tests.authenticate_as_service_role();
select is(
  (select count(*)::int from private.claim_accounts('00000000-0000-0000-0000-0000000000f2', 10)),
  3,
  'heartbeat: the reported capacity bounds the next claim'
);
select throws_ok(
  $$ select private.vps_heartbeat('00000000-0000-0000-0000-0000000000f3', '1.4.0', 5) $$,
  '42501', 'unknown VPS host',
  'heartbeat: a revoked host is refused'
);
select throws_ok(
  $$ select private.vps_heartbeat('00000000-0000-0000-0000-0000000000ff', '1.4.0', 5) $$,
  '42501', 'unknown VPS host',
  'heartbeat: an unknown host is refused'
);
select tests.clear_authentication();
select is(
  (select last_heartbeat_at from private.vps_hosts where id = '00000000-0000-0000-0000-0000000000f3'),
  null::timestamptz,
  'heartbeat: the revoked host''s row is untouched'
);

-- A host stops heartbeating: its leases run out and the accounts return to the queue.
update public.trading_accounts set lease_expires_at = now() - interval '1 second'
where vps_host_id = '00000000-0000-0000-0000-0000000000f2';
select is(private.reclaim_expired_leases(), 7, 'lease expiry: the silent host''s accounts are requeued');
select is(
  (select count(*)::int from public.trading_accounts where vps_host_id = '00000000-0000-0000-0000-0000000000f2'),
  0,
  'lease expiry: the silent host holds nothing any more'
);
select tests.authenticate_as_service_role();
select is(
  (select count(*)::int from private.claim_accounts('00000000-0000-0000-0000-0000000000f2', 10)),
  7,
  'lease expiry: the requeued accounts can be claimed again'
);
select tests.clear_authentication();

select * from finish();
rollback;
