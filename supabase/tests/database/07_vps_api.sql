-- The VPS agent's API (20261121001100_vps_api.sql): launch packages, state reports, terminals in
-- heartbeats, teardown and held-account lists. Every function acts only on the accounts the
-- calling host holds; another host's account, or any account of a revoked host, is invisible.
begin;
\ir helpers/setup.psql

select plan(80);

-- ---------------------------------------------------------------------------------------------
-- Fixtures (as the database owner).
--   hosts     f1 (key k1) | f2 (key k2) | f3 revoked
--   accounts  held by f1: c1 provisioning, c2 connected, c4 paused, c5 deleted, c6 disconnected
--             (silent, not paused) | held by f2: c3 provisioning | c7 pending, nobody's |
--             c8 provisioning, held by the revoked f3
insert into auth.users (id, aud, role, email) values
  ('00000000-0000-0000-0007-000000000001', 'authenticated', 'authenticated', 'vps-api@example.test');
insert into public.brokers (id, name, platforms, rebate_per_lot) values
  ('00000000-0000-0000-0007-0000000000d1', 'VPS API Broker', array['MT4', 'MT5'], 1);
insert into private.vps_hosts (id, name, key_hash, capacity, revoked_at) values
  ('00000000-0000-0000-0007-0000000000f1', 'pgtap-api-1', encode(extensions.digest('api-k1', 'sha256'), 'hex'), 10, null),
  ('00000000-0000-0000-0007-0000000000f2', 'pgtap-api-2', encode(extensions.digest('api-k2', 'sha256'), 'hex'), 10, null),
  ('00000000-0000-0000-0007-0000000000f3', 'pgtap-api-3', encode(extensions.digest('api-k3', 'sha256'), 'hex'), 10, now() - interval '1 hour');
insert into public.trading_accounts (id, external_account_id, user_id, broker_id, platform, login, server, created_at)
select ('00000000-0000-0000-0007-0000000000c' || n)::uuid, ('00000000-0000-0000-0007-0000000000e' || n)::uuid,
       '00000000-0000-0000-0007-000000000001', '00000000-0000-0000-0007-0000000000d1',
       case when n % 2 = 0 then 'MT4' else 'MT5' end, 7000 + n, 'VpsApi-Live', now() - make_interval(hours => 10 - n)
from generate_series(1, 8) n;
insert into private.account_secrets (account_id, investor_password_ciphertext, encryption_key_id)
select id, 'ct-' || login, 'key1' from public.trading_accounts where server = 'VpsApi-Live';
update public.trading_accounts set status = 'provisioning', vps_host_id = '00000000-0000-0000-0007-0000000000f1',
  lease_expires_at = now() - interval '1 minute'
where id in ('00000000-0000-0000-0007-0000000000c1', '00000000-0000-0000-0007-0000000000c2', '00000000-0000-0000-0007-0000000000c4',
             '00000000-0000-0000-0007-0000000000c5', '00000000-0000-0000-0007-0000000000c6');
update public.trading_accounts set status = 'provisioning', vps_host_id = '00000000-0000-0000-0007-0000000000f2',
  lease_expires_at = now() + interval '1 minute'
where id = '00000000-0000-0000-0007-0000000000c3';
update public.trading_accounts set status = 'provisioning', vps_host_id = '00000000-0000-0000-0007-0000000000f3',
  lease_expires_at = now() + interval '1 minute'
where id = '00000000-0000-0000-0007-0000000000c8';
update public.trading_accounts set status = 'connected'
where id in ('00000000-0000-0000-0007-0000000000c2', '00000000-0000-0000-0007-0000000000c6');
update public.trading_accounts set status = 'disconnected' where id = '00000000-0000-0000-0007-0000000000c6';
-- c4 paused, c5 deleted (as private.account_action does it)
update public.trading_accounts set status = 'disconnected', paused_at = now() where id = '00000000-0000-0000-0007-0000000000c4';
update public.trading_accounts set deleted_at = now(), paused_at = now() where id = '00000000-0000-0000-0007-0000000000c5';

-- =============================================================================================
-- Grants: service_role only
-- =============================================================================================
select ok(has_function_privilege('service_role', f, 'execute'), format('service_role can execute %s', f))
from unnest(array[
  'private.vps_launch_package(uuid, uuid, text)',
  'private.vps_report_state(uuid, uuid, text, text, text)',
  'private.vps_report_terminals(uuid, jsonb)',
  'private.vps_teardown_list(uuid)',
  'private.vps_held_accounts(uuid)'
]) as f;
select ok(not has_function_privilege(r, f, 'execute'), format('%s cannot execute %s', r, f))
from unnest(array[
  'private.vps_launch_package(uuid, uuid, text)',
  'private.vps_report_state(uuid, uuid, text, text, text)',
  'private.vps_report_terminals(uuid, jsonb)',
  'private.vps_teardown_list(uuid)',
  'private.vps_held_accounts(uuid)'
]) as f, unnest(array['anon', 'authenticated', 'public']) as r;

select tests.authenticate_as('00000000-0000-0000-0007-000000000001');
select throws_ok(
  $$ select * from private.vps_launch_package('00000000-0000-0000-0007-0000000000f1', '00000000-0000-0000-0007-0000000000c1', repeat('a', 64)) $$,
  '42501', 'permission denied for function vps_launch_package',
  'launch package: the account''s own user cannot fetch its password'
);
select throws_ok(
  $$ select * from private.vps_report_state('00000000-0000-0000-0007-0000000000f1', '00000000-0000-0000-0007-0000000000c1', 'connected') $$,
  '42501', 'permission denied for function vps_report_state',
  'report state: not callable by a signed-in user'
);

-- =============================================================================================
-- vps_teardown_list / vps_held_accounts
-- =============================================================================================
select tests.authenticate_as_service_role();
select results_eq(
  $$ select account_id::text, external_account_id::text, platform, reason from private.vps_teardown_list('00000000-0000-0000-0007-0000000000f1') $$,
  $$ values ('00000000-0000-0000-0007-0000000000c4', '00000000-0000-0000-0007-0000000000e4', 'MT4', 'paused'),
            ('00000000-0000-0000-0007-0000000000c5', '00000000-0000-0000-0007-0000000000e5', 'MT5', 'deleted') $$,
  'teardown: the paused and the deleted accounts the host holds'
);
select is_empty(
  $$ select * from private.vps_teardown_list('00000000-0000-0000-0007-0000000000f2') $$,
  'teardown: another host sees none of them'
);
select results_eq(
  $$ select account_id::text, login, broker, status, teardown from private.vps_held_accounts('00000000-0000-0000-0007-0000000000f1') $$,
  $$ values ('00000000-0000-0000-0007-0000000000c1', 7001::bigint, 'VPS API Broker', 'provisioning', null::text),
            ('00000000-0000-0000-0007-0000000000c2', 7002::bigint, 'VPS API Broker', 'connected', null),
            ('00000000-0000-0000-0007-0000000000c4', 7004::bigint, 'VPS API Broker', 'disconnected', 'paused'),
            ('00000000-0000-0000-0007-0000000000c5', 7005::bigint, 'VPS API Broker', 'provisioning', 'deleted'),
            ('00000000-0000-0000-0007-0000000000c6', 7006::bigint, 'VPS API Broker', 'disconnected', null) $$,
  'held: every account the host holds, oldest first, with what to tear down'
);
select results_eq(
  $$ select account_id::text from private.vps_held_accounts('00000000-0000-0000-0007-0000000000f2') $$,
  $$ values ('00000000-0000-0000-0007-0000000000c3') $$,
  'held: each host sees only its own'
);
select is_empty(
  $$ select * from private.vps_held_accounts('00000000-0000-0000-0007-0000000000f3') $$,
  'held: a revoked host sees nothing'
);
select is_empty(
  $$ select * from private.vps_teardown_list('00000000-0000-0000-0007-0000000000ff') $$,
  'teardown: an unknown host sees nothing'
);

-- =============================================================================================
-- vps_launch_package
-- =============================================================================================
select results_eq(
  $$ select account_id::text, external_account_id::text, platform, login, server, broker, investor_password_ciphertext,
            encryption_key_id, provisioning_token_expires_at, refused
     from private.vps_launch_package('00000000-0000-0000-0007-0000000000f1', '00000000-0000-0000-0007-0000000000c1', repeat('a', 64)) $$,
  $$ values ('00000000-0000-0000-0007-0000000000c1', '00000000-0000-0000-0007-0000000000e1', 'MT5', 7001::bigint, 'VpsApi-Live',
             'VPS API Broker', 'ct-7001', 'key1', now() + make_interval(secs => private.setting('provisioning_token_ttl_seconds')),
             null::text) $$,
  'launch package: what the terminal needs, with the sealed password and the token expiry'
);
select tests.clear_authentication();
select results_eq(
  $$ select provisioning_token_hash, provisioning_token_expires_at from private.account_secrets
     where account_id = '00000000-0000-0000-0007-0000000000c1' $$,
  $$ values (repeat('a', 64), now() + make_interval(secs => private.setting('provisioning_token_ttl_seconds'))) $$,
  'launch package: only the token hash is stored, with its expiry'
);
select tests.authenticate_as_service_role();
select isnt_empty(
  $$ select * from private.vps_launch_package('00000000-0000-0000-0007-0000000000f1', '00000000-0000-0000-0007-0000000000c2', repeat('b', 64)) $$,
  'launch package: a connected account can be relaunched'
);
select isnt_empty(
  $$ select * from private.vps_launch_package('00000000-0000-0000-0007-0000000000f1', '00000000-0000-0000-0007-0000000000c1', repeat('c', 64)) $$,
  'launch package: a second package for the same account'
);
select tests.clear_authentication();
select is(
  (select provisioning_token_hash from private.account_secrets where account_id = '00000000-0000-0000-0007-0000000000c1'),
  repeat('c', 64),
  'launch package: a second package replaces the token'
);
select tests.authenticate_as_service_role();
select is_empty(
  $$ select * from private.vps_launch_package('00000000-0000-0000-0007-0000000000f2', '00000000-0000-0000-0007-0000000000c1', repeat('d', 64)) $$,
  'launch package: host f2 cannot fetch the package of f1''s account'
);
select is_empty(
  $$ select * from private.vps_launch_package('00000000-0000-0000-0007-0000000000f1', '00000000-0000-0000-0007-0000000000c3', repeat('d', 64)) $$,
  'launch package: host f1 cannot fetch the package of f2''s account'
);
select is_empty(
  $$ select * from private.vps_launch_package('00000000-0000-0000-0007-0000000000f1', '00000000-0000-0000-0007-0000000000c7', repeat('d', 64)) $$,
  'launch package: nor of a pending account nobody holds'
);
select is_empty(
  $$ select * from private.vps_launch_package('00000000-0000-0000-0007-0000000000f3', '00000000-0000-0000-0007-0000000000c8', repeat('d', 64)) $$,
  'launch package: a revoked host gets nothing, even for an account it still holds'
);
select tests.clear_authentication();
select results_eq(
  $$ select account_id::text, provisioning_token_hash from private.account_secrets
     where account_id in ('00000000-0000-0000-0007-0000000000c1', '00000000-0000-0000-0007-0000000000c3',
                          '00000000-0000-0000-0007-0000000000c7', '00000000-0000-0000-0007-0000000000c8')
     order by account_id $$,
  $$ values ('00000000-0000-0000-0007-0000000000c1', repeat('c', 64)), ('00000000-0000-0000-0007-0000000000c3', null),
            ('00000000-0000-0000-0007-0000000000c7', null), ('00000000-0000-0000-0007-0000000000c8', null) $$,
  'launch package: refused calls stored no token'
);
select tests.authenticate_as_service_role();
select results_eq(
  $$ select refused, investor_password_ciphertext, provisioning_token_expires_at
     from private.vps_launch_package('00000000-0000-0000-0007-0000000000f1', '00000000-0000-0000-0007-0000000000c4', repeat('e', 64)) $$,
  $$ values ('paused', null::text, null::timestamptz) $$,
  'launch package: a paused account is refused, without its password'
);
select results_eq(
  $$ select refused, investor_password_ciphertext
     from private.vps_launch_package('00000000-0000-0000-0007-0000000000f1', '00000000-0000-0000-0007-0000000000c5', repeat('e', 64)) $$,
  $$ values ('deleted', null::text) $$,
  'launch package: a deleted account is refused'
);
select results_eq(
  $$ select refused, investor_password_ciphertext
     from private.vps_launch_package('00000000-0000-0000-0007-0000000000f1', '00000000-0000-0000-0007-0000000000c6', repeat('e', 64)) $$,
  $$ values ('status disconnected', null::text) $$,
  'launch package: an account that is neither provisioning nor connected is refused'
);
select tests.clear_authentication();
select is(
  (select count(*)::int from private.account_secrets where provisioning_token_hash = repeat('e', 64)),
  0,
  'launch package: a refusal stores no token'
);
select tests.authenticate_as_service_role();
select throws_ok(
  $$ select * from private.vps_launch_package('00000000-0000-0000-0007-0000000000f1', '00000000-0000-0000-0007-0000000000c1', 'not-a-hash') $$,
  '22023', 'p_token_hash must be a lowercase hex SHA-256',
  'launch package: the token must come hashed'
);

-- =============================================================================================
-- vps_report_terminals
-- =============================================================================================
select results_eq(
  $$ select * from private.vps_report_terminals('00000000-0000-0000-0007-0000000000f1', '[
       {"account_id": "00000000-0000-0000-0007-0000000000c1", "state": "launching", "pid": 41},
       {"account_id": "00000000-0000-0000-0007-0000000000c3", "state": "running"},
       {"account_id": "00000000-0000-0000-0007-0000000000c7", "state": "stopped"}]'::jsonb) $$,
  $$ values ('00000000-0000-0000-0007-0000000000c3'::uuid), ('00000000-0000-0000-0007-0000000000c7'::uuid) $$,
  'terminals: the ids the host runs but does not hold come back (stop them)'
);
select tests.clear_authentication();
select results_eq(
  $$ select id::text, terminal_state::text from public.trading_accounts
     where id in ('00000000-0000-0000-0007-0000000000c1', '00000000-0000-0000-0007-0000000000c3', '00000000-0000-0000-0007-0000000000c7')
     order by id $$,
  $$ values ('00000000-0000-0000-0007-0000000000c1', 'launching'), ('00000000-0000-0000-0007-0000000000c3', null),
            ('00000000-0000-0000-0007-0000000000c7', null) $$,
  'terminals: the state of held terminals is recorded, nobody else''s is touched'
);
select tests.authenticate_as_service_role();
select is_empty(
  $$ select * from private.vps_report_terminals('00000000-0000-0000-0007-0000000000f1', '[]'::jsonb) $$,
  'terminals: an empty list is fine'
);
select throws_ok(
  $$ select * from private.vps_report_terminals('00000000-0000-0000-0007-0000000000f1',
       '[{"account_id": "00000000-0000-0000-0007-0000000000c1", "state": "connected"}]'::jsonb) $$,
  '22023', null,
  'terminals: an unknown terminal state is refused'
);
select throws_ok(
  $$ select * from private.vps_report_terminals('00000000-0000-0000-0007-0000000000f1', '[{"state": "running"}]'::jsonb) $$,
  '22023', null,
  'terminals: a terminal without an account id is refused'
);
select throws_ok(
  $$ select * from private.vps_report_terminals('00000000-0000-0000-0007-0000000000f1', '{}'::jsonb) $$,
  '22023', 'p_terminals must be a JSON array',
  'terminals: not an array'
);
select throws_ok(
  $$ select * from private.vps_report_terminals('00000000-0000-0000-0007-0000000000f3',
       '[{"account_id": "00000000-0000-0000-0007-0000000000c8", "state": "running"}]'::jsonb) $$,
  '42501', 'unknown VPS host',
  'terminals: a revoked host is refused'
);

-- =============================================================================================
-- vps_report_state
-- =============================================================================================
select results_eq(
  $$ select account_id::text, status, terminal_state, held, removed
     from private.vps_report_state('00000000-0000-0000-0007-0000000000f1', '00000000-0000-0000-0007-0000000000c1', 'running') $$,
  $$ values ('00000000-0000-0000-0007-0000000000c1', 'provisioning', 'running', true, false) $$,
  'report running: terminal state recorded, status unchanged'
);
select tests.clear_authentication();
select is(
  (select lease_expires_at from public.trading_accounts where id = '00000000-0000-0000-0007-0000000000c1'),
  now() + make_interval(secs => private.setting('account_lease_seconds')),
  'report: renews the (expired) lease'
);
select tests.authenticate_as_service_role();
select is_empty(
  $$ select * from private.vps_report_state('00000000-0000-0000-0007-0000000000f2', '00000000-0000-0000-0007-0000000000c1', 'error', 'E_AUTH', 'hijack') $$,
  'report: host f2 cannot report on f1''s account'
);
select is_empty(
  $$ select * from private.vps_report_state('00000000-0000-0000-0007-0000000000f1', '00000000-0000-0000-0007-0000000000c3', 'stopped') $$,
  'report: host f1 cannot report on f2''s account'
);
select is_empty(
  $$ select * from private.vps_report_state('00000000-0000-0000-0007-0000000000f3', '00000000-0000-0000-0007-0000000000c8', 'connected') $$,
  'report: a revoked host cannot report on the account it still holds'
);
select tests.clear_authentication();
select results_eq(
  $$ select id::text, status::text, terminal_state::text, error_code from public.trading_accounts
     where id in ('00000000-0000-0000-0007-0000000000c1', '00000000-0000-0000-0007-0000000000c3', '00000000-0000-0000-0007-0000000000c8')
     order by id $$,
  $$ values ('00000000-0000-0000-0007-0000000000c1', 'provisioning', 'running', null::text),
            ('00000000-0000-0000-0007-0000000000c3', 'provisioning', null, null),
            ('00000000-0000-0000-0007-0000000000c8', 'provisioning', null, null) $$,
  'report: refused reports changed nothing'
);
select is(
  (select count(*)::int from public.notifications where account_id = '00000000-0000-0000-0007-0000000000c1'),
  0,
  'report: a refused error report notifies nobody'
);

select tests.authenticate_as_service_role();
select results_eq(
  $$ select status, terminal_state, held from private.vps_report_state('00000000-0000-0000-0007-0000000000f1',
       '00000000-0000-0000-0007-0000000000c1', 'connected') $$,
  $$ values ('connected', 'running', true) $$,
  'report connected: provisioning -> connected'
);
select tests.clear_authentication();
select ok(
  (select connected_at = now() and last_seen_at = now() from public.trading_accounts where id = '00000000-0000-0000-0007-0000000000c1'),
  'report connected: the silence clock starts'
);
select tests.authenticate_as_service_role();
select results_eq(
  $$ select status, terminal_state from private.vps_report_state('00000000-0000-0000-0007-0000000000f1',
       '00000000-0000-0000-0007-0000000000c1', 'connected') $$,
  $$ values ('connected', 'running') $$,
  'report connected: again is a no-op'
);

-- error on a connected account
select results_eq(
  $$ select status, error_code, error_message, attempts, next_retry_at, held, removed
     from private.vps_report_state('00000000-0000-0000-0007-0000000000f1', '00000000-0000-0000-0007-0000000000c2', 'error',
       'E_LOGIN_TIMEOUT', 'No connection to the trade server') $$,
  $$ values ('error', 'E_LOGIN_TIMEOUT', 'No connection to the trade server', 1,
             now() + make_interval(secs => private.setting('account_retry_base_seconds')), false, false) $$,
  'report error: status error with code and message, attempt counted, retry scheduled, host released'
);
select tests.clear_authentication();
select results_eq(
  $$ select vps_host_id, lease_expires_at, terminal_state::text from public.trading_accounts where id = '00000000-0000-0000-0007-0000000000c2' $$,
  $$ values (null::uuid, null::timestamptz, 'stopped') $$,
  'report error: the account is no longer held'
);
select results_eq(
  $$ select user_id::text, kind::text, title, body like '7002@VpsApi-Live: No connection to the trade server (E_LOGIN_TIMEOUT) Next automatic attempt at %'
     from public.notifications where account_id = '00000000-0000-0000-0007-0000000000c2' $$,
  $$ values ('00000000-0000-0000-0007-000000000001', 'account_error', 'Account 7002 could not be started', true) $$,
  'report error: the owner is notified'
);
select tests.authenticate_as_service_role();
select is_empty(
  $$ select * from private.vps_report_state('00000000-0000-0000-0007-0000000000f1', '00000000-0000-0000-0007-0000000000c2', 'running') $$,
  'report: after the error the host no longer holds the account'
);

-- error on a silent (disconnected, not paused) account, with the default message
select results_eq(
  $$ select status, error_code, error_message, attempts, held
     from private.vps_report_state('00000000-0000-0000-0007-0000000000f1', '00000000-0000-0000-0007-0000000000c6', 'error', 'E_CRASH_LOOP') $$,
  $$ values ('error', 'E_CRASH_LOOP', 'The terminal kept crashing after restarts.', 1, false) $$,
  'report error: disconnected -> error, with a default message for a known code'
);

-- error and connected on a paused account: recorded, no status change, still held for teardown
select results_eq(
  $$ select status, terminal_state, held from private.vps_report_state('00000000-0000-0000-0007-0000000000f1',
       '00000000-0000-0000-0007-0000000000c4', 'error', 'E_AUTH', 'whatever') $$,
  $$ values ('disconnected', 'crashed', true) $$,
  'report error on a paused account: only the terminal state, the host keeps it for teardown'
);
select results_eq(
  $$ select status, held from private.vps_report_state('00000000-0000-0000-0007-0000000000f1',
       '00000000-0000-0000-0007-0000000000c4', 'connected') $$,
  $$ values ('disconnected', true) $$,
  'report connected on a paused account: it stays disconnected'
);
select tests.clear_authentication();
select results_eq(
  $$ select attempts, error_code, (select count(*)::int from public.notifications n where n.account_id = a.id)
     from public.trading_accounts a where id = '00000000-0000-0000-0007-0000000000c4' $$,
  $$ values (0, null::text, 0) $$,
  'report error on a paused account: no attempt counted, nobody notified'
);

-- stopped
select tests.authenticate_as_service_role();
select results_eq(
  $$ select status, terminal_state, held, removed from private.vps_report_state('00000000-0000-0000-0007-0000000000f1',
       '00000000-0000-0000-0007-0000000000c4', 'stopped') $$,
  $$ values ('disconnected', 'stopped', false, false) $$,
  'report stopped on a paused account: released'
);
select tests.clear_authentication();
select results_eq(
  $$ select vps_host_id, lease_expires_at, paused_at is not null from public.trading_accounts where id = '00000000-0000-0000-0007-0000000000c4' $$,
  $$ values (null::uuid, null::timestamptz, true) $$,
  'report stopped on a paused account: no host, still paused'
);
select tests.authenticate_as_service_role();
select results_eq(
  $$ select account_id::text, held, removed from private.vps_report_state('00000000-0000-0000-0007-0000000000f1',
       '00000000-0000-0000-0007-0000000000c5', 'stopped') $$,
  $$ values ('00000000-0000-0000-0007-0000000000c5', false, true) $$,
  'report stopped on a deleted account: removed'
);
select tests.clear_authentication();
select is(
  (select count(*)::int from public.trading_accounts where id = '00000000-0000-0000-0007-0000000000c5')
    + (select count(*)::int from private.account_secrets where account_id = '00000000-0000-0000-0007-0000000000c5'),
  0,
  'report stopped on a deleted account: the account and its secrets are gone'
);
select tests.authenticate_as_service_role();
select is_empty(
  $$ select * from private.vps_teardown_list('00000000-0000-0000-0007-0000000000f1') $$,
  'teardown: nothing left to tear down'
);
select results_eq(
  $$ select status, terminal_state, held, removed from private.vps_report_state('00000000-0000-0000-0007-0000000000f2',
       '00000000-0000-0000-0007-0000000000c3', 'stopped') $$,
  $$ values ('provisioning', 'stopped', true, false) $$,
  'report stopped on a wanted account: the host keeps it'
);
select results_eq(
  $$ select status, terminal_state from private.vps_report_state('00000000-0000-0000-0007-0000000000f2',
       '00000000-0000-0000-0007-0000000000c3', 'crashed') $$,
  $$ values ('provisioning', 'crashed') $$,
  'report crashed: terminal state only'
);

-- bad reports
select throws_ok(
  $$ select * from private.vps_report_state('00000000-0000-0000-0007-0000000000f2', '00000000-0000-0000-0007-0000000000c3', 'exploded') $$,
  '22023', 'unknown terminal state exploded',
  'report: an unknown state is refused'
);
select throws_ok(
  $$ select * from private.vps_report_state('00000000-0000-0000-0007-0000000000f2', '00000000-0000-0000-0007-0000000000c3', 'error') $$,
  '22023', 'an error report needs an error code such as E_AUTH',
  'report: an error without a code is refused'
);
select throws_ok(
  $$ select * from private.vps_report_state('00000000-0000-0000-0007-0000000000f2', '00000000-0000-0000-0007-0000000000c3', 'error', 'auth') $$,
  '22023', 'an error report needs an error code such as E_AUTH',
  'report: an error code must look like E_...'
);
select tests.clear_authentication();
select results_eq(
  $$ select status::text, attempts from public.trading_accounts where id = '00000000-0000-0000-0007-0000000000c3' $$,
  $$ values ('provisioning', 0) $$,
  'report: refused reports changed nothing'
);

-- The state machine rule this migration adds.
select is(
  private.transition_actor('account', 'disconnected', 'error'),
  'system',
  'state machine: disconnected -> error is a system transition'
);

select * from finish();
rollback;
