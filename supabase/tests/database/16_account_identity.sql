-- One identity per real trading account (issue #15, items 1, 2 and 4): server names compared by
-- one key, proof of ownership with a code in a pending order's comment (reported by the EA through
-- private.ingest_trades), at most one verified registration per real account, and the accrual rule
-- (only a verified, not paused, not deleted account accrues; the rest is withheld with a reason).
begin;
\ir helpers/setup.psql

select plan(51);

delete from auth.users;
delete from private.vps_hosts;
delete from private.seen_request_ids;

-- ---------------------------------------------------------------------------------------------
-- Fixtures (as the database owner).
--   users     o1 the real owner | s1 a squatter | o2 a third user
--   broker    b1 2 USD/lot
--   accounts  sq (s1, 7000001 @ Probe-Live01, connected) | ow (o1, 7000001 @ probe-live01, connected)
--             pa (o2, 7000002 @ Pause-Live, verified, connected) | un (o2, 7000003 @ Late-Live, connected)
--             de (o2, 7000004 @ Gone-Live, verified, held by host h1)
insert into auth.users (id, aud, role, email) values
  ('00000000-0000-0000-0013-0000000000a1', 'authenticated', 'authenticated', 'id-owner@example.test'),
  ('00000000-0000-0000-0013-0000000000a2', 'authenticated', 'authenticated', 'id-squatter@example.test'),
  ('00000000-0000-0000-0013-0000000000a3', 'authenticated', 'authenticated', 'id-third@example.test');
insert into public.brokers (id, name, platforms, rebate_per_lot, currency) values
  ('00000000-0000-0000-0013-0000000000b1', 'Identity Broker', array['MT4', 'MT5'], 2, 'USD');
insert into private.vps_hosts (id, name, key_hash) values ('00000000-0000-0000-0013-0000000000f1', 'identity-host', repeat('13', 32));
insert into public.trading_accounts (id, user_id, broker_id, platform, login, server, verified_at, vps_host_id) values
  ('00000000-0000-0000-0013-0000000000c1', '00000000-0000-0000-0013-0000000000a2', '00000000-0000-0000-0013-0000000000b1', 'MT5', 7000001, 'Probe-Live01', null, null),
  ('00000000-0000-0000-0013-0000000000c2', '00000000-0000-0000-0013-0000000000a1', '00000000-0000-0000-0013-0000000000b1', 'MT5', 7000001, 'probe-live01', null, null),
  ('00000000-0000-0000-0013-0000000000c3', '00000000-0000-0000-0013-0000000000a3', '00000000-0000-0000-0013-0000000000b1', 'MT5', 7000002, 'Pause-Live', now(), null),
  ('00000000-0000-0000-0013-0000000000c4', '00000000-0000-0000-0013-0000000000a3', '00000000-0000-0000-0013-0000000000b1', 'MT5', 7000003, 'Late-Live', null, null),
  ('00000000-0000-0000-0013-0000000000c5', '00000000-0000-0000-0013-0000000000a3', '00000000-0000-0000-0013-0000000000b1', 'MT5', 7000004, 'Gone-Live', now(), '00000000-0000-0000-0013-0000000000f1');
update public.trading_accounts set status = 'provisioning' where user_id in
  ('00000000-0000-0000-0013-0000000000a1', '00000000-0000-0000-0013-0000000000a2', '00000000-0000-0000-0013-0000000000a3');
update public.trading_accounts set status = 'connected' where user_id in
  ('00000000-0000-0000-0013-0000000000a1', '00000000-0000-0000-0013-0000000000a2', '00000000-0000-0000-0013-0000000000a3');

-- =============================================================================================
-- Server key and ownership codes
-- =============================================================================================
select is(private.server_key('  Probe-Live01 '), 'probe-live01', 'server_key: lower case, trimmed');
select is(private.server_key(E'ICM  Live\t07'), 'icm live 07', 'server_key: whitespace runs are one space');
select is((select count(*)::int from public.trading_accounts where ownership_code ~ '^RUBI-[0-9A-HJKMNP-TV-Z]{8}$'), 5,
  'every registration has an ownership code (RUBI- and 8 Crockford base32 characters)');
select is((select count(distinct private.new_ownership_code())::int from generate_series(1, 200)), 200, 'codes are random');
select is((select count(distinct ownership_code)::int from public.trading_accounts), 5, 'each registration has its own code');

-- =============================================================================================
-- Registering: the caller's own registrations only
-- =============================================================================================
select tests.authenticate_as('00000000-0000-0000-0013-0000000000a3');
select lives_ok($$
  select private.register_trading_account('00000000-0000-0000-0013-0000000000b1', 'MT5', 7000001, ' PROBE-LIVE01 ', 'c', 'k1',
    '00000000-0000-0000-0013-0000000000c6')
$$, 'a login other users registered (in other spellings) registers for a third user all the same');
select throws_ok($$
  select private.register_trading_account('00000000-0000-0000-0013-0000000000b1', 'MT5', 7000001, E'probe-live01\t', 'c', 'k1')
$$, '23505', 'you already registered login 7000001 on probe-live01', 'the user''s own second registration (any spelling) is refused');
select is((select server from public.trading_accounts where id = '00000000-0000-0000-0013-0000000000c6'), 'PROBE-LIVE01',
  'the server is stored as typed, trimmed');
select is((select verified_at from public.trading_accounts where id = '00000000-0000-0000-0013-0000000000c6'), null,
  'a registration starts unverified');
select tests.clear_authentication();
select throws_ok($$
  update public.trading_accounts set verified_at = now()
  where id in ('00000000-0000-0000-0013-0000000000c1', '00000000-0000-0000-0013-0000000000c2')
$$, '23505', null, 'at most one live registration of a real account is verified (the partial unique index, by server key)');

-- =============================================================================================
-- Unverified: trades recorded, cashback withheld
-- =============================================================================================
select tests.authenticate_as_account_ea('00000000-0000-0000-0013-0000000000a2', '00000000-0000-0000-0013-0000000000c1');
select results_eq(
  $$ select accepted, cashback_accrued, ownership from private.ingest_trades('00000000-0000-0000-0013-0000000000a2',
       '00000000-0000-0000-0013-0000000000c1', jsonb_build_array(tests.trade(1, 1))) $$,
  $$ values ('{1}'::bigint[], 0::numeric, 'unverified'::text) $$,
  'an unverified registration''s trade is recorded; its cashback is withheld');
select results_eq(
  $$ select ownership from private.ingest_trades('00000000-0000-0000-0013-0000000000a2', '00000000-0000-0000-0013-0000000000c1',
       '[]'::jsonb, array[(select ownership_code from public.trading_accounts where id = '00000000-0000-0000-0013-0000000000c1') || 'X']) $$,
  $$ values ('unverified'::text) $$,
  'a code that is not exactly this registration''s proves nothing');
select tests.authenticate_as_account_ea('00000000-0000-0000-0013-0000000000a1', '00000000-0000-0000-0013-0000000000c2');
select results_eq(
  $$ select accepted, cashback_accrued, ownership from private.ingest_trades('00000000-0000-0000-0013-0000000000a1',
       '00000000-0000-0000-0013-0000000000c2', jsonb_build_array(tests.trade(1, 1.5), tests.trade(2, 0.5))) $$,
  $$ values ('{1,2}'::bigint[], 0::numeric, 'unverified'::text) $$,
  'the real owner''s registration is unverified too, until proven');
select tests.clear_authentication();
select results_eq(
  $$ select account_id, ticket, cashback_rate, cashback_amount, cashback_withheld::text from public.closed_trades
     where account_id in ('00000000-0000-0000-0013-0000000000c1', '00000000-0000-0000-0013-0000000000c2') order by account_id, ticket $$,
  $$ values ('00000000-0000-0000-0013-0000000000c1'::uuid, 1::bigint, 2::numeric, 0::numeric, 'unverified'),
            ('00000000-0000-0000-0013-0000000000c2'::uuid, 1::bigint, 2::numeric, 0::numeric, 'unverified'),
            ('00000000-0000-0000-0013-0000000000c2'::uuid, 2::bigint, 2::numeric, 0::numeric, 'unverified') $$,
  'withheld trades keep the broker''s rate, with amount 0 and the reason');

-- The squatter's EA cannot use the owner's code: it is not its registration's.
select tests.authenticate_as_account_ea('00000000-0000-0000-0013-0000000000a2', '00000000-0000-0000-0013-0000000000c1');
select is(
  (select ownership from private.ingest_trades('00000000-0000-0000-0013-0000000000a2', '00000000-0000-0000-0013-0000000000c1',
     '[]'::jsonb, array['RUBI-00000000'])),
  'unverified', 'another code proves nothing for this registration');

-- =============================================================================================
-- Proof: the owner's EA reports the owner's code
-- =============================================================================================
select tests.authenticate_as_account_ea('00000000-0000-0000-0013-0000000000a1', '00000000-0000-0000-0013-0000000000c2');
select results_eq(
  $$ select accepted, cashback_accrued, ownership from private.ingest_trades('00000000-0000-0000-0013-0000000000a1',
       '00000000-0000-0000-0013-0000000000c2', jsonb_build_array(tests.trade(3, 1)),
       array['RUBI-00000000', (select ownership_code from public.trading_accounts where id = '00000000-0000-0000-0013-0000000000c2')]) $$,
  $$ values ('{3}'::bigint[], 2::numeric, 'verified'::text) $$,
  'the EA reports the registration''s code: verified, and the batch that brings the proof accrues');
select results_eq(
  $$ select ownership, cashback_accrued from private.ingest_trades('00000000-0000-0000-0013-0000000000a1',
       '00000000-0000-0000-0013-0000000000c2', jsonb_build_array(tests.trade(4, 1))) $$,
  $$ values ('verified'::text, 2::numeric) $$,
  'verified stays verified without codes');
select tests.clear_authentication();
select results_eq(
  $$ select ticket, cashback_amount, cashback_withheld::text from public.closed_trades
     where account_id = '00000000-0000-0000-0013-0000000000c2' order by ticket $$,
  $$ values (1::bigint, 3.0::numeric, null::text), (2, 1.0, null), (3, 2, null), (4, 2, null) $$,
  'the withheld trades of the proven registration accrued, at their recorded rate');
select isnt((select verified_at from public.trading_accounts where id = '00000000-0000-0000-0013-0000000000c2'), null,
  'verified_at is set');
select is((select count(*)::int from public.notifications where user_id = '00000000-0000-0000-0013-0000000000a1' and kind = 'account_verified'), 1,
  'the owner is told (account_verified)');

-- The other registrations of the real account: the squatter's (connected) and the third user's (pending).
select results_eq(
  $$ select status::text, error_code, next_retry_at, vps_host_id from public.trading_accounts where id = '00000000-0000-0000-0013-0000000000c1' $$,
  $$ values ('error', 'E_OWNED_ELSEWHERE', null::timestamptz, null::uuid) $$,
  'the squatter''s running registration moves to error E_OWNED_ELSEWHERE, released by its host, no automatic retry');
select is((select status::text from public.trading_accounts where id = '00000000-0000-0000-0013-0000000000c6'), 'pending_vps_setup',
  'a queued registration stays queued (its EA is told when it reports)');
select is((select cashback_withheld::text from public.closed_trades where account_id = '00000000-0000-0000-0013-0000000000c1' and ticket = 1),
  'owned_elsewhere', 'the squatter''s withheld trades are final: owned_elsewhere');
select results_eq(
  $$ select user_id, title from public.notifications where kind = 'account_error' and account_id in
       ('00000000-0000-0000-0013-0000000000c1', '00000000-0000-0000-0013-0000000000c6') order by user_id $$,
  $$ values ('00000000-0000-0000-0013-0000000000a2'::uuid, 'Account 7000001 belongs to someone else'),
            ('00000000-0000-0000-0013-0000000000a3'::uuid, 'Account 7000001 belongs to someone else') $$,
  'the other registrations'' owners are told');

select tests.authenticate_as_account_ea('00000000-0000-0000-0013-0000000000a2', '00000000-0000-0000-0013-0000000000c1');
select results_eq(
  $$ select accepted, cashback_accrued, ownership from private.ingest_trades('00000000-0000-0000-0013-0000000000a2',
       '00000000-0000-0000-0013-0000000000c1', jsonb_build_array(tests.trade(2, 1)),
       array[(select ownership_code from public.trading_accounts where id = '00000000-0000-0000-0013-0000000000c1')]) $$,
  $$ values ('{2}'::bigint[], 0::numeric, 'owned_elsewhere'::text) $$,
  'the squatter''s EA, still reporting, even with its own code: owned_elsewhere, nothing accrues');
select tests.clear_authentication();
update public.trading_accounts set status = 'provisioning' where id = '00000000-0000-0000-0013-0000000000c6';
select tests.authenticate_as_account_ea('00000000-0000-0000-0013-0000000000a3', '00000000-0000-0000-0013-0000000000c6');
select is(
  (select ownership from private.ingest_trades('00000000-0000-0000-0013-0000000000a3', '00000000-0000-0000-0013-0000000000c6', '[]'::jsonb)),
  'owned_elsewhere', 'a registration launched after the proof is owned_elsewhere at its first report');
select tests.clear_authentication();
select results_eq(
  $$ select status::text, error_code from public.trading_accounts where id = '00000000-0000-0000-0013-0000000000c6' $$,
  $$ values ('error', 'E_OWNED_ELSEWHERE') $$,
  '...and moves to error E_OWNED_ELSEWHERE');
select is((select count(*)::int from public.trading_accounts where login = 7000001 and verified_at is not null), 1,
  'one verified registration of the real account');

-- When the proven owner deletes their registration, another may prove it.
select tests.authenticate_as('00000000-0000-0000-0013-0000000000a1');
select lives_ok($$ select private.account_action('00000000-0000-0000-0013-0000000000c2', 'delete') $$, 'the owner deletes their registration');
select tests.clear_authentication();
update public.trading_accounts set status = 'pending_vps_setup' where id = '00000000-0000-0000-0013-0000000000c1';
update public.trading_accounts set status = 'provisioning' where id = '00000000-0000-0000-0013-0000000000c1';
select tests.authenticate_as_account_ea('00000000-0000-0000-0013-0000000000a2', '00000000-0000-0000-0013-0000000000c1');
select is(
  (select ownership from private.ingest_trades('00000000-0000-0000-0013-0000000000a2', '00000000-0000-0000-0013-0000000000c1', '[]'::jsonb,
     array[(select ownership_code from public.trading_accounts where id = '00000000-0000-0000-0013-0000000000c1')])),
  'verified', 'with no other verified registration left, a registration with its code is proven');
select tests.clear_authentication();
select is((select cashback_withheld::text from public.closed_trades where account_id = '00000000-0000-0000-0013-0000000000c1' and ticket = 1),
  'owned_elsewhere', 'trades withheld as owned_elsewhere stay withheld (final)');

-- =============================================================================================
-- Settlement leaves 'unverified' trades alone; proving accrues them exactly once
-- =============================================================================================
select tests.authenticate_as_account_ea('00000000-0000-0000-0013-0000000000a3', '00000000-0000-0000-0013-0000000000c4');
select is(
  (select cashback_accrued from private.ingest_trades('00000000-0000-0000-0013-0000000000a3', '00000000-0000-0000-0013-0000000000c4',
     jsonb_build_array(tests.trade(1, 1, now() - interval '2 days'), tests.trade(2, 2, now() - interval '2 days')))),
  0::numeric, 'unverified: nothing accrues');
select tests.clear_authentication();
select is(private.settle_cashback((now() at time zone 'utc')::date - 1) >= 0, true, 'the nightly settlement runs');
select results_eq(
  $$ select count(*)::int from public.closed_trades where account_id = '00000000-0000-0000-0013-0000000000c4' and settled_on is null $$,
  $$ values (2) $$, 'it leaves the unverified trades unsettled (they may still accrue)');
select tests.authenticate_as_account_ea('00000000-0000-0000-0013-0000000000a3', '00000000-0000-0000-0013-0000000000c4');
select is(
  (select ownership from private.ingest_trades('00000000-0000-0000-0013-0000000000a3', '00000000-0000-0000-0013-0000000000c4', '[]'::jsonb,
     array[(select ownership_code from public.trading_accounts where id = '00000000-0000-0000-0013-0000000000c4')])),
  'verified', 'proven');
select is(
  (select cashback_accrued from private.ingest_trades('00000000-0000-0000-0013-0000000000a3', '00000000-0000-0000-0013-0000000000c4', '[]'::jsonb,
     array[(select ownership_code from public.trading_accounts where id = '00000000-0000-0000-0013-0000000000c4')])),
  0::numeric, 'the proof again accrues nothing more');
select tests.clear_authentication();
select is((select sum(cashback_amount) from public.closed_trades where account_id = '00000000-0000-0000-0013-0000000000c4'), 6::numeric,
  'the withheld trades accrued once (3 lots x 2)');
select is(private.settle_cashback((now() at time zone 'utc')::date - 1) >= 2, true, 'the next settlement settles them');
select results_eq(
  $$ select trades_count, amount from public.cashback_ledger where account_id = '00000000-0000-0000-0013-0000000000c4' $$,
  $$ values (2, 6::numeric) $$, 'into the ledger, once');

-- =============================================================================================
-- Paused: nothing accrues, even for trades reported after the resume
-- =============================================================================================
select tests.authenticate_as('00000000-0000-0000-0013-0000000000a3');
select lives_ok($$ select private.account_action('00000000-0000-0000-0013-0000000000c3', 'pause') $$, 'the owner pauses a verified account');
select tests.clear_authentication();
select results_eq(
  $$ select count(*)::int from private.account_pauses where account_id = '00000000-0000-0000-0013-0000000000c3' and resumed_at is null $$,
  $$ values (1) $$, 'the pause is recorded');
select tests.authenticate_as_account_ea('00000000-0000-0000-0013-0000000000a3', '00000000-0000-0000-0013-0000000000c3');
select results_eq(
  $$ select accepted, cashback_accrued, ownership from private.ingest_trades('00000000-0000-0000-0013-0000000000a3',
       '00000000-0000-0000-0013-0000000000c3', jsonb_build_array(tests.trade(1, 1, now() - interval '1 hour'), tests.trade(2, 1))) $$,
  $$ values ('{1,2}'::bigint[], 0::numeric, 'verified'::text) $$,
  'a paused account''s EA: trades recorded, nothing accrues');
select tests.authenticate_as('00000000-0000-0000-0013-0000000000a3');
select lives_ok($$ select private.account_action('00000000-0000-0000-0013-0000000000c3', 'resume') $$, 'the owner resumes it');
select tests.clear_authentication();
select results_eq(
  $$ select count(*)::int from private.account_pauses where account_id = '00000000-0000-0000-0013-0000000000c3' and resumed_at is not null $$,
  $$ values (1) $$, 'the pause is closed');
-- An earlier pause, 5 to 3 hours ago; its trades arrive late, after the resume.
insert into private.account_pauses (account_id, paused_at, resumed_at)
values ('00000000-0000-0000-0013-0000000000c3', now() - interval '5 hours', now() - interval '3 hours');
select tests.authenticate_as_account_ea('00000000-0000-0000-0013-0000000000a3', '00000000-0000-0000-0013-0000000000c3');
select results_eq(
  $$ select accepted, cashback_accrued from private.ingest_trades('00000000-0000-0000-0013-0000000000a3', '00000000-0000-0000-0013-0000000000c3',
       jsonb_build_array(tests.trade(3, 1, now() - interval '4 hours'), tests.trade(4, 1, now() - interval '2 hours'))) $$,
  $$ values ('{3,4}'::bigint[], 2::numeric) $$,
  'after the resume: a trade closed during the pause accrues nothing, one closed after it accrues');
select tests.clear_authentication();
select results_eq(
  $$ select ticket, cashback_amount, cashback_withheld::text from public.closed_trades
     where account_id = '00000000-0000-0000-0013-0000000000c3' order by ticket $$,
  $$ values (1::bigint, 0::numeric, 'paused'), (2, 0, 'paused'), (3, 0, 'paused'), (4, 2, null) $$,
  'the withheld reason is recorded on each trade');

-- =============================================================================================
-- Deleted: the EA is refused
-- =============================================================================================
select tests.authenticate_as('00000000-0000-0000-0013-0000000000a3');
select lives_ok($$ select private.account_action('00000000-0000-0000-0013-0000000000c5', 'delete') $$, 'the owner deletes an account a host holds');
select tests.authenticate_as_account_ea('00000000-0000-0000-0013-0000000000a3', '00000000-0000-0000-0013-0000000000c5');
select throws_ok($$
  select * from private.ingest_trades('00000000-0000-0000-0013-0000000000a3', '00000000-0000-0000-0013-0000000000c5', jsonb_build_array(tests.trade(1, 1)))
$$, '42501', 'only the account''s own EA reports for it', 'a deleted account''s EA reports nothing');
select tests.clear_authentication();

-- =============================================================================================
-- Privileges
-- =============================================================================================
select ok(not has_function_privilege('rubi_ea', 'private.account_ownership(uuid, text[])', 'execute')
  and not has_function_privilege('authenticated', 'private.account_ownership(uuid, text[])', 'execute')
  and not has_function_privilege('service_role', 'private.account_ownership(uuid, text[])', 'execute'),
  'nobody proves ownership but through private.ingest_trades');
select ok(not has_function_privilege('rubi_ea', 'private.stop_owned_elsewhere(uuid[])', 'execute')
  and not has_function_privilege('authenticated', 'private.stop_owned_elsewhere(uuid[])', 'execute'),
  'nobody stops a registration directly');
select ok(has_function_privilege('rubi_ea', 'private.ingest_trades(uuid, uuid, jsonb, text[], boolean, timestamptz, boolean)', 'execute'),
  'the account EA role reports trades with ownership codes');

select * from finish();
rollback;
