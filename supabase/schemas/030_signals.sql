-- Signals bridge, part 2: trading signals, the orders that execute them, and the per-user signal
-- counters that keep GET /accounts/stats one row read, and the functions through which users and
-- EAs create, cancel, receive and report signals.

-- ---------------------------------------------------------------------------------------------
-- The vocabulary of this domain (see 010_foundation.sql).
create type public.signal_type as enum ('BUY', 'SELL', 'CLOSE_BUY', 'CLOSE_SELL');
comment on type public.signal_type is 'What a trading signal asks for: open a buy or sell, or close the buys or sells of its symbol';
create cast (text as public.signal_type) with inout as assignment;

create type public.signal_status as enum ('PENDING', 'DELIVERED', 'EXECUTED', 'REJECTED', 'FAILED', 'UNKNOWN', 'EXPIRED', 'CANCELLED');
comment on type public.signal_status is 'State of a trading signal (machine `signal` in private.state_transitions); an order''s result is one of EXECUTED, REJECTED, FAILED, UNKNOWN';
create cast (text as public.signal_status) with inout as assignment;

create type public.signal_source as enum ('dashboard', 'api', 'ea');
comment on type public.signal_source is 'Who created a trading signal';
create cast (text as public.signal_source) with inout as assignment;

create type public.timeframe as enum ('M1', 'M5', 'M15', 'M30', 'H1', 'H4', 'D1', 'W1', 'MN1');
comment on type public.timeframe is 'Chart timeframe a signal was produced on (MetaTrader''s names)';
create cast (text as public.timeframe) with inout as assignment;

-- ---------------------------------------------------------------------------------------------
-- Trading signals. Created by the dashboard, an API client or the EA itself; delivered to one
-- target session; executed, rejected or failed as reported by the EA.
create table public.trading_signals (
  id uuid primary key default gen_random_uuid(),
  user_id uuid not null references auth.users (id) on delete cascade,
  session_id uuid not null references public.mt5_sessions (id) on delete cascade,
  type public.signal_type not null,
  symbol text not null check (length(symbol) between 1 and 64),
  entry_price numeric check (entry_price > 0),          -- null: at market
  stop_loss numeric check (stop_loss > 0),
  take_profit numeric check (take_profit > 0),
  volume numeric check (volume > 0),                    -- lots, or null when sized by risk
  risk_percent numeric check (risk_percent > 0 and risk_percent <= 100),
  timeframe public.timeframe,
  confidence numeric check (confidence between 0 and 100),
  signal_time timestamptz not null default now(),
  source public.signal_source not null default 'dashboard',
  client_signal_id text check (length(client_signal_id) between 1 and 128),
  expires_at timestamptz,
  -- Text, checked against the enum (so public.signal_status is still the one list). Comparing enums
  -- is not leakproof (enum_eq, enum_ne; texteq is), and under row-level security Postgres neither
  -- uses a non-leakproof condition as an index condition ahead of the policy nor consults column
  -- statistics for it. The EA's hot paths (the ping's waiting count, the poll, the position limit of
  -- a new signal) filter signals by status under RLS: with an enum column they would read every
  -- signal the session ever had instead of its waiting ones (measured with
  -- supabase/tests/database/10_flat_hot_paths.sql). No other vocabulary column is filtered under RLS
  -- on a path that grows with history.
  status text not null default 'PENDING'
    constraint trading_signals_status_check check (status = any (enum_range(null::public.signal_status)::text[])),
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
-- The EA hot path: `ping` counts a session's waiting signals and `GET /signals/pending` picks and
-- lists them, as the EA's user (RLS adds user_id = auth.uid()). With user_id after (session_id,
-- status) all three conditions are index conditions: the scan touches only the session's rows in
-- the asked status, never the user's whole history, and under RLS (user_id fixed) still yields
-- them in created_at order. Its leading session_id serves the foreign key to mt5_sessions too.
create index trading_signals_session_status_user_idx
  on public.trading_signals (session_id, status, user_id, created_at);
create index trading_signals_pending_expiry_idx on public.trading_signals (expires_at) where status = 'PENDING';
-- The operator's delivery latency (private.ops_metrics, 095_operations.sql): the signals that
-- completed in the last few minutes, after a delivery.
create index trading_signals_completed_at_idx on public.trading_signals (completed_at) where delivered_at is not null;
alter table public.trading_signals enable row level security;

create policy "owners read their signals" on public.trading_signals
  for select to authenticated using (user_id = (select auth.uid()));
-- Signals are created and cancelled by private.create_signal and private.cancel_signal (security
-- definer: the rules are theirs to check), delivered and reported by the connector EA's functions
-- (as rubi_ea). No API role inserts or deletes a signal directly, and the EA updates only what
-- delivery, its report and a terminal's new session change; which status changes it may make is
-- decided by the state machine below.
create policy "EAs update their owner's signals" on public.trading_signals
  for update to rubi_ea
  using (user_id = (select auth.uid()) and ((select auth.jwt()) ->> 'ea_key_id') is not null)
  with check (
    user_id = (select auth.uid())
    and exists (select 1 from public.mt5_sessions s where s.id = session_id and s.user_id = (select auth.uid()))
  );
revoke insert, update, delete, truncate on public.trading_signals from anon, authenticated;
grant update (session_id, status, status_message, order_ticket) on public.trading_signals to rubi_ea;

-- The signal state machine (enforced by private.enforce_transition, 010_foundation.sql).
insert into private.state_transitions (machine, from_state, to_state, actor) values
  ('signal', '(new)', 'PENDING', 'any'),
  ('signal', 'PENDING', 'DELIVERED', 'ea'),
  ('signal', 'PENDING', 'EXPIRED', 'system'),
  ('signal', 'PENDING', 'CANCELLED', 'any'),
  ('signal', 'DELIVERED', 'EXECUTED', 'ea'),
  ('signal', 'DELIVERED', 'REJECTED', 'ea'),
  ('signal', 'DELIVERED', 'FAILED', 'ea'),
  ('signal', 'DELIVERED', 'UNKNOWN', 'ea'),
  ('signal', 'DELIVERED', 'EXPIRED', 'system');

create function private.signal_lifecycle() returns trigger
language plpgsql
set search_path = ''
as $$
begin
  if new.status = 'DELIVERED' and new.delivered_at is null then
    new.delivered_at := now();
  end if;
  if new.status in ('EXECUTED', 'REJECTED', 'FAILED', 'UNKNOWN', 'EXPIRED', 'CANCELLED') and new.completed_at is null then
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
-- The counters' statement triggers (trading_signals_stats_*) are defined with the counters below.

-- Cron (job rubi-expire-signals, every minute): pending signals past their expiry become EXPIRED
-- (never delivered late). A DELIVERED signal whose session ended follows the terminal to its next
-- session for `signal_redelivery_window_seconds` (private.open_session); after that, or past its
-- expiry, nobody will report it: it expires, with a message that says so (the EA may have executed
-- it: the terminal's history tells).
create function private.expire_signals() returns integer
language plpgsql
security definer
set search_path = ''
as $$
declare
  n integer;
  m integer;
begin
  update public.trading_signals
  set status = 'EXPIRED', status_message = coalesce(status_message, 'expired before delivery')
  where status = 'PENDING' and expires_at <= now();
  get diagnostics n = row_count;
  update public.trading_signals g
  set status = 'EXPIRED',
      status_message = 'expired unreported: its session ended and the terminal did not report it '
        || 'within the redelivery window (check the terminal''s history for an order with this signal id)'
  from public.mt5_sessions s
  where s.id = g.session_id and s.status = 'disconnected' and g.status = 'DELIVERED'
    and (g.expires_at <= now()
         or g.delivered_at <= now() - make_interval(secs => private.setting('signal_redelivery_window_seconds')));
  get diagnostics m = row_count;
  return n + m;
end;
$$;

-- ---------------------------------------------------------------------------------------------
-- Trading orders: one row per execution attempt reported by the EA.
create table public.trading_orders (
  id uuid primary key default gen_random_uuid(),
  user_id uuid not null references auth.users (id) on delete cascade,
  signal_id uuid not null references public.trading_signals (id) on delete cascade,
  session_id uuid not null references public.mt5_sessions (id) on delete cascade,
  -- How the EA's attempt ended: a final signal status.
  result public.signal_status not null check (result in ('EXECUTED', 'REJECTED', 'FAILED', 'UNKNOWN')),
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
  for insert to rubi_ea
  with check (
    user_id = (select auth.uid()) and ((select auth.jwt()) ->> 'ea_key_id') is not null
    and exists (
      select 1 from public.trading_signals g
      where g.id = signal_id and g.user_id = (select auth.uid()) and g.session_id = trading_orders.session_id
    )
  );
-- Written by private.report_signal only (below).
revoke insert, update, delete, truncate on public.trading_orders from anon, authenticated;
grant insert (user_id, signal_id, session_id, result, ticket, price, volume, retcode, comment, requested_at, executed_at)
  on public.trading_orders to rubi_ea;

-- ---------------------------------------------------------------------------------------------
-- Every write with an invariant is a function: creating a signal (its idempotency, the risk sizing,
-- the session's risk and position limits), cancelling one, and the EA's delivery and status report.
-- A user or an EA may create and cancel: those two are security definer (no API role may insert or
-- cancel a signal directly, or it could skip their rules), so they name the caller's rows in every
-- query themselves and enforce the state machine's rules for users and EAs (as the definer they
-- count as 'system'). Delivery and the status report are the connector EA's alone (they take the
-- gate's result: private.ea_caller, same file) and run as the EA (security invoker, role rubi_ea):
-- row-level security and the state machine above decide. Errors follow the convention at the top
-- of 025_ea_request_path.sql (22023 + COLUMN names the field).

-- Volume rules of a symbol, in exact decimal arithmetic (numeric: no binary rounding to undo).

-- Why `p_volume` cannot be traded on the symbol, or null when it can.
create function private.volume_problem(p_volume numeric, p_min numeric, p_max numeric, p_step numeric) returns text
language sql immutable
set search_path = ''
as $$
  select case
    when p_volume < p_min then format('volume %s is below the symbol''s minimum of %s lots', trim_scale(p_volume), trim_scale(p_min))
    when p_volume > p_max then format('volume %s is above the symbol''s maximum of %s lots', trim_scale(p_volume), trim_scale(p_max))
    when mod(p_volume, p_step) <> 0 then
      format('volume %s is not a multiple of the symbol''s volume step %s', trim_scale(p_volume), trim_scale(p_step))
  end
$$;
grant execute on function private.volume_problem(numeric, numeric, numeric, numeric) to authenticated;

-- The volume that loses `p_risk_percent` of `p_equity` if the stop-loss is hit: the stop distance
-- in ticks times the tick value is the loss per lot; the volume is floored to the volume step and
-- capped at the maximum. Raises 22023 (body.risk_percent) when nothing sensible can be sized.
create function private.size_by_risk(
  p_equity numeric,
  p_risk_percent numeric,
  p_entry_price numeric,
  p_stop_loss numeric,
  p_tick_size numeric,
  p_tick_value numeric,
  p_volume_min numeric,
  p_volume_max numeric,
  p_volume_step numeric
) returns numeric
language plpgsql immutable
set search_path = ''
as $$
declare
  v_distance numeric := abs(p_entry_price - p_stop_loss);
  v_risk numeric := p_equity * p_risk_percent / 100;
  v_loss_per_lot numeric;
  v_raw numeric;
  v_steps numeric;
  v_volume numeric;
begin
  if p_entry_price is null then
    raise exception 'a risk-sized signal needs an entry_price to measure the stop-loss distance'
      using errcode = 'invalid_parameter_value', column = 'body.entry_price';
  end if;
  if p_stop_loss is null then
    raise exception 'a risk-sized signal needs a stop_loss' using errcode = 'invalid_parameter_value', column = 'body.stop_loss';
  end if;
  if not v_distance > 0 then
    raise exception 'the stop-loss is at the entry price: nothing to size against'
      using errcode = 'invalid_parameter_value', column = 'body.risk_percent';
  end if;
  if not coalesce(v_risk > 0, false) then
    raise exception 'the session''s equity (%) leaves nothing to risk', trim_scale(p_equity)
      using errcode = 'invalid_parameter_value', column = 'body.risk_percent';
  end if;
  v_loss_per_lot := v_distance / p_tick_size * p_tick_value;
  v_raw := v_risk / v_loss_per_lot;
  v_steps := least(floor(v_raw / p_volume_step), floor(p_volume_max / p_volume_step));
  v_volume := v_steps * p_volume_step;
  if v_steps = 0 or v_volume < p_volume_min then
    raise exception 'risk too small for the minimum lot: % of % is % at risk, one lot loses % at the stop-loss, so the size would be % lots, below the minimum of %',
      trim_scale(p_risk_percent) || '%', trim_scale(p_equity), trim_scale(round(v_risk, 2)), trim_scale(round(v_loss_per_lot, 2)),
      trim_scale(round(v_raw, 6)), trim_scale(p_volume_min)
      using errcode = 'invalid_parameter_value', column = 'body.risk_percent';
  end if;
  return trim_scale(v_volume);
end;
$$;
grant execute on function private.size_by_risk(numeric, numeric, numeric, numeric, numeric, numeric, numeric, numeric, numeric)
  to authenticated;

-- ---------------------------------------------------------------------------------------------
-- A signal created earlier with the same client_signal_id is the answer to a retry, provided the
-- retry asks for the same signal. Only what the client said is compared: a volume the server
-- computed from risk_percent, an expiry derived from ttl_seconds and a defaulted signal_time are
-- not part of what it sent. Raises 23514 naming the fields that differ.
create function private.same_signal(
  p_earlier public.trading_signals,
  p_session_id uuid,
  p_type text,
  p_symbol text,
  p_entry_price numeric,
  p_stop_loss numeric,
  p_take_profit numeric,
  p_volume numeric,
  p_risk_percent numeric,
  p_timeframe text,
  p_confidence numeric,
  p_signal_time timestamptz,
  p_expires_at timestamptz,
  p_source text
) returns public.trading_signals
language plpgsql stable
set search_path = ''
as $$
declare
  v_changed text[] := array_remove(array[
    case when p_earlier.session_id is distinct from p_session_id then 'session_id' end,
    case when p_earlier.type::text is distinct from p_type then 'type' end,
    case when p_earlier.symbol is distinct from p_symbol then 'symbol' end,
    case when p_earlier.entry_price is distinct from p_entry_price then 'entry_price' end,
    case when p_earlier.stop_loss is distinct from p_stop_loss then 'stop_loss' end,
    case when p_earlier.take_profit is distinct from p_take_profit then 'take_profit' end,
    case when p_earlier.risk_percent is distinct from p_risk_percent then 'risk_percent' end,
    case when p_risk_percent is null and p_earlier.volume is distinct from p_volume then 'volume' end,
    case when p_earlier.timeframe::text is distinct from p_timeframe then 'timeframe' end,
    case when p_earlier.confidence is distinct from p_confidence then 'confidence' end,
    case when p_earlier.source::text is distinct from p_source then 'source' end,
    case when p_signal_time is not null and p_earlier.signal_time is distinct from p_signal_time then 'signal_time' end,
    case when p_expires_at is not null and p_earlier.expires_at is distinct from p_expires_at then 'expires_at' end
  ], null);
begin
  if cardinality(v_changed) > 0 then
    raise exception 'client_signal_id % was already used for a different signal (differs in %)',
      to_json(p_earlier.client_signal_id), array_to_string(v_changed, ', ')
      using errcode = 'check_violation';
  end if;
  return p_earlier;
end;
$$;
grant execute on function private.same_signal(public.trading_signals, uuid, text, text, numeric, numeric, numeric, numeric,
  numeric, text, numeric, timestamptz, timestamptz, text) to authenticated;

-- POST /signals, for a user (source 'dashboard' or 'api') or a connector EA (source 'ea'). Returns
-- the signal and whether this call created it (false: the answer to a retry).
create function private.create_signal(
  p_session_id uuid,
  p_type text,
  p_symbol text,
  p_entry_price numeric default null,
  p_stop_loss numeric default null,
  p_take_profit numeric default null,
  p_volume numeric default null,
  p_risk_percent numeric default null,
  p_timeframe text default null,
  p_confidence numeric default null,
  p_signal_time timestamptz default null,
  p_client_signal_id text default null,
  p_expires_at timestamptz default null,
  p_ttl_seconds integer default null,
  p_source text default null
) returns table (created boolean, signal public.trading_signals)
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_user uuid := auth.uid();
  v_from_ea boolean := coalesce(auth.jwt() ->> 'ea_key_id', '') <> '';
  v_source text;
  v_row public.trading_signals;
  v_session record;
  v_spec public.symbol_specs;
  v_expires timestamptz;
  v_volume numeric := p_volume;
  v_positions integer;
  v_waiting integer;
begin
  -- A dashboard user or a connector EA; a provisioned account's EA reports trades, nothing else.
  if v_user is null or coalesce(auth.jwt() ->> 'ea_account_id', '') <> '' then
    raise exception 'not allowed to create signals' using errcode = 'insufficient_privilege';
  end if;
  if v_from_ea and p_source is not null then
    raise exception 'source is set by the server: signals created with an EA key are ''ea'''
      using errcode = 'invalid_parameter_value', column = 'body.source';
  end if;
  if not v_from_ea and p_source is not null and p_source not in ('dashboard', 'api') then
    raise exception 'source must be dashboard or api' using errcode = 'invalid_parameter_value', column = 'body.source';
  end if;
  v_source := case when v_from_ea then 'ea' else coalesce(p_source, 'dashboard') end;

  -- A retry is answered before any check that depends on time or state: the signal it created may
  -- itself now fill the position limit, and its expiry may have passed.
  if p_client_signal_id is not null then
    select * into v_row from public.trading_signals s where s.user_id = v_user and s.client_signal_id = p_client_signal_id;
    if v_row.id is not null then
      return query select false, private.same_signal(v_row, p_session_id, p_type, p_symbol, p_entry_price, p_stop_loss,
        p_take_profit, p_volume, p_risk_percent, p_timeframe, p_confidence, p_signal_time, p_expires_at, v_source);
      return;
    end if;
  end if;

  -- Another user's session is not found, as it is not to them under row-level security.
  select s.status, s.equity, s.max_open_positions, s.max_risk_percent into v_session
  from public.mt5_sessions s where s.id = p_session_id and s.user_id = v_user;
  if not found then
    raise exception 'session not found' using errcode = 'no_data_found';
  end if;
  if v_session.status = 'disconnected' then
    raise exception 'session is disconnected: signals can only target a live session' using errcode = 'check_violation';
  end if;

  if p_expires_at is not null then
    if p_expires_at <= now() then
      raise exception 'expires_at must be in the future' using errcode = 'invalid_parameter_value', column = 'body.expires_at';
    end if;
    v_expires := p_expires_at;
  elsif p_ttl_seconds is not null then
    if p_ttl_seconds <= 0 then
      raise exception 'ttl_seconds must be positive' using errcode = 'invalid_parameter_value', column = 'body.ttl_seconds';
    end if;
    v_expires := now() + make_interval(secs => p_ttl_seconds);
  end if;

  if p_type in ('BUY', 'SELL') then
    select * into v_spec from public.symbol_specs sp
    where sp.session_id = p_session_id and sp.user_id = v_user and sp.symbol = p_symbol;
    if p_risk_percent is not null then
      if v_spec.session_id is null then
        raise exception 'no symbol specification reported for % on this session: risk sizing needs its tick size and value', p_symbol
          using errcode = 'invalid_parameter_value', column = 'body.symbol';
      end if;
      if p_risk_percent > v_session.max_risk_percent then
        raise exception 'risk_percent % exceeds the session''s max_risk_percent of %', trim_scale(p_risk_percent), trim_scale(v_session.max_risk_percent)
          using errcode = 'invalid_parameter_value', column = 'body.risk_percent';
      end if;
      v_volume := private.size_by_risk(v_session.equity, p_risk_percent, p_entry_price, p_stop_loss, v_spec.tick_size,
        v_spec.tick_value, v_spec.volume_min, v_spec.volume_max, v_spec.volume_step);
    elsif v_volume is not null and v_spec.session_id is not null then
      if private.volume_problem(v_volume, v_spec.volume_min, v_spec.volume_max, v_spec.volume_step) is not null then
        raise exception '%', private.volume_problem(v_volume, v_spec.volume_min, v_spec.volume_max, v_spec.volume_step)
          using errcode = 'invalid_parameter_value', column = 'body.volume';
      end if;
    end if;

    -- Opening signals of one session are serialised so that two concurrent requests cannot both
    -- take the last free slot (a transaction-scoped advisory lock: the user cannot lock the
    -- session row, whose UPDATE policy is for EAs only).
    perform pg_advisory_xact_lock(hashtextextended('signals:open:' || p_session_id::text, 0));
    -- The lock may have been held by the original of this very retry: if it committed meanwhile,
    -- its signal is in the count below, and the answer is that signal, not a 409.
    if p_client_signal_id is not null then
      select * into v_row from public.trading_signals s where s.user_id = v_user and s.client_signal_id = p_client_signal_id;
      if v_row.id is not null then
        return query select false, private.same_signal(v_row, p_session_id, p_type, p_symbol, p_entry_price, p_stop_loss,
          p_take_profit, p_volume, p_risk_percent, p_timeframe, p_confidence, p_signal_time, p_expires_at, v_source);
        return;
      end if;
    end if;
    select count(*)::integer into v_positions from public.positions p
    where p.session_id = p_session_id and p.user_id = v_user and p.closed_at is null;
    select count(*)::integer into v_waiting from public.trading_signals s
    where s.session_id = p_session_id and s.user_id = v_user and s.type in ('BUY', 'SELL')
      and (s.status = 'DELIVERED' or (s.status = 'PENDING' and (s.expires_at is null or s.expires_at > now())));
    if v_positions + v_waiting >= v_session.max_open_positions then
      raise exception 'max_open_positions reached: the session has % open position(s) and % opening signal(s) not yet executed, and allows %',
        v_positions, v_waiting, v_session.max_open_positions
        using errcode = 'check_violation';
    end if;
  end if;

  insert into public.trading_signals (user_id, session_id, type, symbol, entry_price, stop_loss, take_profit, volume,
    risk_percent, timeframe, confidence, signal_time, source, client_signal_id, expires_at)
  values (v_user, p_session_id, p_type, p_symbol, p_entry_price, p_stop_loss, p_take_profit, v_volume, p_risk_percent,
    p_timeframe, p_confidence, coalesce(p_signal_time, now()), v_source, p_client_signal_id, v_expires)
  on conflict on constraint trading_signals_client_id_unique do nothing
  returning * into v_row;
  if v_row.id is not null then
    return query select true, v_row;
    return;
  end if;
  -- A concurrent request with the same client_signal_id won the insert.
  select * into v_row from public.trading_signals s where s.user_id = v_user and s.client_signal_id = p_client_signal_id;
  if v_row.id is null then
    raise exception 'signal insert returned no row';
  end if;
  return query select false, private.same_signal(v_row, p_session_id, p_type, p_symbol, p_entry_price, p_stop_loss,
    p_take_profit, p_volume, p_risk_percent, p_timeframe, p_confidence, p_signal_time, p_expires_at, v_source);
end;
$$;
grant execute on function private.create_signal(uuid, text, text, numeric, numeric, numeric, numeric, numeric, text, numeric,
  timestamptz, text, timestamptz, integer, text) to authenticated;

-- DELETE /signals/{id}: only a PENDING signal can be cancelled; cancelling again is answered with
-- the cancelled signal.
create function private.cancel_signal(p_signal_id uuid) returns public.trading_signals
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_user uuid := auth.uid();
  v_row public.trading_signals;
begin
  if v_user is null or coalesce(auth.jwt() ->> 'ea_account_id', '') <> '' then
    raise exception 'not allowed to cancel signals' using errcode = 'insufficient_privilege';
  end if;
  -- Another user's signal is not found, as it is not to them under row-level security.
  select * into v_row from public.trading_signals where id = p_signal_id and user_id = v_user for update;
  if v_row.id is null then
    raise exception 'signal not found' using errcode = 'no_data_found';
  end if;
  if v_row.status = 'CANCELLED' then
    return v_row;
  end if;
  if v_row.status <> 'PENDING' then
    raise exception 'signal is %: only a PENDING signal can be cancelled', v_row.status using errcode = 'check_violation';
  end if;
  -- PENDING -> CANCELLED, the one transition of the signal machine a user or an EA makes here.
  update public.trading_signals
  set status = 'CANCELLED',
      status_message = case when coalesce(auth.jwt() ->> 'ea_key_id', '') <> '' then 'cancelled by the EA' else 'cancelled by the user' end
  where id = p_signal_id and user_id = v_user and status = 'PENDING'
  returning * into v_row;
  if v_row.id is null then
    raise exception 'signal not found' using errcode = 'no_data_found';
  end if;
  return v_row;
end;
$$;
grant execute on function private.cancel_signal(uuid) to authenticated;

-- ---------------------------------------------------------------------------------------------
-- The connector EA's side: delivery and the status report.

-- GET /signals/pending: delivers the oldest waiting signals, at most `p_limit` in all with those
-- delivered and not yet reported, and returns everything delivered and not yet reported
-- (including what an earlier poll delivered whose response may never have reached the EA).
-- SKIP LOCKED: a concurrent poll neither delivers the same PENDING signal twice nor waits.
create function private.deliver_signals(p_caller uuid, p_session_id uuid, p_limit integer)
returns setof public.trading_signals
language plpgsql
set search_path = ''
as $$
declare
  v_user uuid := private.ea_caller(p_caller, 'ea_key_id');
begin
  perform private.live_session(p_session_id);
  with picked as (
    select s.id from public.trading_signals s
    where s.session_id = p_session_id and s.user_id = v_user and s.status = 'PENDING'
      and (s.expires_at is null or s.expires_at > now())
    order by s.created_at, s.id
    limit greatest(0, p_limit - (select count(*) from public.trading_signals d
                                 where d.session_id = p_session_id and d.user_id = v_user and d.status = 'DELIVERED'))
    for update skip locked
  )
  update public.trading_signals t set status = 'DELIVERED' from picked where t.id = picked.id;
  return query
    select s.* from public.trading_signals s
    where s.session_id = p_session_id and s.user_id = v_user and s.status = 'DELIVERED'
    order by s.created_at, s.id
    limit p_limit;
end;
$$;
grant execute on function private.deliver_signals(uuid, uuid, integer) to rubi_ea;

-- POST /signals/{id}/status: the EA's report on a delivered signal, with the order it placed.
-- The same report again (a retry after a lost response) returns the state it produced.
create function private.report_signal(
  p_caller uuid,
  p_signal_id uuid,
  p_status text,
  p_ticket bigint,
  p_price numeric,
  p_volume numeric,
  p_retcode integer,
  p_message text,
  p_executed_at timestamptz
) returns public.trading_signals
language plpgsql
set search_path = ''
as $$
declare
  v_user uuid := private.ea_caller(p_caller, 'ea_key_id');
  v_current public.trading_signals;
  v_updated public.trading_signals;
begin
  if p_status is null or p_status not in ('EXECUTED', 'REJECTED', 'FAILED', 'UNKNOWN') then
    raise exception 'status must be EXECUTED, REJECTED, FAILED or UNKNOWN' using errcode = 'invalid_parameter_value', column = 'body.status';
  end if;
  select * into v_current from public.trading_signals where id = p_signal_id for update;
  if v_current.id is null then
    raise exception 'signal not found' using errcode = 'no_data_found';
  end if;
  if v_current.status::text = p_status and v_current.order_ticket is not distinct from p_ticket then
    return v_current;
  end if;
  if v_current.status <> 'DELIVERED' then
    raise exception 'signal is %: only a DELIVERED signal takes a status report', v_current.status using errcode = 'check_violation';
  end if;
  insert into public.trading_orders (user_id, signal_id, session_id, result, ticket, price, volume, retcode, comment, requested_at, executed_at)
  values (v_user, v_current.id, v_current.session_id, p_status, p_ticket, p_price, p_volume, p_retcode, p_message,
    v_current.delivered_at, coalesce(p_executed_at, case when p_status = 'EXECUTED' then now() end));
  -- The state machine (trigger) decides whether the EA may make this transition.
  update public.trading_signals set status = p_status, status_message = p_message, order_ticket = coalesce(p_ticket, order_ticket)
  where id = p_signal_id
  returning * into v_updated;
  if v_updated.id is null then
    raise exception 'signal not found' using errcode = 'no_data_found';
  end if;
  -- Session counters (`errors` counts FAILED and UNKNOWN: both want the trader's attention, as the
  -- EA's own error counter does), when the reporting key is the one the session is connected with (the
  -- session's UPDATE policy only lets that key write it).
  if p_status = 'EXECUTED' then
    update public.mt5_sessions set orders_executed = orders_executed + 1
    where id = v_current.session_id and ea_key_id = (auth.jwt() ->> 'ea_key_id')::uuid;
  elsif p_status in ('FAILED', 'UNKNOWN') then
    update public.mt5_sessions set errors = errors + 1
    where id = v_current.session_id and ea_key_id = (auth.jwt() ->> 'ea_key_id')::uuid;
  end if;
  return v_updated;
end;
$$;
grant execute on function private.report_signal(uuid, uuid, text, bigint, numeric, numeric, integer, text, timestamptz)
  to rubi_ea;


-- ---------------------------------------------------------------------------------------------
-- Per-user signal counters (GET /accounts/stats reads one row instead of counting every signal
-- the user ever had). Read by their owner (RLS); written only by the statement-level triggers on
-- trading_signals below (insert, status or owner change, delete, truncate). Concurrent writers add
-- deltas with `insert ... on conflict do update set n = n + excluded.n`, so no update is lost; one
-- row per user (and rows taken in user_id order within a statement) keeps lock order simple.
create table public.user_signal_stats (
  user_id uuid primary key references auth.users (id) on delete cascade,
  pending bigint not null default 0,
  delivered bigint not null default 0,
  executed bigint not null default 0,
  rejected bigint not null default 0,
  failed bigint not null default 0,
  expired bigint not null default 0,
  cancelled bigint not null default 0,
  -- Signals whose outcome the EA could not tell (UNKNOWN; added after the others).
  unknown bigint not null default 0
);
alter table public.user_signal_stats enable row level security;
create policy "owners read their signal stats" on public.user_signal_stats
  for select to authenticated using (user_id = (select auth.uid()));
revoke insert, update, delete, truncate, references, trigger on public.user_signal_stats
  from anon, authenticated, service_role;

-- The one place counters change: adds per-(user, status) deltas, users in user_id order (so two
-- statements lock counter rows in the same order), concurrent writers never losing an update.
-- Deltas for a user that no longer exists (a user deleted: the cascade removes signals and
-- counters in some order) are dropped.
create function private.add_signal_stats(p_deltas jsonb) returns void
language sql
security definer
set search_path = ''
as $$
  insert into public.user_signal_stats as s
    (user_id, pending, delivered, executed, rejected, failed, unknown, expired, cancelled)
  select d.user_id,
    coalesce(sum(d.n) filter (where d.status = 'PENDING'), 0), coalesce(sum(d.n) filter (where d.status = 'DELIVERED'), 0),
    coalesce(sum(d.n) filter (where d.status = 'EXECUTED'), 0), coalesce(sum(d.n) filter (where d.status = 'REJECTED'), 0),
    coalesce(sum(d.n) filter (where d.status = 'FAILED'), 0), coalesce(sum(d.n) filter (where d.status = 'UNKNOWN'), 0),
    coalesce(sum(d.n) filter (where d.status = 'EXPIRED'), 0),
    coalesce(sum(d.n) filter (where d.status = 'CANCELLED'), 0)
  from jsonb_to_recordset(p_deltas) as d (user_id uuid, status text, n bigint)
  where exists (select 1 from auth.users u where u.id = d.user_id)
  group by d.user_id
  order by d.user_id
  on conflict (user_id) do update set
    pending = s.pending + excluded.pending, delivered = s.delivered + excluded.delivered,
    executed = s.executed + excluded.executed, rejected = s.rejected + excluded.rejected,
    failed = s.failed + excluded.failed, unknown = s.unknown + excluded.unknown,
    expired = s.expired + excluded.expired,
    cancelled = s.cancelled + excluded.cancelled
$$;
comment on function private.add_signal_stats(jsonb) is
  'Adds [{user_id, status, n}] deltas to public.user_signal_stats (called by the trading_signals statement triggers only).';

-- Security definer: the signals are written by API roles, which cannot write the counters.
-- Transition tables are not visible to called functions, so each event turns its rows into
-- deltas here (grouped, so the jsonb holds one entry per user and status) and hands them over.
create function private.count_signal_stats() returns trigger
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_deltas jsonb;
begin
  if tg_op = 'INSERT' then
    select jsonb_agg(jsonb_build_object('user_id', g.user_id, 'status', g.status, 'n', g.n)) into v_deltas
    from (select r.user_id, r.status, count(*) as n from new_rows r group by 1, 2) g;
  elsif tg_op = 'DELETE' then
    select jsonb_agg(jsonb_build_object('user_id', g.user_id, 'status', g.status, 'n', -g.n)) into v_deltas
    from (select r.user_id, r.status, count(*) as n from old_rows r group by 1, 2) g;
  elsif tg_op = 'UPDATE' then
    -- Only a change of status or owner moves a count.
    select jsonb_agg(jsonb_build_object('user_id', g.user_id, 'status', g.status, 'n', g.n)) into v_deltas
    from (
      select x.user_id, x.status, sum(x.n) as n
      from old_rows o
      join new_rows w on w.id = o.id
      cross join lateral (values (o.user_id, o.status, -1), (w.user_id, w.status, 1)) as x (user_id, status, n)
      where (o.user_id, o.status) is distinct from (w.user_id, w.status)
      group by 1, 2
    ) g;
  else -- TRUNCATE
    update public.user_signal_stats
    set pending = 0, delivered = 0, executed = 0, rejected = 0, failed = 0, unknown = 0, expired = 0, cancelled = 0;
    return null;
  end if;
  if v_deltas is not null then
    perform private.add_signal_stats(v_deltas);
  end if;
  return null;
end;
$$;

create trigger trading_signals_stats_insert after insert on public.trading_signals
  referencing new table as new_rows
  for each statement execute function private.count_signal_stats();
create trigger trading_signals_stats_update after update on public.trading_signals
  referencing old table as old_rows new table as new_rows
  for each statement execute function private.count_signal_stats();
create trigger trading_signals_stats_delete after delete on public.trading_signals
  referencing old table as old_rows
  for each statement execute function private.count_signal_stats();
create trigger trading_signals_stats_truncate after truncate on public.trading_signals
  for each statement execute function private.count_signal_stats();

-- Nothing in `private` is executable by PUBLIC; the grants above are the only way in.
revoke execute on all functions in schema private from public;
