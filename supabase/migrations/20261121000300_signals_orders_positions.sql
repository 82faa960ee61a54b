-- Signals bridge, part 2: trading signals, the orders that execute them, open positions.

-- ---------------------------------------------------------------------------------------------
-- Trading signals. Created by the dashboard, an API client or the EA itself; delivered to one
-- target session; executed, rejected or failed as reported by the EA.
create table public.trading_signals (
  id uuid primary key default gen_random_uuid(),
  user_id uuid not null references auth.users (id) on delete cascade,
  session_id uuid not null references public.mt5_sessions (id) on delete cascade,
  type text not null check (type in ('BUY', 'SELL', 'CLOSE_BUY', 'CLOSE_SELL')),
  symbol text not null check (length(symbol) between 1 and 64),
  entry_price numeric check (entry_price > 0),          -- null: at market
  stop_loss numeric check (stop_loss > 0),
  take_profit numeric check (take_profit > 0),
  volume numeric check (volume > 0),                    -- lots, or null when sized by risk
  risk_percent numeric check (risk_percent > 0 and risk_percent <= 100),
  timeframe text check (timeframe in ('M1', 'M5', 'M15', 'M30', 'H1', 'H4', 'D1', 'W1', 'MN1')),
  confidence numeric check (confidence between 0 and 100),
  signal_time timestamptz not null default now(),
  source text not null default 'dashboard' check (source in ('dashboard', 'api', 'ea')),
  client_signal_id text check (length(client_signal_id) between 1 and 128),
  expires_at timestamptz,
  status text not null default 'PENDING'
    check (status in ('PENDING', 'DELIVERED', 'EXECUTED', 'REJECTED', 'FAILED', 'EXPIRED', 'CANCELLED')),
  status_message text,
  order_ticket bigint,
  delivered_at timestamptz,
  completed_at timestamptz,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  -- An opening signal says how big: a volume, or a risk percent (which needs a stop-loss).
  constraint trading_signals_sizing check (
    type in ('CLOSE_BUY', 'CLOSE_SELL') or volume is not null or risk_percent is not null),
  constraint trading_signals_risk_needs_sl check (risk_percent is null or stop_loss is not null),
  -- A retried POST with the same client key never creates a second signal.
  constraint trading_signals_client_id_unique unique (user_id, client_signal_id)
);
create index trading_signals_user_id_idx on public.trading_signals (user_id, created_at desc);
create index trading_signals_session_status_idx on public.trading_signals (session_id, status, created_at);
create index trading_signals_pending_expiry_idx on public.trading_signals (expires_at) where status = 'PENDING';
alter table public.trading_signals enable row level security;

create policy "owners read their signals" on public.trading_signals
  for select to authenticated using (user_id = (select auth.uid()));
-- Users and their EAs create signals, for a session of their own only.
create policy "owners create signals for their sessions" on public.trading_signals
  for insert to authenticated
  with check (
    user_id = (select auth.uid())
    and exists (select 1 from public.mt5_sessions s where s.id = session_id and s.user_id = (select auth.uid()))
  );
-- Which status changes a user or an EA may make is decided by the state machine below.
create policy "owners update their signals" on public.trading_signals
  for update to authenticated
  using (user_id = (select auth.uid()))
  with check (
    user_id = (select auth.uid())
    and exists (select 1 from public.mt5_sessions s where s.id = session_id and s.user_id = (select auth.uid()))
  );

insert into private.state_transitions (machine, from_state, to_state, actor) values
  ('signal', '(new)', 'PENDING', 'any'),
  ('signal', 'PENDING', 'DELIVERED', 'ea'),
  ('signal', 'PENDING', 'EXPIRED', 'system'),
  ('signal', 'PENDING', 'CANCELLED', 'any'),
  ('signal', 'DELIVERED', 'EXECUTED', 'ea'),
  ('signal', 'DELIVERED', 'REJECTED', 'ea'),
  ('signal', 'DELIVERED', 'FAILED', 'ea');

create function private.signal_lifecycle() returns trigger
language plpgsql
set search_path = ''
as $$
begin
  if new.status = 'DELIVERED' and new.delivered_at is null then
    new.delivered_at := now();
  end if;
  if new.status in ('EXECUTED', 'REJECTED', 'FAILED', 'EXPIRED', 'CANCELLED') and new.completed_at is null then
    new.completed_at := now();
  end if;
  return new;
end;
$$;
create trigger trading_signals_a_lifecycle before insert or update on public.trading_signals
  for each row execute function private.signal_lifecycle();
create trigger trading_signals_transition before insert or update of status on public.trading_signals
  for each row execute function private.enforce_transition('signal');
create trigger trading_signals_updated_at before update on public.trading_signals
  for each row execute function private.set_updated_at();
create trigger trading_signals_broadcast after insert or update or delete on public.trading_signals
  for each row execute function private.broadcast_to_owner();

-- Cron: pending signals past their expiry become EXPIRED (never delivered late).
create function private.expire_signals() returns integer
language plpgsql
security definer
set search_path = ''
as $$
declare
  n integer;
begin
  update public.trading_signals
  set status = 'EXPIRED', status_message = coalesce(status_message, 'expired before delivery')
  where status = 'PENDING' and expires_at <= now();
  get diagnostics n = row_count;
  return n;
end;
$$;

-- ---------------------------------------------------------------------------------------------
-- Trading orders: one row per execution attempt reported by the EA.
create table public.trading_orders (
  id uuid primary key default gen_random_uuid(),
  user_id uuid not null references auth.users (id) on delete cascade,
  signal_id uuid not null references public.trading_signals (id) on delete cascade,
  session_id uuid not null references public.mt5_sessions (id) on delete cascade,
  result text not null check (result in ('EXECUTED', 'REJECTED', 'FAILED')),
  ticket bigint,
  price numeric check (price > 0),
  volume numeric check (volume > 0),
  retcode integer,
  comment text,
  requested_at timestamptz,
  executed_at timestamptz,
  created_at timestamptz not null default now()
);
create index trading_orders_user_id_idx on public.trading_orders (user_id);
create index trading_orders_signal_id_idx on public.trading_orders (signal_id);
create index trading_orders_session_id_idx on public.trading_orders (session_id);
alter table public.trading_orders enable row level security;

create policy "owners read their orders" on public.trading_orders
  for select to authenticated using (user_id = (select auth.uid()));
-- The order's signal must be the writer's, and the order must be on that signal's session.
create policy "EAs record orders" on public.trading_orders
  for insert to authenticated
  with check (
    user_id = (select auth.uid()) and ((select auth.jwt()) ->> 'ea_key_id') is not null
    and exists (
      select 1 from public.trading_signals g
      where g.id = signal_id and g.user_id = (select auth.uid()) and g.session_id = trading_orders.session_id
    )
  );

-- ---------------------------------------------------------------------------------------------
-- Positions: the EA pushes its full list of open positions; a ticket missing from the list is
-- closed (closed_at set).
create table public.positions (
  session_id uuid not null references public.mt5_sessions (id) on delete cascade,
  ticket bigint not null check (ticket > 0),
  user_id uuid not null references auth.users (id) on delete cascade,
  symbol text not null,
  type text not null check (type in ('BUY', 'SELL')),
  volume numeric not null check (volume > 0),
  open_price numeric not null check (open_price > 0),
  current_price numeric,
  stop_loss numeric,
  take_profit numeric,
  profit numeric not null default 0,
  swap numeric not null default 0,
  commission numeric not null default 0,
  magic bigint,
  comment text,
  opened_at timestamptz not null,
  closed_at timestamptz,
  updated_at timestamptz not null default now(),
  primary key (session_id, ticket)
);
create index positions_user_id_idx on public.positions (user_id);
create index positions_open_idx on public.positions (session_id) where closed_at is null;
alter table public.positions enable row level security;

create policy "owners read their positions" on public.positions
  for select to authenticated using (user_id = (select auth.uid()));
create policy "EAs record positions" on public.positions
  for insert to authenticated
  with check (
    user_id = (select auth.uid()) and ((select auth.jwt()) ->> 'ea_key_id') is not null
    and exists (select 1 from public.mt5_sessions s where s.id = session_id and s.user_id = (select auth.uid()))
  );
create policy "EAs update positions" on public.positions
  for update to authenticated
  using (user_id = (select auth.uid()) and ((select auth.jwt()) ->> 'ea_key_id') is not null)
  with check (
    user_id = (select auth.uid())
    and exists (select 1 from public.mt5_sessions s where s.id = session_id and s.user_id = (select auth.uid()))
  );
create trigger positions_updated_at before update on public.positions
  for each row execute function private.set_updated_at();
create trigger positions_broadcast after insert or update or delete on public.positions
  for each row execute function private.broadcast_to_owner();

-- Nothing in `private` is executable by PUBLIC; the grants above are the only way in.
revoke execute on all functions in schema private from public;
