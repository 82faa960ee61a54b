-- Every write with an invariant is a private function (issue #13, item 2): creating a signal (its
-- idempotency, the risk sizing, the session's risk and position limits), cancelling one, opening a
-- session (resuming or taking over a terminal's earlier sessions) and closing it. Delivery, the
-- status report, positions and trades are in 20261130000500_ea_gates_and_hot_path.sql.
--
-- All run as their caller (security invoker): row-level security and the state machines decide
-- exactly as they did when these statements were sent one by one from TypeScript. Errors follow
-- the convention listed at the top of 20261130000500 (22023 + COLUMN names the field).

-- ---------------------------------------------------------------------------------------------
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

  select s.status, s.equity, s.max_open_positions, s.max_risk_percent into v_session
  from public.mt5_sessions s where s.id = p_session_id;
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
    select * into v_spec from public.symbol_specs sp where sp.session_id = p_session_id and sp.symbol = p_symbol;
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
    select count(*)::integer into v_positions from public.positions p where p.session_id = p_session_id and p.closed_at is null;
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

-- DELETE /signals/{id}: only a PENDING signal can be cancelled; cancelling again is answered with
-- the cancelled signal.
create function private.cancel_signal(p_signal_id uuid) returns public.trading_signals
language plpgsql
set search_path = ''
as $$
declare
  v_row public.trading_signals;
begin
  if coalesce(auth.jwt() ->> 'ea_account_id', '') <> '' then
    raise exception 'not allowed to cancel signals' using errcode = 'insufficient_privilege';
  end if;
  select * into v_row from public.trading_signals where id = p_signal_id for update;
  if v_row.id is null then
    raise exception 'signal not found' using errcode = 'no_data_found';
  end if;
  if v_row.status = 'CANCELLED' then
    return v_row;
  end if;
  if v_row.status <> 'PENDING' then
    raise exception 'signal is %: only a PENDING signal can be cancelled', v_row.status using errcode = 'check_violation';
  end if;
  update public.trading_signals
  set status = 'CANCELLED',
      status_message = case when coalesce(auth.jwt() ->> 'ea_key_id', '') <> '' then 'cancelled by the EA' else 'cancelled by the user' end
  where id = p_signal_id
  returning * into v_row;
  if v_row.id is null then
    raise exception 'signal not found' using errcode = 'no_data_found';
  end if;
  return v_row;
end;
$$;

-- ---------------------------------------------------------------------------------------------
-- POST /connect: one live session per terminal (user, account number, server). A reconnect
-- resumes it, so signals already aimed at it are not lost. A terminal that comes back after a
-- disconnect gets a new session, which takes over what its earlier sessions left behind: signals
-- not yet delivered move to it, and so do DELIVERED ones not yet reported, delivered within
-- `signal_redelivery_window_seconds` (the next poll returns them again; the EA looks each signal id
-- up in its journal and in the terminal's history, where the order comment carries it, and reports
-- an order it already placed instead of placing a second one; older ones are expired by
-- private.expire_signals). Positions still marked open are closed, since the new session pushes the
-- true list. The symbol specifications are upserted in one statement.
create function private.open_session(p_caller uuid, p_terminal jsonb)
returns table (id uuid, resumed boolean, ping_interval_seconds integer, max_open_positions integer, max_risk_percent numeric)
language plpgsql
set search_path = ''
as $$
declare
  v_user uuid := private.ea_caller(p_caller, 'ea_key_id');
  v_key uuid := (auth.jwt() ->> 'ea_key_id')::uuid;
  v_account bigint := (p_terminal ->> 'account_number')::bigint;
  v_server text := p_terminal ->> 'server';
  v_session public.mt5_sessions;
  v_resumed boolean := true;
begin
  update public.mt5_sessions s set
    status = 'active', ea_key_id = v_key, broker = p_terminal ->> 'broker', currency = p_terminal ->> 'currency',
    leverage = (p_terminal ->> 'leverage')::integer, balance = (p_terminal ->> 'balance')::numeric,
    equity = (p_terminal ->> 'equity')::numeric,
    margin = coalesce((p_terminal ->> 'margin')::numeric, s.margin), margin_free = coalesce((p_terminal ->> 'margin_free')::numeric, s.margin_free),
    ea_version = p_terminal ->> 'ea_version', terminal_build = (p_terminal ->> 'terminal_build')::integer,
    connected_at = now(), last_ping_at = now()
  where s.user_id = v_user and s.account_number = v_account and s.server = v_server and s.status <> 'disconnected'
  returning * into v_session;
  if v_session.id is null then
    v_resumed := false;
    insert into public.mt5_sessions (user_id, ea_key_id, account_number, broker, server, currency, leverage, balance, equity,
      margin, margin_free, ea_version, terminal_build, ping_interval_seconds)
    values (v_user, v_key, v_account, p_terminal ->> 'broker', v_server, p_terminal ->> 'currency',
      (p_terminal ->> 'leverage')::integer, (p_terminal ->> 'balance')::numeric, (p_terminal ->> 'equity')::numeric,
      coalesce((p_terminal ->> 'margin')::numeric, 0), coalesce((p_terminal ->> 'margin_free')::numeric, 0),
      p_terminal ->> 'ea_version', (p_terminal ->> 'terminal_build')::integer,
      private.setting('session_default_ping_interval_seconds')::integer)
    returning * into v_session;

    update public.trading_signals g set session_id = v_session.id
    where (g.expires_at is null or g.expires_at > now())
      and (g.status = 'PENDING'
           or (g.status = 'DELIVERED'
               and g.delivered_at > now() - make_interval(secs => private.setting('signal_redelivery_window_seconds'))))
      and g.session_id in (select s.id from public.mt5_sessions s
                           where s.user_id = v_user and s.account_number = v_account and s.server = v_server and s.status = 'disconnected');
    update public.positions p set closed_at = now()
    where p.closed_at is null
      and p.session_id in (select s.id from public.mt5_sessions s
                           where s.user_id = v_user and s.account_number = v_account and s.server = v_server and s.status = 'disconnected');
  end if;

  if jsonb_array_length(coalesce(p_terminal -> 'symbols', '[]'::jsonb)) > 0 then
    insert into public.symbol_specs (session_id, user_id, symbol, tick_size, tick_value, contract_size, volume_min, volume_max, volume_step, digits)
    -- A symbol listed twice: the last entry counts (one row per symbol for the upsert).
    select distinct on (sp.symbol) v_session.id, v_user, sp.symbol, sp.tick_size, sp.tick_value, sp.contract_size, sp.volume_min,
      sp.volume_max, sp.volume_step, sp.digits
    from rows from (jsonb_to_recordset(p_terminal -> 'symbols') as (symbol text, tick_size numeric, tick_value numeric,
      contract_size numeric, volume_min numeric, volume_max numeric, volume_step numeric, digits integer)) with ordinality
      as sp(symbol, tick_size, tick_value, contract_size, volume_min, volume_max, volume_step, digits, n)
    order by sp.symbol, sp.n desc
    on conflict (session_id, symbol) do update set
      tick_size = excluded.tick_size, tick_value = excluded.tick_value, contract_size = excluded.contract_size,
      volume_min = excluded.volume_min, volume_max = excluded.volume_max, volume_step = excluded.volume_step,
      digits = excluded.digits;
  end if;

  return query select v_session.id, v_resumed, v_session.ping_interval_seconds, v_session.max_open_positions, v_session.max_risk_percent;
end;
$$;

-- POST /disconnect: the EA closes its session with its counters.
create function private.close_session(p_caller uuid, p_session_id uuid, p_counters jsonb)
returns table (id uuid, disconnected_at timestamptz)
language plpgsql
set search_path = ''
as $$
declare
  v_status text;
  v_id uuid;
  v_at timestamptz;
begin
  perform private.ea_caller(p_caller, 'ea_key_id');
  select s.status into v_status from public.mt5_sessions s where s.id = p_session_id;
  if v_status is null then
    raise exception 'session not found' using errcode = 'no_data_found';
  end if;
  if v_status = 'disconnected' then
    raise exception 'session is already disconnected' using errcode = 'check_violation';
  end if;
  update public.mt5_sessions s set status = 'disconnected',
    signals_sent = coalesce((p_counters ->> 'signals_sent')::integer, s.signals_sent),
    signals_received = coalesce((p_counters ->> 'signals_received')::integer, s.signals_received),
    orders_executed = coalesce((p_counters ->> 'orders_executed')::integer, s.orders_executed),
    errors = coalesce((p_counters ->> 'errors')::integer, s.errors)
  where s.id = p_session_id
  returning s.id, s.disconnected_at into v_id, v_at;
  -- The session's UPDATE policy lets only the key it is connected with write it (another key of
  -- the same owner fails the policy's check with 42501 before this).
  if v_id is null then
    raise exception 'session not found' using errcode = 'no_data_found';
  end if;
  return query select v_id, v_at;
end;
$$;

-- ---------------------------------------------------------------------------------------------
-- A DELIVERED signal whose session ended follows the terminal to its next session (open_session)
-- for a while; after that, or past its expiry, nobody will report it: it expires, with a message
-- that says so (the EA may have executed it: the terminal's history tells).
insert into private.settings (key, value, description) values
  ('signal_redelivery_window_seconds', 3600,
   'A DELIVERED signal of a session that ended follows the terminal to its next session for this long after delivery');
insert into private.state_transitions (machine, from_state, to_state, actor) values
  ('signal', 'DELIVERED', 'EXPIRED', 'system');

create or replace function private.expire_signals() returns integer
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

revoke execute on all functions in schema private from public;
grant execute on function
  private.volume_problem(numeric, numeric, numeric, numeric),
  private.size_by_risk(numeric, numeric, numeric, numeric, numeric, numeric, numeric, numeric, numeric),
  private.same_signal(public.trading_signals, uuid, text, text, numeric, numeric, numeric, numeric, numeric, text, numeric,
    timestamptz, timestamptz, text),
  private.create_signal(uuid, text, text, numeric, numeric, numeric, numeric, numeric, text, numeric, timestamptz, text,
    timestamptz, integer, text),
  private.cancel_signal(uuid),
  private.open_session(uuid, jsonb),
  private.close_session(uuid, uuid, jsonb)
  to authenticated;
