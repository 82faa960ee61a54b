-- Rules no client can bypass (20261130001000_no_direct_writes.sql, issue #15 item 3).
--
-- In a hosted project PostgREST exposes `public` to every signed-in user as role `authenticated`.
-- Before, EA requests ran as `authenticated` too, so the owner could write with their own JWT what
-- only their EA's functions should: rewrite a DELIVERED signal's volume and symbol or an EXECUTED
-- one's ticket, insert a signal past every rule of private.create_signal. Now an admitted EA runs as
-- `rubi_ea` (a member of `authenticated` that PostgREST can never switch to), which alone holds the
-- writes its functions make, and users write through private.* functions only.
--
-- (a) the three reproductions, as the owner: refused (42501), nothing changed;
-- (b) from the catalog, for every public table and every column: anon and authenticated hold no
--     INSERT, UPDATE, DELETE or TRUNCATE but the listed user writes (a column or table added later
--     is covered without editing this file), and rubi_ea holds exactly the listed column writes;
-- (c) rubi_ea cannot be reached through PostgREST and bypasses nothing;
-- (d) the sanctioned paths still work: the EA's, as rubi_ea, and the owner's through
--     private.create_signal / private.cancel_signal, which keep their rules.
--
-- Fixed ids (group 4 = 0013 marks this file):
--   users     A ...0013-0000000000a1  B ...0013-0000000000b1
--   EA key    A ...0013-0000000000a2
--   sessions  A ...0013-0000000000a3 (max_open_positions 3, spec EURUSD)  B ...0013-0000000000b3
--   signals   A DELIVERED ...0013-0000000000d1, A EXECUTED ...0013-0000000000e1 (ticket 5551),
--             B PENDING ...0013-0000000000b4
begin;
\ir helpers/setup.psql

select plan(34);

select tests.clear_authentication();

insert into auth.users (id, aud, role, email) values
  ('00000000-0000-0000-0013-0000000000a1', 'authenticated', 'authenticated', 'a.nodirect@rules.test'),
  ('00000000-0000-0000-0013-0000000000b1', 'authenticated', 'authenticated', 'b.nodirect@rules.test');
insert into public.ea_keys (id, user_id, name) values
  ('00000000-0000-0000-0013-0000000000a2', '00000000-0000-0000-0013-0000000000a1', 'A key');
insert into public.mt5_sessions (id, user_id, ea_key_id, account_number, broker, server, currency, leverage, balance, equity,
  max_open_positions) values
  ('00000000-0000-0000-0013-0000000000a3', '00000000-0000-0000-0013-0000000000a1', '00000000-0000-0000-0013-0000000000a2',
   1301, 'Demo Broker', 'NoDirect-Demo', 'USD', 100, 10000, 10000, 3),
  ('00000000-0000-0000-0013-0000000000b3', '00000000-0000-0000-0013-0000000000b1', null,
   2301, 'Demo Broker', 'NoDirect-Demo', 'USD', 100, 10000, 10000, 10);
insert into public.symbol_specs (session_id, user_id, symbol, tick_size, tick_value, contract_size, volume_min, volume_max, volume_step, digits) values
  ('00000000-0000-0000-0013-0000000000a3', '00000000-0000-0000-0013-0000000000a1', 'EURUSD', 0.00001, 1, 100000, 0.01, 5, 0.01, 5);
insert into public.trading_signals (id, user_id, session_id, type, symbol, volume) values
  ('00000000-0000-0000-0013-0000000000d1', '00000000-0000-0000-0013-0000000000a1', '00000000-0000-0000-0013-0000000000a3', 'BUY', 'EURUSD', 0.1),
  ('00000000-0000-0000-0013-0000000000e1', '00000000-0000-0000-0013-0000000000a1', '00000000-0000-0000-0013-0000000000a3', 'SELL', 'EURUSD', 0.2),
  ('00000000-0000-0000-0013-0000000000b4', '00000000-0000-0000-0013-0000000000b1', '00000000-0000-0000-0013-0000000000b3', 'BUY', 'EURUSD', 0.1);
update public.trading_signals set status = 'DELIVERED'
where id in ('00000000-0000-0000-0013-0000000000d1', '00000000-0000-0000-0013-0000000000e1');
update public.trading_signals set status = 'EXECUTED', order_ticket = 5551 where id = '00000000-0000-0000-0013-0000000000e1';

-- =============================================================================================
-- (a) The reproductions, as the owner with their own JWT (what PostgREST runs).
-- =============================================================================================
select tests.authenticate_as('00000000-0000-0000-0013-0000000000a1');
select throws_ok($$
  update public.trading_signals set volume = 50, symbol = 'XAUUSD' where id = '00000000-0000-0000-0013-0000000000d1'
$$, '42501', null, 'the owner cannot rewrite a DELIVERED signal''s volume and symbol');
select throws_ok($$
  update public.trading_signals set order_ticket = 9999 where id = '00000000-0000-0000-0013-0000000000e1'
$$, '42501', null, 'the owner cannot rewrite an EXECUTED signal''s order ticket');
select throws_ok($$
  insert into public.trading_signals (user_id, session_id, type, symbol, volume, source)
  values ('00000000-0000-0000-0013-0000000000a1', '00000000-0000-0000-0013-0000000000a3', 'BUY', 'NOSUCHSYMBOL', 1e9, 'ea')
$$, '42501', null, 'the owner cannot insert a signal directly (volume 1e9, unknown symbol, source ea)');
select throws_ok($$ delete from public.trading_signals where id = '00000000-0000-0000-0013-0000000000e1' $$,
  '42501', null, 'the owner cannot delete a signal (its history) directly');
select throws_ok($$ update public.mt5_sessions set max_open_positions = 1000, max_risk_percent = 100
  where id = '00000000-0000-0000-0013-0000000000a3' $$,
  '42501', null, 'the owner cannot lift their session''s risk limits directly');

select tests.clear_authentication();
select results_eq($$
  select id, status, volume, symbol, order_ticket from public.trading_signals
  where user_id = '00000000-0000-0000-0013-0000000000a1' order by id
$$, $$ values
  ('00000000-0000-0000-0013-0000000000d1'::uuid, 'DELIVERED', 0.1, 'EURUSD', null::bigint),
  ('00000000-0000-0000-0013-0000000000e1'::uuid, 'EXECUTED', 0.2, 'EURUSD', 5551::bigint)
$$, 'the refused writes changed nothing and added no signal');

-- =============================================================================================
-- (b) From the catalog: every column of every public table.
-- =============================================================================================
-- What a client may write directly: rename and revoke an EA key, mark a notification read,
-- delete a notification. Nothing else.
create temporary table user_writes (relname text, attname text, privilege text) on commit drop;
insert into user_writes values
  ('ea_keys', 'name', 'UPDATE'), ('ea_keys', 'revoked_at', 'UPDATE'),
  ('notifications', 'read_at', 'UPDATE'), ('notifications', null, 'DELETE');

select cmp_ok((select count(*)::int from pg_attribute a join pg_class c on c.oid = a.attrelid
               join pg_namespace n on n.oid = c.relnamespace
               where n.nspname = 'public' and c.relkind in ('r', 'p') and a.attnum > 0 and not a.attisdropped),
  '>=', 150, 'the column checks below see every column of the public tables (not vacuous)');

select is_empty($$
  select r.role || ' ' || p.privilege || ' ' || c.relname || '.' || a.attname
  from pg_class c
  join pg_namespace n on n.oid = c.relnamespace
  join pg_attribute a on a.attrelid = c.oid and a.attnum > 0 and not a.attisdropped
  cross join (values ('anon'), ('authenticated')) as r (role)
  cross join (values ('INSERT'), ('UPDATE')) as p (privilege)
  where n.nspname = 'public' and c.relkind in ('r', 'p')
    and has_column_privilege(r.role, c.oid, a.attnum, p.privilege)
    and not (r.role = 'authenticated' and exists (
      select 1 from user_writes w where w.relname = c.relname::text and w.attname = a.attname::text and w.privilege = p.privilege))
$$, 'anon and authenticated can INSERT no column and UPDATE no column of any public table, but an EA key''s name and revoked_at and a notification''s read_at');

select is_empty($$
  select r.role || ' ' || p.privilege || ' ' || c.relname
  from pg_class c
  join pg_namespace n on n.oid = c.relnamespace
  cross join (values ('anon'), ('authenticated')) as r (role)
  cross join (values ('INSERT'), ('UPDATE'), ('DELETE'), ('TRUNCATE')) as p (privilege)
  where n.nspname = 'public' and c.relkind in ('r', 'p')
    and has_table_privilege(r.role, c.oid, p.privilege)
    and not (r.role = 'authenticated' and exists (
      select 1 from user_writes w where w.relname = c.relname::text and w.attname is null and w.privilege = p.privilege))
$$, 'anon and authenticated hold no table-wide INSERT, UPDATE, DELETE or TRUNCATE on any public table, but DELETE of notifications');

select is_empty($$
  select r.role || ' ' || c.oid::regclass::text
  from pg_inherits i
  join pg_class p on p.oid = i.inhparent
  join pg_namespace pn on pn.oid = p.relnamespace and pn.nspname = 'public'
  join pg_class c on c.oid = i.inhrelid
  cross join (values ('anon'), ('authenticated'), ('rubi_ea')) as r (role)
  where has_table_privilege(r.role, c.oid, 'SELECT, INSERT, UPDATE, DELETE, TRUNCATE')
$$, 'no API role holds any privilege on a partition of a public table (account_snapshots'' daily partitions)');
select cmp_ok((select count(*)::int from pg_inherits i where i.inhparent = 'public.account_snapshots'::regclass), '>', 1,
  'account_snapshots has partitions to check');

-- rubi_ea: exactly the columns its functions write, and nothing table-wide.
select results_eq($$
  select c.relname::text collate "default", x.privilege_type::text collate "default",
    string_agg(a.attname::text, ', ' order by a.attnum) collate "default"
  from pg_class c
  join pg_namespace n on n.oid = c.relnamespace
  join pg_attribute a on a.attrelid = c.oid and a.attnum > 0 and not a.attisdropped
  cross join lateral aclexplode(a.attacl) x
  where n.nspname = 'public' and x.grantee = 'rubi_ea'::regrole
  group by 1, 2 order by 1, 2
$$, $$ values
  ('account_snapshots', 'INSERT', 'session_id, user_id, captured_at, balance, equity, margin, margin_free, margin_level, profit'),
  ('mt5_sessions', 'INSERT', 'user_id, ea_key_id, account_number, broker, server, currency, leverage, ea_version, terminal_build, balance, equity, margin, margin_free, ping_interval_seconds'),
  ('mt5_sessions', 'UPDATE', 'ea_key_id, broker, currency, leverage, ea_version, terminal_build, balance, equity, margin, margin_free, margin_level, profit, status, connected_at, last_ping_at, signals_sent, signals_received, orders_executed, errors'),
  ('positions', 'INSERT', 'session_id, ticket, user_id, symbol, type, volume, open_price, current_price, stop_loss, take_profit, profit, swap, commission, magic, comment, opened_at, closed_at'),
  ('positions', 'UPDATE', 'symbol, type, volume, open_price, current_price, stop_loss, take_profit, profit, swap, commission, magic, comment, opened_at, closed_at'),
  ('symbol_specs', 'INSERT', 'session_id, user_id, symbol, tick_size, tick_value, contract_size, volume_min, volume_max, volume_step, digits'),
  ('symbol_specs', 'UPDATE', 'tick_size, tick_value, contract_size, volume_min, volume_max, volume_step, digits'),
  ('trading_orders', 'INSERT', 'user_id, signal_id, session_id, result, ticket, price, volume, retcode, comment, requested_at, executed_at'),
  ('trading_signals', 'UPDATE', 'session_id, status, status_message, order_ticket')
$$, 'rubi_ea (an admitted EA) writes exactly the columns its functions write');
select is_empty($$
  select c.relname || ' ' || x.privilege_type
  from pg_class c join pg_namespace n on n.oid = c.relnamespace
  cross join lateral aclexplode(c.relacl) x
  where n.nspname in ('public', 'private') and x.grantee = 'rubi_ea'::regrole
$$, 'rubi_ea holds no table-wide privilege of its own (it reads as authenticated does)');
select ok(not has_column_privilege('rubi_ea', 'public.trading_signals', 'volume', 'UPDATE')
          and not has_column_privilege('rubi_ea', 'public.trading_signals', 'symbol', 'UPDATE')
          and not has_table_privilege('rubi_ea', 'public.trading_signals', 'INSERT, DELETE'),
  'even an admitted EA cannot change what a signal asks for, create one past create_signal, or delete one');

-- Money: the ledger is private.settle_cashback's alone, service_role included.
select ok(not has_table_privilege('service_role', 'public.cashback_ledger', 'INSERT, UPDATE, DELETE, TRUNCATE'),
  'service_role cannot write the cashback ledger directly');

-- =============================================================================================
-- (c) rubi_ea cannot be reached through the Data API, and bypasses nothing.
-- =============================================================================================
select ok(not pg_has_role('authenticator', 'rubi_ea', 'member'),
  'authenticator (PostgREST) is not a member of rubi_ea: no JWT role claim can switch to it');
select is((select array_agg(m.member::regrole::text order by m.member::regrole::text) from pg_auth_members m where m.roleid = 'rubi_ea'::regrole),
  array['postgres'], 'rubi_ea is granted to postgres (the edge functions'' connection role) and to no one else');
select ok((select not rolbypassrls and not rolsuper and not rolcanlogin and rolinherit from pg_roles where rolname = 'rubi_ea'),
  'rubi_ea: NOLOGIN, not superuser, not BYPASSRLS, INHERIT');
select ok(pg_has_role('rubi_ea', 'authenticated', 'usage'),
  'rubi_ea inherits authenticated (it reads what a user reads; to-authenticated policies apply to it)');

-- A JWT whose role claim names rubi_ea gets nowhere: PostgREST's `set role`, as authenticator, fails.
set local session authorization authenticator;
do $$
begin
  set local role rubi_ea;
exception when insufficient_privilege then
  perform set_config('tests.rubi_ea_refused', 'refused', true);
end
$$;
reset session authorization;
select is(current_setting('tests.rubi_ea_refused', true), 'refused', 'a session logged in as authenticator cannot set role rubi_ea');

-- =============================================================================================
-- (d) The sanctioned paths.
-- =============================================================================================
-- The EA, as the gate leaves it (rubi_ea + claims): create, deliver, report; its ping.
select tests.authenticate_as_ea('00000000-0000-0000-0013-0000000000a1', '00000000-0000-0000-0013-0000000000a2');
select is(current_user::text, 'rubi_ea', 'tests.authenticate_as_ea runs as rubi_ea, as the gate does');
create temporary table ea_signal on commit drop as
  select (signal).id, (signal).source::text as source, (signal).status
  from private.create_signal('00000000-0000-0000-0013-0000000000a3', 'SELL', 'EURUSD', p_volume => 0.3);
select results_eq($$ select source, status from ea_signal $$, $$ values ('ea', 'PENDING') $$,
  'an EA creates a signal through private.create_signal (source ea)');
select is((select count(*)::int from private.deliver_signals('00000000-0000-0000-0013-0000000000a1',
    '00000000-0000-0000-0013-0000000000a3', 10) d
    where d.status = 'DELIVERED' and d.id in ('00000000-0000-0000-0013-0000000000d1', (select id from ea_signal))), 2,
  'the EA polls: its signal is delivered, with the one delivered before');
select is((select status || '/' || order_ticket from private.report_signal('00000000-0000-0000-0013-0000000000a1',
    (select id from ea_signal), 'EXECUTED', 7771, 1.1, 0.3, 10009, null, null)),
  'EXECUTED/7771', 'the EA reports it executed, with its ticket');
select is((private.ping_session('00000000-0000-0000-0013-0000000000a1', '00000000-0000-0000-0013-0000000000a3',
    '{"balance": 10001, "equity": 10002, "margin": 0, "margin_free": 10002, "profit": 1}') ->> 'pending_signals')::int, 1,
  'the EA pings: figures and a snapshot written, one signal still waiting (the earlier DELIVERED one)');
select is(private.push_positions('00000000-0000-0000-0013-0000000000a1', '00000000-0000-0000-0013-0000000000a3',
    jsonb_build_array(jsonb_build_object('ticket', 7771, 'symbol', 'EURUSD', 'type', 'SELL', 'volume', 0.3, 'open_price', 1.1,
      'profit', 0, 'swap', 0, 'commission', 0, 'opened_at', now()))), '{}'::bigint[],
  'the EA pushes its positions');

-- The owner: creates and cancels through the functions, which keep every rule.
select tests.authenticate_as('00000000-0000-0000-0013-0000000000a1');
create temporary table user_signal on commit drop as
  select (signal).id, (signal).source::text as source, (signal).status
  from private.create_signal('00000000-0000-0000-0013-0000000000a3', 'BUY', 'EURUSD', p_volume => 0.5);
select results_eq($$ select source, status from user_signal $$, $$ values ('dashboard', 'PENDING') $$,
  'the owner creates a signal through private.create_signal');
select throws_ok($$ select * from private.create_signal('00000000-0000-0000-0013-0000000000a3', 'BUY', 'EURUSD', p_volume => 1e9) $$,
  '22023', 'volume 1000000000 is above the symbol''s maximum of 5 lots', 'create_signal still checks the symbol''s volume rules');
select throws_ok($$ select * from private.create_signal('00000000-0000-0000-0013-0000000000a3', 'BUY', 'EURUSD', p_volume => 0.1) $$,
  '23514', null, 'create_signal still enforces max_open_positions (1 open position + 2 waiting signals = 3)');
select throws_ok($$ select * from private.create_signal('00000000-0000-0000-0013-0000000000b3', 'BUY', 'EURUSD', p_volume => 0.1) $$,
  'P0002', 'session not found', 'another user''s session is not found (as under RLS)');
select is((select status from private.cancel_signal((select id from user_signal))), 'CANCELLED',
  'the owner cancels their pending signal through private.cancel_signal');
select throws_ok($$ select private.cancel_signal('00000000-0000-0000-0013-0000000000d1') $$,
  '23514', 'signal is DELIVERED: only a PENDING signal can be cancelled', 'a DELIVERED signal still cannot be cancelled');
select throws_ok($$ select private.cancel_signal('00000000-0000-0000-0013-0000000000b4') $$,
  'P0002', 'signal not found', 'another user''s signal is not found (as under RLS)');

select tests.clear_authentication();
select is((select status from public.trading_signals where id = '00000000-0000-0000-0013-0000000000b4'), 'PENDING',
  'B''s signal is untouched');

select * from finish();
rollback;
