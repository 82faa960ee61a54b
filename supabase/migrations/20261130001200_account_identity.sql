-- One identity per real trading account (issue #15, items 1, 2 and 4), part 2 of 2.
--
-- 1. Server names are compared by one key, private.server_key(server): lower case, whitespace runs
--    collapsed to one space, trimmed. `Probe-Live01`, `probe-live01` and ` Probe-Live01 ` are one
--    server (the case-sensitive unique index on (server, login) let one real account be registered
--    twice and paid twice).
-- 2. Proof of ownership instead of first come, first served. Every registration gets an ownership
--    code (`RUBI-` + 8 Crockford base32 characters) that only its owner reads. The owner places a
--    pending order whose comment contains it; the provisioned EA reports the codes it finds
--    (`ownership_codes` in POST /trades) and private.ingest_trades marks the registration verified.
--    Any number of users may register the same real account (a user only once): registering never
--    depends on other users' registrations. At most one live registration per real account is
--    verified (a partial unique index); when one is proven, the others earn nothing
--    (E_OWNED_ELSEWHERE).
-- 4. Accrual rule: cashback accrues at ingest only for a verified, not paused, not deleted account.
--    Other trades are recorded with cashback 0 and the reason in closed_trades.cashback_withheld:
--    'unverified' (accrued once, at the broker's rate recorded on the trade, when the registration
--    is proven; settlement leaves them alone until then), 'paused' or 'owned_elsewhere' (final).
--    A trade that closed while the account was paused is withheld even when reported after a resume:
--    the pauses are kept in private.account_pauses.
--
-- Existing data: no accrued money changes (the new column is null on every stored trade). A live
-- account that is the only live registration of its real account is grandfathered as verified.
-- Registrations sharing a real account (same login, same server key) are neither merged nor
-- dropped: they are reported (WARNING, with their ids), left unverified and their owners notified.

-- ---------------------------------------------------------------------------------------------
create function private.server_key(p_server text) returns text
language sql immutable parallel safe
set search_path = ''
as $$
  select lower(btrim(regexp_replace(p_server, '\s+', ' ', 'g')))
$$;
comment on function private.server_key(text) is
  'The key a trade server name is compared by: lower case, whitespace runs collapsed to one space, trimmed.';
-- Index expressions run as the writer: service_role updates accounts directly (the VPS API's reads
-- and the operator's tools), so it may compute the key.
grant execute on function private.server_key(text) to service_role;

create function private.new_ownership_code() returns text
language sql volatile
set search_path = ''
as $$
  select 'RUBI-' || string_agg(substr('0123456789ABCDEFGHJKMNPQRSTVWXYZ', ((r.v >> (35 - 5 * i)) & 31)::integer + 1, 1), '' order by i)
  from (select ('x' || substr(replace(gen_random_uuid()::text, '-', ''), 1, 10))::bit(40)::bigint as v) r,
       generate_series(0, 7) i
$$;
comment on function private.new_ownership_code() is
  'A fresh ownership code: RUBI- and 40 random bits as 8 Crockford base32 characters.';

-- ---------------------------------------------------------------------------------------------
alter table public.trading_accounts
  add column ownership_code text not null default private.new_ownership_code()
    check (ownership_code ~ '^RUBI-[0-9A-HJKMNP-TV-Z]{8}$'),
  add column verified_at timestamptz;
comment on column public.trading_accounts.ownership_code is
  'Proof of ownership: the owner places a pending order whose comment contains it; the EA reports it (private.account_ownership). Readable by the owner only (RLS).';
comment on column public.trading_accounts.verified_at is
  'When the owner proved the account is theirs; cashback accrues only for a verified account. At most one live registration per real account.';

drop index public.trading_accounts_login_server_key;
-- Every live registration of one real account (login on a server, by server key), across users.
create index trading_accounts_identity_idx on public.trading_accounts (private.server_key(server), login)
  where deleted_at is null;
-- At most one of them is the proven owner.
create unique index trading_accounts_verified_identity_key on public.trading_accounts (private.server_key(server), login)
  where deleted_at is null and verified_at is not null;

-- ---------------------------------------------------------------------------------------------
create table private.account_pauses (
  account_id uuid not null references public.trading_accounts (id) on delete cascade,
  paused_at timestamptz not null,
  resumed_at timestamptz,
  primary key (account_id, paused_at),
  constraint account_pauses_order check (resumed_at is null or resumed_at >= paused_at)
);
alter table private.account_pauses enable row level security;
comment on table private.account_pauses is
  'Every pause of an account (written by trigger trading_accounts_pauses): trades that closed in one accrue nothing, whenever reported.';

create function private.record_account_pause() returns trigger
language plpgsql
security definer
set search_path = ''
as $$
begin
  if tg_op = 'UPDATE' and old.paused_at is not null and new.paused_at is distinct from old.paused_at then
    update private.account_pauses p set resumed_at = greatest(now(), p.paused_at)
    where p.account_id = old.id and p.paused_at = old.paused_at and p.resumed_at is null;
  end if;
  if new.paused_at is not null and (tg_op = 'INSERT' or new.paused_at is distinct from old.paused_at) then
    insert into private.account_pauses (account_id, paused_at) values (new.id, new.paused_at)
    on conflict do nothing;
  end if;
  return null;
end;
$$;
create trigger trading_accounts_pauses after insert or update of paused_at on public.trading_accounts
  for each row execute function private.record_account_pause();

insert into private.account_pauses (account_id, paused_at)
select a.id, a.paused_at from public.trading_accounts a where a.paused_at is not null;

-- ---------------------------------------------------------------------------------------------
create type public.cashback_withheld_reason as enum ('unverified', 'paused', 'owned_elsewhere');
comment on type public.cashback_withheld_reason is 'Why a closed trade earned no cashback at ingest';
create cast (text as public.cashback_withheld_reason) with inout as assignment;

alter table public.closed_trades add column cashback_withheld public.cashback_withheld_reason;
comment on column public.closed_trades.cashback_withheld is
  'Null: cashback accrued. unverified: withheld until the registration is proven (then accrued once); paused, owned_elsewhere: final.';

-- ---------------------------------------------------------------------------------------------
-- Registering: a user registers a real account at most once (their own duplicate is a 409);
-- other users' registrations never change the answer.
create or replace function private.register_trading_account(
  p_broker_id uuid,
  p_platform text,
  p_login bigint,
  p_server text,
  p_password_ciphertext text,
  p_encryption_key_id text,
  p_id uuid default gen_random_uuid()
) returns public.trading_accounts
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_user uuid := auth.uid();
  v_account public.trading_accounts;
begin
  if v_user is null then
    raise exception 'not authenticated' using errcode = 'insufficient_privilege';
  end if;
  if not exists (select 1 from public.brokers b where b.id = p_broker_id and b.active and p_platform = any (b.platforms::text[])) then
    raise exception 'broker % does not offer %', p_broker_id, p_platform using errcode = 'foreign_key_violation';
  end if;
  -- The user's own registrations only: one at a time per real account.
  perform pg_advisory_xact_lock(hashtextextended(
    'private.register_trading_account:' || v_user::text || ':' || p_login::text || '@' || private.server_key(p_server), 0));
  if exists (select 1 from public.trading_accounts a
             where a.user_id = v_user and a.login = p_login and private.server_key(a.server) = private.server_key(p_server)
               and a.deleted_at is null) then
    raise exception 'you already registered login % on %', p_login, regexp_replace(p_server, '^\s+|\s+$', '', 'g')
      using errcode = 'unique_violation';
  end if;
  insert into public.trading_accounts (id, user_id, broker_id, platform, login, server)
  values (coalesce(p_id, gen_random_uuid()), v_user, p_broker_id, p_platform::public.platform, p_login,
          regexp_replace(p_server, '^\s+|\s+$', '', 'g'))
  returning * into v_account;
  insert into private.account_secrets (account_id, investor_password_ciphertext, encryption_key_id)
  values (v_account.id, p_password_ciphertext, p_encryption_key_id);
  return v_account;
end;
$$;

-- ---------------------------------------------------------------------------------------------
-- The EA's registration compares the server by its key.
create or replace function private.register_account_ea(
  p_external_account_id uuid,
  p_token_hash text,
  p_login bigint,
  p_server text,
  p_platform text,
  p_terminal_build integer,
  p_api_secret_ciphertext text,
  p_api_secret_key_id text
)
returns table (account_id uuid, user_id uuid, status text, refused text)
language plpgsql
security definer
set search_path = ''
as $$
#variable_conflict use_column
declare
  v_account public.trading_accounts;
  v_secrets private.account_secrets;
  v_refused text;
begin
  if p_token_hash is null or p_token_hash !~ '^[0-9a-f]{64}$' then
    raise exception 'p_token_hash must be a lowercase hex SHA-256' using errcode = 'invalid_parameter_value';
  end if;
  if coalesce(p_api_secret_ciphertext, '') = '' or coalesce(p_api_secret_key_id, '') = '' then
    raise exception 'the sealed api secret and its key id are required' using errcode = 'invalid_parameter_value';
  end if;

  select a.* into v_account
  from public.trading_accounts a
  where a.external_account_id = p_external_account_id and a.deleted_at is null
  for update;
  if not found then
    return;
  end if;
  select s.* into v_secrets
  from private.account_secrets s
  where s.account_id = v_account.id
  for update;
  if not found then
    return;
  end if;

  v_refused := case
    when v_secrets.provisioning_token_hash is null then 'no_token'
    when v_secrets.provisioning_token_hash <> p_token_hash then 'token_mismatch'
    when v_secrets.provisioning_token_expires_at is null or v_secrets.provisioning_token_expires_at <= now() then 'token_expired'
    when v_account.login is distinct from p_login
      or private.server_key(v_account.server) is distinct from private.server_key(p_server)
      or v_account.platform::text is distinct from p_platform then 'identity_mismatch'
  end;
  if v_refused is not null then
    return query select v_account.id, null::uuid, null::text, v_refused;
    return;
  end if;

  update private.account_secrets s
  set api_secret_ciphertext = p_api_secret_ciphertext,
      api_secret_key_id = p_api_secret_key_id,
      provisioning_token_hash = null,
      provisioning_token_expires_at = null
  where s.account_id = v_account.id;

  -- account_lifecycle sets connected_at (and last_seen_at again) when the status changes.
  update public.trading_accounts a
  set terminal_build = coalesce(p_terminal_build, a.terminal_build),
      last_seen_at = now(),
      status = case
        when a.status = 'provisioning' then 'connected'
        when a.status = 'disconnected' and a.paused_at is null then 'connected'
        else a.status
      end
  where a.id = v_account.id
  returning a.* into v_account;

  return query select v_account.id, v_account.user_id, v_account.status::text, null::text;
end;
$$;

-- ---------------------------------------------------------------------------------------------
-- The ownership of a registration, given the codes its EA found in the account's order comments.
-- Returns 'verified', 'unverified' or 'owned_elsewhere' (null for a deleted account). Proving
-- (a reported code equals this registration's, and no other live registration of the real account
-- is verified) happens at most once per real account at a time (an advisory lock on its key) and,
-- in the caller's transaction:
--   - verified_at = now(); the registration's withheld-'unverified' unsettled trades accrue, once
--     (at the rate recorded on each trade), and its owner is told (account_verified);
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
  update public.closed_trades t
  set cashback_amount = round(t.lots * t.cashback_rate, 4), cashback_withheld = null
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

-- ---------------------------------------------------------------------------------------------
-- ingest_trades takes the reported ownership codes and answers the ownership; the accrual rule.
drop function private.ingest_trades(uuid, uuid, jsonb);
create function private.ingest_trades(p_caller uuid, p_account_id uuid, p_trades jsonb, p_ownership_codes text[] default '{}')
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
  perform private.touch_account(p_account_id);
end;
$$;
grant execute on function private.ingest_trades(uuid, uuid, jsonb, text[]) to rubi_ea;

-- ---------------------------------------------------------------------------------------------
-- Settlement leaves trades withheld as 'unverified' alone: they may still accrue.
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
      and t.cashback_withheld is distinct from 'unverified'
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

-- ---------------------------------------------------------------------------------------------
-- Existing live accounts. Registrations sharing a real account: reported, left unverified, their
-- owners told. Every other live account is grandfathered as verified.
do $$
declare
  r record;
begin
  for r in
    select private.server_key(a.server) as server_key, a.login, array_agg(a.id order by a.created_at, a.id) as ids
    from public.trading_accounts a
    where a.deleted_at is null
    group by 1, 2
    having count(*) > 1
  loop
    raise warning 'account identity: login % on server "%" has % live registrations (%): left unverified until one proves ownership',
      r.login, r.server_key, cardinality(r.ids), array_to_string(r.ids, ', ');
  end loop;
end;
$$;

with shared as (
  select a.id from public.trading_accounts a
  where a.deleted_at is null
    and exists (select 1 from public.trading_accounts o
                where o.id <> a.id and o.deleted_at is null and o.login = a.login
                  and private.server_key(o.server) = private.server_key(a.server))
),
grandfathered as (
  update public.trading_accounts a set verified_at = now()
  where a.deleted_at is null and a.id not in (select id from shared)
  returning 1
)
insert into public.notifications (user_id, kind, title, body, account_id)
select a.user_id, 'account_verification_required', 'Prove that account ' || a.login || ' is yours',
       a.login || '@' || a.server || ' is registered more than once. Place a pending order with the comment '
         || a.ownership_code || ' on it (you may delete it right away): until then it earns no cashback.',
       a.id
from public.trading_accounts a
where a.id in (select id from shared);

-- Nothing in `private` is executable by PUBLIC; the grants above are the only way in.
revoke execute on all functions in schema private from public;
