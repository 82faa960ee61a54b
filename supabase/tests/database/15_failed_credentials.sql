-- Rejected credentials (20261130001300_failed_credentials.sql): a password the broker refused
-- (E_AUTH) is remembered and never tried again (no backoff retry, no user retry or resume, no
-- claim) until the owner changes it (private.change_investor_password), which requeues the account.
begin;
\ir helpers/setup.psql

select plan(48);

-- ---------------------------------------------------------------------------------------------
-- Fixtures (as the database owner).
--   users   u1 owns every account | u2 another user
--   host    f1 holds a1 .. a4
--   a1 provisioning (will get E_AUTH) | a2 provisioning (will get E_LOGIN_TIMEOUT)
--   a3 paused, still held (will get E_AUTH) | a4 connected | a5 deleted, still held
insert into auth.users (id, aud, role, email) values
  ('00000000-0000-0000-0015-000000000001', 'authenticated', 'authenticated', 'creds-1@example.test'),
  ('00000000-0000-0000-0015-000000000002', 'authenticated', 'authenticated', 'creds-2@example.test');
insert into public.brokers (id, name, platforms, rebate_per_lot) values
  ('00000000-0000-0000-0015-0000000000d1', 'Credentials Broker', array['MT4', 'MT5'], 1);
insert into private.vps_hosts (id, name, key_hash, capacity) values
  ('00000000-0000-0000-0015-0000000000f1', 'pgtap-creds-1', encode(extensions.digest('creds-k1', 'sha256'), 'hex'), 50);
insert into public.trading_accounts (id, user_id, broker_id, platform, login, server, created_at)
select ('00000000-0000-0000-0015-0000000000a' || n)::uuid, '00000000-0000-0000-0015-000000000001',
       '00000000-0000-0000-0015-0000000000d1', 'MT5', 15000 + n, 'Creds-Live', now() - make_interval(hours => 10 - n)
from generate_series(1, 5) n;
insert into private.account_secrets (account_id, investor_password_ciphertext, encryption_key_id)
select id, 'ct-' || login, 'key1' from public.trading_accounts where server = 'Creds-Live';
update public.trading_accounts set status = 'provisioning', vps_host_id = '00000000-0000-0000-0015-0000000000f1',
  lease_expires_at = now() + interval '3 minutes'
where server = 'Creds-Live';
update public.trading_accounts set status = 'connected' where id = '00000000-0000-0000-0015-0000000000a4';
update public.trading_accounts set status = 'disconnected', paused_at = now() where id = '00000000-0000-0000-0015-0000000000a3';
update public.trading_accounts set deleted_at = now(), paused_at = now() where id = '00000000-0000-0000-0015-0000000000a5';

-- =============================================================================================
-- Privileges: the hash is private; only the owner's password change is callable by a user
-- =============================================================================================
select tests.authenticate_as_anon();
select throws_ok($$ select failed_credential_hash from private.account_secrets $$, '42501', null,
  'anon cannot read the failed-credential hash');
select tests.authenticate_as('00000000-0000-0000-0015-000000000001');
select throws_ok($$ select failed_credential_hash from private.account_secrets $$, '42501', null,
  'authenticated cannot read the failed-credential hash');
select tests.clear_authentication();
select ok(has_function_privilege('authenticated', 'private.change_investor_password(uuid, text, text)', 'execute'),
  'authenticated can execute private.change_investor_password');
select ok(not has_function_privilege(r, f, 'execute'), format('%s cannot execute %s', r, f))
from unnest(array['anon', 'public']) as r, unnest(array['private.change_investor_password(uuid, text, text)']) as f;
select ok(not has_function_privilege(r, f, 'execute'), format('%s cannot execute %s', r, f))
from unnest(array['anon', 'authenticated', 'service_role']) as r,
     unnest(array['private.credentials_refused(uuid)', 'private.credential_hash(text, text)']) as f;

-- =============================================================================================
-- E_AUTH: remembered, no retry scheduled, its own notification
-- =============================================================================================
select tests.authenticate_as_service_role();
select results_eq(
  $$ select status, error_code, attempts, next_retry_at, held
     from private.vps_report_state('00000000-0000-0000-0015-0000000000f1', '00000000-0000-0000-0015-0000000000a1', 'error', 'E_AUTH') $$,
  $$ values ('error', 'E_AUTH', 1, null::timestamptz, false) $$,
  'E_AUTH: status error, attempt counted, no automatic retry scheduled, host released'
);
select results_eq(
  $$ select status, error_code, next_retry_at is not null
     from private.vps_report_state('00000000-0000-0000-0015-0000000000f1', '00000000-0000-0000-0015-0000000000a2', 'error', 'E_LOGIN_TIMEOUT') $$,
  $$ values ('error', 'E_LOGIN_TIMEOUT', true) $$,
  'another error (E_LOGIN_TIMEOUT): backoff scheduled as before'
);
select tests.clear_authentication();
select ok(
  (select s.failed_credential_hash = private.credential_hash('ct-15001', 'key1') from private.account_secrets s
   where s.account_id = '00000000-0000-0000-0015-0000000000a1'),
  'E_AUTH: the hash of the sealed password and its key id is remembered'
);
select ok(private.credentials_refused('00000000-0000-0000-0015-0000000000a1'), 'E_AUTH: the current password is the refused one');
select is(
  (select failed_credential_hash from private.account_secrets where account_id = '00000000-0000-0000-0015-0000000000a2'),
  null, 'E_LOGIN_TIMEOUT: nothing remembered'
);
select results_eq(
  $$ select kind::text, title, body like '15001@Creds-Live: The trade server rejected the login or the investor password. (E_AUTH) %update the investor password%'
     from public.notifications where account_id = '00000000-0000-0000-0015-0000000000a1' $$,
  $$ values ('account_credentials_rejected', 'Account 15001: the broker rejected the password', true) $$,
  'E_AUTH: the owner is told the password was refused and what to do'
);
select results_eq(
  $$ select kind::text from public.notifications where account_id = '00000000-0000-0000-0015-0000000000a2' $$,
  $$ values ('account_error') $$,
  'E_LOGIN_TIMEOUT: the usual account_error notification'
);

-- The owner sees it (and only the timestamp: the hash stays private).
select tests.authenticate_as('00000000-0000-0000-0015-000000000001');
select results_eq(
  $$ select id::text, credentials_rejected_at is not null from public.trading_accounts
     where id in ('00000000-0000-0000-0015-0000000000a1', '00000000-0000-0000-0015-0000000000a2') order by id $$,
  $$ values ('00000000-0000-0000-0015-0000000000a1', true), ('00000000-0000-0000-0015-0000000000a2', false) $$,
  'the owner reads credentials_rejected_at on the refused account only'
);
select tests.clear_authentication();

-- =============================================================================================
-- Not relaunched: the backoff sweep, the user's retry, any way back to the queue, claiming
-- =============================================================================================
-- Even with an elapsed next_retry_at (as set by hand), the sweep leaves it alone.
update public.trading_accounts set next_retry_at = now() - interval '1 second'
where id in ('00000000-0000-0000-0015-0000000000a1', '00000000-0000-0000-0015-0000000000a2');
select is(private.retry_errored_accounts(), 1, 'backoff sweep: only the non-auth error is requeued');
select results_eq(
  $$ select id::text, status::text from public.trading_accounts
     where id in ('00000000-0000-0000-0015-0000000000a1', '00000000-0000-0000-0015-0000000000a2') order by id $$,
  $$ values ('00000000-0000-0000-0015-0000000000a1', 'error'), ('00000000-0000-0000-0015-0000000000a2', 'pending_vps_setup') $$,
  'backoff sweep: the refused account stays in error, the other is queued'
);
select is(private.reclaim_expired_leases(), 0, 'lease sweep: nothing to requeue');
select throws_ok(
  $$ update public.trading_accounts set status = 'pending_vps_setup' where id = '00000000-0000-0000-0015-0000000000a1' $$,
  '23514', 'the broker rejected the investor password of account 15001: update the password to relaunch it',
  'any other way back to the queue is refused'
);

select tests.authenticate_as('00000000-0000-0000-0015-000000000001');
select throws_ok(
  $$ select private.account_action('00000000-0000-0000-0015-0000000000a1', 'retry') $$,
  '23514', 'the broker rejected the investor password of account 15001: update the password to relaunch it',
  'user retry: refused (409) with a message telling to update the password'
);
select tests.clear_authentication();
select results_eq(
  $$ select status::text, attempts from public.trading_accounts where id = '00000000-0000-0000-0015-0000000000a1' $$,
  $$ values ('error', 1) $$,
  'user retry: nothing changed'
);

select tests.authenticate_as_service_role();
select is(
  (select array_agg(id::text order by id) from private.claim_accounts('00000000-0000-0000-0015-0000000000f1', 10)),
  array['00000000-0000-0000-0015-0000000000a2'],
  'claim: hands out the requeued account, never the refused one'
);
select tests.clear_authentication();

-- =============================================================================================
-- Changing the password
-- =============================================================================================
-- Another user: not found, nothing written.
select tests.authenticate_as('00000000-0000-0000-0015-000000000002');
select throws_ok(
  $$ select private.change_investor_password('00000000-0000-0000-0015-0000000000a1', 'ct-hijack', 'key1') $$,
  'P0002', 'account not found', 'another user''s account: not found'
);
-- The owner, bad input: nothing written.
select tests.authenticate_as('00000000-0000-0000-0015-000000000001');
select throws_ok(
  $$ select private.change_investor_password('00000000-0000-0000-0015-0000000000a1', '', 'key1') $$,
  '22023', 'a sealed password and its key id are required', 'an empty ciphertext is refused'
);
select throws_ok(
  $$ select private.change_investor_password('00000000-0000-0000-0015-0000000000a1', 'ct-new', null) $$,
  '22023', 'a sealed password and its key id are required', 'a missing key id is refused'
);
select throws_ok(
  $$ select private.change_investor_password('00000000-0000-0000-0015-0000000000a5', 'ct-new', 'key1') $$,
  'P0002', 'account not found', 'a deleted account: not found'
);
select tests.clear_authentication();
select results_eq(
  $$ select s.investor_password_ciphertext, s.failed_credential_hash is not null, a.credentials_rejected_at is not null, a.status::text
     from private.account_secrets s join public.trading_accounts a on a.id = s.account_id
     where s.account_id = '00000000-0000-0000-0015-0000000000a1' $$,
  $$ values ('ct-15001', true, true, 'error') $$,
  'refused changes wrote nothing'
);
select tests.authenticate_as_anon();
select throws_ok(
  $$ select private.change_investor_password('00000000-0000-0000-0015-0000000000a1', 'ct-new', 'key1') $$,
  '42501', null, 'anon cannot change a password'
);

-- The owner: replaced, mark cleared, queued again with its attempts reset.
select tests.authenticate_as('00000000-0000-0000-0015-000000000001');
select results_eq(
  $$ select status::text, attempts, credentials_rejected_at, error_code, error_message
     from private.change_investor_password('00000000-0000-0000-0015-0000000000a1', 'ct-new-15001', 'key2') $$,
  $$ values ('pending_vps_setup', 0, null::timestamptz, null::text, null::text) $$,
  'change: an errored account is queued again, attempts reset, the rejection cleared'
);
select tests.clear_authentication();
select results_eq(
  $$ select investor_password_ciphertext, encryption_key_id, failed_credential_hash from private.account_secrets
     where account_id = '00000000-0000-0000-0015-0000000000a1' $$,
  $$ values ('ct-new-15001', 'key2', null::text) $$,
  'change: the sealed password replaced, the failed hash cleared'
);
select ok(not private.credentials_refused('00000000-0000-0000-0015-0000000000a1'), 'change: no longer refused');
select tests.authenticate_as_service_role();
select is(
  (select array_agg(id::text) from private.claim_accounts('00000000-0000-0000-0015-0000000000f1', 10)),
  array['00000000-0000-0000-0015-0000000000a1'],
  'change: a host can claim it again'
);
select is(
  (select investor_password_ciphertext from private.vps_launch_package('00000000-0000-0000-0015-0000000000f1',
     '00000000-0000-0000-0015-0000000000a1', repeat('b', 64))),
  'ct-new-15001', 'change: the launch package carries the new password'
);

-- A second E_AUTH with the new password is remembered again.
select results_eq(
  $$ select status, next_retry_at from private.vps_report_state('00000000-0000-0000-0015-0000000000f1',
       '00000000-0000-0000-0015-0000000000a1', 'error', 'E_AUTH', 'Invalid account') $$,
  $$ values ('error', null::timestamptz) $$,
  'the new password refused too: remembered again'
);
select tests.clear_authentication();
select ok(private.credentials_refused('00000000-0000-0000-0015-0000000000a1'), 'the new password is now the refused one');

-- =============================================================================================
-- A paused account: E_AUTH is remembered; resume refused until the password changes
-- =============================================================================================
select tests.authenticate_as_service_role();
select results_eq(
  $$ select status, held from private.vps_report_state('00000000-0000-0000-0015-0000000000f1',
       '00000000-0000-0000-0015-0000000000a3', 'error', 'E_AUTH') $$,
  $$ values ('disconnected', true) $$,
  'paused + E_AUTH: no status change, the host keeps it for teardown'
);
select tests.clear_authentication();
select ok(private.credentials_refused('00000000-0000-0000-0015-0000000000a3'), 'paused + E_AUTH: the credential is remembered');
select tests.authenticate_as('00000000-0000-0000-0015-000000000001');
select throws_ok(
  $$ select private.account_action('00000000-0000-0000-0015-0000000000a3', 'resume') $$,
  '23514', 'the broker rejected the investor password of account 15003: update the password to relaunch it',
  'paused + E_AUTH: resume refused'
);
select results_eq(
  $$ select status::text, paused, credentials_rejected_at from (
       select status, paused_at is not null as paused, credentials_rejected_at
       from private.change_investor_password('00000000-0000-0000-0015-0000000000a3', 'ct-new-15003', 'key1')) x $$,
  $$ values ('disconnected', true, null::timestamptz) $$,
  'paused: the change clears the rejection and leaves it paused'
);
select is(
  (select status::text from private.account_action('00000000-0000-0000-0015-0000000000a3', 'resume')),
  'pending_vps_setup', 'paused: resume now queues it'
);

-- =============================================================================================
-- A running account: requeued, its host learns it must stop the old terminal
-- =============================================================================================
select results_eq(
  $$ select status::text, vps_host_id, attempts
     from private.change_investor_password('00000000-0000-0000-0015-0000000000a4', 'ct-new-15004', 'key1') $$,
  $$ values ('pending_vps_setup', null::uuid, 0) $$,
  'connected: the change takes it from its host and queues it'
);
select tests.authenticate_as_service_role();
select is(
  (select array_agg(x::text) from private.vps_report_terminals('00000000-0000-0000-0015-0000000000f1',
     '[{"account_id": "00000000-0000-0000-0015-0000000000a4", "state": "running"}]'::jsonb) x),
  array['00000000-0000-0000-0015-0000000000a4'],
  'connected: the old host''s next heartbeat is told to stop that terminal'
);
select tests.clear_authentication();

-- A queued account only gets the new password.
select tests.authenticate_as('00000000-0000-0000-0015-000000000001');
select results_eq(
  $$ select status::text from private.change_investor_password('00000000-0000-0000-0015-0000000000a4', 'ct-newer-15004', 'key1') $$,
  $$ values ('pending_vps_setup') $$,
  'queued: stays queued'
);
select tests.clear_authentication();
select is(
  (select investor_password_ciphertext from private.account_secrets where account_id = '00000000-0000-0000-0015-0000000000a4'),
  'ct-newer-15004', 'queued: the new password is stored'
);

select * from finish();
rollback;
