-- The money path review (issue #13):
--   1. private.account_ownership: a trade reported while its registration was unverified, priced in
--      a currency that had no rate to the payout currency then, accrues when the registration is
--      proven at the rate in force by then. It was withheld as 'no_fx_rate' even when the operator
--      had set that rate meanwhile (private.set_fx_rate accrues only 'no_fx_rate' trades), so it
--      waited for a rate that already existed, and accrued only if the operator set it again.
--   2. private.settle_cashback: a ledger row's currency is the currency of the cashback it sums. It
--      was the alphabetically first currency among the day's trades, and a trade that earned nothing
--      (filtered, paused, owned_elsewhere) may be in the payout currency the account had before a
--      change: 7 USD were credited as 7 EUR.
--   3. private.ingest_trades: a batch in flight while the owner changed the account's payout
--      currency accrued in the old currency after the change had passed its check (the account's
--      terms were read unlocked; the batch then waited for the change at its foreign key check):
--      it now key-share locks the account when it reads its terms.
--   4. private.ingest_trades and private.set_fx_rate: a batch that priced its trades before a rate
--      was committed and committed after private.set_fx_rate accrued the trades waiting for it
--      left its own trades waiting for a rate already set. The batch holds row share on
--      public.fx_rates; setting a rate takes it exclusive (waits for the batches in flight).
-- Tests: pgTAP supabase/tests/database/24_money_path.sql (1, 2) and
-- tests/integration/cashback-races.test.ts (3, 4). The definitions are those of
-- supabase/schemas/090_cashback.sql and 092_rebate_plans.sql.

create or replace function private.account_ownership(p_account_id uuid, p_codes text[]) returns text
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_account record;
  v_key text;
begin
  select a.id, a.user_id, a.login, a.server, a.ownership_code, a.verified_at, a.status, a.paused_at
  into v_account
  from public.trading_accounts a where a.id = p_account_id and a.deleted_at is null;
  if not found then
    return null;
  end if;
  if v_account.verified_at is not null then
    return 'verified';
  end if;
  v_key := private.server_key(v_account.server);
  if v_account.ownership_code = any (coalesce(p_codes, '{}')) then
    perform pg_advisory_xact_lock(hashtextextended('private.account_ownership:' || v_account.login::text || '@' || v_key, 0));
  end if;
  if exists (select 1 from public.trading_accounts o
             where private.server_key(o.server) = v_key and o.login = v_account.login and o.deleted_at is null
               and o.verified_at is not null and o.id <> v_account.id) then
    if v_account.status in ('provisioning', 'connected', 'disconnected') and v_account.paused_at is null then
      perform private.stop_owned_elsewhere(array[v_account.id]);
    end if;
    return 'owned_elsewhere';
  end if;
  if not (v_account.ownership_code = any (coalesce(p_codes, '{}'))) then
    return 'unverified';
  end if;

  -- Proven. A concurrent request of the same EA that proved it first leaves nothing to do.
  update public.trading_accounts a set verified_at = now() where a.id = v_account.id and a.verified_at is null;
  if not found then
    return 'verified';
  end if;
  -- At the rebate and rate recorded on each; one priced in a currency that had no rate then takes
  -- the rate in force now (the operator may have set one since: private.set_fx_rate accrues only
  -- 'no_fx_rate' trades), else waits for one ('no_fx_rate', 092_rebate_plans.sql).
  update public.closed_trades t
  set fx_rate = r.fx,
      cashback_amount = case when t.rebate_amount > 0 and r.fx is null then 0
                             else coalesce(round(t.rebate_amount * r.fx, 4), 0) end,
      cashback_withheld = case when t.rebate_amount > 0 and r.fx is null then 'no_fx_rate'::public.cashback_withheld_reason end
  from (
    select u.id, coalesce(u.fx_rate, (select f.rate from public.fx_rates f
                                      where f.base = u.rebate_currency and f.quote = u.currency and f.as_of <= now()
                                      order by f.as_of desc limit 1)) as fx
    from public.closed_trades u
    where u.account_id = v_account.id and u.cashback_withheld = 'unverified' and u.settled_on is null
  ) r
  where t.id = r.id and t.cashback_withheld = 'unverified' and t.settled_on is null;
  insert into public.notifications (user_id, kind, title, body, account_id)
  values (v_account.user_id, 'account_verified', 'Account ' || v_account.login || ' verified',
          'You proved that ' || v_account.login || '@' || v_account.server || ' is yours: its cashback accrues.', v_account.id);
  perform private.stop_owned_elsewhere(array(
    select o.id from public.trading_accounts o
    where private.server_key(o.server) = v_key and o.login = v_account.login and o.deleted_at is null
      and o.id <> v_account.id));
  return 'verified';
end;
$$;

create or replace function private.settle_cashback(p_day date default null) returns integer
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
      and (t.cashback_withheld is null or t.cashback_withheld not in ('unverified', 'no_fx_rate'))
    for update
  ),
  totals as (
    select d.account_id, d.user_id, count(*)::integer as trades_count, sum(d.lots) as lots,
           sum(d.cashback_amount) as amount,
           -- The currency of the cashback summed: a trade that earned nothing may be in the payout
           -- currency the account had before (filtered, paused, owned_elsewhere: not in the
           -- change's check, private.set_account_cashback_settings).
           coalesce(min(d.currency) filter (where d.cashback_amount > 0), min(d.currency)) as currency
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

create or replace function private.ingest_trades(p_caller uuid, p_account_id uuid, p_trades jsonb, p_ownership_codes text[] default '{}',
  p_broker_connected boolean default null, p_history_synced_until timestamptz default null, p_backfill_complete boolean default null)
returns table (accepted bigint[], cashback_accrued numeric, ownership text)
language plpgsql
security definer
set search_path = ''
-- One plan for the batch statement, kept for the session: left to choose, PL/pgSQL planned it again
-- for every batch (a custom plan folds the account's terms, which are parameters, into constants),
-- which cost more than the whole pricing. Its shape does not depend on those values.
set plan_cache_mode = force_generic_plan
as $$
declare
  v_user uuid := private.ea_caller(p_caller, 'ea_account_id');
  v_account record;
  v_ownership text;
begin
  if p_account_id is distinct from (auth.jwt() ->> 'ea_account_id')::uuid then
    raise exception 'only the account''s own EA reports for it' using errcode = 'insufficient_privilege';
  end if;
  if p_history_synced_until > now() + interval '300 seconds' then
    raise exception 'history_synced_until is later than the server''s clock'
      using errcode = 'invalid_parameter_value', column = 'body.history_synced_until';
  end if;
  -- The account's terms, read once for the batch. An account that is not the caller's (or is
  -- deleted) is refused, not silently given no trades. An inactive broker pays nothing.
  -- Key-share locked (the lock the trades' foreign key takes anyway, only earlier): a change of
  -- payout currency (private.set_account_cashback_settings, for update) either waits for this
  -- batch and sees its trades, or is waited for and its currency read here; without it, a batch
  -- read the old currency, waited for the change at its insert and accrued in the old currency
  -- after the change had passed its check (one ledger day, two currencies).
  select a.broker_id, b.active, coalesce(a.payout_currency, b.currency) as payout_currency,
         a.paused_at is not null as paused, a.excluded_magics, a.excluded_symbols,
         exists (select 1 from private.account_pauses p where p.account_id = a.id) as ever_paused
  into v_account
  from public.trading_accounts a
  join public.brokers b on b.id = a.broker_id
  where a.id = p_account_id and a.user_id = v_user and a.deleted_at is null
  for key share of a;
  if not found then
    raise exception 'only the account''s own EA reports for it' using errcode = 'insufficient_privilege';
  end if;
  -- The rates, for the rest of the transaction: a rate being set (private.set_fx_rate, exclusive)
  -- waits for this batch and accrues its trades withheld for the lack of it, or is waited for and
  -- prices them. Without it, a batch priced before the rate was committed and committed after
  -- set_fx_rate accrued the waiting trades: its trades waited for a rate that was already set.
  lock table public.fx_rates in row share mode;
  -- Before the batch: a batch that brings the proof accrues.
  v_ownership := private.account_ownership(p_account_id, p_ownership_codes);
  return query
  with incoming as (
    select i.*, upper(i.symbol) as usymbol
    from jsonb_to_recordset(p_trades) as i(
      ticket bigint, symbol text, type text, lots numeric, open_time timestamptz, close_time timestamptz,
      open_price numeric, close_price numeric, commission numeric, swap numeric, profit numeric, magic bigint, comment text)
  ),
  -- Set-based pricing: the group once per distinct symbol, the account's plan versions read once,
  -- the rule once per distinct (plan, symbol), the rate once per distinct currency.
  symbols as materialized (
    select d.usymbol, private.symbol_group(d.usymbol) as grp from (select distinct i.usymbol from incoming i) d
  ),
  plans as materialized (
    select p.id, p.account_id, p.valid_from from public.rebate_plans p
    where v_account.active and p.broker_id = v_account.broker_id and (p.account_id = p_account_id or p.account_id is null)
  ),
  judged as (
    select i.*, s.grp,
      case
        -- (The pauses and symbol filters are looked up per trade only for an account that has any.)
        when v_account.paused or (v_account.ever_paused and exists (select 1 from private.account_pauses p
                                 where p.account_id = p_account_id and i.close_time >= p.paused_at
                                   and (p.resumed_at is null or i.close_time < p.resumed_at))) then 'paused'
        when i.magic = any (v_account.excluded_magics)
          or (cardinality(v_account.excluded_symbols) > 0
              and exists (select 1 from unnest(v_account.excluded_symbols) x where i.usymbol like x)) then 'filtered'
        when v_ownership = 'verified' then null
        else v_ownership
      end::public.cashback_withheld_reason as withheld,
      -- The plan in force at the close: the account's, else the broker's.
      (select pl.id from plans pl where pl.valid_from <= i.close_time
       order by pl.account_id nulls last, pl.valid_from desc limit 1) as plan_id
    from incoming i
    left join symbols s on s.usymbol = i.usymbol
  ),
  -- The rule: of the plan, the first matching one by precedence. None for a trade withheld for good.
  chosen as (
    select k.plan_id, k.usymbol, r.id, r.currency, r.kind, r.amount, r.min_lots, r.min_duration_seconds, r.per_lot,
      case when r.currency = v_account.payout_currency then 1
           else (select f.rate from public.fx_rates f
                 where f.base = r.currency and f.quote = v_account.payout_currency and f.as_of <= now()
                 order by f.as_of desc limit 1)
      end as fx
    from (select distinct j.plan_id, j.usymbol, j.grp from judged j
          where j.plan_id is not null and (j.withheld is null or j.withheld = 'unverified')) k
    cross join lateral (
      select r.id, r.currency, r.kind, r.amount, r.min_lots, r.min_duration_seconds,
             r.amount * r.lot_multiplier * case when r.side = 'both' then 2 else 1 end as per_lot
      from public.rebate_rules r
      where r.plan_id = k.plan_id
        and (r.symbol = k.usymbol or k.usymbol like r.symbol_pattern or r.symbol_group = k.grp
             or num_nonnulls(r.symbol, r.symbol_pattern, r.symbol_group) = 0)
      order by case when r.symbol is not null then 0 when r.symbol_pattern is not null then 1
                    when r.symbol_group is not null then 2 else 3 end,
               r.priority desc, r.created_at, r.id
      limit 1
    ) r
  ),
  converted as (
    select j.*, c.id as rule_id, c.currency as rule_currency, c.kind as rule_kind, c.per_lot, c.fx,
      case when c.id is null then null
           when j.lots < c.min_lots or extract(epoch from j.close_time - j.open_time) < c.min_duration_seconds then 0
           when c.kind = 'per_lot' then round(j.lots * c.per_lot, 4)
           else round(abs(coalesce(j.commission, 0)) * c.amount / 100, 4)
      end as rebate
    from judged j
    left join chosen c on c.plan_id = j.plan_id and c.usymbol = j.usymbol
      and (j.withheld is null or j.withheld = 'unverified')
  ),
  inserted as (
    insert into public.closed_trades (account_id, user_id, ticket, symbol, type, lots, open_time, close_time, open_price,
      close_price, commission, swap, profit, magic, comment, cashback_rate, cashback_amount, currency, cashback_withheld,
      symbol_group, rebate_rule_id, rebate_amount, rebate_currency, fx_rate)
    select p_account_id, v_user, c.ticket, c.symbol, c.type, c.lots, c.open_time, c.close_time, c.open_price,
      c.close_price, coalesce(c.commission, 0), coalesce(c.swap, 0), coalesce(c.profit, 0), c.magic, c.comment,
      case when c.rebate > 0 and c.rule_kind = 'per_lot' then c.per_lot when c.rebate > 0 then round(c.rebate / c.lots, 4) else 0 end,
      case when c.withheld is null and c.fx is not null then round(coalesce(c.rebate, 0) * c.fx, 4) else 0 end,
      v_account.payout_currency,
      case when c.withheld is null and c.fx is null and c.rebate > 0 then 'no_fx_rate' else c.withheld end,
      c.grp, c.rule_id, c.rebate, c.rule_currency, c.fx
    from converted c
    order by c.ticket
    on conflict (account_id, ticket) do nothing
    returning ticket, cashback_amount
  )
  select coalesce((select array_agg(n.ticket order by n.ticket) from inserted n), '{}'::bigint[]),
    (select coalesce(sum(n.cashback_amount), 0) from inserted n),
    v_ownership;
  perform private.touch_account(p_account_id, p_broker_connected, p_history_synced_until, p_backfill_complete);
end;
$$;

create or replace function private.set_fx_rate(p_base text, p_quote text, p_rate numeric, p_as_of timestamptz default now())
returns integer
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_rate numeric;
  n integer;
begin
  lock table public.fx_rates in exclusive mode;
  insert into public.fx_rates (base, quote, rate, as_of) values (upper(p_base), upper(p_quote), p_rate, p_as_of)
  on conflict (base, quote, as_of) do update set rate = excluded.rate;
  select f.rate into v_rate from public.fx_rates f
  where f.base = upper(p_base) and f.quote = upper(p_quote) and f.as_of <= now()
  order by f.as_of desc limit 1;
  if v_rate is null then
    return 0;
  end if;
  update public.closed_trades t
  set fx_rate = v_rate, cashback_amount = round(t.rebate_amount * v_rate, 4), cashback_withheld = null
  where t.cashback_withheld = 'no_fx_rate' and t.settled_on is null
    and t.rebate_currency = upper(p_base) and t.currency = upper(p_quote);
  get diagnostics n = row_count;
  return n;
end;
$$;
