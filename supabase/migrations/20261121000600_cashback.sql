-- Cashback: closed trades reported by provisioned EAs, accrual per lot at insert, nightly
-- settlement into a ledger.

-- ---------------------------------------------------------------------------------------------
create table public.closed_trades (
  id uuid primary key default gen_random_uuid(),
  account_id uuid not null references public.trading_accounts (id) on delete cascade,
  user_id uuid not null references auth.users (id) on delete cascade,
  ticket bigint not null check (ticket > 0),
  symbol text not null check (length(symbol) between 1 and 64),
  type text not null check (type in ('BUY', 'SELL')),
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
  -- Accrued at insert from the broker's rebate (see private.accrue_cashback); never recomputed.
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
-- Only the account's own EA (claim ea_account_id, set by the trades function after verifying the
-- HMAC signature) inserts trades: cashback is money, so no dashboard user can write here.
create policy "account EAs report closed trades" on public.closed_trades
  for insert to authenticated
  with check (
    user_id = (select auth.uid())
    and account_id = ((select auth.jwt()) ->> 'ea_account_id')::uuid
  );

-- Before insert: owner, rate, amount and currency come from the account and its broker, never
-- from the client. Security definer so the broker's rate is read even if the broker is inactive.
create function private.accrue_cashback() returns trigger
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_user uuid;
  v_rate numeric;
  v_currency text;
begin
  select a.user_id, case when b.active then b.rebate_per_lot else 0 end, b.currency
  into v_user, v_rate, v_currency
  from public.trading_accounts a
  join public.brokers b on b.id = a.broker_id
  where a.id = new.account_id;
  if v_user is null then
    raise exception 'unknown trading account %', new.account_id using errcode = 'foreign_key_violation';
  end if;
  new.user_id := v_user;
  new.cashback_rate := v_rate;
  new.cashback_amount := round(new.lots * v_rate, 4);
  new.currency := v_currency;
  new.settled_on := null;
  return new;
end;
$$;
create trigger closed_trades_accrue before insert on public.closed_trades
  for each row execute function private.accrue_cashback();
create trigger closed_trades_broadcast after insert or update or delete on public.closed_trades
  for each row execute function private.broadcast_to_owner();

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

-- Cron (nightly): settles every unsettled trade closed before the end of p_day (UTC; default
-- yesterday) into p_day's ledger row per account. Idempotent: settled trades are marked, so a
-- second run changes nothing. A trade reported late (closed before an already settled day) is
-- not lost: the next run settles it into that run's day. Returns the number of trades settled.
-- The ledger row carries the broker's currency; a broker changing currency is not supported.
create function private.settle_cashback(p_day date default null) returns integer
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
  )
  update public.closed_trades t
  set settled_on = v_day
  from due
  where t.id = due.id;
  get diagnostics n = row_count;
  return n;
end;
$$;

-- Nothing in `private` is executable by PUBLIC; the grants above are the only way in.
revoke execute on all functions in schema private from public;
