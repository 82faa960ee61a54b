-- Signals bridge edge cases found in review (20261130002600_ping_counts_unreported_signals.sql).
--
-- A DELIVERED signal is returned by every poll until the EA reports it, even past its expires_at
-- (the EA then reports it REJECTED as expired). The connector EA polls only when the ping says
-- signals wait, so the ping must count such a signal: otherwise a signal whose poll response was
-- lost and whose expiry then passed is never polled again on a live session, stays DELIVERED on
-- the dashboard and holds one of the session's max_open_positions slots for good.
--
-- Fixed ids (group 0023 marks this file):
--   user A ...0023-0000000000a1, EA key ...0023-0000000000a2, session ...0023-0000000000a3
--   signals e1 (BUY, delivered, then past its expiry), e2 (CLOSE_BUY, delivered, unexpired)
begin;
\ir helpers/setup.psql

select plan(4);

select tests.clear_authentication();
insert into auth.users (id, aud, role, email) values
  ('00000000-0000-0000-0023-0000000000a1', 'authenticated', 'authenticated', 'a.redelivery@edges.test');
insert into public.ea_keys (id, user_id, name) values
  ('00000000-0000-0000-0023-0000000000a2', '00000000-0000-0000-0023-0000000000a1', 'A key');
insert into public.mt5_sessions (id, user_id, ea_key_id, account_number, broker, server, currency, leverage, balance, equity,
  margin_free, max_open_positions) values
  ('00000000-0000-0000-0023-0000000000a3', '00000000-0000-0000-0023-0000000000a1', '00000000-0000-0000-0023-0000000000a2',
   2301, 'Demo Broker', 'Edges-Demo', 'USD', 100, 1000, 1000, 1000, 1);
insert into public.trading_signals (id, user_id, session_id, type, symbol, volume, created_at, expires_at) values
  ('00000000-0000-0000-0023-0000000000e1', '00000000-0000-0000-0023-0000000000a1', '00000000-0000-0000-0023-0000000000a3',
   'BUY', 'EURUSD', 0.1, now() - interval '10 minutes', now() + interval '1 hour'),
  ('00000000-0000-0000-0023-0000000000e2', '00000000-0000-0000-0023-0000000000a1', '00000000-0000-0000-0023-0000000000a3',
   'CLOSE_BUY', 'EURUSD', null, now() - interval '5 minutes', now() + interval '1 hour');

-- The EA polls: e1 and e2 are delivered; the response is lost.
select tests.authenticate_as_ea('00000000-0000-0000-0023-0000000000a1', '00000000-0000-0000-0023-0000000000a2');
select is((select count(*)::int from private.deliver_signals('00000000-0000-0000-0023-0000000000a1',
  '00000000-0000-0000-0023-0000000000a3', 10)), 2, 'poll: both signals delivered (the response never reaches the EA)');
select tests.clear_authentication();

-- Time passes: e1's expiry is behind it.
update public.trading_signals set expires_at = now() - interval '1 minute'
where id = '00000000-0000-0000-0023-0000000000e1';

select tests.authenticate_as_ea('00000000-0000-0000-0023-0000000000a1', '00000000-0000-0000-0023-0000000000a2');
select is(private.ping_session('00000000-0000-0000-0023-0000000000a1', '00000000-0000-0000-0023-0000000000a3',
    '{"balance": 1000, "equity": 1000, "margin": 0, "margin_free": 1000, "profit": 0}') ->> 'pending_signals', '2',
  'ping: a DELIVERED signal past its expiry still waits for its report, so the EA is told to poll');
select results_eq(
  $$ select id from private.deliver_signals('00000000-0000-0000-0023-0000000000a1', '00000000-0000-0000-0023-0000000000a3', 10) $$,
  $$ values ('00000000-0000-0000-0023-0000000000e1'::uuid), ('00000000-0000-0000-0023-0000000000e2'::uuid) $$,
  'poll: the expired DELIVERED signal comes back (the EA reports it REJECTED as expired)');
select is((select status::text from private.report_signal('00000000-0000-0000-0023-0000000000a1', '00000000-0000-0000-0023-0000000000e1',
    'REJECTED', null, null, null, null, 'the signal expired before it was executed', null)), 'REJECTED',
  'report: the expired signal is settled, freeing its position slot');
select tests.clear_authentication();

select * from finish();
rollback;
