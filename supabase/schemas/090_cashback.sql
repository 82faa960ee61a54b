-- Cashback: closed trades reported by provisioned EAs (private.ingest_trades, the only writer),
-- accrual per lot at insert, nightly settlement into a ledger.

-- ---------------------------------------------------------------------------------------------
create table public.closed_trades (
  id uuid primary key default gen_random_uuid(),
  account_id uuid not null references public.trading_accounts (id) on delete cascade,
  user_id uuid not null references auth.users (id) on delete cascade,
  ticket bigint not null check (ticket > 0),
  symbol text not null check (length(symbol) between 1 and 64),
  type public.trade_side not null,
  lots numeric not null check (lots > 0),
  open_time timestamptz not null,
  close_time timestamptz not null,
  open_price numeric not null check (open_price > 0),
  close_price numeric not null check (close_price > 0),
  commission numeric not null default 0,
  swap numeric not null default 0,
  profit numeric not null default 0,
  magic bigint,
  comment text,
  -- Accrued at insert from the broker's rebate (see private.ingest_trades); never recomputed.
  cashback_rate numeric not null default 0 check (cashback_rate >= 0),
  cashback_amount numeric not null default 0 check (cashback_amount >= 0),
  currency text not null default 'USD',
  settled_on date,
  created_at timestamptz not null default now(),
  constraint closed_trades_account_ticket_key unique (account_id, ticket),
  constraint closed_trades_time_order check (close_time >= open_time)
);
create index closed_trades_user_id_idx on public.closed_trades (user_id, close_time desc);
create index closed_trades_account_close_idx on public.closed_trades (account_id, close_time desc);
create index closed_trades_unsettled_idx on public.closed_trades (close_time) where settled_on is null;
alter table public.closed_trades enable row level security;

create policy "owners read their closed trades" on public.closed_trades
  for select to authenticated using (user_id = (select auth.uid()));
-- Closed trades are written by private.ingest_trades only (below): no API role may write them,
-- service_role included. The function is the one place the cashback rule lives; a direct insert
-- would store whatever cashback it names.
revoke insert, update, delete, truncate on public.closed_trades from anon, authenticated, service_role;

-- POST /trades: a provisioned account's EA reports closed trades. Security definer: closed trades
-- are written only here, so the cashback is computed once per statement (the broker's rebate
-- read once, not looked up by a trigger for every row). A ticket already stored for the account
-- is skipped, so a resent batch inserts and accrues nothing again. Hearing from the EA keeps the
-- account connected (and revives a silent one), in the same transaction.
create function private.ingest_trades(p_caller uuid, p_account_id uuid, p_trades jsonb)
returns table (accepted bigint[], cashback_accrued numeric)
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_user uuid := private.ea_caller(p_caller, 'ea_account_id');
  v_rate numeric;
  v_currency text;
begin
  if p_account_id is distinct from (auth.jwt() ->> 'ea_account_id')::uuid then
    raise exception 'only the account''s own EA reports for it' using errcode = 'insufficient_privilege';
  end if;
  -- The broker's terms, read once for the batch. An account that is not the caller's (or is
  -- deleted) is refused, not silently given no trades.
  select case when b.active then b.rebate_per_lot else 0 end, b.currency into v_rate, v_currency
  from public.trading_accounts a
  join public.brokers b on b.id = a.broker_id
  where a.id = p_account_id and a.user_id = v_user and a.deleted_at is null;
  if not found then
    raise exception 'only the account''s own EA reports for it' using errcode = 'insufficient_privilege';
  end if;
  return query
  with incoming as (
    select * from jsonb_to_recordset(p_trades) as i(
      ticket bigint, symbol text, type text, lots numeric, open_time timestamptz, close_time timestamptz,
      open_price numeric, close_price numeric, commission numeric, swap numeric, profit numeric, magic bigint, comment text)
  ),
  inserted as (
    insert into public.closed_trades (account_id, user_id, ticket, symbol, type, lots, open_time, close_time, open_price,
      close_price, commission, swap, profit, magic, comment, cashback_rate, cashback_amount, currency)
    select p_account_id, v_user, i.ticket, i.symbol, i.type, i.lots, i.open_time, i.close_time, i.open_price,
      i.close_price, coalesce(i.commission, 0), coalesce(i.swap, 0), coalesce(i.profit, 0), i.magic, i.comment,
      v_rate, round(i.lots * v_rate, 4), v_currency
    from incoming i
    order by i.ticket
    on conflict (account_id, ticket) do nothing
    returning ticket, cashback_amount
  )
  select coalesce((select array_agg(n.ticket order by n.ticket) from inserted n), '{}'::bigint[]),
    (select coalesce(sum(n.cashback_amount), 0) from inserted n);
  perform private.touch_account(p_account_id);
end;
$$;
grant execute on function private.ingest_trades(uuid, uuid, jsonb) to authenticated;

-- Realtime: one message per account per statement instead of one per row. A batch of 100 trades,
-- a night's settlement (an UPDATE of every trade of the day) or an account's deletion (a cascade
-- over its whole history) is one message each: a dashboard wants "N new trades on account A,
-- cashback +X", then reads the rows it shows from the API, as it does for every Realtime message
-- (delivery is at most once).
--
-- Topic and event as for every other table (`user:<uuid>`, event `closed_trades`); the payload
-- is a summary instead of a record:
--   {"operation": "INSERT" | "UPDATE" | "DELETE", "table": "closed_trades", "schema": "public",
--    "account_id": <uuid>, "count": <rows>, "tickets": [<ascending>], "lots": <sum>,
--    "cashback_amount": <sum>, "currency": <text>, "settled_on": <date or null>}
-- (INSERT and UPDATE describe the new rows; DELETE the old ones and carries only account_id,
-- count and tickets.)
--
-- Statement-level, with transition tables (a trigger with transition tables serves one event, hence
-- three triggers on one function). Security definer, like private.broadcast_to_owner, so the
-- message does not depend on the writer's privileges.
create function private.broadcast_closed_trades() returns trigger
language plpgsql
security definer
set search_path = ''
as $$
declare
  r record;
begin
  if tg_op = 'DELETE' then
    for r in
      select o.user_id, o.account_id, count(*) as n, jsonb_agg(o.ticket order by o.ticket) as tickets
      from old_rows o group by o.user_id, o.account_id
    loop
      perform realtime.send(
        jsonb_build_object('operation', tg_op, 'table', tg_table_name, 'schema', tg_table_schema,
                           'account_id', r.account_id, 'count', r.n, 'tickets', r.tickets),
        tg_table_name, 'user:' || r.user_id::text, true);
    end loop;
  else
    for r in
      select n.user_id, n.account_id, count(*) as n, jsonb_agg(n.ticket order by n.ticket) as tickets,
             sum(n.lots) as lots, sum(n.cashback_amount) as cashback, min(n.currency) as currency,
             case when count(distinct n.settled_on) = 1 then min(n.settled_on) end as settled_on
      from new_rows n group by n.user_id, n.account_id
    loop
      perform realtime.send(
        jsonb_build_object('operation', tg_op, 'table', tg_table_name, 'schema', tg_table_schema,
                           'account_id', r.account_id, 'count', r.n, 'tickets', r.tickets, 'lots', r.lots,
                           'cashback_amount', r.cashback, 'currency', r.currency, 'settled_on', r.settled_on),
        tg_table_name, 'user:' || r.user_id::text, true);
    end loop;
  end if;
  return null;
end;
$$;

create trigger closed_trades_broadcast_insert after insert on public.closed_trades
  referencing new table as new_rows for each statement execute function private.broadcast_closed_trades();
create trigger closed_trades_broadcast_update after update on public.closed_trades
  referencing new table as new_rows for each statement execute function private.broadcast_closed_trades();
create trigger closed_trades_broadcast_delete after delete on public.closed_trades
  referencing old table as old_rows for each statement execute function private.broadcast_closed_trades();

-- ---------------------------------------------------------------------------------------------
-- One row per account per settlement day.
create table public.cashback_ledger (
  id uuid primary key default gen_random_uuid(),
  account_id uuid not null references public.trading_accounts (id) on delete cascade,
  user_id uuid not null references auth.users (id) on delete cascade,
  settlement_day date not null,
  trades_count integer not null check (trades_count >= 0),
  lots numeric not null check (lots >= 0),
  amount numeric not null check (amount >= 0),
  currency text not null,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  constraint cashback_ledger_account_day_key unique (account_id, settlement_day)
);
create index cashback_ledger_user_id_idx on public.cashback_ledger (user_id, settlement_day desc);
alter table public.cashback_ledger enable row level security;

create policy "owners read their cashback ledger" on public.cashback_ledger
  for select to authenticated using (user_id = (select auth.uid()));
create trigger cashback_ledger_updated_at before update on public.cashback_ledger
  for each row execute function private.set_updated_at();
create trigger cashback_ledger_broadcast after insert or update or delete on public.cashback_ledger
  for each row execute function private.broadcast_to_owner();

-- Cron (job rubi-settle-cashback, 00:05 UTC): settles every unsettled trade closed before the end
-- of p_day (UTC; default yesterday) into p_day's ledger row per account. Idempotent: settled trades
-- are marked, so a second run changes nothing. A trade reported late (closed before an already
-- settled day) is not lost: the next run settles it into that run's day. Returns the number of
-- trades settled. The ledger row carries the broker's currency; a broker changing currency is not
-- supported.
--
-- Notification `cashback_settled`: each ledger row the run adds money to is told to its owner, with
-- the amount this run added (a late trade added to a settled day is told as the addition). Ledger
-- rows come only from this function, so the settlement itself writes the notification, in the same
-- transaction.
--
-- Concurrency: one settlement at a time, by design (migration 20261130000800_settlement_lock_order):
-- a transaction-scoped advisory lock taken first queues concurrent runs (the cron job, a manual
-- re-run), and each sees what the previous one settled. Locking the due trades in scan order let
-- concurrent runs deadlock (synchronized sequential scans start midway through the table).
create function private.settle_cashback(p_day date default null) returns integer
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_day date := coalesce(p_day, (now() at time zone 'utc')::date - 1);
  n integer;
begin
  -- One settlement at a time (see the top of 20261130000800_settlement_lock_order.sql): taken
  -- before the statement below, so its snapshot already sees what an earlier run settled.
  perform pg_advisory_xact_lock(hashtextextended('private.settle_cashback', 0));
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
