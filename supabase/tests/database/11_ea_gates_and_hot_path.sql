-- EA gates and the hot path (20261130000500_ea_gates_and_hot_path.sql): the gates
-- private.enter_ea_key / private.enter_account_ea (and their admit_* halves), the endpoint
-- functions run as the admitted EA (ping_session, deliver_signals, report_signal, push_positions,
-- ingest_trades, touch_account), and the quiet ping (no Realtime message for a bare last_ping_at).
--
-- pgTAP runs as a superuser: that is the connection role that calls the gates. After a gate, the
-- rest of the transaction runs as `authenticated` with the EA's claims, which the tests read back;
-- tests.clear_authentication() resets the role (and the claims) between cases.
--
-- Fixed ids (group 4 = 0011 marks this file):
--   users      A ...0011-0000000000a1  B ...0011-0000000000b1
--   EA keys    A ...0011-0000000000a2 (sealed A-KEY-SEALED)  A revoked ...0011-0000000000a5
--              B ...0011-0000000000b2 (sealed B-KEY-SEALED)
--   sessions   A active ...0011-0000000000a3  A disconnected ...0011-0000000000a6  A stale ...0011-0000000000a7
--              B active ...0011-0000000000b3
--   signals    A on a3: e1, e2, e3 pending (oldest first), e4 pending but expired
--              B on b3: eb delivered, ec pending
--   brokers    c1 active 2.5 USD/lot  c2 inactive 9 EUR/lot
--   accounts   (id / external id) A d1 / f1 (c1, registered, disconnected)  A d2 / f2 (c2, registered)
--              A d3 / f3 (c1, not registered)  A d4 / f4 (c1, registered, deleted)  B db / fb (c1, registered)
begin;
\ir helpers/setup.psql

select plan(117);

select tests.clear_authentication();

insert into auth.users (id, aud, role, email) values
  ('00000000-0000-0000-0011-0000000000a1', 'authenticated', 'authenticated', 'a.gates@hot.test'),
  ('00000000-0000-0000-0011-0000000000b1', 'authenticated', 'authenticated', 'b.gates@hot.test');
insert into public.ea_keys (id, user_id, name, revoked_at) values
  ('00000000-0000-0000-0011-0000000000a2', '00000000-0000-0000-0011-0000000000a1', 'A key', null),
  ('00000000-0000-0000-0011-0000000000a5', '00000000-0000-0000-0011-0000000000a1', 'A old key', now()),
  ('00000000-0000-0000-0011-0000000000b2', '00000000-0000-0000-0011-0000000000b1', 'B key', null);
insert into private.ea_key_secrets (key_id, secret_ciphertext, encryption_key_id) values
  ('00000000-0000-0000-0011-0000000000a2', 'A-KEY-SEALED', 'k1'),
  ('00000000-0000-0000-0011-0000000000a5', 'A-OLD-KEY-SEALED', 'k1'),
  ('00000000-0000-0000-0011-0000000000b2', 'B-KEY-SEALED', 'k1');

insert into public.mt5_sessions (id, user_id, ea_key_id, account_number, broker, server, currency, leverage, balance, equity, margin_free) values
  ('00000000-0000-0000-0011-0000000000a3', '00000000-0000-0000-0011-0000000000a1', '00000000-0000-0000-0011-0000000000a2',
   1101, 'Demo Broker', 'Gates-Demo', 'USD', 100, 1000, 1000, 1000),
  ('00000000-0000-0000-0011-0000000000a6', '00000000-0000-0000-0011-0000000000a1', '00000000-0000-0000-0011-0000000000a2',
   1102, 'Demo Broker', 'Gates-Demo', 'USD', 100, 1000, 1000, 1000),
  ('00000000-0000-0000-0011-0000000000a7', '00000000-0000-0000-0011-0000000000a1', '00000000-0000-0000-0011-0000000000a2',
   1103, 'Demo Broker', 'Gates-Demo', 'USD', 100, 1000, 1000, 1000),
  ('00000000-0000-0000-0011-0000000000b3', '00000000-0000-0000-0011-0000000000b1', '00000000-0000-0000-0011-0000000000b2',
   2101, 'Demo Broker', 'Gates-Demo', 'USD', 100, 500, 500, 500);
update public.mt5_sessions set status = 'disconnected' where id = '00000000-0000-0000-0011-0000000000a6';
update public.mt5_sessions set status = 'stale', last_ping_at = now() - interval '10 minutes'
where id = '00000000-0000-0000-0011-0000000000a7';

insert into public.trading_signals (id, user_id, session_id, type, symbol, volume, created_at, expires_at)
select v.id::uuid, v.owner::uuid, v.session::uuid, 'BUY', 'EURUSD', 0.1, now() - make_interval(mins => v.age), v.expires_at
from (values
  ('00000000-0000-0000-0011-0000000000e1', '00000000-0000-0000-0011-0000000000a1', '00000000-0000-0000-0011-0000000000a3', 40, null::timestamptz),
  ('00000000-0000-0000-0011-0000000000e2', '00000000-0000-0000-0011-0000000000a1', '00000000-0000-0000-0011-0000000000a3', 30, null),
  ('00000000-0000-0000-0011-0000000000e3', '00000000-0000-0000-0011-0000000000a1', '00000000-0000-0000-0011-0000000000a3', 20, now() + interval '1 hour'),
  ('00000000-0000-0000-0011-0000000000e4', '00000000-0000-0000-0011-0000000000a1', '00000000-0000-0000-0011-0000000000a3', 50, now() - interval '1 minute'),
  ('00000000-0000-0000-0011-0000000000eb', '00000000-0000-0000-0011-0000000000b1', '00000000-0000-0000-0011-0000000000b3', 40, null),
  ('00000000-0000-0000-0011-0000000000ec', '00000000-0000-0000-0011-0000000000b1', '00000000-0000-0000-0011-0000000000b3', 30, null)
) as v (id, owner, session, age, expires_at);
update public.trading_signals set status = 'DELIVERED' where id = '00000000-0000-0000-0011-0000000000eb';

insert into public.brokers (id, name, platforms, rebate_per_lot, currency, active) values
  ('00000000-0000-0000-0011-0000000000c1', 'Gates Active Broker', array['MT4', 'MT5'], 2.5, 'USD', true),
  ('00000000-0000-0000-0011-0000000000c2', 'Gates Inactive Broker', array['MT4', 'MT5'], 9, 'EUR', false);
-- Verified (cashback accrues only for a proven owner; see 16_account_identity.sql).
insert into public.trading_accounts (id, external_account_id, user_id, broker_id, platform, login, server, verified_at)
select ('00000000-0000-0000-0011-0000000000d' || v.n)::uuid, ('00000000-0000-0000-0011-0000000000f' || v.n)::uuid, v.owner::uuid,
       v.broker::uuid, 'MT5', v.login, 'Gates-Live', now()
from (values
  ('1', '00000000-0000-0000-0011-0000000000a1', '00000000-0000-0000-0011-0000000000c1', 1101),
  ('2', '00000000-0000-0000-0011-0000000000a1', '00000000-0000-0000-0011-0000000000c2', 1102),
  ('3', '00000000-0000-0000-0011-0000000000a1', '00000000-0000-0000-0011-0000000000c1', 1103),
  ('4', '00000000-0000-0000-0011-0000000000a1', '00000000-0000-0000-0011-0000000000c1', 1104),
  ('b', '00000000-0000-0000-0011-0000000000b1', '00000000-0000-0000-0011-0000000000c1', 2101)
) as v (n, owner, broker, login);
insert into private.account_secrets (account_id, investor_password_ciphertext, encryption_key_id, api_secret_ciphertext, api_secret_key_id)
select a.id, 'pw', 'k1', case when a.login = 1103 then null else 'API-SEALED-' || a.login end,
       case when a.login = 1103 then null else 'k1' end
from public.trading_accounts a where a.server = 'Gates-Live';
update public.trading_accounts set status = 'provisioning' where id = '00000000-0000-0000-0011-0000000000d1';
update public.trading_accounts set status = 'connected' where id = '00000000-0000-0000-0011-0000000000d1';
update public.trading_accounts set status = 'disconnected', last_seen_at = now() - interval '1 day'
where id = '00000000-0000-0000-0011-0000000000d1';
update public.trading_accounts set deleted_at = now(), paused_at = now() where id = '00000000-0000-0000-0011-0000000000d4';

-- UPDATE messages broadcast for one session row.
create function tests.session_updates(p_session uuid) returns integer
language sql
as $$
  select count(*)::int from realtime.messages
  where event = 'mt5_sessions' and payload ->> 'operation' = 'UPDATE' and payload -> 'record' ->> 'id' = p_session::text
$$;

-- =============================================================================================
-- Principals: the gates are the connection role's, never an API role's.
-- =============================================================================================
select ok(not has_function_privilege(r, f, 'execute'), format('%s cannot execute %s', r, f))
from unnest(array['anon', 'authenticated', 'service_role']) as r
cross join unnest(array[
  'private.admit_ea_key(uuid, text, text, text[])',
  'private.enter_ea_key(uuid, text, text, text[])',
  'private.admit_account_ea(uuid, text, text)',
  'private.enter_account_ea(uuid, text, text)',
  'private.touch_account(uuid, boolean, timestamptz, boolean)'
]) as f;
select ok(has_function_privilege('rubi_ea', f, 'execute') and not has_function_privilege('authenticated', f, 'execute')
          and not has_function_privilege('anon', f, 'execute') and not has_function_privilege('service_role', f, 'execute'),
  format('only rubi_ea (the admitted EA) can execute %s', f))
from unnest(array[
  'private.ping_session(uuid, uuid, jsonb)',
  'private.deliver_signals(uuid, uuid, integer)',
  'private.report_signal(uuid, uuid, text, bigint, numeric, numeric, integer, text, timestamptz)',
  'private.push_positions(uuid, uuid, jsonb)',
  'private.ingest_trades(uuid, uuid, jsonb, text[], boolean, timestamptz, boolean)'
]) as f;
select ok(not has_table_privilege(r, 'public.closed_trades', 'insert, update, delete, truncate'),
  format('%s cannot write closed trades directly (private.ingest_trades is their only writer)', r))
from unnest(array['anon', 'authenticated', 'service_role']) as r;

select tests.authenticate_as('00000000-0000-0000-0011-0000000000a1');
select throws_ok($$
  select private.enter_ea_key('00000000-0000-0000-0011-0000000000a2', 'req-api-role', 'A-KEY-SEALED', array['connect', 'ping', 'signals', 'positions'])
$$, '42501', 'permission denied for function enter_ea_key', 'a signed-in user cannot pass a key gate, even with the right sealed secret');
select throws_ok($$
  select private.admit_ea_key('00000000-0000-0000-0011-0000000000a2', 'req-api-role', 'A-KEY-SEALED', array['connect', 'ping', 'signals', 'positions'])
$$, '42501', 'permission denied for function admit_ea_key', 'a signed-in user cannot burn request ids through admit_ea_key');
select throws_ok($$ select private.enter_account_ea('00000000-0000-0000-0011-0000000000f1', 'req-api-role', 'API-SEALED-1101') $$,
  '42501', 'permission denied for function enter_account_ea', 'a signed-in user cannot pass an account gate');
select tests.authenticate_as_service_role();
select throws_ok($$
  select private.enter_ea_key('00000000-0000-0000-0011-0000000000a2', 'req-api-role', 'A-KEY-SEALED', array['connect', 'ping', 'signals', 'positions'])
$$, '42501', 'permission denied for function enter_ea_key', 'service_role cannot pass a key gate');
select throws_ok($$ select * from private.admit_account_ea('00000000-0000-0000-0011-0000000000f1', 'req-api-role', 'API-SEALED-1101') $$,
  '42501', 'permission denied for function admit_account_ea', 'service_role cannot pass an account gate');
select tests.authenticate_as_anon();
select throws_ok($$
  select private.enter_ea_key('00000000-0000-0000-0011-0000000000a2', 'req-api-role', 'A-KEY-SEALED', array['connect', 'ping', 'signals', 'positions'])
$$, '42501', null, 'anon cannot pass a key gate');
select tests.clear_authentication();
select is((select count(*)::int from private.seen_request_ids where request_id = 'req-api-role'), 0,
  'none of those attempts remembered a request id');

-- =============================================================================================
-- The key gate, called by the connection role.
-- =============================================================================================
select is(
  private.enter_ea_key('00000000-0000-0000-0011-0000000000a2', 'req-1', 'A-KEY-SEALED', array['connect', 'ping', 'signals', 'positions']),
  '00000000-0000-0000-0011-0000000000a1'::uuid, 'key gate: a live key with the stored sealed secret and scopes is admitted (returns its user)');
select results_eq(
  $$ select current_user::text collate "default", auth.uid(), auth.jwt() ->> 'ea_key_id', auth.jwt() ->> 'ea_account_id', auth.jwt() ->> 'role' $$,
  $$ values ('rubi_ea', '00000000-0000-0000-0011-0000000000a1'::uuid, '00000000-0000-0000-0011-0000000000a2', null::text, 'authenticated') $$,
  'key gate: the rest of the transaction runs as rubi_ea, sub = the key''s user, claim ea_key_id = the key');
select tests.clear_authentication();
select results_eq(
  $$ select expires_at from private.seen_request_ids where credential_id = 'ea_key:00000000-0000-0000-0011-0000000000a2' and request_id = 'req-1' $$,
  $$ values (now() + make_interval(secs => private.setting('seen_request_ttl_seconds'))) $$,
  'key gate: the request id is remembered for the key, for seen_request_ttl_seconds');
select is((select last_used_at from public.ea_keys where id = '00000000-0000-0000-0011-0000000000a2'), now(),
  'key gate: the key''s last use is stamped');

select throws_ok($$
  select private.enter_ea_key('00000000-0000-0000-0011-0000000000a2', 'req-1', 'A-KEY-SEALED', array['connect', 'ping', 'signals', 'positions'])
$$, '28000', 'replayed request (X-Trade-Id already used)', 'key gate: a replayed request id is refused (28000)');
select is(current_user::text, session_user::text, 'key gate: a refused request does not switch to the EA');
select is(
  private.enter_ea_key('00000000-0000-0000-0011-0000000000b2', 'req-1', 'B-KEY-SEALED', array['connect', 'ping', 'signals', 'positions']),
  '00000000-0000-0000-0011-0000000000b1'::uuid, 'key gate: request ids are per credential (another key may use the same id)');
select tests.clear_authentication();

select throws_ok($$
  select private.enter_ea_key('00000000-0000-0000-0011-0000000000ff', 'req-2', 'A-KEY-SEALED', array['connect', 'ping', 'signals', 'positions'])
$$, '28000', 'unknown or revoked EA key', 'key gate: an unknown key is refused (28000)');
select throws_ok($$
  select private.enter_ea_key('00000000-0000-0000-0011-0000000000a5', 'req-2', 'A-OLD-KEY-SEALED', array['connect', 'ping', 'signals', 'positions'])
$$, '28000', 'unknown or revoked EA key', 'key gate: a revoked key is refused (28000)');
select throws_ok($$
  select private.enter_ea_key('00000000-0000-0000-0011-0000000000a2', 'req-2', 'A-KEY-SEALED-BEFORE-ROTATION', array['connect', 'ping', 'signals', 'positions'])
$$, '28P01', 'EA key credentials changed since they were read', 'key gate: a stale sealed secret is refused (28P01)');
select throws_ok($$
  select private.enter_ea_key('00000000-0000-0000-0011-0000000000a2', 'req-2', 'A-KEY-SEALED', array['connect', 'ping'])
$$, '28P01', 'EA key credentials changed since they were read', 'key gate: stale scopes are refused (28P01)');
select is(
  private.enter_ea_key('00000000-0000-0000-0011-0000000000a2', 'req-2', 'A-KEY-SEALED', array['connect', 'ping', 'signals', 'positions']),
  '00000000-0000-0000-0011-0000000000a1'::uuid, 'key gate: the refusals burnt no id (the retry with fresh credentials and the same id passes)');
select tests.clear_authentication();

-- The last use is stamped at most once a minute.
update public.ea_keys set last_used_at = now() - interval '30 seconds' where id = '00000000-0000-0000-0011-0000000000a2';
select from private.enter_ea_key('00000000-0000-0000-0011-0000000000a2', 'req-3', 'A-KEY-SEALED', array['connect', 'ping', 'signals', 'positions']);
select tests.clear_authentication();
select is((select last_used_at from public.ea_keys where id = '00000000-0000-0000-0011-0000000000a2'), now() - interval '30 seconds',
  'key gate: a use within a minute of the last stamp does not stamp again');
update public.ea_keys set last_used_at = now() - interval '61 seconds' where id = '00000000-0000-0000-0011-0000000000a2';
select from private.enter_ea_key('00000000-0000-0000-0011-0000000000a2', 'req-4', 'A-KEY-SEALED', array['connect', 'ping', 'signals', 'positions']);
select tests.clear_authentication();
select is((select last_used_at from public.ea_keys where id = '00000000-0000-0000-0011-0000000000a2'), now(),
  'key gate: a use more than a minute after the last stamp stamps it');

-- One statement, one transaction: a request whose work fails leaves nothing, not even its id.
select throws_ok($$
  select private.ping_session(
    private.enter_ea_key('00000000-0000-0000-0011-0000000000a2', 'req-retry', 'A-KEY-SEALED', array['connect', 'ping', 'signals', 'positions']),
    '00000000-0000-0000-0011-0000000000a6', '{"balance": 1, "equity": 1, "margin": 0, "margin_free": 1, "profit": 0}')
$$, '23514', 'session is disconnected: connect again', 'one statement: the gate then the work; the work fails (409)...');
select is(current_user::text, session_user::text, '...the role switch is undone with it...');
select is((select count(*)::int from private.seen_request_ids where request_id = 'req-retry'), 0, '...and no request id is left behind');
select is(
  private.ping_session(
    private.enter_ea_key('00000000-0000-0000-0011-0000000000a2', 'req-retry', 'A-KEY-SEALED', array['connect', 'ping', 'signals', 'positions']),
    '00000000-0000-0000-0011-0000000000a3',
    '{"balance": 1000, "equity": 1010, "margin": 50, "margin_free": 960, "margin_level": 2020, "profit": 10}'),
  '{"pending_signals": 3, "ping_interval_seconds": 30}'::jsonb,
  'so the retry with the same request id succeeds (ping: the unexpired pending and delivered signals, the interval)');
select tests.clear_authentication();
select is((select count(*)::int from private.seen_request_ids where request_id = 'req-retry'), 1, 'the retry remembered its id');
select throws_ok($$
  select private.ping_session(
    private.enter_ea_key('00000000-0000-0000-0011-0000000000a2', 'req-retry', 'A-KEY-SEALED', array['connect', 'ping', 'signals', 'positions']),
    '00000000-0000-0000-0011-0000000000a3', '{"balance": 1, "equity": 1, "margin": 0, "margin_free": 1, "profit": 0}')
$$, '28000', 'replayed request (X-Trade-Id already used)', 'a replay of the committed request is refused before any work...');
select is((select equity from public.mt5_sessions where id = '00000000-0000-0000-0011-0000000000a3'), 1010::numeric,
  '...so the replayed figures were not written');

-- =============================================================================================
-- The account gate.
-- =============================================================================================
select is(private.enter_account_ea('00000000-0000-0000-0011-0000000000f1', 'req-1', 'API-SEALED-1101'),
  '00000000-0000-0000-0011-0000000000a1'::uuid, 'account gate: a registered account with the stored sealed secret is admitted (returns its owner)');
select results_eq(
  $$ select current_user::text collate "default", auth.uid(), auth.jwt() ->> 'ea_account_id', auth.jwt() ->> 'ea_key_id', auth.jwt() ->> 'role' $$,
  $$ values ('rubi_ea', '00000000-0000-0000-0011-0000000000a1'::uuid, '00000000-0000-0000-0011-0000000000d1', null::text, 'authenticated') $$,
  'account gate: the rest of the transaction runs as rubi_ea, sub = the owner, claim ea_account_id = the account (its internal id)');
select tests.clear_authentication();
select is((select count(*)::int from private.seen_request_ids
           where credential_id = 'account:00000000-0000-0000-0011-0000000000d1' and request_id = 'req-1'), 1,
  'account gate: the request id is remembered for the account');
select throws_ok($$ select private.enter_account_ea('00000000-0000-0000-0011-0000000000f1', 'req-1', 'API-SEALED-1101') $$,
  '28000', 'replayed request (X-Trade-Id already used)', 'account gate: a replayed request id is refused (28000)');
select throws_ok($$ select private.enter_account_ea('00000000-0000-0000-0011-0000000000ff', 'req-2', 'API-SEALED-1101') $$,
  '28000', 'unknown account or not registered', 'account gate: an unknown external id is refused (28000)');
select throws_ok($$ select private.enter_account_ea('00000000-0000-0000-0011-0000000000f3', 'req-2', 'API-SEALED-1103') $$,
  '28000', 'unknown account or not registered', 'account gate: an account whose EA never registered is refused (28000)');
select throws_ok($$ select private.enter_account_ea('00000000-0000-0000-0011-0000000000f4', 'req-2', 'API-SEALED-1104') $$,
  '28000', 'unknown account or not registered', 'account gate: a deleted account is refused (28000)');
select throws_ok($$ select private.enter_account_ea('00000000-0000-0000-0011-0000000000f1', 'req-2', 'API-SEALED-BEFORE-REGISTERING-AGAIN') $$,
  '28P01', 'account credentials changed since they were read', 'account gate: a stale sealed secret is refused (28P01)');
select is(current_user::text, session_user::text, 'account gate: a refused request does not switch to the EA');

-- =============================================================================================
-- Endpoint functions: only the admitted EA of the right kind.
-- =============================================================================================
select tests.authenticate_as('00000000-0000-0000-0011-0000000000a1');
select throws_ok($$ select private.ping_session('00000000-0000-0000-0011-0000000000a1', '00000000-0000-0000-0011-0000000000a3',
    '{"balance": 1, "equity": 1, "margin": 0, "margin_free": 1, "profit": 0}') $$,
  '42501', 'permission denied for function ping_session', 'a dashboard user (no EA claim) cannot ping');
select throws_ok($$ select * from private.deliver_signals('00000000-0000-0000-0011-0000000000a1', '00000000-0000-0000-0011-0000000000a3', 10) $$,
  '42501', 'permission denied for function deliver_signals', 'a dashboard user cannot poll signals');
select throws_ok($$ select * from private.report_signal('00000000-0000-0000-0011-0000000000a1', '00000000-0000-0000-0011-0000000000e1',
    'EXECUTED', 1, 1.1, 0.1, 10009, null, null) $$,
  '42501', 'permission denied for function report_signal', 'a dashboard user cannot report on a signal');
select throws_ok($$ select private.push_positions('00000000-0000-0000-0011-0000000000a1', '00000000-0000-0000-0011-0000000000a3', '[]') $$,
  '42501', 'permission denied for function push_positions', 'a dashboard user cannot push positions');
select throws_ok($$ select * from private.ingest_trades('00000000-0000-0000-0011-0000000000a1', '00000000-0000-0000-0011-0000000000d1',
    jsonb_build_array(tests.trade(1, 1))) $$,
  '42501', 'permission denied for function ingest_trades', 'a dashboard user cannot ingest trades');
select throws_ok($$ select private.touch_account('00000000-0000-0000-0011-0000000000d1') $$,
  '42501', 'permission denied for function touch_account', 'a dashboard user cannot mark an account heard from');

select tests.authenticate_as_account_ea('00000000-0000-0000-0011-0000000000a1', '00000000-0000-0000-0011-0000000000d1');
select throws_ok($$ select private.ping_session('00000000-0000-0000-0011-0000000000a1', '00000000-0000-0000-0011-0000000000a3',
    '{"balance": 1, "equity": 1, "margin": 0, "margin_free": 1, "profit": 0}') $$,
  '42501', 'only an admitted EA may do this', 'an account EA (claim ea_account_id) cannot use a connector endpoint');
select tests.authenticate_as_ea('00000000-0000-0000-0011-0000000000a1', '00000000-0000-0000-0011-0000000000a2');
select throws_ok($$ select * from private.ingest_trades('00000000-0000-0000-0011-0000000000a1', '00000000-0000-0000-0011-0000000000d1',
    jsonb_build_array(tests.trade(1, 1))) $$,
  '42501', 'only an admitted EA may do this', 'a connector EA (claim ea_key_id) cannot ingest an account''s trades');
select throws_ok($$ select private.ping_session('00000000-0000-0000-0011-0000000000b1', '00000000-0000-0000-0011-0000000000a3',
    '{"balance": 1, "equity": 1, "margin": 0, "margin_free": 1, "profit": 0}') $$,
  '42501', 'only an admitted EA may do this', 'a caller other than the admitted EA''s user is refused');
select tests.authenticate_as_anon();
select throws_ok($$ select private.ping_session('00000000-0000-0000-0011-0000000000a1', '00000000-0000-0000-0011-0000000000a3',
    '{"balance": 1, "equity": 1, "margin": 0, "margin_free": 1, "profit": 0}') $$,
  '42501', null, 'anon cannot ping');
select tests.clear_authentication();
select results_eq(
  $$ select (select equity from public.mt5_sessions where id = '00000000-0000-0000-0011-0000000000a3'),
            (select status::text from public.trading_signals where id = '00000000-0000-0000-0011-0000000000e1'),
            (select count(*)::int from public.positions where session_id = '00000000-0000-0000-0011-0000000000a3'),
            (select count(*)::int from public.closed_trades where account_id = '00000000-0000-0000-0011-0000000000d1') $$,
  $$ values (1010::numeric, 'PENDING', 0, 0) $$,
  'none of the refused calls changed anything');

-- =============================================================================================
-- Cross-tenant: A's EAs name B's session, signal and account.
-- =============================================================================================
select tests.authenticate_as_ea('00000000-0000-0000-0011-0000000000a1', '00000000-0000-0000-0011-0000000000a2');
select throws_ok($$ select private.ping_session('00000000-0000-0000-0011-0000000000a1', '00000000-0000-0000-0011-0000000000b3',
    '{"balance": 1, "equity": 1, "margin": 0, "margin_free": 1, "profit": 0}') $$,
  'P0002', 'session not found', 'cross-tenant: A''s key cannot ping B''s session (404, nothing revealed)');
select throws_ok($$ select * from private.deliver_signals('00000000-0000-0000-0011-0000000000a1', '00000000-0000-0000-0011-0000000000b3', 10) $$,
  'P0002', 'session not found', 'cross-tenant: A''s key cannot poll B''s session');
select throws_ok($$ select * from private.report_signal('00000000-0000-0000-0011-0000000000a1', '00000000-0000-0000-0011-0000000000eb',
    'EXECUTED', 9, 1.1, 0.1, 10009, null, null) $$,
  'P0002', 'signal not found', 'cross-tenant: A''s key cannot report on B''s delivered signal');
select throws_ok($$ select private.push_positions('00000000-0000-0000-0011-0000000000a1', '00000000-0000-0000-0011-0000000000b3',
    '[{"ticket": 1, "symbol": "EURUSD", "type": "BUY", "volume": 0.1, "open_price": 1.1, "opened_at": "2026-11-01T00:00:00Z"}]') $$,
  'P0002', 'session not found', 'cross-tenant: A''s key cannot push positions into B''s session');
select tests.authenticate_as_account_ea('00000000-0000-0000-0011-0000000000a1', '00000000-0000-0000-0011-0000000000d1');
select throws_ok($$ select * from private.ingest_trades('00000000-0000-0000-0011-0000000000a1', '00000000-0000-0000-0011-0000000000db',
    jsonb_build_array(tests.trade(1, 1))) $$,
  '42501', 'only the account''s own EA reports for it', 'cross-tenant: A''s account EA cannot ingest trades for B''s account');
select tests.authenticate_as_account_ea('00000000-0000-0000-0011-0000000000a1', '00000000-0000-0000-0011-0000000000db');
select throws_ok($$ select * from private.ingest_trades('00000000-0000-0000-0011-0000000000a1', '00000000-0000-0000-0011-0000000000db',
    jsonb_build_array(tests.trade(1, 1))) $$,
  '42501', 'only the account''s own EA reports for it', 'cross-tenant: nor with B''s account id in a claim under A''s identity');
select tests.clear_authentication();
select results_eq(
  $$ select (select equity from public.mt5_sessions where id = '00000000-0000-0000-0011-0000000000b3'),
            (select string_agg(status::text, ',' order by id) from public.trading_signals where session_id = '00000000-0000-0000-0011-0000000000b3'),
            (select count(*)::int from public.trading_orders where session_id = '00000000-0000-0000-0011-0000000000b3'),
            (select count(*)::int from public.positions where session_id = '00000000-0000-0000-0011-0000000000b3'),
            (select count(*)::int from public.closed_trades where account_id = '00000000-0000-0000-0011-0000000000db') $$,
  $$ values (500::numeric, 'DELIVERED,PENDING', 0, 0, 0) $$,
  'cross-tenant: B''s session, signals, orders, positions and trades are untouched');

-- =============================================================================================
-- Bad input, as A's connector EA.
-- =============================================================================================
select tests.authenticate_as_ea('00000000-0000-0000-0011-0000000000a1', '00000000-0000-0000-0011-0000000000a2');
select throws_ok($$ select private.ping_session('00000000-0000-0000-0011-0000000000a1', '00000000-0000-0000-0011-0000000000ff',
    '{"balance": 1, "equity": 1, "margin": 0, "margin_free": 1, "profit": 0}') $$,
  'P0002', 'session not found', 'ping: an unknown session is 404');
select throws_ok($$ select * from private.deliver_signals('00000000-0000-0000-0011-0000000000a1', '00000000-0000-0000-0011-0000000000ff', 10) $$,
  'P0002', 'session not found', 'poll: an unknown session is 404');
select throws_ok($$ select private.push_positions('00000000-0000-0000-0011-0000000000a1', '00000000-0000-0000-0011-0000000000ff', '[]') $$,
  'P0002', 'session not found', 'positions: an unknown session is 404');
select throws_ok($$ select private.ping_session('00000000-0000-0000-0011-0000000000a1', '00000000-0000-0000-0011-0000000000a6',
    '{"balance": 1, "equity": 1, "margin": 0, "margin_free": 1, "profit": 0}') $$,
  '23514', 'session is disconnected: connect again', 'ping: a disconnected session is 409');
select throws_ok($$ select * from private.deliver_signals('00000000-0000-0000-0011-0000000000a1', '00000000-0000-0000-0011-0000000000a6', 10) $$,
  '23514', 'session is disconnected: connect again', 'poll: a disconnected session is 409');
select throws_ok($$ select private.push_positions('00000000-0000-0000-0011-0000000000a1', '00000000-0000-0000-0011-0000000000a6', '[]') $$,
  '23514', 'session is disconnected: connect again', 'positions: a disconnected session is 409');
select throws_ok($$ select * from private.report_signal('00000000-0000-0000-0011-0000000000a1', '00000000-0000-0000-0011-0000000000e1',
    'DONE', 1, 1.1, 0.1, 10009, null, null) $$,
  '22023', 'status must be EXECUTED, REJECTED, FAILED or UNKNOWN', 'report: an unknown status is 400');
select throws_ok($$ select * from private.report_signal('00000000-0000-0000-0011-0000000000a1', '00000000-0000-0000-0011-0000000000e1',
    null, 1, 1.1, 0.1, 10009, null, null) $$,
  '22023', 'status must be EXECUTED, REJECTED, FAILED or UNKNOWN', 'report: a missing status is 400');
select throws_ok($$ select * from private.report_signal('00000000-0000-0000-0011-0000000000a1', '00000000-0000-0000-0011-0000000000e3',
    'EXECUTED', 1, 1.1, 0.1, 10009, null, null) $$,
  '23514', 'signal is PENDING: only a DELIVERED signal takes a status report', 'report: a signal not yet delivered is 409');
select throws_ok($$ select * from private.report_signal('00000000-0000-0000-0011-0000000000a1', '00000000-0000-0000-0011-0000000000ff',
    'EXECUTED', 1, 1.1, 0.1, 10009, null, null) $$,
  'P0002', 'signal not found', 'report: an unknown signal is 404');
select tests.clear_authentication();
select is((select count(*)::int from public.trading_orders where session_id = '00000000-0000-0000-0011-0000000000a3'), 0,
  'bad reports recorded no order');

-- =============================================================================================
-- The hot path, as A's connector EA.
-- =============================================================================================
-- Ping (the one that passed the gate above): figures, a snapshot at the ping's time.
select results_eq(
  $$ select s.balance, s.equity, s.margin, s.margin_free, s.margin_level, s.profit, s.status::text, s.last_ping_at > now() - interval '1 second',
            (select count(*)::int from public.account_snapshots a
             where a.session_id = s.id and a.captured_at = s.last_ping_at and a.equity = 1010 and a.margin_level = 2020)
     from public.mt5_sessions s where s.id = '00000000-0000-0000-0011-0000000000a3' $$,
  $$ values (1000::numeric, 1010::numeric, 50::numeric, 960::numeric, 2020::numeric, 10::numeric, 'active', true, 1) $$,
  'ping: the figures are stored and a snapshot taken at last_ping_at');
select tests.authenticate_as_ea('00000000-0000-0000-0011-0000000000a1', '00000000-0000-0000-0011-0000000000a2');
select is(private.ping_session('00000000-0000-0000-0011-0000000000a1', '00000000-0000-0000-0011-0000000000a7',
    '{"balance": 1000, "equity": 1000, "margin": 0, "margin_free": 1000, "profit": 0}') ->> 'pending_signals', '0',
  'ping: a stale session answers...');
select is((select status::text from public.mt5_sessions where id = '00000000-0000-0000-0011-0000000000a7'), 'active',
  '...and is active again');

-- Poll: the oldest unexpired pending signals, at most p_limit with the unreported delivered ones.
select results_eq(
  $$ select id, status::text from private.deliver_signals('00000000-0000-0000-0011-0000000000a1', '00000000-0000-0000-0011-0000000000a3', 2) $$,
  $$ values ('00000000-0000-0000-0011-0000000000e1'::uuid, 'DELIVERED'), ('00000000-0000-0000-0011-0000000000e2'::uuid, 'DELIVERED') $$,
  'poll: delivers the two oldest pending signals (the expired one is skipped)');
select results_eq(
  $$ select id from private.deliver_signals('00000000-0000-0000-0011-0000000000a1', '00000000-0000-0000-0011-0000000000a3', 2) $$,
  $$ values ('00000000-0000-0000-0011-0000000000e1'::uuid), ('00000000-0000-0000-0011-0000000000e2'::uuid) $$,
  'poll again: the delivered but unreported signals come back, nothing more is delivered');
select results_eq(
  $$ select id::text, status::text, delivered_at is not null from public.trading_signals
     where session_id = '00000000-0000-0000-0011-0000000000a3' order by created_at $$,
  $$ values ('00000000-0000-0000-0011-0000000000e4', 'PENDING', false), ('00000000-0000-0000-0011-0000000000e1', 'DELIVERED', true),
            ('00000000-0000-0000-0011-0000000000e2', 'DELIVERED', true), ('00000000-0000-0000-0011-0000000000e3', 'PENDING', false) $$,
  'poll: delivered_at is stamped; the third and the expired signal stay pending');

-- Report: the order is recorded, the signal moves, the session counts; a repeat is idempotent.
select results_eq(
  $$ select id, status::text, order_ticket, status_message from private.report_signal('00000000-0000-0000-0011-0000000000a1',
       '00000000-0000-0000-0011-0000000000e1', 'EXECUTED', 555, 1.1, 0.1, 10009, 'done', null) $$,
  $$ values ('00000000-0000-0000-0011-0000000000e1'::uuid, 'EXECUTED', 555::bigint, 'done') $$,
  'report: EXECUTED with its ticket');
create temp table e1_after_report on commit drop as
  select * from public.trading_signals where id = '00000000-0000-0000-0011-0000000000e1';
select results_eq(
  $$ select r.* from private.report_signal('00000000-0000-0000-0011-0000000000a1',
       '00000000-0000-0000-0011-0000000000e1', 'EXECUTED', 555, 1.1, 0.1, 10009, 'done', null) r $$,
  $$ select * from e1_after_report $$,
  'report: the same report again returns the same row...');
select results_eq(
  $$ select count(*)::int, min(result::text), min(ticket), min(volume), min(retcode) from public.trading_orders
     where signal_id = '00000000-0000-0000-0011-0000000000e1' $$,
  $$ values (1, 'EXECUTED', 555::bigint, 0.1::numeric, 10009) $$,
  '...without a second order');
select throws_ok($$ select * from private.report_signal('00000000-0000-0000-0011-0000000000a1', '00000000-0000-0000-0011-0000000000e1',
    'REJECTED', null, null, null, 10006, null, null) $$,
  '23514', 'signal is EXECUTED: only a DELIVERED signal takes a status report', 'report: a different report on a done signal is 409');
select is((select status::text from private.report_signal('00000000-0000-0000-0011-0000000000a1', '00000000-0000-0000-0011-0000000000e2',
    'FAILED', null, null, null, 10004, 'requote', null)), 'FAILED', 'report: FAILED');
select results_eq(
  $$ select orders_executed, errors from public.mt5_sessions where id = '00000000-0000-0000-0011-0000000000a3' $$,
  $$ values (1, 1) $$,
  'report: the session counts one executed order and one error');
select results_eq(
  $$ select id from private.deliver_signals('00000000-0000-0000-0011-0000000000a1', '00000000-0000-0000-0011-0000000000a3', 2) $$,
  $$ values ('00000000-0000-0000-0011-0000000000e3'::uuid) $$,
  'poll after the reports: the next pending signal is delivered');
-- UNKNOWN: the EA cannot tell whether its order reached the trade server; an error for the session.
select results_eq(
  $$ select status::text, status_message, completed_at is not null from private.report_signal('00000000-0000-0000-0011-0000000000a1',
       '00000000-0000-0000-0011-0000000000e3', 'UNKNOWN', null, null, null, null, 'outcome unknown: the EA restarted while this signal was being sent', null) $$,
  $$ values ('UNKNOWN', 'outcome unknown: the EA restarted while this signal was being sent', true) $$,
  'report: UNKNOWN, a final state');
select results_eq(
  $$ select result::text, executed_at from public.trading_orders where signal_id = '00000000-0000-0000-0011-0000000000e3' $$,
  $$ values ('UNKNOWN', null::timestamptz) $$,
  'report: the UNKNOWN attempt is recorded as an order with result UNKNOWN');
select results_eq(
  $$ select orders_executed, errors from public.mt5_sessions where id = '00000000-0000-0000-0011-0000000000a3' $$,
  $$ values (1, 2) $$,
  'report: UNKNOWN counts as a session error, like FAILED');

-- Positions: the full list; an unlisted open ticket is closed, an unchanged one is not written.
select is(private.push_positions('00000000-0000-0000-0011-0000000000a1', '00000000-0000-0000-0011-0000000000a3', $$[
    {"ticket": 1, "symbol": "EURUSD", "type": "BUY", "volume": 0.1, "open_price": 1.1, "current_price": 1.11, "stop_loss": 0,
     "take_profit": 1.2, "profit": 1, "swap": 0, "commission": 0, "magic": 7, "comment": "a", "opened_at": "2026-11-01T00:00:00Z"},
    {"ticket": 2, "symbol": "GBPUSD", "type": "SELL", "volume": 0.2, "open_price": 1.3, "current_price": 1.29, "stop_loss": 1.4,
     "take_profit": 0, "profit": 2, "swap": 0, "commission": 0, "magic": 7, "comment": "b", "opened_at": "2026-11-01T00:00:00Z"}]$$),
  '{}'::bigint[], 'positions: two new tickets, nothing closed');
select is(private.push_positions('00000000-0000-0000-0011-0000000000a1', '00000000-0000-0000-0011-0000000000a3', $$[
    {"ticket": 1, "symbol": "EURUSD", "type": "BUY", "volume": 0.1, "open_price": 1.1, "current_price": 1.11, "stop_loss": 0,
     "take_profit": 1.2, "profit": 1, "swap": 0, "commission": 0, "magic": 7, "comment": "a", "opened_at": "2026-11-01T00:00:00Z"}]$$),
  '{2}'::bigint[], 'positions: the unlisted ticket is closed (and returned)');
select tests.clear_authentication();
select results_eq(
  $$ select p.ticket, p.stop_loss, p.take_profit, p.closed_at is not null,
            (select count(*)::int from realtime.messages m where m.event = 'positions' and m.payload ->> 'operation' = 'UPDATE'
               and m.payload -> 'record' ->> 'session_id' = p.session_id::text and (m.payload -> 'record' ->> 'ticket')::bigint = p.ticket)
     from public.positions p where p.session_id = '00000000-0000-0000-0011-0000000000a3' order by p.ticket $$,
  $$ values (1::bigint, null::numeric, 1.2::numeric, false, 0), (2, 1.4, null, true, 1) $$,
  'positions: a 0 stop-loss / take-profit is none; the unchanged ticket was not rewritten, the closed one was');

-- =============================================================================================
-- Trades: exact cashback accrual by private.ingest_trades, through the account gate.
-- =============================================================================================
select results_eq(
  $$ select accepted, cashback_accrued from private.ingest_trades(
       private.enter_account_ea('00000000-0000-0000-0011-0000000000f1', 'req-trades-1', 'API-SEALED-1101'),
       '00000000-0000-0000-0011-0000000000d1', jsonb_build_array(tests.trade(12, 1.2), tests.trade(11, 0.33333))) $$,
  $$ values ('{11,12}'::bigint[], 3.8333::numeric) $$,
  'trades: one statement (gate, then ingest_trades) accepts the batch and returns the cashback it accrued');
select tests.clear_authentication();
select results_eq(
  $$ select ticket, user_id, lots, cashback_rate, cashback_amount, currency, settled_on from public.closed_trades
     where account_id = '00000000-0000-0000-0011-0000000000d1' order by ticket $$,
  $$ values (11::bigint, '00000000-0000-0000-0011-0000000000a1'::uuid, 0.33333::numeric, 2.5::numeric, 0.8333::numeric, 'USD', null::date),
            (12, '00000000-0000-0000-0011-0000000000a1', 1.2, 2.5, 3.0000, 'USD', null) $$,
  'trades: rate = the broker''s rebate per lot, amount = round(lots x rate, 4), the broker''s currency, the owner''s user id');
select results_eq(
  $$ select status::text, last_seen_at = now() from public.trading_accounts where id = '00000000-0000-0000-0011-0000000000d1' $$,
  $$ values ('connected', true) $$,
  'trades: the account is heard from (the silent account is connected again)');
select tests.authenticate_as_account_ea('00000000-0000-0000-0011-0000000000a1', '00000000-0000-0000-0011-0000000000d1');
select results_eq(
  $$ select accepted, cashback_accrued from private.ingest_trades('00000000-0000-0000-0011-0000000000a1', '00000000-0000-0000-0011-0000000000d1',
       jsonb_build_array(tests.trade(12, 50), tests.trade(13, 1))) $$,
  $$ values ('{13}'::bigint[], 2.5::numeric) $$,
  'trades: a resent ticket accrues nothing; only the new one counts');
select results_eq(
  $$ select accepted, cashback_accrued from private.ingest_trades('00000000-0000-0000-0011-0000000000a1', '00000000-0000-0000-0011-0000000000d1',
       jsonb_build_array(tests.trade(13, 1))) $$,
  $$ values ('{}'::bigint[], 0::numeric) $$,
  'trades: a batch of known tickets accepts and accrues nothing');
select tests.authenticate_as_account_ea('00000000-0000-0000-0011-0000000000a1', '00000000-0000-0000-0011-0000000000d2');
select results_eq(
  $$ select accepted, cashback_accrued from private.ingest_trades('00000000-0000-0000-0011-0000000000a1', '00000000-0000-0000-0011-0000000000d2',
       jsonb_build_array(tests.trade(21, 2))) $$,
  $$ values ('{21}'::bigint[], 0::numeric) $$,
  'trades: an inactive broker''s account accrues 0');
select tests.clear_authentication();
select results_eq(
  $$ select ticket, lots, cashback_rate, cashback_amount, currency from public.closed_trades
     where account_id in ('00000000-0000-0000-0011-0000000000d1', '00000000-0000-0000-0011-0000000000d2') and ticket in (12, 21)
     order by ticket $$,
  $$ values (12::bigint, 1.2::numeric, 2.5::numeric, 3::numeric, 'USD'), (21, 2, 0, 0, 'EUR') $$,
  'trades: the resent ticket kept its first values; the inactive broker''s trade has rate and amount 0, in its currency');

-- =============================================================================================
-- Realtime: a ping that changes nothing but last_ping_at broadcasts nothing.
-- =============================================================================================
create temp table ping_before on commit drop as
  select tests.session_updates('00000000-0000-0000-0011-0000000000a3') as n, last_ping_at
  from public.mt5_sessions where id = '00000000-0000-0000-0011-0000000000a3';
select from private.ping_session(
  private.enter_ea_key('00000000-0000-0000-0011-0000000000a2', 'req-quiet', 'A-KEY-SEALED', array['connect', 'ping', 'signals', 'positions']),
  '00000000-0000-0000-0011-0000000000a3',
  '{"balance": 1000, "equity": 1010, "margin": 50, "margin_free": 960, "margin_level": 2020, "profit": 10}');
select tests.clear_authentication();
select results_eq(
  $$ select tests.session_updates(s.id) - b.n, s.last_ping_at > b.last_ping_at
     from public.mt5_sessions s, ping_before b where s.id = '00000000-0000-0000-0011-0000000000a3' $$,
  $$ values (0, true) $$,
  'realtime: a ping with unchanged figures moves last_ping_at and writes no realtime.messages row');
select from private.ping_session(
  private.enter_ea_key('00000000-0000-0000-0011-0000000000a2', 'req-loud', 'A-KEY-SEALED', array['connect', 'ping', 'signals', 'positions']),
  '00000000-0000-0000-0011-0000000000a3',
  '{"balance": 1000, "equity": 1025.5, "margin": 50, "margin_free": 975.5, "margin_level": 2051, "profit": 25.5}');
select tests.clear_authentication();
select results_eq(
  $$ select count(*)::int, min(m.topic), min(m.payload -> 'record' ->> 'equity'), min(m.payload -> 'old_record' ->> 'equity')
     from realtime.messages m, ping_before b
     where m.event = 'mt5_sessions' and m.payload ->> 'operation' = 'UPDATE'
       and m.payload -> 'record' ->> 'id' = '00000000-0000-0000-0011-0000000000a3'
       and (m.payload -> 'record' ->> 'last_ping_at')::timestamptz > b.last_ping_at $$,
  $$ values (1, 'user:00000000-0000-0000-0011-0000000000a1', '1025.5', '1010') $$,
  'realtime: a ping that changes the equity is broadcast once to the owner, with the new and old figures');

select * from finish();
rollback;
