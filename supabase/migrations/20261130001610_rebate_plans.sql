-- Issue #17 (rebate plans), part 2 of 2: rebate plans and rules per broker (optionally per
-- account), the symbol group of every trade, exchange rates to the payout currency, per-account
-- trade filters, and the accrual by plan in private.ingest_trades (which records the rule, the
-- rebate in the rule's currency and the rate to the payout currency on each trade).
--
-- The definitions are those of supabase/schemas/090_cashback.sql and 092_rebate_plans.sql.
-- ---------------------------------------------------------------------------------------------
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
create function private.symbol_group(p_symbol text) returns public.symbol_group
language sql
immutable
parallel safe
set search_path = ''
as $$
  select (case
    when s ~ '^(XAU|XAG|XPT|XPD|GOLD|SILVER|PLATINUM|PALLADIUM)' then 'metals'
    when s ~ '^(XTI|XBR|XNG|WTI|BRENT|NGAS|NATGAS|USOIL|UKOIL|CRUDE|OIL)' then 'energies'
    when s ~ '^((BTC|ETH|LTC|XRP|BCH|ADA|DOT|SOL|DOGE|XLM|EOS|LINK|BNB|TRX|AVAX|MATIC|XMR|DASH|ZEC|SHIB|UNI)(USDT|USDC|USD|EUR|GBP|JPY|BTC|ETH)|BITCOIN|ETHEREUM)' then 'crypto'
    when s ~ '^(US30|US100|US500|US2000|USTEC|NAS100|NDX|SPX500|SP500|DJ30|WS30|GER30|GER40|DE30|DE40|DAX|UK100|FTSE|JP225|JPN225|NIKKEI|FRA40|CAC40|EU50|STOXX50|ESP35|IT40|AUS200|HK50|HSI|CHINA50|CN50|SWI20|NETH25|VIX|USDX|DXY)' then 'indices'
    when s ~ '^(USD|EUR|GBP|JPY|CHF|AUD|NZD|CAD|SEK|NOK|DKK|PLN|HUF|CZK|TRY|ZAR|MXN|SGD|HKD|CNH|RUB|ILS|THB|INR|KRW|BRL|RON|CLP|COP|TWD)(USD|EUR|GBP|JPY|CHF|AUD|NZD|CAD|SEK|NOK|DKK|PLN|HUF|CZK|TRY|ZAR|MXN|SGD|HKD|CNH|RUB|ILS|THB|INR|KRW|BRL|RON|CLP|COP|TWD)([^A-Z0-9]|[A-Z]{0,5}$)' then 'forex'
    when s ~ '^[A-Z][A-Z0-9]{0,5}\.(US|NAS|NASDAQ|NYSE|OQ|N|DE|XETRA|L|LSE|UK|PA|AS|MI|MC|HK|T)$' then 'stocks'
    else 'other'
  end)::public.symbol_group
  from (select regexp_replace(upper(p_symbol), '^[^A-Z0-9]+', '') as s) n
$$;
revoke execute on function private.symbol_group(text) from public, anon, authenticated, service_role;

-- ---------------------------------------------------------------------------------------------
-- What each closed trade's accrual was made of (private.ingest_trades records it at insert; never
-- recomputed). cashback_amount and currency are the payout: the amount in the account's payout
-- currency, what settlement sums into the ledger.
alter table public.closed_trades
  add column symbol_group public.symbol_group not null default 'other',
  add column rebate_rule_id uuid,
  add column rebate_amount numeric check (rebate_amount >= 0),
  add column rebate_currency text check (rebate_currency ~ '^[A-Z]{3}$'),
  add column fx_rate numeric check (fx_rate > 0);
comment on column public.closed_trades.symbol_group is 'private.symbol_group(symbol), at insert';
comment on column public.closed_trades.rebate_rule_id is
  'The rebate rule that priced the trade; null: no rule matched, or the trade is withheld for good (paused, owned_elsewhere, filtered)';
comment on column public.closed_trades.rebate_amount is
  'What the rule pays for the trade, in rebate_currency, rounded to 4 decimals (before conversion)';
comment on column public.closed_trades.rebate_currency is 'The currency of the rule (the reward''s currency)';
comment on column public.closed_trades.fx_rate is
  'rebate_currency -> currency (the payout currency), the rate in force at accrual; 1 when equal';
comment on column public.closed_trades.cashback_amount is
  'The payout: round(rebate_amount * fx_rate, 4) in `currency` once accrued; 0 while withheld';

-- Existing trades: their flat rebate was already in the payout currency.
update public.closed_trades t
set symbol_group = private.symbol_group(t.symbol),
    rebate_amount = case when t.cashback_withheld is null or t.cashback_withheld = 'unverified'
                         then round(t.lots * t.cashback_rate, 4) end,
    rebate_currency = t.currency,
    fx_rate = 1;

-- ---------------------------------------------------------------------------------------------
-- Plans, rules, rates, the account's payout currency and filters (092_rebate_plans.sql).
-- The vocabulary of this domain (see 010_foundation.sql).
create type public.rebate_side as enum ('open', 'close', 'both');
comment on type public.rebate_side is 'Which sides of a round trip a per-lot rebate rule pays (both = 2 sides)';
create cast (text as public.rebate_side) with inout as assignment;

create type public.rebate_kind as enum ('per_lot', 'commission_percent');
comment on type public.rebate_kind is 'How a rebate rule prices a trade: an amount per lot, or a percentage of its commission';
create cast (text as public.rebate_kind) with inout as assignment;

-- ---------------------------------------------------------------------------------------------
create table public.rebate_plans (
  id uuid primary key default gen_random_uuid(),
  broker_id uuid not null references public.brokers (id) on delete cascade,
  -- Null: the broker's plan. Set: this account's, overriding the broker's.
  account_id uuid references public.trading_accounts (id) on delete cascade,
  name text not null check (length(name) between 1 and 100),
  valid_from timestamptz not null default now(),
  created_at timestamptz not null default now(),
  constraint rebate_plans_version_key unique nulls not distinct (broker_id, account_id, valid_from)
);
create index rebate_plans_account_id_idx on public.rebate_plans (account_id) where account_id is not null;
alter table public.rebate_plans enable row level security;
comment on table public.rebate_plans is
  'Versions of a broker''s (or one account''s) rebate terms; the latest with valid_from <= close_time prices a trade (092_rebate_plans.sql)';

create table public.rebate_rules (
  id uuid primary key default gen_random_uuid(),
  plan_id uuid not null references public.rebate_plans (id) on delete cascade,
  symbol text check (symbol ~ '^[A-Z0-9._#+!-]{1,64}$'),
  symbol_pattern text check (symbol_pattern = upper(symbol_pattern) and length(symbol_pattern) between 1 and 64),
  symbol_group public.symbol_group,
  side public.rebate_side not null default 'close',
  kind public.rebate_kind not null default 'per_lot',
  amount numeric not null check (amount >= 0),
  lot_multiplier numeric not null default 1 check (lot_multiplier > 0),
  min_lots numeric not null default 0 check (min_lots >= 0),
  min_duration_seconds integer not null default 0 check (min_duration_seconds >= 0),
  currency text not null check (currency ~ '^[A-Z]{3}$'),
  priority integer not null default 0,
  created_at timestamptz not null default now(),
  constraint rebate_rules_one_match check (num_nonnulls(symbol, symbol_pattern, symbol_group) <= 1),
  constraint rebate_rules_percent check (kind <> 'commission_percent' or amount <= 100)
);
create index rebate_rules_plan_id_idx on public.rebate_rules (plan_id);
alter table public.rebate_rules enable row level security;
comment on table public.rebate_rules is
  'What a rebate plan pays; precedence exact symbol > pattern > group > default, then priority (092_rebate_plans.sql)';

-- What an account adds to its plan: the currency it is paid in, and the trades its owner excludes
-- (applied before accrual: an excluded trade is stored with cashback 0, withheld as 'filtered').
-- excluded_symbols are patterns with the syntax of rebate_rules.symbol_pattern (SQL LIKE on the
-- upper-cased symbol; a name without % or _ is an exact symbol).
alter table public.trading_accounts
  add column payout_currency text check (payout_currency ~ '^[A-Z]{3}$'),
  add column excluded_magics bigint[] not null default '{}' check (cardinality(excluded_magics) <= 100),
  add column excluded_symbols text[] not null default '{}' check (cardinality(excluded_symbols) <= 100);
comment on column public.trading_accounts.payout_currency is
  'The currency cashback is paid in; null: the broker''s currency (092_rebate_plans.sql)';
comment on column public.trading_accounts.excluded_magics is 'Trades with these magic numbers earn no cashback (withheld as filtered)';
comment on column public.trading_accounts.excluded_symbols is
  'Trades whose upper-cased symbol is LIKE one of these earn no cashback (withheld as filtered)';

-- Which rule priced a trade (rules are never deleted while a trade names them).
alter table public.closed_trades add constraint closed_trades_rebate_rule_id_fkey
  foreign key (rebate_rule_id) references public.rebate_rules (id);
create index closed_trades_rebate_rule_id_idx on public.closed_trades (rebate_rule_id) where rebate_rule_id is not null;

create table public.fx_rates (
  base text not null check (base ~ '^[A-Z]{3}$'),
  quote text not null check (quote ~ '^[A-Z]{3}$' and quote <> base),
  -- 1 base = rate quote (base JPY, quote USD, rate 0.0066).
  rate numeric not null check (rate > 0),
  as_of timestamptz not null default now(),
  primary key (base, quote, as_of)
);
alter table public.fx_rates enable row level security;
comment on table public.fx_rates is
  'Exchange rates set by the operator; a trade converts at the latest with as_of <= accrual time (092_rebate_plans.sql)';

-- Users read the terms that price their own accounts (a cashback service shows its rates): the
-- plans of their accounts and of their accounts' brokers, those plans' rules, and the rates. They
-- write none of it.
create policy "owners read the plans of their accounts" on public.rebate_plans
  for select to authenticated using (
    exists (select 1 from public.trading_accounts a
            where a.user_id = (select auth.uid()) and a.deleted_at is null
              and a.broker_id = rebate_plans.broker_id
              and (rebate_plans.account_id is null or rebate_plans.account_id = a.id)));
create policy "owners read the rules of their plans" on public.rebate_rules
  for select to authenticated using (exists (select 1 from public.rebate_plans p where p.id = rebate_rules.plan_id));
create policy "signed-in users read exchange rates" on public.fx_rates
  for select to authenticated using (true);
-- Operator data: no API role but service_role writes it.
revoke insert, update, delete, truncate on public.rebate_plans, public.rebate_rules, public.fx_rates from anon, authenticated;

-- Every broker has a plan: on insert, one version from the beginning of time; on a change of
-- rebate_per_lot or currency, a new version from now with the default per-lot rules changed (added if
-- the plan had none) and every other rule copied.
create function private.broker_default_plan() returns trigger
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_old uuid;
  v_old_from timestamptz;
  v_new uuid;
begin
  if tg_op = 'INSERT' then
    insert into public.rebate_plans (broker_id, name, valid_from)
    values (new.id, new.name || ' (default)', '-infinity') returning id into v_new;
    insert into public.rebate_rules (plan_id, side, kind, amount, currency)
    values (v_new, 'close', 'per_lot', new.rebate_per_lot, new.currency);
    return null;
  end if;
  select p.id, p.valid_from into v_old, v_old_from from public.rebate_plans p
  where p.broker_id = new.id and p.account_id is null and p.valid_from <= now()
  order by p.valid_from desc limit 1;
  -- A second change in the same transaction edits the version the first one made.
  if v_old_from = now() then
    delete from public.rebate_rules r
    where r.plan_id = v_old and num_nonnulls(r.symbol, r.symbol_pattern, r.symbol_group) = 0 and r.kind = 'per_lot';
    insert into public.rebate_rules (plan_id, side, kind, amount, currency)
    values (v_old, 'close', 'per_lot', new.rebate_per_lot, new.currency);
    return null;
  end if;
  insert into public.rebate_plans (broker_id, name, valid_from)
  values (new.id, new.name || ' (rebate_per_lot ' || new.rebate_per_lot || ' ' || new.currency || ')', now())
  returning id into v_new;
  insert into public.rebate_rules (plan_id, symbol, symbol_pattern, symbol_group, side, kind, amount, lot_multiplier,
    min_lots, min_duration_seconds, currency, priority)
  select v_new, r.symbol, r.symbol_pattern, r.symbol_group, r.side, r.kind, r.amount, r.lot_multiplier,
    r.min_lots, r.min_duration_seconds, r.currency, r.priority
  from public.rebate_rules r
  where r.plan_id = v_old
    and not (num_nonnulls(r.symbol, r.symbol_pattern, r.symbol_group) = 0 and r.kind = 'per_lot');
  insert into public.rebate_rules (plan_id, side, kind, amount, currency)
  values (v_new, 'close', 'per_lot', new.rebate_per_lot, new.currency);
  return null;
end;
$$;
revoke execute on function private.broker_default_plan() from public, anon, authenticated, service_role;
create trigger brokers_default_plan_insert after insert on public.brokers
  for each row execute function private.broker_default_plan();
create trigger brokers_default_plan_update after update of rebate_per_lot, currency on public.brokers
  for each row when (old.rebate_per_lot is distinct from new.rebate_per_lot or old.currency is distinct from new.currency)
  execute function private.broker_default_plan();

-- The operator sets a rate (npm run rebate-plan -- fx ...). Trades withheld as 'no_fx_rate' for the
-- pair, unsettled, accrue once, at the latest rate in force, in the same transaction (a concurrent
-- call waits on their rows and finds them accrued). Returns how many accrued.
create function private.set_fx_rate(p_base text, p_quote text, p_rate numeric, p_as_of timestamptz default now())
returns integer
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_rate numeric;
  n integer;
begin
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
revoke execute on function private.set_fx_rate(text, text, numeric, timestamptz) from public, anon, authenticated, service_role;

-- PUT /trading-accounts/{id}/cashback-settings: the owner sets the account's payout currency (null:
-- the broker's) and its filters. Filters apply to trades reported from then on (past trades keep
-- what they accrued). The payout currency cannot change while the account has unsettled trades that
-- may still pay in another one (accrued, 'unverified' or 'no_fx_rate'): a settlement day's ledger row
-- is in one currency (409; change it after they settle). Another user's or a deleted account: 404.
create function private.set_account_cashback_settings(p_account_id uuid, p_payout_currency text,
  p_excluded_magics bigint[], p_excluded_symbols text[]) returns void
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_account record;
  v_new text;
begin
  if auth.uid() is null then
    raise exception 'not authenticated' using errcode = 'insufficient_privilege';
  end if;
  if p_payout_currency !~ '^[A-Z]{3}$' then
    raise exception 'payout_currency is a 3-letter ISO 4217 code in upper case'
      using errcode = 'invalid_parameter_value', column = 'body.payout_currency';
  end if;
  if cardinality(p_excluded_magics) > 100 or array_position(p_excluded_magics, null) is not null then
    raise exception 'excluded_magics holds at most 100 magic numbers'
      using errcode = 'invalid_parameter_value', column = 'body.excluded_magics';
  end if;
  if cardinality(p_excluded_symbols) > 100
     or exists (select 1 from unnest(p_excluded_symbols) x where x is null or x !~ '^[A-Za-z0-9._#+!%-]{1,64}$') then
    raise exception 'excluded_symbols holds at most 100 symbols or patterns (letters, digits, . _ # + ! - and %%)'
      using errcode = 'invalid_parameter_value', column = 'body.excluded_symbols';
  end if;
  select a.id, coalesce(a.payout_currency, b.currency) as payout_currency, b.currency as broker_currency into v_account
  from public.trading_accounts a join public.brokers b on b.id = a.broker_id
  where a.id = p_account_id and a.user_id = auth.uid() and a.deleted_at is null
  for update of a;
  if not found then
    raise exception 'account not found' using errcode = 'no_data_found';
  end if;
  v_new := coalesce(p_payout_currency, v_account.broker_currency);
  if v_new <> v_account.payout_currency and exists (
       select 1 from public.closed_trades t
       where t.account_id = p_account_id and t.settled_on is null and t.currency <> v_new
         and (t.cashback_withheld is null or t.cashback_withheld in ('unverified', 'no_fx_rate'))) then
    raise exception 'the account has unsettled cashback in %: change the payout currency after it settles', v_account.payout_currency
      using errcode = 'check_violation';
  end if;
  update public.trading_accounts a
  set payout_currency = p_payout_currency,
      excluded_magics = coalesce(p_excluded_magics, '{}'),
      excluded_symbols = coalesce(array(select upper(x) from unnest(p_excluded_symbols) x), '{}')
  where a.id = p_account_id;
end;
$$;
revoke execute on function private.set_account_cashback_settings(uuid, text, bigint[], text[]) from public, anon, service_role;
grant execute on function private.set_account_cashback_settings(uuid, text, bigint[], text[]) to authenticated;

-- Every existing broker gets its plan: one default rule, per lot, close side, its rebate_per_lot in
-- its currency, in force from the beginning of time (so every trade, reported late or not, is priced
-- as before). Existing trades name that rule.
with plans as (
  insert into public.rebate_plans (broker_id, name, valid_from)
  select b.id, b.name || ' (default)', '-infinity' from public.brokers b
  returning id, broker_id
)
insert into public.rebate_rules (plan_id, side, kind, amount, currency)
select p.id, 'close', 'per_lot', b.rebate_per_lot, b.currency
from plans p join public.brokers b on b.id = p.broker_id;
update public.closed_trades t
set rebate_rule_id = r.id
from public.trading_accounts a, public.rebate_plans p, public.rebate_rules r
where a.id = t.account_id and p.broker_id = a.broker_id and p.account_id is null and r.plan_id = p.id
  and t.rebate_amount is not null;

-- ---------------------------------------------------------------------------------------------
-- The accrual by plan (090_cashback.sql).
-- The ownership of a registration, given the codes its EA found in the account's order comments.
-- Returns 'verified', 'unverified' or 'owned_elsewhere' (null for a deleted account). Proving
-- (a reported code equals this registration's, and no other live registration of the real account
-- is verified) happens at most once per real account at a time (an advisory lock on its key) and,
-- in the caller's transaction:
--   - verified_at = now(); the registration's withheld-'unverified' unsettled trades accrue, once
--     (at the rebate and exchange rate recorded on each trade), and its owner is told (account_verified);
--   - every other live registration of the real account earns nothing from now on: its unsettled
--     'unverified' trades become 'owned_elsewhere', a running one moves to `error` with
--     E_OWNED_ELSEWHERE and no automatic retry (its host lets the terminal go), and its owner is
--     told (account_error).
-- A registration that finds another verified one without proving (registered later, or in the
-- queue at the time) gets the same `error` on its EA's next report.
-- Called by private.ingest_trades (security definer, same owner); no API role may execute it.
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
  -- At the rebate and rate recorded on each; one priced in a currency that had no rate then waits
  -- for one ('no_fx_rate', 092_rebate_plans.sql).
  update public.closed_trades t
  set cashback_amount = case when t.rebate_amount > 0 and t.fx_rate is null then 0
                             else coalesce(round(t.rebate_amount * t.fx_rate, 4), 0) end,
      cashback_withheld = case when t.rebate_amount > 0 and t.fx_rate is null then 'no_fx_rate' end
  where t.account_id = v_account.id and t.cashback_withheld = 'unverified' and t.settled_on is null;
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


-- POST /trades: a provisioned account's EA reports closed trades. Security definer: closed trades
-- are written only here, so the cashback is computed once per statement (the account's terms read
-- once, each trade's rule picked by one lateral lookup, not by a trigger for every row). A ticket
-- already stored for the account is skipped, so a resent batch inserts and accrues nothing again.
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
create or replace function private.ingest_trades(p_caller uuid, p_account_id uuid, p_trades jsonb, p_ownership_codes text[] default '{}',
  p_broker_connected boolean default null, p_history_synced_until timestamptz default null, p_backfill_complete boolean default null)
returns table (accepted bigint[], cashback_accrued numeric, ownership text)
language plpgsql
security definer
set search_path = ''
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
  select a.broker_id, b.active, coalesce(a.payout_currency, b.currency) as payout_currency,
         a.paused_at is not null as paused, a.excluded_magics, a.excluded_symbols
  into v_account
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
        when v_account.paused or exists (select 1 from private.account_pauses p
                                 where p.account_id = p_account_id and i.close_time >= p.paused_at
                                   and (p.resumed_at is null or i.close_time < p.resumed_at)) then 'paused'
        when i.magic = any (v_account.excluded_magics)
          or exists (select 1 from unnest(v_account.excluded_symbols) x where i.usymbol like x) then 'filtered'
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

grant execute on function private.ingest_trades(uuid, uuid, jsonb, text[], boolean, timestamptz, boolean) to rubi_ea;

-- Cron (job rubi-settle-cashback, 00:05 UTC): settles every unsettled trade closed before the end
-- of p_day (UTC; default yesterday) into p_day's ledger row per account, except those withheld as
-- 'unverified' or 'no_fx_rate' (they may still accrue: settled once their registration is proven or
-- their rate is set, or never). Idempotent: settled trades
-- are marked, so a second run changes nothing. A trade reported late (closed before an already
-- settled day) is not lost: the next run settles it into that run's day. Returns the number of
-- trades settled. The ledger row carries the account's payout currency (092_rebate_plans.sql); an
-- account changing it between two trades of one settlement day is not supported.
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
           sum(d.cashback_amount) as amount, min(d.currency) as currency
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

