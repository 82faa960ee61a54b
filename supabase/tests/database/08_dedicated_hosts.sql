-- Dedicated VPS hosts (private.vps_hosts.dedicated_user_id): a host dedicated to a user claims
-- only that user's accounts, and shared hosts leave that user's accounts to it while it is not
-- revoked. The story: Alice has her own host; Bob relies on the shared pool.
begin;
\ir helpers/setup.psql

select plan(10);

delete from auth.users;
delete from private.vps_hosts;

create temporary table people as
select tests.create_user('alice@example.test') as alice, tests.create_user('bob@example.test') as bob;
grant select on people to service_role;

insert into public.brokers (id, name, platforms, rebate_per_lot) values
  ('00000000-0000-0000-0000-0000000008d1', 'Dedicated Broker', array['MT4', 'MT5'], 1);
insert into private.vps_hosts (id, name, key_hash, capacity, dedicated_user_id)
select '00000000-0000-0000-0000-0000000008a1'::uuid, 'alices-own-vps', encode(extensions.digest('ka', 'sha256'), 'hex'), 10, alice from people
union all
select '00000000-0000-0000-0000-0000000008f1'::uuid, 'shared-vps', encode(extensions.digest('ks', 'sha256'), 'hex'), 10, null;
-- Queued oldest first: Bob's b1, Alice's a1, Bob's b2, Alice's a2.
insert into public.trading_accounts (id, user_id, broker_id, platform, login, server, created_at)
select v.id::uuid, case v.who when 'a' then p.alice else p.bob end, '00000000-0000-0000-0000-0000000008d1', 'MT5', v.login, 'Dedicated-Live', now() - make_interval(mins => v.age)
from people p, (values ('00000000-0000-0000-0000-0000000008b1', 'b', 8001, 40),
                       ('00000000-0000-0000-0000-0000000008a1', 'a', 8002, 30),
                       ('00000000-0000-0000-0000-0000000008b2', 'b', 8003, 20),
                       ('00000000-0000-0000-0000-0000000008a2', 'a', 8004, 10)) as v(id, who, login, age);

select has_column('private', 'vps_hosts', 'dedicated_user_id', 'a host can be dedicated to a user');

select tests.authenticate_as_service_role();
select results_eq(
  $$ select id::text from private.claim_accounts('00000000-0000-0000-0000-0000000008a1', 10) order by created_at $$,
  $$ values ('00000000-0000-0000-0000-0000000008a1'), ('00000000-0000-0000-0000-0000000008a2') $$,
  'a dedicated host claims its user''s accounts and nobody else''s, oldest first'
);
select results_eq(
  $$ select id::text, status::text from public.trading_accounts where user_id = (select bob from people) order by created_at $$,
  $$ values ('00000000-0000-0000-0000-0000000008b1', 'pending_vps_setup'), ('00000000-0000-0000-0000-0000000008b2', 'pending_vps_setup') $$,
  'another user''s queued accounts are left exactly as they were'
);

-- Alice's host is at work; put her accounts back in the queue to see what the shared host does.
select tests.clear_authentication();
update public.trading_accounts set status = 'pending_vps_setup', vps_host_id = null, lease_expires_at = null
where user_id = (select alice from people);
select tests.authenticate_as_service_role();
select results_eq(
  $$ select id::text from private.claim_accounts('00000000-0000-0000-0000-0000000008f1', 10) order by created_at $$,
  $$ values ('00000000-0000-0000-0000-0000000008b1'), ('00000000-0000-0000-0000-0000000008b2') $$,
  'a shared host leaves the accounts of a user with a dedicated host to that host'
);

-- Once Alice's host is revoked, the shared pool takes her accounts over.
select tests.clear_authentication();
update private.vps_hosts set revoked_at = now() where id = '00000000-0000-0000-0000-0000000008a1';
select tests.authenticate_as_service_role();
select results_eq(
  $$ select id::text from private.claim_accounts('00000000-0000-0000-0000-0000000008f1', 10) order by created_at $$,
  $$ values ('00000000-0000-0000-0000-0000000008a1'), ('00000000-0000-0000-0000-0000000008a2') $$,
  'with the dedicated host revoked, the shared hosts claim that user''s accounts'
);
select throws_ok(
  $$ select * from private.claim_accounts('00000000-0000-0000-0000-0000000008a1', 10) $$,
  '42501', 'unknown VPS host',
  'a revoked dedicated host claims nothing'
);

-- Deleting the user deletes the hosts dedicated to them; a host cannot name a user who does not exist.
select tests.clear_authentication();
delete from auth.users where id = (select alice from people);
select is((select count(*)::int from private.vps_hosts where name = 'alices-own-vps'), 0, 'a dedicated host goes with its user');
select throws_ok(
  $$ insert into private.vps_hosts (name, key_hash, dedicated_user_id)
     values ('ghost-vps', encode(extensions.digest('kg', 'sha256'), 'hex'), gen_random_uuid()) $$,
  '23503', null,
  'a host cannot be dedicated to an unknown user'
);

-- A host deleted by hand (not revoked): the account it held has no host and no lease any more, and
-- the lease sweep puts it back in the queue instead of leaving it 'provisioning' forever.
select tests.authenticate_as_service_role();
select is((select count(*)::int from private.claim_accounts('00000000-0000-0000-0000-0000000008f1', 1)), 0,
  'the shared host holds everything it may');
select tests.clear_authentication();
delete from private.vps_hosts where id = '00000000-0000-0000-0000-0000000008f1';
select private.reclaim_expired_leases();
select results_eq(
  $$ select id::text, status::text, vps_host_id from public.trading_accounts where user_id = (select bob from people) order by created_at $$,
  $$ values ('00000000-0000-0000-0000-0000000008b1', 'pending_vps_setup', null::uuid), ('00000000-0000-0000-0000-0000000008b2', 'pending_vps_setup', null::uuid) $$,
  'accounts of a deleted host go back to the queue at the next lease sweep'
);

select * from finish();
rollback;
