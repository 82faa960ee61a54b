-- Rebate plans: what a closed trade earns, by broker (optionally by account), symbol, symbol group,
-- side, lots or commission, in the rule's currency, converted to the account's payout currency.
-- Managed by the operator (service role, or `npm run rebate-plan`), never by users: no API role but
-- service_role writes them. Users read the plans that price their own accounts (policies below), and
-- each trade records the rule, the rebate, the rate and the payout that priced it.
--
-- The model (the shape of an introducing-broker back office's "payment plans"):
--   plan     a version of a broker's terms, or of one account's (an account plan overrides its
--            broker's), in force from valid_from. Changing terms = a new plan with a later
--            valid_from; the plan in force for a trade is the latest one whose valid_from is not
--            after the trade's close_time (the account's if it has one, else the broker's). Past
--            accruals never move: a trade is priced once, at insert, and keeps what it recorded.
--   rule     what a plan pays for the trades it matches. Exactly one rule prices a trade: among the
--            plan's rules matching the trade's symbol, the first by
--              1. specificity: exact symbol > symbol pattern > symbol group > default (no match
--                 column: any symbol),
--              2. priority, higher first,
--              3. created_at, then id (a stable tie-break).
--            symbol:          equal to the trade's symbol upper-cased ('EURUSD.R' matches 'EURUSD.r');
--            symbol_pattern:  SQL LIKE on the trade's symbol upper-cased: % any run, _ one character
--                             ('EURUSD%' matches EURUSD, EURUSD.r, EURUSDm; 'XAU%' every gold quote);
--            symbol_group:    private.symbol_group(symbol) (090_cashback.sql).
--            The picked rule's minimums (min_lots, min_duration_seconds = close_time - open_time)
--            are conditions of payment: a trade short of them earns 0 under that rule (a broker
--            that pays nothing for scalps pays nothing, rather than a less specific rule paying).
--   kind     per_lot: amount per lot per side, times lot_multiplier (XAUUSD at 150 % of a forex
--            rate is a rule with lot_multiplier 1.5). side counts the sides of the round trip paid:
--            open or close = 1 side, both = 2 (as IB plans define "per lot per side"; a closed trade
--            always has both sides, so open and close pay the same and differ only in naming).
--            commission_percent: amount % of abs(commission) (the trade's whole commission, both
--            sides; side and lot_multiplier do not apply).
--   rebate   round(.., 4) in the rule's currency.
--   payout   in the account's payout currency (trading_accounts.payout_currency, else the broker's
--            currency): round(rebate * fx_rate, 4), fx_rate being 1 for the same currency, else the
--            latest public.fx_rates row (base = rule currency, quote = payout currency) in force at
--            accrual (as_of <= now(): conversion at calculation time; the rate is recorded on the
--            trade and never changes). No such rate: the trade is withheld as 'no_fx_rate' and accrues
--            once when the operator sets one (private.set_fx_rate).
-- Every broker has a plan from the start (private.broker_default_plan): one default rule, per lot,
-- close side, the broker's rebate_per_lot in its currency; changing rebate_per_lot or currency makes
-- a new version of the broker's plan with that rule changed (the others copied).

-- The vocabulary of this domain (see 010_foundation.sql).
create type public.rebate_side as enum ('open', 'close', 'both');
comment on type public.rebate_side is 'Which sides of a round trip a per-lot rebate rule pays (both = 2 sides)';
create cast (text as public.rebate_side) with inout as assignment;

create type public.rebate_kind as enum ('per_lot', 'commission_percent');
comment on type public.rebate_kind is 'How a rebate rule prices a trade: an amount per lot, or a percentage of its commission';
create cast (text as public.rebate_kind) with inout as assignment;

-- ---------------------------------------------------------------------------------------------
-- An account's plan must name the account's own broker (ingest reads the plans of the account's
-- broker, so another broker's would never apply): the key below proves it.
alter table public.trading_accounts add constraint trading_accounts_id_broker_key unique (id, broker_id);

create table public.rebate_plans (
  id uuid primary key default gen_random_uuid(),
  broker_id uuid not null references public.brokers (id) on delete cascade,
  -- Null: the broker's plan. Set: this account's, overriding the broker's.
  account_id uuid,
  name text not null check (length(name) between 1 and 100),
  valid_from timestamptz not null default now(),
  created_at timestamptz not null default now(),
  constraint rebate_plans_version_key unique nulls not distinct (broker_id, account_id, valid_from),
  constraint rebate_plans_account_broker_fkey foreign key (account_id, broker_id)
    references public.trading_accounts (id, broker_id) on delete cascade
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

-- Which rule priced a trade (rules are never deleted while a trade names them; the guards below).
alter table public.closed_trades add constraint closed_trades_rebate_rule_id_fkey
  foreign key (rebate_rule_id) references public.rebate_rules (id);
create index closed_trades_rebate_rule_id_idx on public.closed_trades (rebate_rule_id) where rebate_rule_id is not null;

-- A rule that priced a trade, and the plan it belongs to, are part of the money's audit trail
-- (closed_trades.rebate_rule_id, rebate_amount): terms change by a new plan version with a later
-- valid_from, never by editing or deleting what priced a trade. The foreign key
-- closed_trades_rebate_rule_id_fkey already refuses deleting a rule a trade names; these guards
-- refuse it first with a message an operator can act on, and refuse what the key cannot see:
-- changing such a rule in place (its price would disagree with the figures it recorded), and moving
-- such a plan (valid_from, broker, account: it would no longer be the version in force for its
-- trades). A plan's name may change; unused plans and their rules may change or go (a used plan's
-- unused rules are frozen too: the next guard). Deletes cascaded from another table (an account or
-- user removed with its trades: pg_trigger_depth() > 1) are left to the foreign key, checked once
-- the cascade is done. SQLSTATE 23001 (restrict_violation), what on delete restrict raises. Whether
-- a rule or plan priced a trade is an existence test through closed_trades_rebate_rule_id_idx (one
-- probe per rule of the plan until one hits), never a count.
create function private.guard_used_rebate_plan() returns trigger
language plpgsql
security definer
set search_path = ''
as $$
begin
  if tg_op = 'UPDATE' and new.id = old.id and new.broker_id = old.broker_id
     and new.account_id is not distinct from old.account_id and new.valid_from = old.valid_from then
    return new;
  end if;
  if tg_op = 'DELETE' and pg_trigger_depth() > 1 then
    return old;
  end if;
  if exists (select 1 from public.rebate_rules r
             where r.plan_id = old.id and exists (select 1 from public.closed_trades t where t.rebate_rule_id = r.id)) then
    raise exception 'rebate plan % ("%") priced trades: it cannot be %; add a new plan version instead', old.id, old.name,
        case tg_op when 'DELETE' then 'deleted' else 'moved (valid_from, broker, account)' end
      using errcode = 'restrict_violation',
            hint = 'npm run rebate-plan -- create --broker <name> --name <version> --valid-from <time> --copy-rules';
  end if;
  return case tg_op when 'DELETE' then old else new end;
end;
$$;
revoke execute on function private.guard_used_rebate_plan() from public, anon, authenticated, service_role;
create trigger rebate_plans_guard_used before update or delete on public.rebate_plans
  for each row execute function private.guard_used_rebate_plan();

-- A plan version that priced a trade is frozen: its whole rule set is what priced its trades, and
-- a trade reported late (closed inside the version's period) must be priced as the others were.
-- None of its rules is changed or deleted, not even one that priced nothing (deleting an unused
-- metals rule would let a late metals trade fall to the default rule), none is moved out, and no
-- rule is added to it, neither inserted nor moved in from another plan; new terms are a new
-- version (create --copy-rules copies the rules into the NEW plan, which priced nothing). One guard
-- decides for every rule: a rule that priced a trade itself is refused by a message naming it (its
-- plan is used, so frozen, too), any other rule of a used plan by the frozen-version message. No-op
-- updates pass; cascaded deletes (pg_trigger_depth() > 1) are left to the foreign key, as above.
-- SQLSTATE 23001, as the plan guard.
create function private.guard_used_rebate_plan_rules() returns trigger
language plpgsql
security definer
set search_path = ''
as $$
begin
  if tg_op = 'UPDATE' and new is not distinct from old then
    return new;
  end if;
  if tg_op = 'DELETE' and pg_trigger_depth() > 1 then
    return old;
  end if;
  -- A rule changed, moved out or deleted: one that priced a trade, or any rule of a used plan.
  if tg_op <> 'INSERT' then
    if exists (select 1 from public.closed_trades t where t.rebate_rule_id = old.id) then
      raise exception 'rebate rule % priced trades: it cannot be %; add a new plan version instead', old.id,
          case tg_op when 'DELETE' then 'deleted' else 'changed' end
        using errcode = 'restrict_violation',
              hint = 'npm run rebate-plan -- create --broker <name> --name <version> --valid-from <time> --copy-rules, then add or change rules there';
    end if;
    if exists (select 1 from public.rebate_rules r
               where r.plan_id = old.plan_id and exists (select 1 from public.closed_trades t where t.rebate_rule_id = r.id)) then
      raise exception 'rebate plan % ("%") priced trades: its rule % cannot be %; add a new plan version instead', old.plan_id,
          (select p.name from public.rebate_plans p where p.id = old.plan_id), old.id,
          case tg_op when 'DELETE' then 'deleted' else 'changed' end
        using errcode = 'restrict_violation',
              hint = 'npm run rebate-plan -- create --broker <name> --name <version> --valid-from <time> --copy-rules, then change the rules there';
    end if;
    if tg_op = 'DELETE' then
      return old;
    end if;
    if new.plan_id = old.plan_id then
      return new;
    end if;
  end if;
  -- A rule inserted into a used plan, or moved into it.
  if exists (select 1 from public.rebate_rules r
             where r.plan_id = new.plan_id and exists (select 1 from public.closed_trades t where t.rebate_rule_id = r.id)) then
    raise exception 'rebate plan % ("%") priced trades: it cannot be given a new rule; add a new plan version instead', new.plan_id,
        (select p.name from public.rebate_plans p where p.id = new.plan_id)
      using errcode = 'restrict_violation',
            hint = 'npm run rebate-plan -- create --broker <name> --name <version> --valid-from <time> --copy-rules, then add the rule there';
  end if;
  return new;
end;
$$;
revoke execute on function private.guard_used_rebate_plan_rules() from public, anon, authenticated, service_role;
create trigger rebate_rules_guard_used_plan before insert or update or delete on public.rebate_rules
  for each row execute function private.guard_used_rebate_plan_rules();


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
-- call waits on their rows and finds them accrued). Returns how many accrued. The exclusive lock
-- waits for the batches in flight (private.ingest_trades holds row share on the rates), so the
-- trades they withheld for the lack of this rate are committed, and accrued here; batches after it
-- wait and are priced with the rate.
-- A rate applies from its as_of, and trades are priced at the rate in force (as_of <= now()): an
-- as_of later than now is refused (22023), as the trades waiting for the pair would be accrued at an
-- older rate, or not at all, and not again when the as_of came.
-- A waiting trade whose real trade already accrued for another registration (private.paid_tickets,
-- 090_cashback.sql), or does in this call (two registrations' trades of one ticket: the first
-- reported), is 'already_paid' instead; the others are recorded as paid.
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
