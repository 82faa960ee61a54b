-- Flat hot paths (issue #13, item 3): the per-user signal counters behind GET /accounts/stats, and
-- the index the EA's pending count / poll use under RLS.
-- Fixed ids (group 4 = 0010 marks this file):
--   users    A ...0010-0000000000a1  B ...0010-0000000000b1
--   sessions A ...0010-0000000000a3 (and 39 more of A, generated)  B ...0010-0000000000b3
begin;
\ir helpers/setup.psql

select plan(17);

select tests.clear_authentication();

insert into auth.users (id, aud, role, email) values
  ('00000000-0000-0000-0010-0000000000a1', 'authenticated', 'authenticated', 'a.flat@paths.test'),
  ('00000000-0000-0000-0010-0000000000b1', 'authenticated', 'authenticated', 'b.flat@paths.test');

insert into public.mt5_sessions (id, user_id, account_number, broker, server, currency, leverage) values
  ('00000000-0000-0000-0010-0000000000a3', '00000000-0000-0000-0010-0000000000a1', 1001, 'Demo Broker', 'Flat-Demo', 'USD', 100),
  ('00000000-0000-0000-0010-0000000000b3', '00000000-0000-0000-0010-0000000000b1', 2001, 'Demo Broker', 'Flat-Demo', 'USD', 100);

create function tests.signal_stats(p_user uuid) returns text
language sql
as $$
  select coalesce((select format('%s/%s/%s/%s/%s/%s/%s/%s', pending, delivered, executed, rejected, failed, unknown, expired, cancelled)
                   from public.user_signal_stats where user_id = p_user), 'none')
$$;

-- ---------------------------------------------------------------------------------------------
-- Counters follow inserts, status transitions and deletes.
insert into public.trading_signals (user_id, session_id, type, symbol, volume)
select '00000000-0000-0000-0010-0000000000b1', '00000000-0000-0000-0010-0000000000b3', 'SELL', 'EURUSD', 0.1
from generate_series(1, 2);
select is(tests.signal_stats('00000000-0000-0000-0010-0000000000b1'), '2/0/0/0/0/0/0/0', 'B: two pending signals counted');

insert into public.trading_signals (user_id, session_id, type, symbol, volume)
select '00000000-0000-0000-0010-0000000000a1', '00000000-0000-0000-0010-0000000000a3', 'BUY', 'EURUSD', 0.1
from generate_series(1, 6);
select is(tests.signal_stats('00000000-0000-0000-0010-0000000000a1'), '6/0/0/0/0/0/0/0', 'A: an insert of six counts six pending');

update public.trading_signals set status = 'DELIVERED'
where id in (select id from public.trading_signals where user_id = '00000000-0000-0000-0010-0000000000a1' order by id limit 4);
select is(tests.signal_stats('00000000-0000-0000-0010-0000000000a1'), '2/4/0/0/0/0/0/0', 'A: four delivered in one statement move from pending');

update public.trading_signals set status = 'EXECUTED'
where id in (select id from public.trading_signals where user_id = '00000000-0000-0000-0010-0000000000a1' and status = 'DELIVERED' order by id limit 1);
update public.trading_signals set status = 'REJECTED'
where id in (select id from public.trading_signals where user_id = '00000000-0000-0000-0010-0000000000a1' and status = 'DELIVERED' order by id limit 1);
update public.trading_signals set status = 'FAILED'
where id in (select id from public.trading_signals where user_id = '00000000-0000-0000-0010-0000000000a1' and status = 'DELIVERED' order by id limit 1);
update public.trading_signals set status = 'UNKNOWN'
where id in (select id from public.trading_signals where user_id = '00000000-0000-0000-0010-0000000000a1' and status = 'DELIVERED' order by id limit 1);
update public.trading_signals set status = 'CANCELLED'
where id in (select id from public.trading_signals where user_id = '00000000-0000-0000-0010-0000000000a1' and status = 'PENDING' order by id limit 1);
update public.trading_signals set expires_at = now() - interval '1 minute'
where user_id = '00000000-0000-0000-0010-0000000000a1' and status = 'PENDING';
select is(tests.signal_stats('00000000-0000-0000-0010-0000000000a1'), '1/0/1/1/1/1/0/1',
  'A: executed, rejected, failed, unknown and cancelled counted; an update without a status change changes nothing');
select is(private.expire_signals(), 1, 'the sweep expires the one overdue signal');
select is(tests.signal_stats('00000000-0000-0000-0010-0000000000a1'), '0/0/1/1/1/1/1/1', 'A: the expiry sweep moves pending to expired');

select is(
  tests.signal_stats('00000000-0000-0000-0010-0000000000a1'),
  (select format('%s/%s/%s/%s/%s/%s/%s/%s',
     count(*) filter (where status = 'PENDING'), count(*) filter (where status = 'DELIVERED'),
     count(*) filter (where status = 'EXECUTED'), count(*) filter (where status = 'REJECTED'),
     count(*) filter (where status = 'FAILED'), count(*) filter (where status = 'UNKNOWN'),
     count(*) filter (where status = 'EXPIRED'),
     count(*) filter (where status = 'CANCELLED'))
   from public.trading_signals where user_id = '00000000-0000-0000-0010-0000000000a1'),
  'A: the counters equal a count of the rows');

delete from public.trading_signals where user_id = '00000000-0000-0000-0010-0000000000a1' and status in ('EXECUTED', 'EXPIRED');
select is(tests.signal_stats('00000000-0000-0000-0010-0000000000a1'), '0/0/0/1/1/1/0/1', 'A: deletes are subtracted');
select is(tests.signal_stats('00000000-0000-0000-0010-0000000000b1'), '2/0/0/0/0/0/0/0', 'B''s counters untouched by A''s writes');

-- ---------------------------------------------------------------------------------------------
-- Users read their own counters only, and cannot write any.
select tests.authenticate_as('00000000-0000-0000-0010-0000000000a1');
select results_eq('select user_id from public.user_signal_stats',
  $$values ('00000000-0000-0000-0010-0000000000a1'::uuid)$$, 'A reads only their own counters');
select throws_ok($$update public.user_signal_stats set pending = 100$$, '42501', null, 'A cannot update counters');
select throws_ok($$insert into public.user_signal_stats (user_id, pending) values ('00000000-0000-0000-0010-0000000000a1', 1)$$,
  '42501', null, 'A cannot insert counters');
select throws_ok($$delete from public.user_signal_stats$$, '42501', null, 'A cannot delete counters');
-- A's own signal (private.create_signal) is counted, through the security-definer trigger.
select from private.create_signal('00000000-0000-0000-0010-0000000000a3', 'BUY', 'EURUSD', p_volume => 0.1);
select tests.clear_authentication();
select is(tests.signal_stats('00000000-0000-0000-0010-0000000000a1'), '1/0/0/1/1/1/0/1', 'A''s own insert as the user is counted');

-- Deleting a user drops their counters along with their signals.
delete from auth.users where id = '00000000-0000-0000-0010-0000000000b1';
select is(tests.signal_stats('00000000-0000-0000-0010-0000000000b1'), 'none', 'a deleted user leaves no counters behind');

-- ---------------------------------------------------------------------------------------------
-- The EA's waiting count and poll, under RLS, on a user with many signals over many sessions:
-- an index scan on trading_signals_session_status_user_idx with user_id among the index conditions,
-- touching only the session's waiting rows.
insert into public.mt5_sessions (id, user_id, account_number, broker, server, currency, leverage)
select ('00000000-0000-0000-0011-' || lpad(to_hex(g), 12, '0'))::uuid, '00000000-0000-0000-0010-0000000000a1',
       5000 + g, 'Demo Broker', 'Flat-Demo', 'USD', 100
from generate_series(1, 39) g;
insert into public.trading_signals (user_id, session_id, type, symbol, volume)
select '00000000-0000-0000-0010-0000000000a1', ('00000000-0000-0000-0011-' || lpad(to_hex(1 + g % 39), 12, '0'))::uuid,
       'BUY', 'EURUSD', 0.1
from generate_series(1, 8000) g;
update public.trading_signals set status = 'CANCELLED'
where user_id = '00000000-0000-0000-0010-0000000000a1' and status = 'PENDING';
insert into public.trading_signals (user_id, session_id, type, symbol, volume)
select '00000000-0000-0000-0010-0000000000a1', '00000000-0000-0000-0010-0000000000a3', 'BUY', 'EURUSD', 0.1
from generate_series(1, 20);
analyze public.trading_signals;

create function tests.plan_of(p_sql text) returns jsonb
language plpgsql
as $$
declare
  result jsonb;
begin
  execute 'explain (analyze, format json) ' || p_sql into result;
  return result;
end;
$$;

select tests.authenticate_as('00000000-0000-0000-0010-0000000000a1');
create temp table waiting_plan on commit drop as
select tests.plan_of(format(
  $q$select count(*)::int as n from public.trading_signals
     where session_id = %L and status in ('PENDING', 'DELIVERED') and (expires_at is null or expires_at > now())$q$,
  '00000000-0000-0000-0010-0000000000a3')) as p;
create temp table poll_plan on commit drop as
select tests.plan_of(format(
  $q$select id from public.trading_signals
     where session_id = %1$L and status = 'PENDING' and (expires_at is null or expires_at > now())
     order by created_at, id
     limit greatest(0, 50 - (select count(*) from public.trading_signals where session_id = %1$L and status = 'DELIVERED'))$q$,
  '00000000-0000-0000-0010-0000000000a3')) as p;
select tests.clear_authentication();

select ok(
  (select count(*) >= 1 and bool_and(n ->> 'Index Name' = 'trading_signals_session_status_user_idx'
                                     and n ->> 'Index Cond' like '%user_id%'
                                     and (n ->> 'Actual Rows')::int = (select count(*) from public.trading_signals
                                       where session_id = '00000000-0000-0000-0010-0000000000a3' and status in ('PENDING', 'DELIVERED')))
   from waiting_plan, jsonb_path_query(p, 'strict $.**') n
   where jsonb_typeof(n) = 'object' and n ? 'Index Name')
  and not exists (select 1 from waiting_plan, jsonb_path_query(p, 'strict $.**') n
                  where jsonb_typeof(n) = 'object' and n ->> 'Node Type' in ('Seq Scan', 'BitmapAnd')),
  'ping waiting count: only the new index, user_id in its condition, only the session''s waiting rows');

select ok(
  (select count(*) >= 1 and bool_and(n ->> 'Index Name' = 'trading_signals_session_status_user_idx'
                                     and n ->> 'Index Cond' like '%user_id%')
   from poll_plan, jsonb_path_query(p, 'strict $.**') n
   where jsonb_typeof(n) = 'object' and n ? 'Index Name')
  and not exists (select 1 from poll_plan, jsonb_path_query(p, 'strict $.**') n
                  where jsonb_typeof(n) = 'object' and n ->> 'Node Type' in ('Seq Scan', 'BitmapAnd')),
  'poll: pending pick and delivered count scan only the new index, user_id in its condition');

select * from finish();
rollback;
