-- EA registration and the account EA's reports (20261121001000_register_and_trades.sql):
-- private.register_account_ea (one-time provisioning token -> api secret, rotation) and
-- private.touch_account (last_seen_at, disconnected -> connected), and the trades flow through
-- private.ingest_trades (20261130000500_ea_gates_and_hot_path.sql).
begin;
\ir helpers/setup.psql

select plan(50);

-- ---------------------------------------------------------------------------------------------
-- Fixtures (as the database owner). Tokens are stored as their SHA-256, like the launch package
-- stores them; tests.h(text) is that hash.
--   users     u1 | u2
--   accounts  (all u1 unless said otherwise; login 600n, server 'Reg-Live', external id ...e<n>)
--             c1 MT5 provisioning, token tok-1            c2 MT4 provisioning, token tok-2 expired
--             c3 MT5 connected, token tok-3               c4 MT4 paused (disconnected), token tok-4
--             c5 MT5 u2's, disconnected (silent), tok-5   c6 MT4 deleted, token tok-6
--             c7 MT5 pending_vps_setup, no token
create function tests.h(p_token text) returns text
language sql immutable
as $$ select encode(extensions.digest(p_token, 'sha256'), 'hex') $$;

insert into auth.users (id, aud, role, email) values
  ('00000000-0000-0000-0006-000000000001', 'authenticated', 'authenticated', 'reg-1@example.test'),
  ('00000000-0000-0000-0006-000000000002', 'authenticated', 'authenticated', 'reg-2@example.test');
insert into public.brokers (id, name, platforms, rebate_per_lot) values
  ('00000000-0000-0000-0006-0000000000d1', 'Register Broker', array['MT4', 'MT5'], 2);
-- Verified (cashback accrues only for a proven owner; see 16_account_identity.sql).
insert into public.trading_accounts (id, external_account_id, user_id, broker_id, platform, login, server, created_at, verified_at)
select ('00000000-0000-0000-0006-0000000000c' || n)::uuid, ('00000000-0000-0000-0006-0000000000e' || n)::uuid,
       case when n = 5 then '00000000-0000-0000-0006-000000000002' else '00000000-0000-0000-0006-000000000001' end::uuid,
       '00000000-0000-0000-0006-0000000000d1', case when n % 2 = 0 then 'MT4' else 'MT5' end, 6000 + n, 'Reg-Live',
       now() - make_interval(hours => 10 - n), now()
from generate_series(1, 7) n;
insert into private.account_secrets (account_id, investor_password_ciphertext, encryption_key_id, provisioning_token_hash,
                                     provisioning_token_expires_at)
select a.id, 'pw-' || a.login, 'key1',
       case when a.login = 6007 then null else tests.h('tok-' || (a.login - 6000)) end,
       case when a.login = 6007 then null when a.login = 6002 then now() - interval '1 second' else now() + interval '1 hour' end
from public.trading_accounts a where a.server = 'Reg-Live';
update public.trading_accounts set status = 'provisioning' where server = 'Reg-Live' and login <> 6007;
update public.trading_accounts set status = 'connected' where login in (6003, 6005) and server = 'Reg-Live';
update public.trading_accounts set status = 'disconnected' where login = 6005 and server = 'Reg-Live';
update public.trading_accounts set status = 'disconnected', paused_at = now() where login = 6004 and server = 'Reg-Live';
update public.trading_accounts set deleted_at = now(), paused_at = now() where login = 6006 and server = 'Reg-Live';
update public.trading_accounts set last_seen_at = now() - interval '1 day', connected_at = now() - interval '1 day'
where server = 'Reg-Live';

-- =============================================================================================
-- Grants
-- =============================================================================================
select ok(has_function_privilege('service_role', 'private.register_account_ea(uuid, text, bigint, text, text, integer, text, text)', 'execute'),
  'service_role can execute register_account_ea');
select ok(not has_function_privilege(r, 'private.register_account_ea(uuid, text, bigint, text, text, integer, text, text)', 'execute'),
  format('%s cannot execute register_account_ea', r))
from unnest(array['anon', 'authenticated', 'public']) as r;
select ok(not has_function_privilege(r, 'private.touch_account(uuid, boolean, timestamptz, boolean)', 'execute'), format('%s cannot execute touch_account', r))
from unnest(array['anon', 'authenticated', 'service_role', 'public']) as r;
select is(
  (select count(*)::int from pg_proc p join pg_namespace n on n.oid = p.pronamespace
   where n.nspname = 'private' and p.proname in ('register_account_ea', 'touch_account')
     and p.prosecdef and 'search_path=""' = any (p.proconfig)),
  2,
  'both are security definer with an empty search_path'
);

select tests.authenticate_as('00000000-0000-0000-0006-000000000001');
select throws_ok(
  $$ select * from private.register_account_ea('00000000-0000-0000-0006-0000000000e1', tests.h('tok-1'), 6001, 'Reg-Live', 'MT5', 1, 'x', 'k') $$,
  '42501', 'permission denied for function register_account_ea',
  'register: a signed-in user (even the owner) cannot call it'
);
select tests.authenticate_as_anon();
select throws_ok($$ select private.touch_account('00000000-0000-0000-0006-0000000000c1') $$,
  '42501', 'permission denied for schema private', 'heard from: anon cannot call it (no usage on private)');
select tests.authenticate_as_service_role();
select throws_ok($$ select private.touch_account('00000000-0000-0000-0006-0000000000c1') $$,
  '42501', 'permission denied for function touch_account', 'heard from: nor can service_role (only ingest_trades, behind the gate)');

-- =============================================================================================
-- register_account_ea: refusals write nothing
-- =============================================================================================
select throws_ok(
  $$ select * from private.register_account_ea('00000000-0000-0000-0006-0000000000e1', 'TOK-1', 6001, 'Reg-Live', 'MT5', 1, 'x', 'k') $$,
  '22023', 'p_token_hash must be a lowercase hex SHA-256', 'register: a token hash must be a hash'
);
select throws_ok(
  $$ select * from private.register_account_ea('00000000-0000-0000-0006-0000000000e1', tests.h('tok-1'), 6001, 'Reg-Live', 'MT5', 1, null, 'k') $$,
  '22023', 'the sealed api secret and its key id are required', 'register: the sealed secret is required'
);
select is_empty(
  $$ select * from private.register_account_ea('00000000-0000-0000-0006-0000000000ee', tests.h('tok-1'), 6001, 'Reg-Live', 'MT5', 1, 'x', 'k') $$,
  'register: an unknown external id gives no row'
);
select is_empty(
  $$ select * from private.register_account_ea('00000000-0000-0000-0006-0000000000e6', tests.h('tok-6'), 6006, 'Reg-Live', 'MT4', 1, 'x', 'k') $$,
  'register: a deleted account gives no row, even with its token'
);
select results_eq(
  $$ select account_id::text, user_id, status, refused
     from private.register_account_ea('00000000-0000-0000-0006-0000000000e1', tests.h('tok-2'), 6001, 'Reg-Live', 'MT5', 1, 'x', 'k') $$,
  $$ values ('00000000-0000-0000-0006-0000000000c1', null::uuid, null::text, 'token_mismatch') $$,
  'register: another account''s token is refused (token_mismatch), with no owner and no status'
);
select results_eq(
  $$ select refused from private.register_account_ea('00000000-0000-0000-0006-0000000000e2', tests.h('tok-2'), 6002, 'Reg-Live', 'MT4', 1, 'x', 'k') $$,
  $$ values ('token_expired') $$,
  'register: an expired token is refused'
);
select results_eq(
  $$ select refused from private.register_account_ea('00000000-0000-0000-0006-0000000000e7', repeat('0', 64), 6007, 'Reg-Live', 'MT5', 1, 'x', 'k') $$,
  $$ values ('no_token') $$,
  'register: an account without an outstanding token refuses any'
);
select results_eq(
  $$ select refused from private.register_account_ea('00000000-0000-0000-0006-0000000000e1', tests.h('tok-1'), 6009, 'Reg-Live', 'MT5', 1, 'x', 'k') $$,
  $$ values ('identity_mismatch') $$,
  'register: the right token with another login is refused'
);
select results_eq(
  $$ select refused from private.register_account_ea('00000000-0000-0000-0006-0000000000e1', tests.h('tok-1'), 6001, 'Reg-Demo', 'MT5', 1, 'x', 'k') $$,
  $$ values ('identity_mismatch') $$,
  'register: ...or another server'
);
select results_eq(
  $$ select refused from private.register_account_ea('00000000-0000-0000-0006-0000000000e1', tests.h('tok-1'), 6001, 'Reg-Live', 'MT4', 1, 'x', 'k') $$,
  $$ values ('identity_mismatch') $$,
  'register: ...or another platform'
);
select tests.clear_authentication();
select results_eq(
  $$ select s.provisioning_token_hash, s.api_secret_ciphertext, a.status::text, a.terminal_build, a.last_seen_at < now() - interval '1 hour'
     from private.account_secrets s join public.trading_accounts a on a.id = s.account_id
     where a.login in (6001, 6002) and a.server = 'Reg-Live' order by a.login $$,
  $$ values (tests.h('tok-1'), null::text, 'provisioning', null::integer, true), (tests.h('tok-2'), null, 'provisioning', null, true) $$,
  'register: refusals spend no token, store no secret and leave the account as it was'
);

-- =============================================================================================
-- register_account_ea: success, spending, rotation
-- =============================================================================================
select tests.authenticate_as_service_role();
select results_eq(
  $$ select account_id::text, user_id::text, status, refused
     from private.register_account_ea('00000000-0000-0000-0006-0000000000e1', tests.h('tok-1'), 6001, 'reg-live', 'MT5', 4410, 'ct-1', 'key1') $$,
  $$ values ('00000000-0000-0000-0006-0000000000c1', '00000000-0000-0000-0006-000000000001', 'connected', null::text) $$,
  'register: the right token, login, server (any case) and platform register the EA; provisioning -> connected'
);
select tests.clear_authentication();
select results_eq(
  $$ select provisioning_token_hash, provisioning_token_expires_at, api_secret_ciphertext, api_secret_key_id
     from private.account_secrets where account_id = '00000000-0000-0000-0006-0000000000c1' $$,
  $$ values (null::text, null::timestamptz, 'ct-1', 'key1') $$,
  'register: the sealed secret is stored and the token spent'
);
select results_eq(
  $$ select status::text, terminal_build, connected_at, last_seen_at from public.trading_accounts where id = '00000000-0000-0000-0006-0000000000c1' $$,
  $$ values ('connected', 4410, now(), now()) $$,
  'register: terminal build recorded, connected and seen now'
);
select tests.authenticate_as_service_role();
select results_eq(
  $$ select api_secret_ciphertext, api_secret_key_id from private.account_ea_credentials('00000000-0000-0000-0006-0000000000e1') $$,
  $$ values ('ct-1', 'key1') $$,
  'register: the edge toolkit now finds the EA''s credentials'
);
select results_eq(
  $$ select refused from private.register_account_ea('00000000-0000-0000-0006-0000000000e1', tests.h('tok-1'), 6001, 'Reg-Live', 'MT5', 4410, 'ct-evil', 'key1') $$,
  $$ values ('no_token') $$,
  'register: a spent token cannot register again'
);

-- A re-provision: the launch package issues a new token; registering with it rotates the secret.
select tests.clear_authentication();
update private.account_secrets set provisioning_token_hash = tests.h('tok-1b'), provisioning_token_expires_at = now() + interval '1 hour'
where account_id = '00000000-0000-0000-0006-0000000000c1';
select tests.authenticate_as_service_role();
select results_eq(
  $$ select refused from private.register_account_ea('00000000-0000-0000-0006-0000000000e1', tests.h('tok-1'), 6001, 'Reg-Live', 'MT5', 4420, 'ct-evil', 'key1') $$,
  $$ values ('token_mismatch') $$,
  'rotation: the old token still does not work'
);
select results_eq(
  $$ select status, refused from private.register_account_ea('00000000-0000-0000-0006-0000000000e1', tests.h('tok-1b'), 6001, 'Reg-Live', 'MT5', 4420, 'ct-2', 'key2') $$,
  $$ values ('connected', null::text) $$,
  'rotation: the fresh token registers again (a connected account stays connected)'
);
select results_eq(
  $$ select api_secret_ciphertext, api_secret_key_id from private.account_ea_credentials('00000000-0000-0000-0006-0000000000e1') $$,
  $$ values ('ct-2', 'key2') $$,
  'rotation: the new secret replaced the old one'
);
select tests.clear_authentication();
select is((select terminal_build from public.trading_accounts where id = '00000000-0000-0000-0006-0000000000c1'), 4420,
  'rotation: the new terminal build is recorded');

-- Other starting states.
select tests.authenticate_as_service_role();
select results_eq(
  $$ select status from private.register_account_ea('00000000-0000-0000-0006-0000000000e3', tests.h('tok-3'), 6003, 'Reg-Live', 'MT5', null, 'ct-3', 'key1') $$,
  $$ values ('connected') $$,
  'register: a connected account stays connected'
);
select results_eq(
  $$ select status from private.register_account_ea('00000000-0000-0000-0006-0000000000e4', tests.h('tok-4'), 6004, 'Reg-Live', 'MT4', 1, 'ct-4', 'key1') $$,
  $$ values ('disconnected') $$,
  'register: a paused account registers but stays disconnected'
);
select results_eq(
  $$ select user_id::text, status from private.register_account_ea('00000000-0000-0000-0006-0000000000e5', tests.h('tok-5'), 6005, 'Reg-Live', 'MT5', 1, 'ct-5', 'key1') $$,
  $$ values ('00000000-0000-0000-0006-000000000002', 'connected') $$,
  'register: a silent (disconnected, not paused) account is connected again'
);
select tests.clear_authentication();
select results_eq(
  $$ select login, status::text, paused_at is not null, terminal_build, last_seen_at = now() from public.trading_accounts
     where login in (6003, 6004, 6005) and server = 'Reg-Live' order by login $$,
  $$ values (6003::bigint, 'connected', false, null::integer, true), (6004, 'disconnected', true, 1, true), (6005, 'connected', false, 1, true) $$,
  'register: paused stays paused; a null terminal build keeps the old one; every registration counts as being heard from'
);
select is(
  (select count(*)::int from private.state_transitions where machine = 'account'),
  15,
  'no new account transitions: registering uses provisioning -> connected and disconnected -> connected'
);

-- =============================================================================================
-- touch_account (called by ingest_trades once the gate admitted the account's EA)
-- =============================================================================================
update public.trading_accounts set last_seen_at = now() - interval '1 day' where server = 'Reg-Live';
update public.trading_accounts set status = 'disconnected' where id = '00000000-0000-0000-0006-0000000000c1';

select is(private.touch_account('00000000-0000-0000-0006-0000000000c1'), 'connected',
  'heard from: a silent (disconnected) account is connected again');
select results_eq(
  $$ select status::text, last_seen_at, connected_at from public.trading_accounts where id = '00000000-0000-0000-0006-0000000000c1' $$,
  $$ values ('connected', now(), now()) $$,
  'heard from: last_seen_at is now (and so is connected_at, on reconnecting)'
);

select is(private.touch_account('00000000-0000-0000-0006-0000000000c3'), 'connected', 'heard from: a connected account stays connected');
select is(private.touch_account('00000000-0000-0000-0006-0000000000c4'), 'disconnected', 'heard from: a paused account stays disconnected');
select is(private.touch_account('00000000-0000-0000-0006-0000000000c7'), 'pending_vps_setup', 'heard from: any other status is left alone');
select is(private.touch_account('00000000-0000-0000-0006-0000000000c6'), null, 'heard from: a deleted account: null, nothing changes');
select results_eq(
  $$ select login, status::text, last_seen_at = now() from public.trading_accounts where login in (6003, 6004, 6006, 6007) and server = 'Reg-Live' order by login $$,
  $$ values (6003::bigint, 'connected', true), (6004, 'disconnected', true), (6006, 'provisioning', false), (6007, 'pending_vps_setup', true) $$,
  'heard from: last_seen_at moved for every live account it was called for, not for the deleted one'
);
-- Which account an EA may touch is decided before: ingest_trades refuses another account (42501),
-- see 11_ea_gates_and_hot_path.sql.

-- =============================================================================================
-- The trades flow in one transaction, as the account EA: private.ingest_trades inserts the new
-- tickets with their accrual, and the account is heard from.
-- =============================================================================================
select tests.authenticate_as_account_ea('00000000-0000-0000-0006-000000000002', '00000000-0000-0000-0006-0000000000c5');
select results_eq(
  $$ select accepted, cashback_accrued from private.ingest_trades('00000000-0000-0000-0006-000000000002', '00000000-0000-0000-0006-0000000000c5',
       (select jsonb_agg(tests.trade(t, 1.5, now() - interval '1 hour')) from generate_series(1, 2) t)) $$,
  $$ values ('{1,2}'::bigint[], 6.0::numeric) $$,
  'trades: the account EA ingests its batch'
);
select results_eq(
  $$ select accepted, cashback_accrued from private.ingest_trades('00000000-0000-0000-0006-000000000002', '00000000-0000-0000-0006-0000000000c5',
       (select jsonb_agg(tests.trade(t, 9, now() - interval '1 hour')) from generate_series(1, 3) t)) $$,
  $$ values ('{3}'::bigint[], 18::numeric) $$,
  'trades: the EA resends the batch with one more ticket: only that one is accepted and accrues'
);
select tests.clear_authentication();
select results_eq(
  $$ select status::text, last_seen_at = now() from public.trading_accounts where id = '00000000-0000-0000-0006-0000000000c5' $$,
  $$ values ('connected', true) $$,
  'trades: then the EA is heard from (the silent account is connected again)'
);
select results_eq(
  $$ select ticket, lots, cashback_amount from public.closed_trades where account_id = '00000000-0000-0000-0006-0000000000c5' order by ticket $$,
  $$ values (1::bigint, 1.5::numeric, 3.0::numeric), (2, 1.5, 3.0), (3, 9, 18) $$,
  'trades: only the new ticket was added; cashback accrued once per ticket at the broker''s rebate; resent tickets kept their first values'
);
select tests.authenticate_as_account_ea('00000000-0000-0000-0006-000000000001', '00000000-0000-0000-0006-0000000000c1');
select throws_ok(
  $$ select * from private.ingest_trades('00000000-0000-0000-0006-000000000001', '00000000-0000-0000-0006-0000000000c5',
       jsonb_build_array(tests.trade(99, 1))) $$,
  '42501', 'only the account''s own EA reports for it',
  'trades: one account''s EA cannot ingest for another account'
);
select throws_ok(
  $$ insert into public.closed_trades (account_id, user_id, ticket, symbol, type, lots, open_time, close_time, open_price, close_price)
     values ('00000000-0000-0000-0006-0000000000c1', '00000000-0000-0000-0006-000000000001', 99, 'EURUSD', 'BUY', 1, now() - interval '1 hour', now(), 1.1, 1.2) $$,
  '42501', 'permission denied for table closed_trades',
  'trades: the account EA cannot insert closed trades directly, even for its own account'
);
select tests.clear_authentication();

select * from finish();
rollback;
