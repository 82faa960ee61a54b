-- One real trade is paid once, whatever happens to its registrations (issue #13).
--   1. closed_trades is unique per registration (account_id, ticket), and a registration's trades
--      and ledger go with it. A real account registered again once the paid registration was
--      deleted (by its owner, or with its user) proved ownership and was paid again for the same
--      tickets when its EA backfilled them: delete and re-register farmed cashback.
--      private.paid_tickets records each real trade that accrued (server key, login, ticket, the
--      registration paid), kept after registrations and users are deleted; it is written and
--      checked, set-based, wherever a trade accrues (private.ingest_trades, the accrual at proof in
--      private.account_ownership, private.set_fx_rate), and a trade of a ticket recorded for another
--      registration is withheld as 'already_paid' (20261130002700_already_paid_reason.sql). The
--      tickets accrued so far are recorded below (the first registration paid, where one was paid
--      twice already; those past accruals are left as they are).
--   2. private.set_fx_rate refuses an as_of later than now (22023): trades are priced at the rate in
--      force (as_of <= now()), so a future-dated rate accrued the waiting trades at an older rate, or
--      not at all, and never again when its as_of came.
-- Tests: pgTAP supabase/tests/database/24_money_path.sql. The definitions are those of
-- supabase/schemas/090_cashback.sql and 092_rebate_plans.sql.

-- Writers of closed_trades wait until this migration commits (after it, they record what accrues):
-- the backfill below misses nothing. (In a DO block: the CLI sends a file as one implicit
-- transaction, where a top-level LOCK is refused.)
do $$ begin lock table public.closed_trades in share row exclusive mode; end $$;

-- The real trades that accrued cashback, per real account: a ticket of a login on a trade server (by
-- private.server_key), and the registration (public.trading_accounts row) it accrued for. closed_trades
-- is unique per registration, and a registration's trades go with it: without this record, a real
-- account registered again after the paid registration was deleted (by its owner, or with its user)
-- is paid again for the same tickets when its EA backfills them (delete and re-register to farm
-- cashback). So this record outlives registrations and users, by design: no foreign key, and only ids
-- and numbers (the server key, login, ticket, the registration's id, when). A trade accrues only if it
-- is recorded here for its own registration; one recorded for another is withheld as 'already_paid'.
-- Written where a trade accrues, set-based, in the same statement or transaction as the accrual:
-- private.ingest_trades (a trade stored with cashback_withheld null), private.account_ownership (the
-- 'unverified' trades accrued at proof), private.set_fx_rate (the 'no_fx_rate' trades accrued).
-- Concurrency: at most one live registration of a real account is verified at a time (the advisory
-- lock of private.account_ownership and trading_accounts_verified_identity_key), and accruals of
-- 'no_fx_rate' trades are serialised with ingest by the lock on public.fx_rates; what is left (a
-- deleted registration's batch still in flight) is settled by this primary key: writers insert with
-- `on conflict do nothing`, the second waits for the first to commit, and a trade whose ticket it
-- could not record for its own registration is withheld as 'already_paid' (never an error, never
-- paid twice).
create table private.paid_tickets (
  server_key text not null,
  login bigint not null,
  ticket bigint not null,
  -- The registration paid (no foreign key: kept after it is deleted).
  account_id uuid not null,
  accrued_at timestamptz not null default now(),
  -- The login and ticket first: numbers to compare while the key is looked up (ingest probes it per
  -- trade), the server key only between real accounts sharing a login and ticket.
  primary key (login, ticket, server_key)
);
alter table private.paid_tickets enable row level security;
comment on table private.paid_tickets is
  'The real trades (ticket of a login on a server) that accrued cashback, and the registration paid; kept after registrations and users are deleted, so a real trade is paid once';

comment on type public.cashback_withheld_reason is
  'Why a closed trade earned no cashback: unverified, no_fx_rate (may accrue later); paused, owned_elsewhere, filtered, already_paid (final)';
comment on column public.closed_trades.cashback_withheld is
  'Null: cashback accrued. unverified: withheld until the registration is proven (then accrued once); no_fx_rate: until the operator sets the rate (then accrued once); paused, owned_elsewhere, filtered, already_paid (the real trade accrued for another registration): final.';
comment on column public.closed_trades.rebate_rule_id is
  'The rebate rule that priced the trade; null: no rule matched, or the trade is withheld for good at ingest (paused, owned_elsewhere, filtered, already_paid)';

-- The tickets accrued so far, each for the first registration that accrued it.
insert into private.paid_tickets (server_key, login, ticket, account_id, accrued_at)
select distinct on (k.server_key, a.login, t.ticket) k.server_key, a.login, t.ticket, t.account_id, t.created_at
from public.closed_trades t
join public.trading_accounts a on a.id = t.account_id
cross join lateral (select private.server_key(a.server) as server_key) k
where t.cashback_withheld is null
order by k.server_key, a.login, t.ticket, t.created_at, t.id;

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
  -- 'no_fx_rate' trades), else waits for one ('no_fx_rate', 092_rebate_plans.sql). A ticket already
  -- paid to another registration of the real account (private.paid_tickets), or recorded by one
  -- meanwhile (not inserted here), is 'already_paid'; the others are recorded as paid here.
  with r as (
    select u.id, u.ticket, u.rebate_amount,
      coalesce(u.fx_rate, (select f.rate from public.fx_rates f
                           where f.base = u.rebate_currency and f.quote = u.currency and f.as_of <= now()
                           order by f.as_of desc limit 1)) as fx,
      coalesce((select p.account_id from private.paid_tickets p
                where p.login = v_account.login and p.ticket = u.ticket and p.server_key = v_key) <> v_account.id,
               false) as paid_elsewhere
    from public.closed_trades u
    where u.account_id = v_account.id and u.cashback_withheld = 'unverified' and u.settled_on is null
  ),
  recorded as (
    insert into private.paid_tickets (server_key, login, ticket, account_id)
    select v_key, v_account.login, r.ticket, v_account.id from r
    where not r.paid_elsewhere and not coalesce(r.rebate_amount > 0 and r.fx is null, false)
    order by r.ticket
    on conflict do nothing
    returning ticket
  ),
  decided as (
    select r.id, r.fx,
      case when r.paid_elsewhere then 'already_paid'
           when coalesce(r.rebate_amount > 0 and r.fx is null, false) then 'no_fx_rate'
           when x.ticket is null then 'already_paid'
      end::public.cashback_withheld_reason as withheld
    from r left join recorded x on x.ticket = r.ticket
  )
  update public.closed_trades t
  set fx_rate = case when d.withheld = 'already_paid' then t.fx_rate else d.fx end,
      cashback_amount = case when d.withheld is null then coalesce(round(t.rebate_amount * d.fx, 4), 0) else 0 end,
      cashback_withheld = d.withheld
  from decided d
  where t.id = d.id and t.cashback_withheld = 'unverified' and t.settled_on is null;
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
  v_accepted bigint[];
  v_accrued numeric;
  v_lost bigint[];
  v_taken numeric;
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
         exists (select 1 from private.account_pauses p where p.account_id = a.id) as ever_paused,
         private.server_key(a.server) as server_key, a.login
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
        -- The real trade already accrued for another registration of the real account: one probe of
        -- private.paid_tickets' primary key per trade (a scalar subquery: an `exists` may be planned
        -- as one hashed scan of every ticket of the real account, which grows with its history).
        when (select p.account_id from private.paid_tickets p
              where p.login = v_account.login and p.ticket = i.ticket and p.server_key = v_account.server_key)
             <> p_account_id then 'already_paid'
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
    returning ticket, cashback_amount, cashback_withheld
  ),
  -- The trades that accrued, recorded as paid to this registration (private.paid_tickets). A ticket
  -- recorded meanwhile for another registration (not inserted here) is lost to this one: below.
  recorded as (
    insert into private.paid_tickets (server_key, login, ticket, account_id)
    select v_account.server_key, v_account.login, n.ticket, p_account_id from inserted n
    where n.cashback_withheld is null
    order by n.ticket
    on conflict do nothing
    returning ticket
  )
  select coalesce((select array_agg(n.ticket order by n.ticket) from inserted n), '{}'::bigint[]),
    (select coalesce(sum(n.cashback_amount), 0) from inserted n),
    array(select n.ticket from inserted n where n.cashback_withheld is null
          except select r.ticket from recorded r)
  into v_accepted, v_accrued, v_lost;
  -- Only when another registration recorded one of these tickets after this batch's snapshot (a
  -- deleted registration's batch in flight): the trade is withheld, not paid twice.
  if cardinality(v_lost) > 0 then
    with f as (
      update public.closed_trades t set cashback_amount = 0, cashback_withheld = 'already_paid'
      from public.closed_trades o
      where o.id = t.id and t.account_id = p_account_id and t.ticket = any (v_lost) and t.cashback_withheld is null
        and (select p.account_id from private.paid_tickets p
             where p.login = v_account.login and p.ticket = t.ticket and p.server_key = v_account.server_key) <> p_account_id
      returning o.cashback_amount
    )
    select coalesce(sum(f.cashback_amount), 0) into v_taken from f;
    v_accrued := v_accrued - v_taken;
  end if;
  perform private.touch_account(p_account_id, p_broker_connected, p_history_synced_until, p_backfill_complete);
  return query select v_accepted, v_accrued, v_ownership;
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
  if p_as_of > now() then
    raise exception 'as_of is later than the server''s clock: a rate applies from its as_of, and trades are priced at the rate in force now'
      using errcode = 'invalid_parameter_value', column = 'p_as_of';
  end if;
  lock table public.fx_rates in exclusive mode;
  insert into public.fx_rates (base, quote, rate, as_of) values (upper(p_base), upper(p_quote), p_rate, p_as_of)
  on conflict (base, quote, as_of) do update set rate = excluded.rate;
  select f.rate into v_rate from public.fx_rates f
  where f.base = upper(p_base) and f.quote = upper(p_quote) and f.as_of <= now()
  order by f.as_of desc limit 1;
  if v_rate is null then
    return 0;
  end if;
  with r as (
    select t.id, t.account_id, t.ticket, t.created_at, k.server_key, a.login,
      coalesce((select p.account_id from private.paid_tickets p
                where p.login = a.login and p.ticket = t.ticket and p.server_key = k.server_key) <> t.account_id,
               false) as paid_elsewhere
    from public.closed_trades t
    join public.trading_accounts a on a.id = t.account_id
    cross join lateral (select private.server_key(a.server) as server_key) k
    where t.cashback_withheld = 'no_fx_rate' and t.settled_on is null
      and t.rebate_currency = upper(p_base) and t.currency = upper(p_quote)
  ),
  recorded as (
    insert into private.paid_tickets (server_key, login, ticket, account_id)
    select r.server_key, r.login, r.ticket, r.account_id from r
    where not r.paid_elsewhere
    order by r.login, r.ticket, r.server_key, r.created_at, r.id
    on conflict do nothing
    returning server_key, login, ticket, account_id
  ),
  decided as (
    select r.id, x.ticket is not null as accrues
    from r left join recorded x on x.login = r.login and x.ticket = r.ticket and x.server_key = r.server_key
                               and x.account_id = r.account_id
  ),
  accrued as (
    update public.closed_trades t
    set fx_rate = case when d.accrues then v_rate else t.fx_rate end,
        cashback_amount = case when d.accrues then round(t.rebate_amount * v_rate, 4) else 0 end,
        cashback_withheld = case when not d.accrues then 'already_paid'::public.cashback_withheld_reason end
    from decided d
    where t.id = d.id and t.cashback_withheld = 'no_fx_rate' and t.settled_on is null
    returning t.cashback_withheld
  )
  select count(*) filter (where a.cashback_withheld is null) into n from accrued a;
  return n;
end;
$$;
