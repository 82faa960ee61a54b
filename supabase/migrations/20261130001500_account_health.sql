-- Issue #16 item 3: account health. The provisioned EA (RubiTradeSync) reports, in every POST
-- /trades body, whether its terminal is connected to the broker's trade server (broker_connected)
-- and how far it has sent the account's history (history_synced_until, backfill_complete); the
-- fields are optional (older EAs omit them). private.ingest_trades takes them and
-- private.touch_account stores them in the one update that marks the account heard from; the
-- accounts API derives the `health` object from them, the VPS agent's terminal_state, the
-- lifecycle columns and the silence threshold (private.settings account_silent_seconds).
--
-- The definitions are those of supabase/schemas/060_provisioning.sql, 080_account_ea.sql and
-- 090_cashback.sql.

alter table public.trading_accounts
  add column broker_connected boolean,
  add column broker_connected_changed_at timestamptz,
  add column broker_reported_at timestamptz,
  add column history_backfill_complete boolean,
  add column history_synced_until timestamptz,
  add column error_at timestamptz;
comment on column public.trading_accounts.broker_connected is
  'Whether the terminal is connected to the broker''s trade server, as the EA last reported it (MT5 TERMINAL_CONNECTED, MT4 IsConnected()); null: never reported (an older EA)';
comment on column public.trading_accounts.broker_connected_changed_at is
  'When the backend first heard the current broker_connected value (connected, or disconnected, since then)';
comment on column public.trading_accounts.broker_reported_at is
  'The EA''s last report of broker_connected';
comment on column public.trading_accounts.history_backfill_complete is
  'Whether the EA has sent the account''s whole history since registration; null: never reported (an older EA)';
comment on column public.trading_accounts.history_synced_until is
  'Every trade closed before this instant (UTC) has been sent, as the EA last reported it';
comment on column public.trading_accounts.error_at is
  'When the account last entered `error` (private.account_lifecycle); error_code and error_message say why';
-- Accounts in error now: their last update is when they entered it (close enough; no error since).
update public.trading_accounts set error_at = updated_at where status = 'error';

-- Realtime: every report moves broker_reported_at, and history_synced_until with each complete
-- read; like last_seen_at, neither alone is broadcast (a change of broker_connected or
-- history_backfill_complete is).
drop trigger trading_accounts_broadcast_update on public.trading_accounts;
create trigger trading_accounts_broadcast_update after update on public.trading_accounts
  for each row
  when ((to_jsonb(old) - array['lease_expires_at', 'last_seen_at', 'updated_at', 'broker_reported_at', 'history_synced_until'])
        is distinct from (to_jsonb(new) - array['lease_expires_at', 'last_seen_at', 'updated_at', 'broker_reported_at', 'history_synced_until']))
  execute function private.broadcast_to_owner('vps_host_id', 'lease_expires_at', 'claimed_at');

-- The last error's time, for the health object's last_error.at: set on entering `error`.
create or replace function private.account_lifecycle() returns trigger
language plpgsql
set search_path = ''
as $$
declare
  v_delay numeric;
begin
  if tg_op = 'UPDATE' and new.status is not distinct from old.status then
    return new;
  end if;
  case new.status
    when 'pending_vps_setup' then
      -- Back in the queue: no host holds it.
      new.vps_host_id := null;
      new.lease_expires_at := null;
      new.claimed_at := null;
      new.terminal_state := null;
      new.next_retry_at := null;
    when 'provisioning' then
      new.claimed_at := now();
      new.error_code := null;
      new.error_message := null;
    when 'connected' then
      -- Connecting is hearing from the EA: the silence clock starts now, not at the last report
      -- of a previous connection.
      new.connected_at := now();
      new.last_seen_at := now();
      new.attempts := 0;
      new.next_retry_at := null;
      new.error_code := null;
      new.error_message := null;
    when 'error' then
      -- Exponential backoff: base * 2^(attempts-1), capped; no automatic retry past the limit, nor
      -- with an investor password the broker refused (credentials_rejected_at).
      new.error_at := now();
      new.attempts := coalesce(old.attempts, 0) + 1;
      new.vps_host_id := null;
      new.lease_expires_at := null;
      if new.credentials_rejected_at is null and new.attempts < private.setting('account_retry_max_attempts') then
        v_delay := least(
          private.setting('account_retry_base_seconds') * power(2, new.attempts - 1),
          private.setting('account_retry_max_delay_seconds'));
        new.next_retry_at := now() + make_interval(secs => v_delay);
      else
        new.next_retry_at := null;
      end if;
    else
      null;
  end case;
  return new;
end;
$$;


drop function private.touch_account(uuid);
create function private.touch_account(p_account_id uuid, p_broker_connected boolean default null,
  p_history_synced_until timestamptz default null, p_backfill_complete boolean default null) returns text
language sql
security definer
set search_path = ''
as $$
  update public.trading_accounts a
  set last_seen_at = now(),
      status = case when a.status = 'disconnected' and a.paused_at is null then 'connected' else a.status end,
      broker_connected = coalesce(p_broker_connected, a.broker_connected),
      broker_connected_changed_at = case
        when p_broker_connected is not null and p_broker_connected is distinct from a.broker_connected then now()
        else a.broker_connected_changed_at end,
      broker_reported_at = case when p_broker_connected is null then a.broker_reported_at else now() end,
      history_backfill_complete = case
        when p_backfill_complete is null and p_history_synced_until is null then a.history_backfill_complete
        else p_backfill_complete end,
      history_synced_until = case
        when p_backfill_complete is null and p_history_synced_until is null then a.history_synced_until
        else p_history_synced_until end
  where a.id = p_account_id and a.deleted_at is null
  returning a.status
$$;
revoke execute on function private.touch_account(uuid, boolean, timestamptz, boolean) from public, anon, authenticated, service_role;

drop function private.ingest_trades(uuid, uuid, jsonb, text[]);
create function private.ingest_trades(p_caller uuid, p_account_id uuid, p_trades jsonb, p_ownership_codes text[] default '{}',
  p_broker_connected boolean default null, p_history_synced_until timestamptz default null, p_backfill_complete boolean default null)
returns table (accepted bigint[], cashback_accrued numeric, ownership text)
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_user uuid := private.ea_caller(p_caller, 'ea_account_id');
  v_rate numeric;
  v_currency text;
  v_paused boolean;
  v_ownership text;
begin
  if p_account_id is distinct from (auth.jwt() ->> 'ea_account_id')::uuid then
    raise exception 'only the account''s own EA reports for it' using errcode = 'insufficient_privilege';
  end if;
  if p_history_synced_until > now() + interval '300 seconds' then
    raise exception 'history_synced_until is later than the server''s clock'
      using errcode = 'invalid_parameter_value', column = 'body.history_synced_until';
  end if;
  -- The broker's terms, read once for the batch. An account that is not the caller's (or is
  -- deleted) is refused, not silently given no trades.
  select case when b.active then b.rebate_per_lot else 0 end, b.currency, a.paused_at is not null
  into v_rate, v_currency, v_paused
  from public.trading_accounts a
  join public.brokers b on b.id = a.broker_id
  where a.id = p_account_id and a.user_id = v_user and a.deleted_at is null;
  if not found then
    raise exception 'only the account''s own EA reports for it' using errcode = 'insufficient_privilege';
  end if;
  -- Before the batch: a batch that brings the proof accrues.
  v_ownership := private.account_ownership(p_account_id, p_ownership_codes);
  return query
  with incoming as (
    select * from jsonb_to_recordset(p_trades) as i(
      ticket bigint, symbol text, type text, lots numeric, open_time timestamptz, close_time timestamptz,
      open_price numeric, close_price numeric, commission numeric, swap numeric, profit numeric, magic bigint, comment text)
  ),
  judged as (
    select i.*,
      case
        when v_paused or exists (select 1 from private.account_pauses p
                                 where p.account_id = p_account_id and i.close_time >= p.paused_at
                                   and (p.resumed_at is null or i.close_time < p.resumed_at)) then 'paused'
        when v_ownership = 'verified' then null
        else v_ownership
      end::public.cashback_withheld_reason as withheld
    from incoming i
  ),
  inserted as (
    insert into public.closed_trades (account_id, user_id, ticket, symbol, type, lots, open_time, close_time, open_price,
      close_price, commission, swap, profit, magic, comment, cashback_rate, cashback_amount, currency, cashback_withheld)
    select p_account_id, v_user, j.ticket, j.symbol, j.type, j.lots, j.open_time, j.close_time, j.open_price,
      j.close_price, coalesce(j.commission, 0), coalesce(j.swap, 0), coalesce(j.profit, 0), j.magic, j.comment,
      v_rate, case when j.withheld is null then round(j.lots * v_rate, 4) else 0 end, v_currency, j.withheld
    from judged j
    order by j.ticket
    on conflict (account_id, ticket) do nothing
    returning ticket, cashback_amount
  )
  select coalesce((select array_agg(n.ticket order by n.ticket) from inserted n), '{}'::bigint[]),
    (select coalesce(sum(n.cashback_amount), 0) from inserted n),
    v_ownership;
  perform private.touch_account(p_account_id, p_broker_connected, p_history_synced_until, p_backfill_complete);
end;
$$;
grant execute on function private.ingest_trades(uuid, uuid, jsonb, text[], boolean, timestamptz, boolean) to rubi_ea;

-- Nothing in `private` is executable by PUBLIC; the grants above are the only way in.
revoke execute on all functions in schema private from public;
