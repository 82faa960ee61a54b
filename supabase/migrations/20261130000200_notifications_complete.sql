-- Notifications for every account state a user cares about, and a read path for the dashboard.
--
-- Already written before this migration: `account_disconnected` (private.disconnect_silent_accounts,
-- the silence sweep) and `account_error` with the agent's error code (private.vps_report_state).
-- Added here:
--   * `account_connected`: an account enters `connected` (its EA registered, the agent saw the
--     terminal log in, or a silent account's EA reports again). Written by a trigger, so every path
--     into `connected` is covered, but only for changes made by a request (an EA, a VPS agent, a
--     user: `auth.role()` is set). A status the database owner sets by hand (maintenance, fixtures)
--     is not news to the user.
--   * `cashback_settled`: the nightly settlement (private.settle_cashback, pg_cron) adds money to an
--     account's ledger day: one notification per ledger row and run, with the amount it added.
-- And for the `accounts` function's routes (GET /accounts/notifications, mark read):
--   * users may change only `read_at` of their own notifications (a guard trigger; the policies limit rows);
--   * an index for the unread filter and the unread count.
-- Broadcast: public.notifications already has notifications_broadcast (event `notifications` on
-- the owner's topic `user:<uuid>`), so every notification written here reaches the dashboard live.

-- ---------------------------------------------------------------------------------------------
-- Marking read is the only change a user makes to a notification (the policies already limit the
-- rows to their own): anything else an API role changes is refused. Security invoker on purpose:
-- it must see who is writing (as private.enforce_transition does).
create function private.guard_notification_update() returns trigger
language plpgsql
set search_path = ''
as $$
begin
  if private.current_actor() <> 'system' and (to_jsonb(new) - 'read_at') is distinct from (to_jsonb(old) - 'read_at') then
    raise exception 'only read_at of a notification can be changed' using errcode = 'insufficient_privilege';
  end if;
  return new;
end;
$$;
create trigger notifications_guard before update on public.notifications
  for each row execute function private.guard_notification_update();

create index notifications_unread_idx on public.notifications (user_id, created_at desc) where read_at is null;

-- ---------------------------------------------------------------------------------------------
-- account_connected. Security definer: the transition is made by API roles (the EA's principal,
-- service_role) that cannot insert notifications themselves.
create function private.notify_account_connected() returns trigger
language plpgsql
security definer
set search_path = ''
as $$
begin
  if auth.role() is null then
    return null;
  end if;
  insert into public.notifications (user_id, kind, title, body, account_id)
  values (
    new.user_id,
    'account_connected',
    case when old.status = 'disconnected' then 'Account ' || new.login || ' reconnected'
         else 'Account ' || new.login || ' connected' end,
    case when old.status = 'disconnected'
         then new.login || '@' || new.server || ' is reporting again.'
         else new.login || '@' || new.server || ' is connected: its EA reports closed trades and cashback accrues.' end,
    new.id
  );
  return null;
end;
$$;
create trigger trading_accounts_notify_connected after update of status on public.trading_accounts
  for each row
  when (new.status = 'connected' and old.status is distinct from 'connected' and new.deleted_at is null)
  execute function private.notify_account_connected();

-- ---------------------------------------------------------------------------------------------
-- cashback_settled: private.settle_cashback (20261121000600_cashback) again, unchanged but for the
-- last statement: each ledger row the run adds money to is told to its owner, with the amount this
-- run added (a late trade added to a settled day is told as the addition). Ledger rows come only
-- from this function, so the settlement itself writes the notification, in the same transaction.
create or replace function private.settle_cashback(p_day date default null) returns integer
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_day date := coalesce(p_day, (now() at time zone 'utc')::date - 1);
  n integer;
begin
  with due as (
    select t.id, t.account_id, t.user_id, t.lots, t.cashback_amount, t.currency
    from public.closed_trades t
    where t.settled_on is null
      and t.close_time < (v_day + 1)::timestamp at time zone 'utc'
    for update
  ),
  totals as (
    select d.account_id, d.user_id, count(*)::integer as trades_count, sum(d.lots) as lots,
           sum(d.cashback_amount) as amount, min(d.currency) as currency
    from due d
    group by d.account_id, d.user_id
  ),
  ledger as (
    insert into public.cashback_ledger as l (account_id, user_id, settlement_day, trades_count, lots, amount, currency)
    select account_id, user_id, v_day, trades_count, lots, amount, currency from totals
    on conflict (account_id, settlement_day) do update
      set trades_count = l.trades_count + excluded.trades_count,
          lots = l.lots + excluded.lots,
          amount = l.amount + excluded.amount
    returning 1
  ),
  told as (
    insert into public.notifications (user_id, kind, title, body, account_id)
    select t.user_id, 'cashback_settled',
           'Cashback settled: ' || to_char(t.amount, 'FM999999999990.00') || ' ' || t.currency,
           to_char(t.amount, 'FM999999999990.00') || ' ' || t.currency || ' for ' || t.trades_count
             || case when t.trades_count = 1 then ' trade' else ' trades' end
             || coalesce(' on account ' || a.login, '') || ', settled for ' || to_char(v_day, 'YYYY-MM-DD') || '.',
           t.account_id
    from totals t
    left join public.trading_accounts a on a.id = t.account_id
    where t.amount > 0
    returning 1
  ),
  settled as (
    update public.closed_trades t
    set settled_on = v_day
    from due
    where t.id = due.id
    returning 1
  )
  select count(*)::integer into n from settled;
  return n;
end;
$$;

-- Nothing in `private` is executable by PUBLIC; the grants above are the only way in.
revoke execute on all functions in schema private from public;
