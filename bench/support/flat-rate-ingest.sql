-- The bench's reference for the cost of rebate plans (issue #17): private.ingest_trades as it was
-- before plans (migration 20261130001500_account_health.sql), renamed: one flat rebate per lot read
-- from the broker once per batch. Created by bench/ea-hot-path.bench.test.ts in the bench schema.
-- Plus what ingest does since that is not pricing and that the plan-based ingest pays too: the
-- record of the tickets that accrued (private.paid_tickets, 20261130002800_paid_tickets.sql), so
-- that the ratio of the two measures the plans alone.
create schema if not exists bench;
create or replace function bench.ingest_trades_flat(p_caller uuid, p_account_id uuid, p_trades jsonb, p_ownership_codes text[] default '{}',
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
  v_server_key text;
  v_login bigint;
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
  select case when b.active then b.rebate_per_lot else 0 end, b.currency, a.paused_at is not null,
         private.server_key(a.server), a.login
  into v_rate, v_currency, v_paused, v_server_key, v_login
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
    returning ticket, cashback_amount, cashback_withheld
  ),
  recorded as (
    insert into private.paid_tickets (server_key, login, ticket, account_id)
    select v_server_key, v_login, n.ticket, p_account_id from inserted n
    where n.cashback_withheld is null
    order by n.ticket
    on conflict do nothing
    returning ticket
  )
  select coalesce((select array_agg(n.ticket order by n.ticket) from inserted n), '{}'::bigint[]),
    (select coalesce(sum(n.cashback_amount), 0) from inserted n),
    v_ownership
  from (select count(*) from recorded) r;
  perform private.touch_account(p_account_id, p_broker_connected, p_history_synced_until, p_backfill_complete);
end;
$$;
