-- The ping counts every DELIVERED signal not yet reported, expired or not. GET /signals/pending hands
-- a DELIVERED signal back until the EA reports it, even past its expires_at (the EA reports it
-- REJECTED as expired), and the connector EA polls only when the ping says signals wait. Counting
-- only unexpired ones left a signal whose poll response was lost, and whose expiry then passed,
-- DELIVERED for good on a live session: never polled again, shown as DELIVERED on the dashboard and
-- holding one of the session's max_open_positions slots (pgTAP 23_signal_redelivery_edges.sql).
--
-- The definition is that of supabase/schemas/040_positions_snapshots.sql.

create or replace function private.ping_session(p_caller uuid, p_session_id uuid, p_figures jsonb) returns jsonb
language plpgsql
set search_path = ''
as $$
declare
  v_user uuid;
  v_interval integer;
  v_pinged timestamptz;
  v_pending integer;
begin
  perform private.ea_caller(p_caller, 'ea_key_id');
  -- A newer last_ping_at revives a stale session (trigger mt5_sessions_a_lifecycle). The session's
  -- UPDATE policy lets only the key it is connected with write it (another key of the same owner
  -- fails the policy's check: 42501).
  update public.mt5_sessions
  set last_ping_at = greatest(now(), last_ping_at + interval '1 microsecond'),
      balance = (p_figures ->> 'balance')::numeric, equity = (p_figures ->> 'equity')::numeric,
      margin = (p_figures ->> 'margin')::numeric, margin_free = (p_figures ->> 'margin_free')::numeric,
      margin_level = (p_figures ->> 'margin_level')::numeric, profit = (p_figures ->> 'profit')::numeric
  where id = p_session_id and status <> 'disconnected'
  returning user_id, ping_interval_seconds, last_ping_at into v_user, v_interval, v_pinged;
  if v_user is null then
    perform private.live_session(p_session_id);
    raise exception 'session not found' using errcode = 'no_data_found';
  end if;
  insert into public.account_snapshots (session_id, user_id, captured_at, balance, equity, margin, margin_free, margin_level, profit)
  values (p_session_id, v_user, v_pinged, (p_figures ->> 'balance')::numeric, (p_figures ->> 'equity')::numeric,
    (p_figures ->> 'margin')::numeric, (p_figures ->> 'margin_free')::numeric, (p_figures ->> 'margin_level')::numeric,
    (p_figures ->> 'profit')::numeric)
  on conflict do nothing;
  -- What the next poll returns or delivers: the unexpired PENDING signals, and every DELIVERED one
  -- not yet reported, expired or not (the poll hands those back until the EA reports them).
  select count(*)::integer into v_pending from public.trading_signals
  where session_id = p_session_id and user_id = v_user and status in ('PENDING', 'DELIVERED')
    and (status = 'DELIVERED' or expires_at is null or expires_at > now());
  return jsonb_build_object('pending_signals', v_pending, 'ping_interval_seconds', v_interval);
end;
$$;
