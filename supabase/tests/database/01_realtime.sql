-- Realtime (Broadcast from Database): what the triggers write into realtime.messages, that no
-- secret ever reaches a payload, and who may read realtime.messages.
--
-- Fixed ids (group 4 = 0004 marks this file):
--   users     A ...0004-0000000000a1  B ...0004-0000000000b1
--   EA key    A ...0004-0000000000a2
--   sessions  A ...0004-0000000000a3  B ...0004-0000000000b3
--   signals   A ...0004-0000000000a4  B ...0004-0000000000b4
--   broker    ...0004-0000000000c1
--   account   A (owner-made) ...0004-0000000000a6
--   notification A ...0004-0000000000aa
-- Messages are found by topic (the users are unique to this file) or by record id, so rows other
-- transactions leave in realtime.messages do not matter.
begin;
\ir helpers/setup.psql

select plan(51);

-- What Realtime does while it authorises a client joining a channel: it sets realtime.topic.
create function tests.join_topic(p_topic text) returns void
language sql
as $$ select set_config('realtime.topic', p_topic, true) $$;
grant execute on function tests.join_topic(text) to anon, authenticated, service_role;

-- ---------------------------------------------------------------------------------------------
-- Fixture and owner-side writes.
select tests.clear_authentication();

select ok(exists (
  select 1 from pg_inherits i join pg_class c on c.oid = i.inhrelid
  where i.inhparent = 'realtime.messages'::regclass and pg_get_expr(c.relpartbound, c.oid) = 'DEFAULT'
), 'realtime.messages has a default partition (otherwise realtime.send drops messages with a warning)');

insert into auth.users (id, aud, role, email) values
  ('00000000-0000-0000-0004-0000000000a1', 'authenticated', 'authenticated', 'a.realtime@rls.test'),
  ('00000000-0000-0000-0004-0000000000b1', 'authenticated', 'authenticated', 'b.realtime@rls.test');
insert into public.ea_keys (id, user_id, name) values
  ('00000000-0000-0000-0004-0000000000a2', '00000000-0000-0000-0004-0000000000a1', 'A key');
insert into public.brokers (id, name, platforms, rebate_per_lot) values
  ('00000000-0000-0000-0004-0000000000c1', 'RLS Realtime Broker', array['MT4', 'MT5'], 4);

insert into public.mt5_sessions (id, user_id, ea_key_id, account_number, broker, server, currency, leverage) values
  ('00000000-0000-0000-0004-0000000000a3', '00000000-0000-0000-0004-0000000000a1', '00000000-0000-0000-0004-0000000000a2',
   3001, 'Demo Broker', 'RLS-Realtime-Demo', 'USD', 100),
  ('00000000-0000-0000-0004-0000000000b3', '00000000-0000-0000-0004-0000000000b1', null,
   4001, 'Demo Broker', 'RLS-Realtime-Demo', 'USD', 100);

-- Insert a signal (A and B).
insert into public.trading_signals (id, user_id, session_id, type, symbol, volume) values
  ('00000000-0000-0000-0004-0000000000a4', '00000000-0000-0000-0004-0000000000a1', '00000000-0000-0000-0004-0000000000a3', 'BUY', 'EURUSD', 0.1),
  ('00000000-0000-0000-0004-0000000000b4', '00000000-0000-0000-0004-0000000000b1', '00000000-0000-0000-0004-0000000000b3', 'SELL', 'EURUSD', 0.1);

select results_eq($$
  select topic, event, private, extension, payload->>'operation', payload->>'table', payload->>'schema'
  from realtime.messages where payload->'record'->>'id' = '00000000-0000-0000-0004-0000000000a4'
$$, $$ values ('user:00000000-0000-0000-0004-0000000000a1', 'trading_signals', true, 'broadcast', 'INSERT', 'trading_signals', 'public') $$,
  'inserting a signal broadcasts INSERT on the owner''s private topic');

-- Update a session.
update public.mt5_sessions set balance = 1234.5 where id = '00000000-0000-0000-0004-0000000000a3';
select results_eq($$
  select topic, event, private, extension, payload->'record'->>'balance', payload->'old_record'->>'balance'
  from realtime.messages
  where payload->'record'->>'id' = '00000000-0000-0000-0004-0000000000a3' and payload->>'operation' = 'UPDATE'
$$, $$ values ('user:00000000-0000-0000-0004-0000000000a1', 'mt5_sessions', true, 'broadcast', '1234.5', '0') $$,
  'updating a session broadcasts UPDATE with the new and old record');

-- Insert a trading account (owner-side), with a trade closed yesterday, then settle.
-- Verified: its owner proved it is theirs (cashback accrues only then).
insert into public.trading_accounts (id, user_id, broker_id, platform, login, server, verified_at) values
  ('00000000-0000-0000-0004-0000000000a6', '00000000-0000-0000-0004-0000000000a1', '00000000-0000-0000-0004-0000000000c1',
   'MT5', 9001, 'RLS-Realtime-Demo', now());
select results_eq($$
  select topic, event, private, payload->>'operation'
  from realtime.messages where payload->'record'->>'id' = '00000000-0000-0000-0004-0000000000a6'
$$, $$ values ('user:00000000-0000-0000-0004-0000000000a1', 'trading_accounts', true, 'INSERT') $$,
  'inserting a trading account broadcasts INSERT to its owner');

-- Reported by the account's EA through private.ingest_trades, which accrues 2 lots x 4 = 8.
select tests.authenticate_as_account_ea('00000000-0000-0000-0004-0000000000a1', '00000000-0000-0000-0004-0000000000a6');
select from private.ingest_trades('00000000-0000-0000-0004-0000000000a1', '00000000-0000-0000-0004-0000000000a6',
  jsonb_build_array(tests.trade(1, 2, now() - interval '1 day')));
select tests.clear_authentication();
select results_eq($$
  select topic, event, private, payload->>'operation', payload->>'count', payload->'tickets', payload->>'cashback_amount'
  from realtime.messages
  where event = 'closed_trades' and payload->>'account_id' = '00000000-0000-0000-0004-0000000000a6' and payload->>'operation' = 'INSERT'
$$, $$ values ('user:00000000-0000-0000-0004-0000000000a1', 'closed_trades', true, 'INSERT', '1', '[1]'::jsonb, '8.0000') $$,
  'inserting a closed trade broadcasts a summary (count, tickets, accrued cashback) to its owner');

select cmp_ok(private.settle_cashback(current_date), '>=', 1, 'settle_cashback settles the trade closed yesterday');
select results_eq($$
  select topic, event, private, extension, payload->>'operation', payload->'record'->>'amount', payload->'record'->>'id'
  from realtime.messages
  where event = 'cashback_ledger' and payload->'record'->>'account_id' = '00000000-0000-0000-0004-0000000000a6'
$$, $$
  select 'user:00000000-0000-0000-0004-0000000000a1', 'cashback_ledger', true, 'broadcast', 'INSERT', '8.0000', l.id::text
  from public.cashback_ledger l where l.account_id = '00000000-0000-0000-0004-0000000000a6'
$$, 'settling cashback broadcasts the new ledger row to its owner');
select results_eq($$
  select payload->>'operation', payload->>'settled_on', payload->'tickets'
  from realtime.messages
  where event = 'closed_trades' and payload->>'account_id' = '00000000-0000-0000-0004-0000000000a6' and payload->>'operation' = 'UPDATE'
$$, $$ values ('UPDATE', current_date::text, '[1]'::jsonb) $$,
  'settling marks the trade settled, and that is broadcast too');

-- A batch is one message per account, not one per trade (private.ingest_trades inserts a batch in
-- one statement; this fixture batch is written by the owner in one statement too).
insert into public.closed_trades (account_id, user_id, ticket, symbol, type, lots, open_time, close_time, open_price, close_price)
select '00000000-0000-0000-0004-0000000000a6', '00000000-0000-0000-0004-0000000000a1', t, 'EURUSD', 'SELL', 0.5,
       now() - interval '3 hours', now() - interval '2 hours', 1.2, 1.1
from generate_series(10, 12) t;
select results_eq($$
  select count(*)::int, min(payload->>'count'), min(payload->>'tickets'), min(payload->>'lots')
  from realtime.messages
  where event = 'closed_trades' and payload->>'account_id' = '00000000-0000-0000-0004-0000000000a6'
    and payload->>'operation' = 'INSERT' and payload->>'count' = '3'
$$, $$ values (1, '3', '[10, 11, 12]', '1.5') $$,
  'a batch of three trades is one message with the three tickets');

-- Delete a notification.
insert into public.notifications (id, user_id, kind, title, body) values
  ('00000000-0000-0000-0004-0000000000aa', '00000000-0000-0000-0004-0000000000a1', 'account_error', 't', 'b');
delete from public.notifications where id = '00000000-0000-0000-0004-0000000000aa';
select results_eq($$
  select topic, event, payload ? 'record', payload->'old_record'->>'id'
  from realtime.messages
  where event = 'notifications' and payload->>'operation' = 'DELETE'
    and topic = 'user:00000000-0000-0000-0004-0000000000a1'
$$, $$ values ('user:00000000-0000-0000-0004-0000000000a1', 'notifications', false, '00000000-0000-0000-0004-0000000000aa') $$,
  'deleting a notification broadcasts DELETE with the old record only');

-- ---------------------------------------------------------------------------------------------
-- Writes made by API roles broadcast as well (the trigger must not depend on the writer's
-- privileges: realtime.send would swallow a failure with a warning).
select tests.authenticate_as_ea('00000000-0000-0000-0004-0000000000a1', '00000000-0000-0000-0004-0000000000a2');
insert into public.positions (session_id, ticket, user_id, symbol, type, volume, open_price, opened_at) values
  ('00000000-0000-0000-0004-0000000000a3', 77, '00000000-0000-0000-0004-0000000000a1', 'EURUSD', 'BUY', 0.1, 1.1, now());
update public.trading_signals set status = 'DELIVERED' where id = '00000000-0000-0000-0004-0000000000a4';

select tests.clear_authentication();
create temp table doorbells_before on commit drop as
  select count(*)::int as n from realtime.messages where topic = 'vps:doorbell';
select tests.authenticate_as('00000000-0000-0000-0004-0000000000a1');
do $$
begin
  perform private.register_trading_account('00000000-0000-0000-0004-0000000000c1', 'MT4', 9002, 'RLS-Realtime-Demo',
    'CIPHERTEXT-SENTINEL', 'k1');
  perform private.create_ea_key('Sentinel key', null, 'KEY-SENTINEL', 'k1');
end
$$;

select tests.clear_authentication();
select results_eq($$
  select topic, event, payload->>'operation', payload->'record'->>'ticket'
  from realtime.messages where event = 'positions' and payload->'record'->>'session_id' = '00000000-0000-0000-0004-0000000000a3'
$$, $$ values ('user:00000000-0000-0000-0004-0000000000a1', 'positions', 'INSERT', '77') $$,
  'a position written by the EA is broadcast to its owner');
select results_eq($$
  select payload->'old_record'->>'status', payload->'record'->>'status'
  from realtime.messages
  where payload->'record'->>'id' = '00000000-0000-0000-0004-0000000000a4' and payload->>'operation' = 'UPDATE'
$$, $$ values ('PENDING', 'DELIVERED') $$,
  'a signal status change made by the EA is broadcast to its owner');
select results_eq($$
  select m.topic, m.event, m.private, m.payload->>'operation'
  from realtime.messages m join public.trading_accounts a on a.id::text = m.payload->'record'->>'id'
  where a.login = 9002 and a.server = 'RLS-Realtime-Demo'
$$, $$ values ('user:00000000-0000-0000-0004-0000000000a1', 'trading_accounts', true, 'INSERT') $$,
  'registering an account as the user broadcasts it to the user');
select is((select count(*)::int from realtime.messages where topic = 'vps:doorbell') - (select n from doorbells_before), 1,
  'registering an account rings the VPS doorbell once');
select is_empty($$
  select id from realtime.messages
  where topic = 'vps:doorbell' and not (event = 'account_pending' and private = true and payload = '{}'::jsonb and extension = 'broadcast')
$$, 'every doorbell row is private (hosts only), event account_pending, with the empty payload {} exactly');

-- A status change back to pending rings it too; other status changes do not.
create temp table doorbells_mid on commit drop as
  select count(*)::int as n from realtime.messages where topic = 'vps:doorbell';
update public.trading_accounts set status = 'provisioning' where id = '00000000-0000-0000-0004-0000000000a6';
select is((select count(*)::int from realtime.messages where topic = 'vps:doorbell') - (select n from doorbells_mid), 0,
  'claiming an account does not ring the doorbell');
update public.trading_accounts set status = 'pending_vps_setup' where id = '00000000-0000-0000-0004-0000000000a6';
select is((select count(*)::int from realtime.messages where topic = 'vps:doorbell') - (select n from doorbells_mid), 1,
  'an account returning to the queue rings the doorbell');

-- Lease renewals (every heartbeat) and last_seen_at (every EA report) are bookkeeping: not broadcast.
create temp table account_messages_before on commit drop as
  select count(*)::int as n from realtime.messages where event = 'trading_accounts' and payload->'record'->>'id' = '00000000-0000-0000-0004-0000000000a6';
update public.trading_accounts set lease_expires_at = now() + interval '3 minutes', last_seen_at = now()
where id = '00000000-0000-0000-0004-0000000000a6';
select is((select count(*)::int from realtime.messages where event = 'trading_accounts' and payload->'record'->>'id' = '00000000-0000-0000-0004-0000000000a6')
          - (select n from account_messages_before), 0,
  'renewing a lease and moving last_seen_at broadcast nothing');
update public.trading_accounts set terminal_state = 'running', lease_expires_at = now() + interval '3 minutes'
where id = '00000000-0000-0000-0004-0000000000a6';
select is((
  select count(*)::int from realtime.messages
  where event = 'trading_accounts' and payload->'record'->>'id' = '00000000-0000-0000-0004-0000000000a6'
    and payload->>'operation' = 'UPDATE' and payload->'record'->>'terminal_state' = 'running'
), 1, 'any other change is broadcast with the record');

-- ...but no message names the host that holds an account, its lease or when it claimed it.
insert into private.vps_hosts (id, name, key_hash) values
  ('00000000-0000-0000-0004-0000000000f1', 'rt-host', encode(extensions.digest('rt-host-key', 'sha256'), 'hex'));
update public.trading_accounts set status = 'provisioning', vps_host_id = '00000000-0000-0000-0004-0000000000f1',
  lease_expires_at = now() + interval '3 minutes'
where id = '00000000-0000-0000-0004-0000000000a6';
select ok(exists (
  select 1 from realtime.messages
  where event = 'trading_accounts' and payload->'record'->>'id' = '00000000-0000-0000-0004-0000000000a6'
    and payload->>'operation' = 'UPDATE' and payload->'record'->>'status' = 'provisioning'
    and payload->'record'->>'login' = '9001' and payload->'old_record'->>'status' = 'pending_vps_setup'
) and (select vps_host_id is not null and claimed_at is not null from public.trading_accounts
       where id = '00000000-0000-0000-0004-0000000000a6'),
  'a host claiming the account is broadcast to its owner (old and new record)');
select is_empty($$
  select m.id from realtime.messages m
  where m.event = 'trading_accounts' and m.topic = 'user:00000000-0000-0000-0004-0000000000a1'
    and (coalesce(m.payload->'record', '{}'::jsonb) ?| array['vps_host_id', 'lease_expires_at', 'claimed_at']
         or coalesce(m.payload->'old_record', '{}'::jsonb) ?| array['vps_host_id', 'lease_expires_at', 'claimed_at'])
$$, 'no trading_accounts message carries the host''s bookkeeping (vps_host_id, lease_expires_at, claimed_at)');

-- ---------------------------------------------------------------------------------------------
-- No secret in any payload.
select is((select count(*)::int from private.account_secrets where investor_password_ciphertext = 'CIPHERTEXT-SENTINEL'), 1,
  'the sentinel password ciphertext was stored (so the next test is not vacuous)');
select is((select count(*)::int from private.ea_key_secrets where secret_ciphertext = 'KEY-SENTINEL'), 1,
  'the sentinel key ciphertext was stored');
select is_empty($$ select topic, event from realtime.messages where payload::text like '%SENTINEL%' $$,
  'no realtime payload contains a secret ciphertext');
select is_empty($$
  select m.topic, m.event, k.key
  from realtime.messages m
  cross join lateral jsonb_each(coalesce(m.payload->'record', '{}'::jsonb) || coalesce(m.payload->'old_record', '{}'::jsonb)) k
  where k.key ~ '(password|secret|token|ciphertext|key_hash|encryption_key)'
$$, 'no realtime payload has a secret-looking field (password, api_secret, provisioning_token, ciphertext, key hash)');
select is_empty($$
  select topic, event from realtime.messages
  where payload::text ~ '"(investor_password|api_secret|provisioning_token|secret_ciphertext|key_hash)'
$$, 'no realtime payload names investor_password / api_secret / provisioning_token / secret_ciphertext / key_hash anywhere');
select is_empty($$
  select topic, event from realtime.messages
  where topic like 'user:%' and (private is not true or extension <> 'broadcast')
$$, 'every user-topic message is a private broadcast');

-- ---------------------------------------------------------------------------------------------
-- Reading realtime.messages (what Realtime checks when a client joins a private channel).
select cmp_ok((select count(*)::int from realtime.messages where topic = 'user:00000000-0000-0000-0004-0000000000b1'), '>', 0,
  'fixture: B has messages on B''s topic');

select tests.authenticate_as('00000000-0000-0000-0004-0000000000a1');
select tests.join_topic('user:00000000-0000-0000-0004-0000000000a1');
select cmp_ok((select count(*)::int from realtime.messages), '>=', 10, 'A joining user:A reads A''s messages');
select is_empty($$ select topic from realtime.messages where topic <> 'user:00000000-0000-0000-0004-0000000000a1' $$,
  'A joining user:A reads nothing but user:A');
select is((select count(*)::int from realtime.messages where topic = 'user:00000000-0000-0000-0004-0000000000b1'), 0,
  'A joining user:A cannot read B''s messages by filtering for them');

select tests.join_topic('user:00000000-0000-0000-0004-0000000000b1');
select is((select count(*)::int from realtime.messages), 0, 'A joining user:B reads nothing');

select tests.join_topic('vps:doorbell');
select is((select count(*)::int from realtime.messages), 0, 'A (a user) joining the doorbell topic reads nothing: a user cannot listen');

select tests.join_topic('');
select is((select count(*)::int from realtime.messages), 0, 'A with no topic set reads nothing');

select tests.join_topic('user:00000000-0000-0000-0004-0000000000a1');
select throws_ok($$
  insert into realtime.messages (topic, extension, event, payload, private)
  values ('user:00000000-0000-0000-0004-0000000000b1', 'broadcast', 'trading_signals', '{"operation":"INSERT"}', true)
$$, '42501', null, 'A cannot forge a message on B''s topic');
select throws_ok($$
  insert into realtime.messages (topic, extension, event, payload, private)
  values ('user:00000000-0000-0000-0004-0000000000a1', 'broadcast', 'trading_signals', '{"operation":"INSERT"}', true)
$$, '42501', null, 'A cannot write messages even on A''s own topic');
select throws_ok($$ select * from realtime.messages_default $$, '42501', null,
  'A cannot read the messages partition directly (around RLS)');
select throws_ok($$
  update realtime.messages set payload = '{}' where topic = 'user:00000000-0000-0000-0004-0000000000a1'
$$, '42501', null, 'A cannot alter stored messages');
select throws_ok($$
  delete from realtime.messages where topic = 'user:00000000-0000-0000-0004-0000000000a1'
$$, '42501', null, 'A cannot delete stored messages');

-- B sees B's own topic but none of A's messages.
select tests.authenticate_as('00000000-0000-0000-0004-0000000000b1');
select tests.join_topic('user:00000000-0000-0000-0004-0000000000b1');
select cmp_ok((select count(*)::int from realtime.messages), '>', 0, 'B joining user:B reads B''s messages');
select is((select count(*)::int from realtime.messages where topic <> 'user:00000000-0000-0000-0004-0000000000b1'), 0,
  'B joining user:B reads nothing of A''s');
select tests.join_topic('user:00000000-0000-0000-0004-0000000000a1');
select is((select count(*)::int from realtime.messages), 0, 'B joining user:A reads nothing');

-- A's EA (same sub, extra claim) is still only A.
select tests.authenticate_as_ea('00000000-0000-0000-0004-0000000000a1', '00000000-0000-0000-0004-0000000000a2');
select tests.join_topic('user:00000000-0000-0000-0004-0000000000b1');
select is((select count(*)::int from realtime.messages), 0, 'A''s EA joining user:B reads nothing');

-- anon reads nothing, whatever the topic.
select tests.authenticate_as_anon();
select tests.join_topic('user:00000000-0000-0000-0004-0000000000a1');
select is((select count(*)::int from realtime.messages), 0, 'anon joining user:A reads nothing');
select tests.join_topic('vps:doorbell');
select is((select count(*)::int from realtime.messages), 0, 'anon (the publishable key) joining the doorbell topic reads nothing: it cannot listen');
select throws_ok($$
  insert into realtime.messages (topic, extension, event, payload, private)
  values ('vps:doorbell', 'broadcast', 'account_pending', '{}', false)
$$, '42501', null, 'anon cannot ring the doorbell by writing a message');

-- A VPS host: the token POST /vps/realtime-token mints (role anon, claim vps_host_id).
select set_config('role', 'anon', true),
  set_config('request.jwt.claims', '{"role":"anon","vps_host_id":"00000000-0000-0000-0004-0000000000d1"}', true);
select tests.join_topic('vps:doorbell');
select cmp_ok((select count(*)::int from realtime.messages where topic = 'vps:doorbell'), '>=', 2, 'a VPS host joining the doorbell topic hears the rings');
select tests.join_topic('user:00000000-0000-0000-0004-0000000000a1');
select is((select count(*)::int from realtime.messages), 0, 'a VPS host token reads nothing of a user''s topic');
select tests.join_topic('vps:doorbell');
select throws_ok($$
  insert into realtime.messages (topic, extension, event, payload, private)
  values ('vps:doorbell', 'broadcast', 'account_pending', '{}', true)
$$, '42501', null, 'a VPS host cannot ring the doorbell either (only the database does)');

select tests.clear_authentication();

-- The policy a Realtime client is checked against is the one described in the design.
select is(
  (select array_agg(policyname::text order by policyname) from pg_policies where schemaname = 'realtime' and tablename = 'messages'),
  array['users receive their own topic', 'vps hosts receive the doorbell'],
  'realtime.messages has exactly the two select policies');
select results_eq(
  $$ select format('%s: %s %s', policyname::text collate "default", roles::text collate "default", cmd::text collate "default") from pg_policies where schemaname = 'realtime' and tablename = 'messages' order by 1 $$,
  $$ values ('users receive their own topic: {authenticated} SELECT'), ('vps hosts receive the doorbell: {anon} SELECT') $$,
  'users (authenticated) and VPS hosts (anon with a host claim) may SELECT; nobody may INSERT');

select * from finish();
rollback;
