-- "Outcome unknown" is its own signal status (issue #14 item 5), part 2 of 2: using UNKNOWN.
-- (20261130000900_signal_outcome_unknown_type.sql added the value, in a transaction of its own.)
--
-- UNKNOWN is a final state an EA reports on a DELIVERED signal when it cannot tell whether its order
-- reached the trade server: the order may or may not exist, and nothing is sent again. Until now
-- such a report was FAILED "outcome unknown: ...". Existing FAILED rows are left as they are.
--   * state machine: DELIVERED -> UNKNOWN, by the EA only (a user cannot set it);
--   * trading_signals.completed_at is set on UNKNOWN like on any final state;
--   * trading_orders.result accepts UNKNOWN (the EA's attempt, outcome unknown);
--   * private.report_signal accepts UNKNOWN and counts it in the session's `errors`, like FAILED
--     (the EA's own errors counter, sent with its heartbeats, counts both);
--   * public.user_signal_stats gets an `unknown` column (GET /accounts/stats), kept by the same
--     statement triggers; no existing signal is UNKNOWN, so 0 is its right starting value.
-- trading_signals.status is text checked against enum_range(null::signal_status): it takes the new
-- value with no change.

comment on type public.signal_status is 'State of a trading signal (machine `signal` in private.state_transitions); an order''s result is one of EXECUTED, REJECTED, FAILED, UNKNOWN';

insert into private.state_transitions (machine, from_state, to_state, actor) values
  ('signal', 'DELIVERED', 'UNKNOWN', 'ea');

create or replace function private.signal_lifecycle() returns trigger
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

alter table public.trading_orders
  drop constraint trading_orders_result_check,
  add constraint trading_orders_result_check check (result in ('EXECUTED', 'REJECTED', 'FAILED', 'UNKNOWN'));

alter table public.user_signal_stats add column unknown bigint not null default 0;

create or replace function private.report_signal(
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

create or replace function private.add_signal_stats(p_deltas jsonb) returns void
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
create or replace function private.count_signal_stats() returns trigger
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
