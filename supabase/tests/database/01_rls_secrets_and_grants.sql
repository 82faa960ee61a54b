-- The private schema: no API role reads its tables, and only the functions granted on purpose
-- are executable by the roles that need them.
--
-- Fixed ids (group 4 = 0003 marks this file):
--   users            A ...0003-0000000000a1  B ...0003-0000000000b1
--   EA keys          A ...0003-0000000000a2  B ...0003-0000000000b2  A revoked ...0003-0000000000a3
--   broker           ...0003-0000000000c1
--   trading accounts A ...0003-0000000000a6  B ...0003-0000000000b6
--   VPS host         ...0003-0000000000d1
begin;
\ir helpers/setup.psql

select plan(76);

-- ---------------------------------------------------------------------------------------------
-- Fixture, as the database owner.
select tests.clear_authentication();

insert into auth.users (id, aud, role, email) values
  ('00000000-0000-0000-0003-0000000000a1', 'authenticated', 'authenticated', 'a.secrets@rls.test'),
  ('00000000-0000-0000-0003-0000000000b1', 'authenticated', 'authenticated', 'b.secrets@rls.test');

insert into public.ea_keys (id, user_id, name, revoked_at) values
  ('00000000-0000-0000-0003-0000000000a2', '00000000-0000-0000-0003-0000000000a1', 'A key', null),
  ('00000000-0000-0000-0003-0000000000b2', '00000000-0000-0000-0003-0000000000b1', 'B key', null),
  ('00000000-0000-0000-0003-0000000000a3', '00000000-0000-0000-0003-0000000000a1', 'A old key', now());
insert into private.ea_key_secrets (key_id, secret_ciphertext, encryption_key_id) values
  ('00000000-0000-0000-0003-0000000000a2', 'A-KEY-CIPHERTEXT', 'k1'),
  ('00000000-0000-0000-0003-0000000000b2', 'B-KEY-CIPHERTEXT', 'k1'),
  ('00000000-0000-0000-0003-0000000000a3', 'A-OLD-KEY-CIPHERTEXT', 'k1');

insert into public.brokers (id, name, platforms, rebate_per_lot) values
  ('00000000-0000-0000-0003-0000000000c1', 'RLS Secrets Broker', array['MT4', 'MT5'], 3);
insert into public.trading_accounts (id, user_id, broker_id, platform, login, server) values
  ('00000000-0000-0000-0003-0000000000a6', '00000000-0000-0000-0003-0000000000a1', '00000000-0000-0000-0003-0000000000c1', 'MT5', 7001, 'RLS-Secrets-Demo'),
  ('00000000-0000-0000-0003-0000000000b6', '00000000-0000-0000-0003-0000000000b1', '00000000-0000-0000-0003-0000000000c1', 'MT5', 8001, 'RLS-Secrets-Demo');
insert into private.account_secrets (account_id, investor_password_ciphertext, encryption_key_id) values
  ('00000000-0000-0000-0003-0000000000a6', 'A-PASSWORD-CIPHERTEXT', 'k1'),
  ('00000000-0000-0000-0003-0000000000b6', 'B-PASSWORD-CIPHERTEXT', 'k1');

insert into private.vps_hosts (id, name, key_hash, capacity) values
  ('00000000-0000-0000-0003-0000000000d1', 'rls-secrets-host', repeat('ab', 32), 5);

-- A trade closed yesterday on B's account: settle_cashback would settle it.
insert into public.closed_trades (account_id, user_id, ticket, symbol, type, lots, open_time, close_time, open_price, close_price)
values ('00000000-0000-0000-0003-0000000000b6', '00000000-0000-0000-0003-0000000000b1', 1, 'EURUSD', 'BUY', 1,
        now() - interval '1 day 1 hour', now() - interval '1 day', 1.1, 1.2);

-- ---------------------------------------------------------------------------------------------
-- Private tables: permission denied for every API role (service_role included: it goes through
-- the functions). One test per role and table.
select tests.authenticate_as_anon();
select throws_ok(format('select * from private.%I', t), '42501', null, format('anon cannot read private.%s', t))
from unnest(array['ea_key_secrets', 'account_secrets', 'vps_hosts', 'seen_request_ids', 'settings', 'state_transitions']) as t;

select tests.authenticate_as('00000000-0000-0000-0003-0000000000a1');
select throws_ok(format('select * from private.%I', t), '42501', null, format('authenticated cannot read private.%s', t))
from unnest(array['ea_key_secrets', 'account_secrets', 'vps_hosts', 'seen_request_ids', 'settings', 'state_transitions']) as t;

select tests.authenticate_as_service_role();
select throws_ok(format('select * from private.%I', t), '42501', null, format('service_role cannot read private.%s', t))
from unnest(array['ea_key_secrets', 'account_secrets', 'vps_hosts', 'seen_request_ids', 'settings', 'state_transitions']) as t;

-- Writes are denied too, and partitions stored in private cannot be read around the parent's RLS.
select tests.authenticate_as('00000000-0000-0000-0003-0000000000a1');
select throws_ok($$
  insert into private.ea_key_secrets (key_id, secret_ciphertext, encryption_key_id)
  values ('00000000-0000-0000-0003-0000000000a3', 'mine now', 'k1')
$$, '42501', null, 'authenticated cannot write private.ea_key_secrets');
select throws_ok($$
  update private.settings set value = 1000000 where key = 'account_retry_max_attempts'
$$, '42501', null, 'authenticated cannot change operator settings');
select throws_ok($$
  insert into private.vps_hosts (name, key_hash) values ('rogue', repeat('cd', 32))
$$, '42501', null, 'authenticated cannot register a VPS host');
select throws_ok($$ select * from private.account_snapshots_default $$, '42501', null,
  'authenticated cannot read the snapshots default partition directly');

-- Catalog-wide, so a new private table cannot slip through.
select tests.clear_authentication();
select is_empty($$
  select r.rolname || ' on private.' || c.relname
  from pg_class c
  join pg_namespace n on n.oid = c.relnamespace
  cross join (values ('anon'), ('authenticated'), ('service_role')) as r (rolname)
  where n.nspname = 'private'
    and c.relkind in ('r', 'p', 'v', 'm', 'f', 'S')
    and has_table_privilege(r.rolname, c.oid, 'select, insert, update, delete, truncate, references, trigger')
$$, 'no API role holds any privilege on any relation in private');
select ok(not has_schema_privilege('anon', 'private', 'usage'), 'anon has no usage on schema private');
select ok(not has_schema_privilege('authenticated', 'private', 'create')
  and not has_schema_privilege('service_role', 'private', 'create')
  and not has_schema_privilege('anon', 'private', 'create'), 'no API role can create objects in private');

-- ---------------------------------------------------------------------------------------------
-- Function grants, from the catalog.
select ok(not has_function_privilege(r, f, 'execute'), format('%s cannot execute %s', r, f))
from unnest(array['anon', 'authenticated']) as r
cross join unnest(array[
  'private.claim_accounts(uuid, integer, text[])',
  'private.vps_heartbeat(uuid, text, integer)',
  'private.authenticate_vps_host(text)',
  'private.remember_request_id(text, text)',
  'private.ea_key_credentials(uuid)',
  'private.settle_cashback(date)',
  'private.sweep_stale_sessions()'
]) as f;

select ok(has_function_privilege('service_role', f, 'execute'), format('service_role can execute %s', f))
from unnest(array[
  'private.claim_accounts(uuid, integer, text[])',
  'private.vps_heartbeat(uuid, text, integer)',
  'private.authenticate_vps_host(text)',
  'private.remember_request_id(text, text)',
  'private.ea_key_credentials(uuid)'
]) as f;

select ok(has_function_privilege('authenticated', f, 'execute'), format('authenticated can execute %s', f))
from unnest(array[
  'private.create_ea_key(text, text[], text, text, uuid)',
  'private.register_trading_account(uuid, text, bigint, text, text, text, uuid)',
  'private.account_action(uuid, text)',
  'private.change_investor_password(uuid, text, text)'
]) as f;

-- The complete lists, so a new function is granted on purpose or not at all. (setting,
-- transition_actor and current_actor are read by the invoker-rights triggers API roles fire; the
-- EA endpoint functions are rubi_ea's, the role the EA gates switch to, and check the caller's EA
-- claim themselves, see 11_ea_gates_and_hot_path.sql.)
select is(array(
  select p.proname::text from pg_proc p join pg_namespace n on n.oid = p.pronamespace
  where n.nspname = 'private' and has_function_privilege('authenticated', p.oid, 'execute')
  order by 1
), array['account_action', 'cancel_signal', 'cashback_report', 'change_investor_password', 'create_ea_key', 'create_signal', 'current_actor',
          'register_trading_account', 'same_signal', 'set_account_cashback_settings', 'setting', 'size_by_risk', 'transition_actor', 'volume_problem'],
  'authenticated can execute exactly the user-facing private functions');
select is(array(
  select p.proname::text from pg_proc p join pg_namespace n on n.oid = p.pronamespace
  where n.nspname = 'private' and has_function_privilege('rubi_ea', p.oid, 'execute')
    and not has_function_privilege('authenticated', p.oid, 'execute')
  order by 1
), array['close_session', 'deliver_signals', 'ea_caller', 'ingest_trades', 'live_session', 'open_session', 'ping_session',
         'push_positions', 'report_signal'],
  'rubi_ea (an admitted EA) can execute exactly the EA endpoint functions besides what a user can');
select is(array(
  select p.proname::text from pg_proc p join pg_namespace n on n.oid = p.pronamespace
  where n.nspname = 'private' and has_function_privilege('service_role', p.oid, 'execute')
  order by 1
), array['account_ea_credentials', 'authenticate_operator', 'authenticate_vps_host', 'claim_accounts', 'current_actor', 'ea_key_credentials', 'ops_fleet', 'ops_metrics',
          'register_account_ea', 'remember_request_id', 'server_key', 'setting', 'take_rate_limit', 'transition_actor', 'vps_heartbeat', 'vps_held_accounts', 'vps_launch_package', 'vps_report_state',
          'vps_report_terminals', 'vps_teardown_list'],
  'service_role can execute exactly the server-side private functions');

-- ---------------------------------------------------------------------------------------------
-- Function grants, for real: a signed-in user calling the infrastructure functions.
select tests.authenticate_as('00000000-0000-0000-0003-0000000000a1');
select throws_ok($$ select * from private.ea_key_credentials('00000000-0000-0000-0003-0000000000b2') $$,
  '42501', 'permission denied for function ea_key_credentials', 'a user cannot fetch another user''s EA key secret');
select throws_ok($$ select * from private.claim_accounts('00000000-0000-0000-0003-0000000000d1', 10) $$,
  '42501', 'permission denied for function claim_accounts', 'a user cannot claim accounts for a VPS host');
select throws_ok($$ select private.vps_heartbeat('00000000-0000-0000-0003-0000000000d1', 'rogue', 1000) $$,
  '42501', 'permission denied for function vps_heartbeat', 'a user cannot heartbeat for a VPS host');
select throws_ok(format('select private.authenticate_vps_host(%L)', repeat('ab', 32)),
  '42501', 'permission denied for function authenticate_vps_host', 'a user cannot probe VPS host key hashes');
select throws_ok($$ select private.remember_request_id('00000000-0000-0000-0003-0000000000b2', 'future-request') $$,
  '42501', 'permission denied for function remember_request_id', 'a user cannot burn another credential''s request ids');
select throws_ok($$ select private.settle_cashback(current_date) $$,
  '42501', 'permission denied for function settle_cashback', 'a user cannot run the cashback settlement');
select throws_ok($$ select private.sweep_stale_sessions() $$,
  '42501', 'permission denied for function sweep_stale_sessions', 'a user cannot run the stale-session sweep');

select tests.authenticate_as_anon();
select throws_ok($$ select * from private.claim_accounts('00000000-0000-0000-0003-0000000000d1', 10) $$,
  '42501', null, 'anon cannot claim accounts');
select throws_ok($$ select * from private.ea_key_credentials('00000000-0000-0000-0003-0000000000b2') $$,
  '42501', null, 'anon cannot fetch EA key secrets');
select throws_ok($$ select private.create_ea_key('anon key', null, 'c', 'k1') $$,
  '42501', null, 'anon cannot create an EA key');

-- None of those calls changed anything.
select tests.clear_authentication();
select is((select count(*)::int from public.trading_accounts
           where id in ('00000000-0000-0000-0003-0000000000a6', '00000000-0000-0000-0003-0000000000b6')
             and status = 'pending_vps_setup' and vps_host_id is null), 2,
  'no account was claimed by the user''s attempt');
select is((select last_heartbeat_at from private.vps_hosts where id = '00000000-0000-0000-0003-0000000000d1'), null,
  'the host''s heartbeat was not recorded by the user''s attempt');
select is((select count(*)::int from private.seen_request_ids where credential_id = '00000000-0000-0000-0003-0000000000b2'), 0,
  'no request id was remembered by the user''s attempt');
select is((select count(*)::int from public.cashback_ledger where account_id = '00000000-0000-0000-0003-0000000000b6'), 0,
  'no cashback was settled by the user''s attempt');

-- ---------------------------------------------------------------------------------------------
-- service_role uses the functions it was granted. (Put both accounts back in the queue first, so
-- this part does not depend on the outcome of the attempts above.)
update public.trading_accounts set status = 'pending_vps_setup'
where id in ('00000000-0000-0000-0003-0000000000a6', '00000000-0000-0000-0003-0000000000b6') and status <> 'pending_vps_setup';
select tests.authenticate_as_service_role();
select is((select secret_ciphertext from private.ea_key_credentials('00000000-0000-0000-0003-0000000000a2')), 'A-KEY-CIPHERTEXT',
  'service_role fetches a live key''s credentials');
select is_empty($$ select * from private.ea_key_credentials('00000000-0000-0000-0003-0000000000a3') $$,
  'a revoked key has no credentials');
select is(private.authenticate_vps_host(repeat('ab', 32)), '00000000-0000-0000-0003-0000000000d1'::uuid,
  'service_role authenticates a VPS host by key hash');
select is(private.remember_request_id('00000000-0000-0000-0003-0000000000a2', 'req-1'), true,
  'a new request id is remembered');
select is(private.remember_request_id('00000000-0000-0000-0003-0000000000a2', 'req-1'), false,
  'the same request id is a replay');
select is((select count(*)::int from private.claim_accounts('00000000-0000-0000-0003-0000000000d1', 1)), 1,
  'service_role claims an account for a host');

-- ---------------------------------------------------------------------------------------------
-- private.account_action only reaches the caller's own accounts.
select tests.clear_authentication();
update public.trading_accounts set status = 'pending_vps_setup' where id = '00000000-0000-0000-0003-0000000000b6';

select tests.authenticate_as('00000000-0000-0000-0003-0000000000a1');
select throws_ok($$ select private.account_action('00000000-0000-0000-0003-0000000000b6', 'pause') $$,
  'P0002', null, 'A cannot pause B''s account');
select throws_ok($$ select private.account_action('00000000-0000-0000-0003-0000000000b6', 'delete') $$,
  'P0002', null, 'A cannot delete B''s account');
select throws_ok($$ select private.account_action('00000000-0000-0000-0003-0000000000b6', 'resume') $$,
  'P0002', null, 'A cannot resume B''s account');

select tests.authenticate_as_anon();
select throws_ok($$ select private.account_action('00000000-0000-0000-0003-0000000000b6', 'pause') $$,
  '42501', null, 'anon cannot act on an account');

select tests.clear_authentication();
select is(
  (select status || '/' || (paused_at is null)::text || '/' || (deleted_at is null)::text
   from public.trading_accounts where id = '00000000-0000-0000-0003-0000000000b6'),
  'pending_vps_setup/true/true', 'B''s account is unchanged: still pending, not paused, not deleted');

select * from finish();
rollback;
