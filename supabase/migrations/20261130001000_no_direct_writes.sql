-- Rules no client can bypass (issue #15, item 3), and broadcasts that carry nothing internal
-- (item 7).
--
-- The hole: in a hosted project PostgREST exposes `public` to every signed-in user as role
-- `authenticated`, and EA requests ran as `authenticated` too (the gates switched to it), so every
-- write an EA's functions made was a write the owner could make directly with their own JWT:
-- rewrite a DELIVERED signal's volume and symbol or an EXECUTED one's ticket, insert a signal with
-- any volume, symbol and source, past the risk and position limits private.create_signal checks.
--
-- The rule now:
--   * EA requests run as a role of their own, `rubi_ea`: a member of `authenticated` (it reads what
--     a user reads, every `to authenticated` policy applies to it), granted to `postgres` (the role
--     the edge functions connect as, which must be able to switch to it) and never to
--     `authenticator`, so no JWT can make PostgREST switch to it.
--   * `anon` and `authenticated` write none of the tables a client must not write directly
--     (sessions, symbol specs, signals, orders, positions, snapshots, trades, ledger, counters,
--     trading accounts, brokers). A user keeps what they do legitimately: rename and revoke their
--     EA keys (UPDATE of name and revoked_at only), mark notifications read (UPDATE of read_at only)
--     and delete them. `rubi_ea` gets, column by column, the writes its security-invoker functions
--     make, and the EA write policies move to it. The cashback ledger is written by
--     private.settle_cashback only: service_role loses its direct writes too.
--   * private.create_signal and private.cancel_signal (users and connector EAs call them) become
--     security definer, naming the caller's rows in every query themselves.
--   * The EA-only functions are executable by `rubi_ea` instead of `authenticated`.
--   * trading_accounts' Realtime messages leave out the host's bookkeeping (vps_host_id,
--     lease_expires_at, claimed_at).
-- supabase/tests/database/13_no_direct_writes.sql proves it, for every column of every public table.

-- ---------------------------------------------------------------------------------------------
-- The EA's role (010_foundation.sql). Roles belong to the cluster: created once.
do $$
begin
  if not exists (select 1 from pg_catalog.pg_roles where rolname = 'rubi_ea') then
    create role rubi_ea nologin inherit;
  end if;
end
$$;
grant authenticated to rubi_ea;
grant rubi_ea to postgres;

create or replace function private.current_actor() returns text
language sql stable
set search_path = ''
as $$
  select case
    when current_user not in ('anon', 'authenticated', 'rubi_ea') then 'system'
    when coalesce(auth.jwt() ->> 'ea_key_id', auth.jwt() ->> 'ea_account_id') is not null then 'ea'
    else 'user'
  end
$$;

-- ---------------------------------------------------------------------------------------------
-- The gates switch to rubi_ea (025_ea_request_path.sql).
create or replace function private.enter_ea_key(p_key_id uuid, p_request_id text, p_sealed_secret text, p_scopes text[])
returns uuid
language plpgsql
set search_path = ''
as $$
declare
  v_user uuid := private.admit_ea_key(p_key_id, p_request_id, p_sealed_secret, p_scopes);
begin
  perform set_config('role', 'rubi_ea', true),
    set_config('request.jwt.claims',
      json_build_object('aud', 'authenticated', 'ea_key_id', p_key_id, 'sub', v_user, 'role', 'authenticated')::text, true);
  return v_user;
end;
$$;

create or replace function private.enter_account_ea(p_external_account_id uuid, p_request_id text, p_sealed_secret text)
returns uuid
language plpgsql
set search_path = ''
as $$
declare
  v_account uuid;
  v_user uuid;
begin
  select a.account_id, a.user_id into v_account, v_user
  from private.admit_account_ea(p_external_account_id, p_request_id, p_sealed_secret) a;
  perform set_config('role', 'rubi_ea', true),
    set_config('request.jwt.claims',
      json_build_object('aud', 'authenticated', 'ea_account_id', v_account, 'sub', v_user, 'role', 'authenticated')::text, true);
  return v_user;
end;
$$;

-- ---------------------------------------------------------------------------------------------
-- Direct writes: none for anon and authenticated, column by column for rubi_ea.

-- EA keys (020_ea_keys_sessions.sql): users rename and revoke.
revoke insert, update, delete, truncate on public.ea_keys from anon, authenticated;
grant update (name, revoked_at) on public.ea_keys to authenticated;

-- Sessions and symbol specs (020_ea_keys_sessions.sql).
revoke insert, update, delete, truncate on public.mt5_sessions from anon, authenticated;
grant insert (user_id, ea_key_id, account_number, broker, server, currency, leverage, balance, equity, margin,
  margin_free, ea_version, terminal_build, ping_interval_seconds) on public.mt5_sessions to rubi_ea;
grant update (status, ea_key_id, broker, currency, leverage, balance, equity, margin, margin_free, margin_level, profit,
  ea_version, terminal_build, connected_at, last_ping_at, signals_sent, signals_received, orders_executed, errors)
  on public.mt5_sessions to rubi_ea;
alter policy "EAs open sessions for their owner" on public.mt5_sessions to rubi_ea;
alter policy "EAs update their owner's sessions" on public.mt5_sessions to rubi_ea;

revoke insert, update, delete, truncate on public.symbol_specs from anon, authenticated;
grant insert (session_id, user_id, symbol, tick_size, tick_value, contract_size, volume_min, volume_max, volume_step, digits)
  on public.symbol_specs to rubi_ea;
grant update (tick_size, tick_value, contract_size, volume_min, volume_max, volume_step, digits) on public.symbol_specs to rubi_ea;
alter policy "EAs report symbol specs" on public.symbol_specs to rubi_ea;
alter policy "EAs update symbol specs" on public.symbol_specs to rubi_ea;

-- Signals and orders (030_signals.sql).
drop policy "owners create signals for their sessions" on public.trading_signals;
drop policy "owners update their signals" on public.trading_signals;
create policy "EAs update their owner's signals" on public.trading_signals
  for update to rubi_ea
  using (user_id = (select auth.uid()) and ((select auth.jwt()) ->> 'ea_key_id') is not null)
  with check (
    user_id = (select auth.uid())
    and exists (select 1 from public.mt5_sessions s where s.id = session_id and s.user_id = (select auth.uid()))
  );
revoke insert, update, delete, truncate on public.trading_signals from anon, authenticated;
grant update (session_id, status, status_message, order_ticket) on public.trading_signals to rubi_ea;

alter policy "EAs record orders" on public.trading_orders to rubi_ea;
revoke insert, update, delete, truncate on public.trading_orders from anon, authenticated;
grant insert (user_id, signal_id, session_id, result, ticket, price, volume, retcode, comment, requested_at, executed_at)
  on public.trading_orders to rubi_ea;

-- Positions and snapshots (040_positions_snapshots.sql).
alter policy "EAs record positions" on public.positions to rubi_ea;
alter policy "EAs update positions" on public.positions to rubi_ea;
revoke insert, update, delete, truncate on public.positions from anon, authenticated;
grant insert (session_id, ticket, user_id, symbol, type, volume, open_price, current_price, stop_loss, take_profit, profit,
  swap, commission, magic, comment, opened_at, closed_at) on public.positions to rubi_ea;
grant update (symbol, type, volume, open_price, current_price, stop_loss, take_profit, profit, swap, commission, magic,
  comment, opened_at, closed_at) on public.positions to rubi_ea;

alter policy "EAs record snapshots" on public.account_snapshots to rubi_ea;
revoke insert, update, delete, truncate on public.account_snapshots from anon, authenticated;
grant insert (session_id, user_id, captured_at, balance, equity, margin, margin_free, margin_level, profit)
  on public.account_snapshots to rubi_ea;

-- Notifications (050_notifications.sql): users mark read and delete.
revoke insert, update, delete, truncate on public.notifications from anon, authenticated;
grant update (read_at), delete on public.notifications to authenticated;

-- Brokers and trading accounts (060_provisioning.sql): the service role and private functions only.
revoke insert, update, delete, truncate on public.brokers from anon, authenticated;
revoke insert, update, delete, truncate on public.trading_accounts from anon, authenticated;

-- The ledger (090_cashback.sql): private.settle_cashback only.
revoke insert, update, delete, truncate on public.cashback_ledger from anon, authenticated, service_role;

-- ---------------------------------------------------------------------------------------------
-- Creating and cancelling a signal: security definer, tenancy and rules in the functions
-- (030_signals.sql).
create or replace function private.create_signal(
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

create or replace function private.cancel_signal(p_signal_id uuid) returns public.trading_signals
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

-- ---------------------------------------------------------------------------------------------
-- The EA-only functions: executable by rubi_ea, no longer by authenticated.
revoke execute on function private.ea_caller(uuid, text), private.live_session(uuid, text),
  private.open_session(uuid, jsonb), private.close_session(uuid, uuid, jsonb),
  private.deliver_signals(uuid, uuid, integer),
  private.report_signal(uuid, uuid, text, bigint, numeric, numeric, integer, text, timestamptz),
  private.push_positions(uuid, uuid, jsonb), private.ping_session(uuid, uuid, jsonb),
  private.ingest_trades(uuid, uuid, jsonb)
  from authenticated;
grant execute on function private.ea_caller(uuid, text), private.live_session(uuid, text),
  private.open_session(uuid, jsonb), private.close_session(uuid, uuid, jsonb),
  private.deliver_signals(uuid, uuid, integer),
  private.report_signal(uuid, uuid, text, bigint, numeric, numeric, integer, text, timestamptz),
  private.push_positions(uuid, uuid, jsonb), private.ping_session(uuid, uuid, jsonb),
  private.ingest_trades(uuid, uuid, jsonb)
  to rubi_ea;

-- ---------------------------------------------------------------------------------------------
-- Broadcasts carry nothing internal (015_realtime.sql, 060_provisioning.sql).
create or replace function private.broadcast_to_owner() returns trigger
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_owner uuid := case when tg_op = 'DELETE' then old.user_id else new.user_id end;
  v_payload jsonb;
begin
  if v_owner is null then
    return null;
  end if;
  if tg_nargs = 0 then
    perform realtime.broadcast_changes(
      'user:' || v_owner::text, tg_table_name, tg_op, tg_table_name, tg_table_schema, new, old
    );
    return null;
  end if;
  v_payload := jsonb_build_object('operation', tg_op, 'table', tg_table_name, 'schema', tg_table_schema);
  if tg_op in ('INSERT', 'UPDATE') then
    v_payload := v_payload || jsonb_build_object('record', to_jsonb(new) - tg_argv);
  end if;
  if tg_op in ('UPDATE', 'DELETE') then
    v_payload := v_payload || jsonb_build_object('old_record', to_jsonb(old) - tg_argv);
  end if;
  perform realtime.send(v_payload, tg_table_name, 'user:' || v_owner::text, true);
  return null;
end;
$$;

drop trigger trading_accounts_broadcast on public.trading_accounts;
drop trigger trading_accounts_broadcast_update on public.trading_accounts;
create trigger trading_accounts_broadcast after insert or delete on public.trading_accounts
  for each row execute function private.broadcast_to_owner('vps_host_id', 'lease_expires_at', 'claimed_at');
create trigger trading_accounts_broadcast_update after update on public.trading_accounts
  for each row
  when ((to_jsonb(old) - array['lease_expires_at', 'last_seen_at', 'updated_at'])
        is distinct from (to_jsonb(new) - array['lease_expires_at', 'last_seen_at', 'updated_at']))
  execute function private.broadcast_to_owner('vps_host_id', 'lease_expires_at', 'claimed_at');

-- Nothing in `private` is executable by PUBLIC; the grants above are the only way in.
revoke execute on all functions in schema private from public;
