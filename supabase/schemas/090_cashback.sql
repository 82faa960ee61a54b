-- Cashback: closed trades reported by provisioned EAs (private.ingest_trades, the only writer),
-- accrual at insert by the account's rebate plan (092_rebate_plans.sql), nightly settlement into a ledger.
--
-- The accrual rule: cashback accrues at ingest only for a verified, not paused, not deleted account
-- (verified: its owner proved the account is theirs, see "Proof of ownership" in
-- 060_provisioning.sql; a deleted account's EA is refused by its gate). Any other trade is recorded
-- with cashback 0 and the reason in cashback_withheld:
--   unverified       the registration is not proven yet. When it is, its unsettled 'unverified'
--                    trades accrue once, at the rate recorded on each (one priced when there was no
--                    rate: the rate in force then, else 'no_fx_rate'), in the proving transaction;
--                    settlement leaves them alone until then.
--   paused           the trade closed while the account was paused (private.account_pauses), or the
--                    account is paused now. Final: never accrues, even when reported after a resume.
--   owned_elsewhere  another user's registration of the same real account is the proven owner. Final.
--   filtered         the account's owner excluded the trade (its magic number or symbol is in the
--                    account's excluded_magics / excluded_symbols). Final.
--   no_fx_rate       the rule pays in a currency with no rate to the account's payout currency yet.
--                    Accrues once, at the rate then in force, when the operator sets one
--                    (private.set_fx_rate, 092_rebate_plans.sql); settlement leaves it alone until then.
--   already_paid     the same real trade (ticket of the real account: login on a trade server, by
--                    private.server_key) already accrued for another registration, one deleted since
--                    included (private.paid_tickets, below). Final.
-- How much accrues is the account's rebate plan's business (092_rebate_plans.sql).

-- The vocabulary of this domain (see 010_foundation.sql).
create type public.cashback_withheld_reason as enum ('unverified', 'paused', 'owned_elsewhere', 'filtered', 'no_fx_rate', 'already_paid');
comment on type public.cashback_withheld_reason is
  'Why a closed trade earned no cashback: unverified, no_fx_rate (may accrue later); paused, owned_elsewhere, filtered, already_paid (final)';
create cast (text as public.cashback_withheld_reason) with inout as assignment;

-- Symbol groups: the classification of a trade's symbol that rules and reports group by.
create type public.symbol_group as enum ('forex', 'metals', 'indices', 'energies', 'crypto', 'stocks', 'other');
comment on type public.symbol_group is 'The market a traded symbol belongs to (private.symbol_group)';
create cast (text as public.symbol_group) with inout as assignment;

-- The group of a broker's symbol. Brokers decorate the instrument's name: a prefix ('#US30',
-- '.DE40', '_EURUSD'), a suffix after a separator ('EURUSD.r', 'US30.cash', 'EURUSD-ECN',
-- 'EURUSD_i', 'BTCUSD#') or glued on ('XAUUSDm', 'EURUSDpro', 'GER40Cash'). So the symbol is
-- upper-cased, leading non-alphanumerics are dropped, and the instrument is matched at the start:
--   metals    XAU, XAG, XPT, XPD, GOLD, SILVER, PLATINUM, PALLADIUM
--   energies  XTI, XBR, XNG, WTI, BRENT, NGAS, NATGAS, USOIL, UKOIL, CRUDE, OIL
--   crypto    BTC, ETH, LTC, XRP, BCH, ADA, DOT, SOL, DOGE, XLM, EOS, LINK, BNB, TRX, AVAX, MATIC,
--             XMR, DASH, ZEC, SHIB, UNI quoted in USD(T), EUR, GBP, JPY, BTC or ETH; BITCOIN, ETHEREUM
--   indices   US30, US100, US500, US2000, USTEC, NAS100, NDX, SPX500, SP500, DJ30, WS30, GER30/40,
--             DE30/40, DAX, UK100, FTSE, JP225, JPN225, NIKKEI, FRA40, CAC40, EU50, STOXX50, ESP35,
--             IT40, AUS200, HK50, HSI, CHINA50, CN50, SWI20, NETH25, VIX, USDX, DXY
--   forex     two ISO codes of traded currencies (EURUSD, USDJPY, EURNOK, USDCNH, ...)
--   stocks    a ticker with an exchange suffix (AAPL.US, TSLA.NAS, VOW3.DE, BARC.L, #AAPL.OQ)
--   other     everything else
-- In that order (XAUUSD is a metal, not forex; USDX an index).
-- PL/pgSQL, not SQL: the body is not inlinable (a SET clause), so as SQL it was parsed and planned
-- again by every statement that called it (private.ingest_trades: every batch).
create function private.symbol_group(p_symbol text) returns public.symbol_group
language plpgsql
immutable
parallel safe
set search_path = ''
as $$
declare
  s text := regexp_replace(upper(p_symbol), '^[^A-Z0-9]+', '');
begin
  return (case
    when s ~ '^(XAU|XAG|XPT|XPD|GOLD|SILVER|PLATINUM|PALLADIUM)' then 'metals'
    when s ~ '^(XTI|XBR|XNG|WTI|BRENT|NGAS|NATGAS|USOIL|UKOIL|CRUDE|OIL)' then 'energies'
    when s ~ '^((BTC|ETH|LTC|XRP|BCH|ADA|DOT|SOL|DOGE|XLM|EOS|LINK|BNB|TRX|AVAX|MATIC|XMR|DASH|ZEC|SHIB|UNI)(USDT|USDC|USD|EUR|GBP|JPY|BTC|ETH)|BITCOIN|ETHEREUM)' then 'crypto'
    when s ~ '^(US30|US100|US500|US2000|USTEC|NAS100|NDX|SPX500|SP500|DJ30|WS30|GER30|GER40|DE30|DE40|DAX|UK100|FTSE|JP225|JPN225|NIKKEI|FRA40|CAC40|EU50|STOXX50|ESP35|IT40|AUS200|HK50|HSI|CHINA50|CN50|SWI20|NETH25|VIX|USDX|DXY)' then 'indices'
    when s ~ '^(USD|EUR|GBP|JPY|CHF|AUD|NZD|CAD|SEK|NOK|DKK|PLN|HUF|CZK|TRY|ZAR|MXN|SGD|HKD|CNH|RUB|ILS|THB|INR|KRW|BRL|RON|CLP|COP|TWD)(USD|EUR|GBP|JPY|CHF|AUD|NZD|CAD|SEK|NOK|DKK|PLN|HUF|CZK|TRY|ZAR|MXN|SGD|HKD|CNH|RUB|ILS|THB|INR|KRW|BRL|RON|CLP|COP|TWD)([^A-Z0-9]|[A-Z]{0,5}$)' then 'forex'
    when s ~ '^[A-Z][A-Z0-9]{0,5}\.(US|NAS|NASDAQ|NYSE|OQ|N|DE|XETRA|L|LSE|UK|PA|AS|MI|MC|HK|T)$' then 'stocks'
    else 'other'
  end)::public.symbol_group;
end;
$$;
revoke execute on function private.symbol_group(text) from public, anon, authenticated, service_role;

-- ---------------------------------------------------------------------------------------------
-- The target of closed_trades' foreign key (account_id, user_id): one check per trade proves both
-- that the account exists and that user_id is its owner.
alter table public.trading_accounts add constraint trading_accounts_id_user_key unique (id, user_id);

create table public.closed_trades (
  id uuid primary key default gen_random_uuid(),
  -- The account and its owner, one foreign key (below): a trade goes with its account, and with
  -- its owner's (auth.users cascades to trading_accounts).
  account_id uuid not null,
  user_id uuid not null,
  ticket bigint not null check (ticket > 0),
  symbol text not null check (length(symbol) between 1 and 64),
  type public.trade_side not null,
  lots numeric not null check (lots > 0),
  open_time timestamptz not null,
  close_time timestamptz not null,
  open_price numeric not null check (open_price > 0),
  close_price numeric not null check (close_price > 0),
  commission numeric not null default 0,
  swap numeric not null default 0,
  profit numeric not null default 0,
  magic bigint,
  comment text,
  -- Accrued at insert from the broker's rebate (see private.ingest_trades); never recomputed.
  cashback_rate numeric not null default 0 check (cashback_rate >= 0),
  cashback_amount numeric not null default 0 check (cashback_amount >= 0),
  currency text not null default 'USD',
  settled_on date,
  created_at timestamptz not null default now(),
  -- Null: accrued at insert. Otherwise why not (the accrual rule above).
  cashback_withheld public.cashback_withheld_reason,
  -- What the accrual was made of (private.ingest_trades, the rule of 092_rebate_plans.sql).
  symbol_group public.symbol_group not null default 'other',
  rebate_rule_id uuid,
  rebate_amount numeric check (rebate_amount >= 0),
  rebate_currency text check (rebate_currency ~ '^[A-Z]{3}$'),
  fx_rate numeric check (fx_rate > 0),
  constraint closed_trades_account_ticket_key unique (account_id, ticket),
  constraint closed_trades_time_order check (close_time >= open_time),
  constraint closed_trades_account_user_fkey foreign key (account_id, user_id)
    references public.trading_accounts (id, user_id) on delete cascade
);
create index closed_trades_user_id_idx on public.closed_trades (user_id, close_time desc);
create index closed_trades_account_close_idx on public.closed_trades (account_id, close_time desc);
create index closed_trades_unsettled_idx on public.closed_trades (close_time) where settled_on is null;
-- The trades withheld for a missing rate, found when one is set (private.set_fx_rate, 092_rebate_plans.sql).
create index closed_trades_withheld_idx on public.closed_trades (cashback_withheld) where cashback_withheld is not null;
alter table public.closed_trades enable row level security;
comment on column public.closed_trades.cashback_withheld is
  'Null: cashback accrued. unverified: withheld until the registration is proven (then accrued once); no_fx_rate: until the operator sets the rate (then accrued once); paused, owned_elsewhere, filtered, already_paid (the real trade accrued for another registration): final.';
comment on column public.closed_trades.symbol_group is 'private.symbol_group(symbol), at insert';
comment on column public.closed_trades.rebate_rule_id is
  'The rebate rule that priced the trade; null: no rule matched, or the trade is withheld for good at ingest (paused, owned_elsewhere, filtered, already_paid)';
comment on column public.closed_trades.rebate_amount is
  'What the rule pays for the trade, in rebate_currency, rounded to 4 decimals (before conversion)';
comment on column public.closed_trades.rebate_currency is 'The currency of the rule (the reward''s currency)';
comment on column public.closed_trades.fx_rate is
  'rebate_currency -> currency (the payout currency), the rate in force at accrual; 1 when equal';
comment on column public.closed_trades.cashback_amount is
  'The payout: round(rebate_amount * fx_rate, 4) in `currency` once accrued; 0 while withheld';

create policy "owners read their closed trades" on public.closed_trades
  for select to authenticated using (user_id = (select auth.uid()));
-- Closed trades are written by private.ingest_trades only (below): no API role may write them,
-- service_role included. The function is the one place the cashback rule lives; a direct insert
-- would store whatever cashback it names.
revoke insert, update, delete, truncate on public.closed_trades from anon, authenticated, service_role;

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

-- The ownership of a registration, given the codes its EA found in the account's order comments.
-- Returns 'verified', 'unverified' or 'owned_elsewhere' (null for a deleted account). Proving
-- (a reported code equals this registration's, and no other live registration of the real account
-- is verified) happens at most once per real account at a time (an advisory lock on its key) and,
-- in the caller's transaction:
--   - verified_at = now(); the registration's withheld-'unverified' unsettled trades accrue, once
--     (at the rebate and exchange rate recorded on each trade; no rate recorded: the rate in force
--     now), and its owner is told (account_verified);
--   - every other live registration of the real account earns nothing from now on: its unsettled
--     'unverified' trades become 'owned_elsewhere', a running one moves to `error` with
--     E_OWNED_ELSEWHERE and no automatic retry (its host lets the terminal go), and its owner is
--     told (account_error).
-- A registration that finds another verified one without proving (registered later, or in the
-- queue at the time) gets the same `error` on its EA's next report.
-- Called by private.ingest_trades (security definer, same owner); no API role may execute it.
create function private.account_ownership(p_account_id uuid, p_codes text[]) returns text
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
revoke execute on function private.account_ownership(uuid, text[]) from public, anon, authenticated, service_role;

-- Registrations whose real account another user proved is theirs: withheld trades become final,
-- running ones move to `error` (E_OWNED_ELSEWHERE, no automatic retry), owners are told.
create function private.stop_owned_elsewhere(p_account_ids uuid[]) returns void
language plpgsql
security definer
set search_path = ''
as $$
begin
  update public.closed_trades t set cashback_withheld = 'owned_elsewhere'
  where t.account_id = any (p_account_ids) and t.cashback_withheld = 'unverified' and t.settled_on is null;
  update public.trading_accounts a
  set status = 'error', error_code = 'E_OWNED_ELSEWHERE',
      error_message = 'Another user proved that this trading account is theirs: it earns no cashback here.'
  where a.id = any (p_account_ids) and a.status in ('provisioning', 'connected', 'disconnected')
    and a.paused_at is null and a.deleted_at is null;
  -- Not a failure that retrying fixes (account_lifecycle scheduled a retry).
  update public.trading_accounts a set next_retry_at = null
  where a.id = any (p_account_ids) and a.error_code = 'E_OWNED_ELSEWHERE';
  insert into public.notifications (user_id, kind, title, body, account_id)
  select a.user_id, 'account_error', 'Account ' || a.login || ' belongs to someone else',
         'Another user proved that ' || a.login || '@' || a.server
           || ' is theirs (an order with their code): this registration earns no cashback. E_OWNED_ELSEWHERE',
         a.id
  from public.trading_accounts a
  where a.id = any (p_account_ids) and a.deleted_at is null;
end;
$$;
revoke execute on function private.stop_owned_elsewhere(uuid[]) from public, anon, authenticated, service_role;

-- POST /trades: a provisioned account's EA reports closed trades. Security definer: closed trades
-- are written only here, so the cashback is computed once per statement (the account's terms read
-- once, each trade's rule picked by one lateral lookup, not by a trigger for every row). A ticket
-- already stored for the account is skipped, so a resent batch inserts and accrues nothing again; a
-- ticket of the real account already paid to another registration, a deleted one included, is stored
-- withheld as 'already_paid' (private.paid_tickets, above, records what accrues).
-- Hearing from the EA keeps the account connected (and revives a silent one), in the same transaction.
-- p_ownership_codes are the codes the EA found in the account's order comments: the ownership is
-- settled first (private.account_ownership), so a batch that brings the proof accrues, and
-- returned as `ownership`. Each trade then accrues or is withheld by the rule at the top; what it
-- earns is its rebate plan's rule (092_rebate_plans.sql: the plan in force at its close_time, the
-- rule by precedence, the rate to the payout currency in force now), recorded on the trade.
-- The EA's report on the terminal (account health, issue #16), all optional (older EAs omit them):
-- p_broker_connected, whether the terminal is connected to the broker's trade server;
-- p_history_synced_until and p_backfill_complete, how far its history is sent. Stored with the
-- hearing-from by private.touch_account. A history_synced_until later than the server's clock
-- (plus the 300 s a signature may be off) is a 400 naming it, and nothing is written.
create function private.ingest_trades(p_caller uuid, p_account_id uuid, p_trades jsonb, p_ownership_codes text[] default '{}',
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
grant execute on function private.ingest_trades(uuid, uuid, jsonb, text[], boolean, timestamptz, boolean) to rubi_ea;

-- Realtime: one message per account per statement instead of one per row. A batch of 100 trades,
-- a night's settlement (an UPDATE of every trade of the day) or an account's deletion (a cascade
-- over its whole history) is one message each: a dashboard wants "N new trades on account A,
-- cashback +X", then reads the rows it shows from the API, as it does for every Realtime message
-- (delivery is at most once).
--
-- Topic and event as for every other table (`user:<uuid>`, event `closed_trades`); the payload
-- is a summary instead of a record:
--   {"operation": "INSERT" | "UPDATE" | "DELETE", "table": "closed_trades", "schema": "public",
--    "account_id": <uuid>, "count": <rows>, "tickets": [<ascending>], "lots": <sum>,
--    "cashback_amount": <sum>, "currency": <text>, "settled_on": <date or null>}
-- (INSERT and UPDATE describe the new rows; DELETE the old ones and carries only account_id,
-- count and tickets.)
--
-- Statement-level, with transition tables (a trigger with transition tables serves one event, hence
-- three triggers on one function). Security definer, like private.broadcast_to_owner, so the
-- message does not depend on the writer's privileges.
create function private.broadcast_closed_trades() returns trigger
language plpgsql
security definer
set search_path = ''
as $$
declare
  r record;
begin
  if tg_op = 'DELETE' then
    for r in
      select o.user_id, o.account_id, count(*) as n, jsonb_agg(o.ticket order by o.ticket) as tickets
      from old_rows o group by o.user_id, o.account_id
    loop
      perform realtime.send(
        jsonb_build_object('operation', tg_op, 'table', tg_table_name, 'schema', tg_table_schema,
                           'account_id', r.account_id, 'count', r.n, 'tickets', r.tickets),
        tg_table_name, 'user:' || r.user_id::text, true);
    end loop;
  else
    for r in
      select n.user_id, n.account_id, count(*) as n, jsonb_agg(n.ticket order by n.ticket) as tickets,
             sum(n.lots) as lots, sum(n.cashback_amount) as cashback, min(n.currency) as currency,
             case when count(distinct n.settled_on) = 1 then min(n.settled_on) end as settled_on
      from new_rows n group by n.user_id, n.account_id
    loop
      perform realtime.send(
        jsonb_build_object('operation', tg_op, 'table', tg_table_name, 'schema', tg_table_schema,
                           'account_id', r.account_id, 'count', r.n, 'tickets', r.tickets, 'lots', r.lots,
                           'cashback_amount', r.cashback, 'currency', r.currency, 'settled_on', r.settled_on),
        tg_table_name, 'user:' || r.user_id::text, true);
    end loop;
  end if;
  return null;
end;
$$;

create trigger closed_trades_broadcast_insert after insert on public.closed_trades
  referencing new table as new_rows for each statement execute function private.broadcast_closed_trades();
create trigger closed_trades_broadcast_update after update on public.closed_trades
  referencing new table as new_rows for each statement execute function private.broadcast_closed_trades();
create trigger closed_trades_broadcast_delete after delete on public.closed_trades
  referencing old table as old_rows for each statement execute function private.broadcast_closed_trades();

-- ---------------------------------------------------------------------------------------------
-- One row per account per settlement day.
create table public.cashback_ledger (
  id uuid primary key default gen_random_uuid(),
  account_id uuid not null references public.trading_accounts (id) on delete cascade,
  user_id uuid not null references auth.users (id) on delete cascade,
  settlement_day date not null,
  trades_count integer not null check (trades_count >= 0),
  lots numeric not null check (lots >= 0),
  amount numeric not null check (amount >= 0),
  currency text not null,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  constraint cashback_ledger_account_day_key unique (account_id, settlement_day)
);
create index cashback_ledger_user_id_idx on public.cashback_ledger (user_id, settlement_day desc);
alter table public.cashback_ledger enable row level security;

create policy "owners read their cashback ledger" on public.cashback_ledger
  for select to authenticated using (user_id = (select auth.uid()));
-- Money: written by private.settle_cashback only (below). No API role writes it, service_role included.
revoke insert, update, delete, truncate on public.cashback_ledger from anon, authenticated, service_role;
create trigger cashback_ledger_updated_at before update on public.cashback_ledger
  for each row execute function private.set_updated_at();
create trigger cashback_ledger_broadcast after insert or update or delete on public.cashback_ledger
  for each row execute function private.broadcast_to_owner();

-- Cron (job rubi-settle-cashback, 00:05 UTC): settles every unsettled trade closed before the end
-- of p_day (UTC; default yesterday) into p_day's ledger row per account, except those withheld as
-- 'unverified' or 'no_fx_rate' (they may still accrue: settled once their registration is proven or
-- their rate is set, or never). Idempotent: settled trades
-- are marked, so a second run changes nothing. A trade reported late (closed before an already
-- settled day) is not lost: the next run settles it into that run's day. Returns the number of
-- trades settled. The ledger row carries the currency of the cashback it sums, the account's payout
-- currency (092_rebate_plans.sql: it cannot change while cashback in another one is unsettled); the
-- trades that earned nothing settled with it may be in the one before a change.
--
-- Notification `cashback_settled`: each ledger row the run adds money to is told to its owner, with
-- the amount this run added (a late trade added to a settled day is told as the addition). Ledger
-- rows come only from this function, so the settlement itself writes the notification, in the same
-- transaction.
--
-- Concurrency: one settlement at a time, by design (migration 20261130000800_settlement_lock_order):
-- a transaction-scoped advisory lock taken first queues concurrent runs (the cron job, a manual
-- re-run), and each sees what the previous one settled. Locking the due trades in scan order let
-- concurrent runs deadlock (synchronized sequential scans start midway through the table).
create function private.settle_cashback(p_day date default null) returns integer
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

-- Nothing in `private` is executable by PUBLIC; the grants above are the only way in.
revoke execute on all functions in schema private from public;
