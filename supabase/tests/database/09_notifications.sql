-- Notifications for every account state a user cares about (20261130000200_notifications_complete):
-- account_connected when an account connects through a request (and reconnects), none for a
-- status set by hand; cashback_settled when the nightly settlement credits a ledger day (and when a
-- late trade adds to it), none when nothing was added; users change only read_at; every
-- notification is broadcast on the owner's topic.
begin;
\ir helpers/setup.psql

select plan(13);

create temporary table people as
select tests.create_user('carol@example.test') as carol, tests.create_user('dave@example.test') as dave;
grant select on people to authenticated, service_role;

insert into public.brokers (id, name, platforms, rebate_per_lot) values
  ('00000000-0000-0000-0009-0000000000d1', 'Notes Broker', array['MT5'], 2);
insert into public.trading_accounts (id, user_id, broker_id, platform, login, server)
select v.id::uuid, p.carol, '00000000-0000-0000-0009-0000000000d1', 'MT5', v.login, 'Notes-Live'
from people p, (values ('00000000-0000-0000-0009-0000000000c1', 9001), ('00000000-0000-0000-0009-0000000000c2', 9002)) as v(id, login);
update public.trading_accounts set status = 'provisioning' where server = 'Notes-Live';

-- By hand (the database owner, no request): not news to the user.
update public.trading_accounts set status = 'connected' where id = '00000000-0000-0000-0009-0000000000c2';
select is((select count(*)::int from public.notifications where account_id = '00000000-0000-0000-0009-0000000000c2'), 0,
  'connected: a status set by hand notifies nobody');

-- Through a request (the VPS agent or the EA act as service_role or the account's EA).
select tests.authenticate_as_service_role();
update public.trading_accounts set status = 'connected' where id = '00000000-0000-0000-0009-0000000000c1';
select tests.clear_authentication();
select results_eq(
  $$ select n.user_id, n.kind::text, n.title, n.body from public.notifications n where n.account_id = '00000000-0000-0000-0009-0000000000c1' $$,
  $$ select carol, 'account_connected', 'Account 9001 connected',
            '9001@Notes-Live is connected: its EA reports closed trades and cashback accrues.' from people $$,
  'connected: the owner is told, with the login and server'
);
select ok(
  exists (select 1 from realtime.messages m, people p
          where m.topic = 'user:' || p.carol and m.event = 'notifications' and m.payload -> 'record' ->> 'kind' = 'account_connected'),
  'connected: the notification is broadcast on the owner''s topic'
);

-- Silent, then heard from again: a reconnection.
update public.trading_accounts set status = 'disconnected' where id = '00000000-0000-0000-0009-0000000000c1';
select tests.authenticate_as_service_role();
update public.trading_accounts set status = 'connected' where id = '00000000-0000-0000-0009-0000000000c1';
update public.trading_accounts set terminal_state = 'running' where id = '00000000-0000-0000-0009-0000000000c1';
select tests.clear_authentication();
select results_eq(
  $$ select title, body from public.notifications where account_id = '00000000-0000-0000-0009-0000000000c1' order by title $$,
  $$ values ('Account 9001 connected', '9001@Notes-Live is connected: its EA reports closed trades and cashback accrues.'),
            ('Account 9001 reconnected', '9001@Notes-Live is reporting again.') $$,
  'connected: a reconnection is told as such, and an update that stays connected tells nothing'
);

-- Cashback: yesterday's trades settle into a ledger row; the owner is told the amount. (Fixture
-- trades written by the owner with the accrual private.ingest_trades would give them: 2 per lot.)
insert into public.closed_trades (account_id, user_id, ticket, symbol, type, lots, open_time, close_time, open_price, close_price,
                                  cashback_rate, cashback_amount, currency)
select '00000000-0000-0000-0009-0000000000c1', carol, t.ticket, 'EURUSD', 'BUY', t.lots,
       now() - interval '2 days', ((now() at time zone 'utc')::date - 1)::timestamp at time zone 'utc' + interval '10 hours', 1.1, 1.2,
       2, t.lots * 2, 'USD'
from people, (values (1, 1.5), (2, 0.75)) as t(ticket, lots);
select is(private.settle_cashback(), 2, 'settlement: two trades settled');
select results_eq(
  $$ select n.user_id, n.kind::text, n.title, n.body from public.notifications n where n.kind = 'cashback_settled' $$,
  $$ select carol, 'cashback_settled', 'Cashback settled: 4.50 USD',
            '4.50 USD for 2 trades on account 9001, settled for ' || to_char((now() at time zone 'utc')::date - 1, 'YYYY-MM-DD') || '.' from people $$,
  'settlement: the owner is told what was credited, for which account and day'
);
select is(private.settle_cashback(), 0, 'settlement: a second run settles nothing');
select is((select count(*)::int from public.notifications where kind = 'cashback_settled'), 1, 'settlement: and tells nothing more');

-- A late trade for a settled day adds to that day's row: the owner is told the addition.
insert into public.closed_trades (account_id, user_id, ticket, symbol, type, lots, open_time, close_time, open_price, close_price,
                                  cashback_rate, cashback_amount, currency)
select '00000000-0000-0000-0009-0000000000c1', carol, 3, 'EURUSD', 'SELL', 1, now() - interval '2 days',
       ((now() at time zone 'utc')::date - 1)::timestamp at time zone 'utc' + interval '11 hours', 1.2, 1.1, 2, 2, 'USD'
from people;
select is(private.settle_cashback(), 1, 'late trade: settled into the same day');
select results_eq(
  $$ select title, body like '2.00 USD for 1 trade on account 9001, settled for %' from public.notifications where kind = 'cashback_settled' order by title desc $$,
  $$ values ('Cashback settled: 4.50 USD', false), ('Cashback settled: 2.00 USD', true) $$,
  'late trade: the addition is told, not the day''s total'
);

-- Users: only read_at, only their own.
select tests.authenticate_as((select carol from people));
update public.notifications set read_at = now() - interval '1 minute' where kind = 'cashback_settled';
select tests.clear_authentication();
select is((select count(*)::int from public.notifications where read_at is not null), 2, 'a user marks their own notifications read');
select tests.authenticate_as((select carol from people));
select throws_ok(
  $$ update public.notifications set body = 'forged' where kind = 'cashback_settled' $$,
  '42501', null, 'a user cannot change anything but read_at'
);
select tests.authenticate_as((select dave from people));
update public.notifications set read_at = now();
select tests.clear_authentication();
select is((select count(*)::int from public.notifications where read_at is not null), 2, 'another user marks nothing read');

select * from finish();
rollback;
