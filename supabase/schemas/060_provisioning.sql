-- Provisioning: brokers, VPS hosts, trading accounts and their secrets, claiming and leases.
--
-- Flow: a user registers an account (pending_vps_setup) -> a VPS host claims it (provisioning,
-- with a lease it renews by heartbeating) -> the terminal's EA registers and reports trades
-- (connected) | the host reports a failure (error, retried with backoff by cron).
-- The VPS agent's other calls are in 070_vps_api.sql, the provisioned EA's in 080_account_ea.sql.

-- ---------------------------------------------------------------------------------------------
-- The vocabulary of this domain (see 010_foundation.sql).
create type public.platform as enum ('MT4', 'MT5');
comment on type public.platform is 'MetaTrader platform of a trading account (and those a broker offers)';
create cast (text as public.platform) with inout as assignment;

create type public.account_status as enum ('pending_vps_setup', 'provisioning', 'connected', 'error', 'disconnected');
comment on type public.account_status is 'State of a trading account (machine `account` in private.state_transitions)';
create cast (text as public.account_status) with inout as assignment;

create type public.terminal_state as enum ('launching', 'running', 'stopped', 'crashed');
comment on type public.terminal_state is 'What the terminal process of a trading account is doing, as its VPS agent reports it';
create cast (text as public.terminal_state) with inout as assignment;

-- ---------------------------------------------------------------------------------------------
create table public.brokers (
  id uuid primary key default gen_random_uuid(),
  name text not null unique check (length(name) between 1 and 100),
  platforms public.platform[] not null check (cardinality(platforms) > 0),
  rebate_per_lot numeric not null default 0 check (rebate_per_lot >= 0),
  currency text not null default 'USD' check (currency ~ '^[A-Z]{3}$'),
  active boolean not null default true,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now()
);
alter table public.brokers enable row level security;
-- Reference data: any signed-in user reads active brokers; only the service role edits them.
create policy "signed-in users read active brokers" on public.brokers
  for select to authenticated using (active);
revoke insert, update, delete, truncate on public.brokers from anon, authenticated;
create trigger brokers_updated_at before update on public.brokers
  for each row execute function private.set_updated_at();

-- ---------------------------------------------------------------------------------------------
-- VPS hosts: one key per host, stored as a SHA-256 hash (the key itself is shown once by the
-- admin script). Infrastructure only: not exposed.
--
-- A host may be dedicated to one user: it runs that user's accounts and nobody else's, and the
-- shared hosts leave that user's accounts to it (a trader who brings their own VPS, an operator
-- who reserves one for a client, the local demo's throwaway agent).
create table private.vps_hosts (
  id uuid primary key default gen_random_uuid(),
  name text not null unique,
  key_hash text not null unique check (key_hash ~ '^[0-9a-f]{64}$'),
  capacity integer not null default 5 check (capacity >= 0),
  version text,
  last_heartbeat_at timestamptz,
  created_at timestamptz not null default now(),
  revoked_at timestamptz,
  dedicated_user_id uuid references auth.users (id) on delete cascade
);
create index vps_hosts_dedicated_user_id_idx on private.vps_hosts (dedicated_user_id)
  where dedicated_user_id is not null;
alter table private.vps_hosts enable row level security;
comment on column private.vps_hosts.dedicated_user_id is
  'When set, the host claims only this user''s accounts, and shared hosts (null) never claim them while the host is not revoked. Deleted with the user.';

create function private.authenticate_vps_host(p_key_hash text) returns uuid
language sql stable
security definer
set search_path = ''
as $$
  select h.id from private.vps_hosts h where h.key_hash = p_key_hash and h.revoked_at is null
$$;
grant execute on function private.authenticate_vps_host(text) to service_role;

-- ---------------------------------------------------------------------------------------------
-- One real trading account is a login on a trade server. Server names are compared by one key
-- everywhere (indexes, registration, the EA's register): lower case, whitespace runs collapsed to
-- one space, trimmed; `Probe-Live01`, `probe-live01` and ` Probe-Live01 ` are one server. The
-- server is stored as the user typed it, trimmed.
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

-- Proof of ownership. Anyone may register any login (with any password), so registering proves
-- nothing: every registration gets an ownership code that only its owner reads (RLS), and the
-- owner proves they control the account (can trade on it, which the often shared investor password
-- cannot) by placing a pending order whose comment contains it. The provisioned EA reports the
-- codes it finds in the account's order comments (POST /trades `ownership_codes`) and
-- private.account_ownership (090_cashback.sql) marks the registration verified. Any number of
-- users may register one real account, each once; registering never depends on other users'
-- registrations (same answer, same work), and at most one live registration per real account is
-- verified. Cashback accrues only for a verified account (see 090_cashback.sql).
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

create table public.trading_accounts (
  id uuid primary key default gen_random_uuid(),
  -- The id the terminal and its EA know the account by (folder name, EA config, register).
  external_account_id uuid not null unique default gen_random_uuid(),
  user_id uuid not null references auth.users (id) on delete cascade,
  broker_id uuid not null references public.brokers (id),
  platform public.platform not null,
  login bigint not null check (login > 0),
  server text not null check (length(server) between 1 and 128),
  status public.account_status not null default 'pending_vps_setup',
  error_code text check (error_code ~ '^E_[A-Z0-9_]+$'),
  error_message text,
  attempts integer not null default 0 check (attempts >= 0),
  next_retry_at timestamptz,
  -- `on delete set null`: accounts of a deleted host are requeued by private.reclaim_expired_leases.
  vps_host_id uuid references private.vps_hosts (id) on delete set null,
  lease_expires_at timestamptz,
  claimed_at timestamptz,
  terminal_state public.terminal_state,
  terminal_build integer,
  connected_at timestamptz,
  last_seen_at timestamptz,
  paused_at timestamptz,
  deleted_at timestamptz,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  ownership_code text not null default private.new_ownership_code()
    check (ownership_code ~ '^RUBI-[0-9A-HJKMNP-TV-Z]{8}$'),
  verified_at timestamptz,
  -- Set when the broker refused the investor password (see "Rejected credentials" below).
  credentials_rejected_at timestamptz,
  -- What the EA last reported about its terminal (private.touch_account), for the account's health.
  broker_connected boolean,
  broker_connected_changed_at timestamptz,
  broker_reported_at timestamptz,
  history_backfill_complete boolean,
  history_synced_until timestamptz,
  -- When the account last entered `error` (account_lifecycle); error_code/error_message say why.
  error_at timestamptz
);
create index trading_accounts_user_id_idx on public.trading_accounts (user_id, created_at desc);
create index trading_accounts_broker_id_idx on public.trading_accounts (broker_id);
create index trading_accounts_vps_host_id_idx on public.trading_accounts (vps_host_id);
-- Claim order: oldest pending first.
create index trading_accounts_pending_idx on public.trading_accounts (created_at)
  where status = 'pending_vps_setup' and deleted_at is null and paused_at is null;
-- Every live registration of one real account (login on a server, by server key), across users;
-- at most one of them is the proven owner. (A user registers a real account once:
-- private.register_trading_account checks, as the registrations that predate the rule may repeat.)
create index trading_accounts_identity_idx on public.trading_accounts (private.server_key(server), login)
  where deleted_at is null;
create unique index trading_accounts_verified_identity_key on public.trading_accounts (private.server_key(server), login)
  where deleted_at is null and verified_at is not null;
alter table public.trading_accounts enable row level security;

-- Users read their accounts; every change goes through the functions below (the password must
-- be encrypted, state changes must follow the machine): no API role but service_role writes the
-- table directly.
create policy "owners read their trading accounts" on public.trading_accounts
  for select to authenticated using (user_id = (select auth.uid()));
revoke insert, update, delete, truncate on public.trading_accounts from anon, authenticated;
comment on column public.trading_accounts.ownership_code is
  'Proof of ownership: the owner places a pending order whose comment contains it; the EA reports it (private.account_ownership). Readable by the owner only (RLS).';
comment on column public.trading_accounts.verified_at is
  'When the owner proved the account is theirs; cashback accrues only for a verified account. At most one live registration per real account.';
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

-- The account state machine (enforced by private.enforce_transition, 010_foundation.sql).
-- disconnected -> error: a terminal that has been running for an account whose EA went silent can
-- still fail for good (a changed investor password, a crash loop); the host reports it like a
-- failure during provisioning (counted, retried with backoff, host released).
insert into private.state_transitions (machine, from_state, to_state, actor) values
  ('account', '(new)', 'pending_vps_setup', 'any'),
  ('account', 'pending_vps_setup', 'provisioning', 'system'),
  ('account', 'pending_vps_setup', 'disconnected', 'system'),
  ('account', 'provisioning', 'connected', 'any'),
  ('account', 'provisioning', 'error', 'system'),
  ('account', 'provisioning', 'pending_vps_setup', 'system'),
  ('account', 'provisioning', 'disconnected', 'system'),
  ('account', 'connected', 'disconnected', 'system'),
  ('account', 'connected', 'error', 'system'),
  ('account', 'connected', 'pending_vps_setup', 'system'),
  ('account', 'error', 'pending_vps_setup', 'system'),
  ('account', 'error', 'disconnected', 'system'),
  ('account', 'disconnected', 'pending_vps_setup', 'system'),
  ('account', 'disconnected', 'connected', 'any'),
  ('account', 'disconnected', 'error', 'system');

-- Side effects of entering a state.
create function private.account_lifecycle() returns trigger
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
create trigger trading_accounts_a_lifecycle before insert or update of status on public.trading_accounts
  for each row execute function private.account_lifecycle();
create trigger trading_accounts_transition before insert or update of status on public.trading_accounts
  for each row execute function private.enforce_transition('account');
create trigger trading_accounts_updated_at before update on public.trading_accounts
  for each row execute function private.set_updated_at();

-- Realtime: no message for bookkeeping-only updates. Every VPS heartbeat renews the lease of every
-- account the host holds, and every report from an EA moves last_seen_at: with 500 accounts on a
-- host that would be 1,000 messages a minute telling dashboards nothing. An update that changes
-- only lease_expires_at, last_seen_at and updated_at is not broadcast, nor the EA's report when it
-- only moves broker_reported_at and history_synced_until (every report does: a change of
-- broker_connected or history_backfill_complete is broadcast); any other change is, with the
-- record. A dashboard showing "last seen" refreshes it from the API.
-- No message carries the host's bookkeeping (which host holds the account, its lease, when it
-- claimed it): the arguments name the columns private.broadcast_to_owner leaves out.
create trigger trading_accounts_broadcast after insert or delete on public.trading_accounts
  for each row execute function private.broadcast_to_owner('vps_host_id', 'lease_expires_at', 'claimed_at');
create trigger trading_accounts_broadcast_update after update on public.trading_accounts
  for each row
  when ((to_jsonb(old) - array['lease_expires_at', 'last_seen_at', 'updated_at', 'broker_reported_at', 'history_synced_until'])
        is distinct from (to_jsonb(new) - array['lease_expires_at', 'last_seen_at', 'updated_at', 'broker_reported_at', 'history_synced_until']))
  execute function private.broadcast_to_owner('vps_host_id', 'lease_expires_at', 'claimed_at');

-- The doorbell: when an account enters the queue, wake the VPS agents. The payload carries no
-- account data (agents fetch work through the vps function). The topic is private: only VPS hosts
-- may listen (policy "vps hosts receive the doorbell", 015_realtime.sql), and no client may ring it.
create function private.ring_vps_doorbell() returns trigger
language plpgsql
security definer
set search_path = ''
as $$
begin
  perform realtime.send('{}'::jsonb, 'account_pending', 'vps:doorbell', true);
  return null;
end;
$$;
create trigger trading_accounts_doorbell_insert after insert on public.trading_accounts
  for each row when (new.status = 'pending_vps_setup')
  execute function private.ring_vps_doorbell();
create trigger trading_accounts_doorbell_update after update of status on public.trading_accounts
  for each row when (new.status = 'pending_vps_setup' and old.status is distinct from new.status)
  execute function private.ring_vps_doorbell();

-- Notification `account_connected`: an account enters `connected` (its EA registered, the agent saw
-- the terminal log in, or a silent account's EA reports again). A trigger, so every path into
-- `connected` is covered, but only for changes made by a request (an EA, a VPS agent, a user:
-- `auth.role()` is set); a status the database owner sets by hand is not news to the user.
-- Security definer: the transition is made by API roles (the EA's principal, service_role) that
-- cannot insert notifications themselves.
create function private.notify_account_connected() returns trigger
language plpgsql
security definer
set search_path = ''
as $$
begin
  if auth.role() is null then
    return null;
  end if;
  insert into public.notifications (user_id, kind, title, body, account_id)
  values (
    new.user_id,
    'account_connected',
    case when old.status = 'disconnected' then 'Account ' || new.login || ' reconnected'
         else 'Account ' || new.login || ' connected' end,
    case when old.status = 'disconnected'
         then new.login || '@' || new.server || ' is reporting again.'
         else new.login || '@' || new.server || ' is connected: its EA reports closed trades and cashback accrues.' end,
    new.id
  );
  return null;
end;
$$;
create trigger trading_accounts_notify_connected after update of status on public.trading_accounts
  for each row
  when (new.status = 'connected' and old.status is distinct from 'connected' and new.deleted_at is null)
  execute function private.notify_account_connected();

-- ---------------------------------------------------------------------------------------------
-- Every pause of an account, kept so that trades which closed while it was paused accrue nothing
-- even when its EA reports them after a resume (private.ingest_trades). Written by the trigger
-- below on every change of paused_at (account_action's pause, resume and delete).
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

-- ---------------------------------------------------------------------------------------------
-- Secrets of a trading account; no API role can read this table.
create table private.account_secrets (
  account_id uuid primary key references public.trading_accounts (id) on delete cascade,
  investor_password_ciphertext text not null,
  encryption_key_id text not null,
  api_secret_ciphertext text,
  api_secret_key_id text,
  provisioning_token_hash text check (provisioning_token_hash ~ '^[0-9a-f]{64}$'),
  provisioning_token_expires_at timestamptz,
  updated_at timestamptz not null default now(),
  -- private.credential_hash of the sealed password the broker refused (see below).
  failed_credential_hash text check (failed_credential_hash ~ '^[0-9a-f]{64}$')
);
alter table private.account_secrets enable row level security;
create trigger account_secrets_updated_at before update on private.account_secrets
  for each row execute function private.set_updated_at();

-- ---------------------------------------------------------------------------------------------
-- Rejected credentials. Brokers lock an account after repeated failed logins, so a password the
-- trade server refused is never tried again: when a VPS host reports E_AUTH (the server rejected
-- the login or the investor password; private.vps_report_state, 070_vps_api.sql) the account
-- remembers the credential that failed (failed_credential_hash, a SHA-256 of the sealed password
-- and its key id: the database never sees the password itself) and shows credentials_rejected_at
-- to its owner. Other terminal errors (E_SRV_NOT_FOUND, E_LOGIN_TIMEOUT, E_LAUNCH, E_CRASH_LOOP,
-- ...) make no failed login at the broker and keep their backoff.
--
-- Until the owner changes the password (private.change_investor_password), the account never
-- enters the queue or a host: the backoff sweep and the lease sweep skip it, and the trigger
-- below refuses every other way back (the user's retry and resume: 409 telling them to update the
-- password). Claiming takes only queued accounts, so it never hands one out. A sealed password
-- differs from every other sealing (random nonce), so re-entering the same password counts as a
-- change: the owner's explicit decision to try once more.
comment on column public.trading_accounts.credentials_rejected_at is
  'When the broker refused the investor password (E_AUTH): the account is not launched again until its owner changes the password (private.change_investor_password).';
comment on column private.account_secrets.failed_credential_hash is
  'private.credential_hash of the sealed password the broker refused; while it equals the current one the account never re-enters the queue.';
create function private.credential_hash(p_ciphertext text, p_key_id text) returns text
language sql immutable
set search_path = ''
as $$
  select encode(sha256(convert_to(p_key_id || ':' || p_ciphertext, 'UTF8')), 'hex')
$$;

-- Is the account's current password the one the broker refused?
create function private.credentials_refused(p_account_id uuid) returns boolean
language sql stable
security definer
set search_path = ''
as $$
  select exists (
    select 1 from private.account_secrets s
    where s.account_id = p_account_id
      and s.failed_credential_hash = private.credential_hash(s.investor_password_ciphertext, s.encryption_key_id)
  )
$$;

create function private.guard_rejected_credentials() returns trigger
language plpgsql
security definer
set search_path = ''
as $$
begin
  if private.credentials_refused(new.id) then
    raise exception 'the broker rejected the investor password of account %: update the password to relaunch it', new.login
      using errcode = 'check_violation';
  end if;
  return new;
end;
$$;
create trigger trading_accounts_credentials_guard before update of status on public.trading_accounts
  for each row
  when (new.status in ('pending_vps_setup', 'provisioning') and old.status is distinct from new.status)
  execute function private.guard_rejected_credentials();

-- ---------------------------------------------------------------------------------------------
-- The user's side.

-- Registers an account for the calling user with its encrypted investor password (the caller may
-- choose the id, to bind the ciphertext to it). The account starts unverified, with its ownership
-- code.
-- A login the caller already registered on that server (by server key) raises unique_violation;
-- other users' registrations change nothing (see "Proof of ownership" above). A platform the
-- broker does not offer (or no platform at all), foreign_key_violation.
create function private.register_trading_account(
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
grant execute on function private.register_trading_account(uuid, text, bigint, text, text, text, uuid) to authenticated;

-- A user's actions on their own account: pause, resume, retry (an errored account, resetting
-- its attempts) and delete (soft: the holding host tears the terminal down first).
create function private.account_action(p_account_id uuid, p_action text) returns public.trading_accounts
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_account public.trading_accounts;
begin
  select * into v_account from public.trading_accounts a
  where a.id = p_account_id and a.user_id = auth.uid() and a.deleted_at is null
  for update;
  if not found then
    raise exception 'account not found' using errcode = 'no_data_found';
  end if;

  case p_action
    when 'pause' then
      if v_account.paused_at is not null then
        return v_account;
      end if;
      update public.trading_accounts set status = 'disconnected', paused_at = now()
      where id = p_account_id returning * into v_account;
    when 'resume' then
      if v_account.paused_at is null then
        return v_account;
      end if;
      update public.trading_accounts set paused_at = null, status = 'pending_vps_setup', attempts = 0
      where id = p_account_id returning * into v_account;
    when 'retry' then
      if v_account.status <> 'error' then
        raise exception 'only an account in error can be retried (it is %)', v_account.status
          using errcode = 'check_violation';
      end if;
      update public.trading_accounts set status = 'pending_vps_setup', attempts = 0
      where id = p_account_id returning * into v_account;
    when 'delete' then
      update public.trading_accounts set deleted_at = now(), paused_at = coalesce(paused_at, now())
      where id = p_account_id returning * into v_account;
      -- Nothing runs it: remove it now. Otherwise the holding host removes it after teardown.
      if v_account.vps_host_id is null then
        delete from public.trading_accounts where id = p_account_id;
      end if;
    else
      raise exception 'unknown action %', p_action using errcode = 'invalid_parameter_value';
  end case;
  return v_account;
end;
$$;
grant execute on function private.account_action(uuid, text) to authenticated;

-- The owner replaces the investor password of an account, sealed by the caller with the account's
-- id as associated data (as at registration). Clears the rejected-credential mark and, unless the
-- account is paused (resume relaunches it), sends it back to the queue with its attempts reset so
-- that a host launches it with the new password: an account in error, and a running one too
-- (provisioning, connected, or disconnected after a silence: the requeue takes it from its host,
-- whose next heartbeat learns it no longer holds it and stops the old terminal). A queued account
-- only gets the new password (its launch package is built at claim time). Another user's account,
-- or a deleted one, is not found.
create function private.change_investor_password(
  p_account_id uuid,
  p_password_ciphertext text,
  p_encryption_key_id text
) returns public.trading_accounts
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_account public.trading_accounts;
begin
  if auth.uid() is null then
    raise exception 'not authenticated' using errcode = 'insufficient_privilege';
  end if;
  if coalesce(p_password_ciphertext, '') = '' or coalesce(p_encryption_key_id, '') = '' then
    raise exception 'a sealed password and its key id are required'
      using errcode = 'invalid_parameter_value', column = 'body.investor_password';
  end if;
  select * into v_account from public.trading_accounts a
  where a.id = p_account_id and a.user_id = auth.uid() and a.deleted_at is null
  for update;
  if not found then
    raise exception 'account not found' using errcode = 'no_data_found';
  end if;

  update private.account_secrets s
  set investor_password_ciphertext = p_password_ciphertext, encryption_key_id = p_encryption_key_id,
      failed_credential_hash = null
  where s.account_id = p_account_id;
  if not found then
    raise exception 'account % has no secrets row', p_account_id using errcode = 'no_data_found';
  end if;

  update public.trading_accounts a
  set credentials_rejected_at = null,
      error_code = case when a.credentials_rejected_at is null and a.paused_at is not null then a.error_code end,
      error_message = case when a.credentials_rejected_at is null and a.paused_at is not null then a.error_message end,
      status = case when a.paused_at is null and a.status <> 'pending_vps_setup' then 'pending_vps_setup' else a.status end,
      attempts = case when a.paused_at is null then 0 else a.attempts end
  where a.id = p_account_id
  returning * into v_account;
  return v_account;
end;
$$;
grant execute on function private.change_investor_password(uuid, text, text) to authenticated;

-- ---------------------------------------------------------------------------------------------
-- Claiming: a host takes up to p_limit pending accounts, never more than its free capacity, and
-- only accounts of the platforms it can run (p_platforms; older agents send none: every platform;
-- a name that is no platform matches nothing). A host dedicated to a user claims only that user's
-- accounts; a shared host never claims the accounts of a user who has a (not revoked) dedicated host.
-- FOR UPDATE SKIP LOCKED lets concurrent claimers pass each other without ever taking the same
-- row; locking the host row first serialises claims of one host so capacity holds.
create function private.claim_accounts(
  p_host_id uuid,
  p_limit integer,
  p_platforms text[] default enum_range(null::public.platform)::text[]
)
returns setof public.trading_accounts
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_capacity integer;
  v_dedicated uuid;
  v_held integer;
  v_take integer;
begin
  select h.capacity, h.dedicated_user_id into v_capacity, v_dedicated from private.vps_hosts h
  where h.id = p_host_id and h.revoked_at is null
  for update;
  if not found then
    raise exception 'unknown VPS host' using errcode = 'insufficient_privilege';
  end if;
  select count(*) into v_held from public.trading_accounts a where a.vps_host_id = p_host_id;
  v_take := least(greatest(p_limit, 0), greatest(v_capacity - v_held, 0));
  if v_take = 0 or coalesce(cardinality(p_platforms), 0) = 0 then
    return;
  end if;
  return query
  with picked as (
    select a.id from public.trading_accounts a
    where a.status = 'pending_vps_setup' and a.deleted_at is null and a.paused_at is null
      and a.platform::text = any (p_platforms)
      and case
            when v_dedicated is not null then a.user_id = v_dedicated
            else not exists (select 1 from private.vps_hosts d
                             where d.dedicated_user_id = a.user_id and d.revoked_at is null)
          end
    order by a.created_at
    limit v_take
    for update skip locked
  )
  update public.trading_accounts a
  set status = 'provisioning',
      vps_host_id = p_host_id,
      lease_expires_at = now() + make_interval(secs => private.setting('account_lease_seconds'))
  from picked
  where a.id = picked.id
  returning a.*;
end;
$$;
grant execute on function private.claim_accounts(uuid, integer, text[]) to service_role;
comment on function private.claim_accounts(uuid, integer, text[]) is
  'Hands a VPS host up to p_limit queued accounts (within its free capacity) of the platforms it runs, oldest first, FOR UPDATE SKIP LOCKED: a dedicated host only its user''s, a shared host everyone else''s. Sets provisioning and a lease.';

-- A host's heartbeat: records it and renews the leases of every account it holds.
create function private.vps_heartbeat(p_host_id uuid, p_version text, p_capacity integer) returns integer
language plpgsql
security definer
set search_path = ''
as $$
declare
  n integer;
begin
  update private.vps_hosts
  set last_heartbeat_at = now(), version = coalesce(p_version, version), capacity = coalesce(p_capacity, capacity)
  where id = p_host_id and revoked_at is null;
  if not found then
    raise exception 'unknown VPS host' using errcode = 'insufficient_privilege';
  end if;
  update public.trading_accounts
  set lease_expires_at = now() + make_interval(secs => private.setting('account_lease_seconds'))
  where vps_host_id = p_host_id;
  get diagnostics n = row_count;
  return n;
end;
$$;
grant execute on function private.vps_heartbeat(uuid, text, integer) to service_role;

-- ---------------------------------------------------------------------------------------------
-- Cron sweeps (each a pg_cron job, every minute: 900_cron_jobs.sql).

-- Job rubi-reclaim-expired-leases. An expired lease is reclaimed whether or not its host row still
-- exists (vps_host_id is `on delete set null`), and a provisioning or connected account with no
-- host at all is reclaimed too.
create function private.reclaim_expired_leases() returns integer
language plpgsql
security definer
set search_path = ''
as $$
declare
  n integer;
begin
  update public.trading_accounts
  set status = 'pending_vps_setup'
  where (lease_expires_at < now() and status in ('provisioning', 'connected', 'disconnected')
         or vps_host_id is null and status in ('provisioning', 'connected'))
    and paused_at is null
    and deleted_at is null
    and not private.credentials_refused(id);
  get diagnostics n = row_count;
  -- Paused or deleted accounts held by a dead host: nothing to tear down any more.
  update public.trading_accounts
  set vps_host_id = null, lease_expires_at = null
  where vps_host_id is not null and lease_expires_at < now() and paused_at is not null;
  delete from public.trading_accounts where deleted_at is not null and vps_host_id is null;
  return n;
end;
$$;
comment on function private.reclaim_expired_leases() is
  'Cron (every minute): accounts whose host stopped renewing its lease, or whose host row is gone, return to the queue; paused ones are released; deleted ones without a host are removed.';

-- Job rubi-retry-errored-accounts: errored accounts whose backoff elapsed are queued again (never
-- one whose password the broker refused: it has no next_retry_at, and the check stays as a guard).
create function private.retry_errored_accounts() returns integer
language plpgsql
security definer
set search_path = ''
as $$
declare
  n integer;
begin
  update public.trading_accounts
  set status = 'pending_vps_setup'
  where status = 'error' and next_retry_at <= now() and paused_at is null and deleted_at is null
    and not private.credentials_refused(id);
  get diagnostics n = row_count;
  return n;
end;
$$;

-- Job rubi-disconnect-silent-accounts: a connected account whose EA has been silent too long
-- becomes disconnected, and its owner gets a notification.
create function private.disconnect_silent_accounts() returns integer
language plpgsql
security definer
set search_path = ''
as $$
declare
  n integer;
begin
  with silent as (
    update public.trading_accounts a
    set status = 'disconnected'
    where a.status = 'connected'
      and greatest(a.last_seen_at, a.connected_at) < now() - make_interval(secs => private.setting('account_silent_seconds'))
    returning a.id, a.user_id, a.login, a.server, greatest(a.last_seen_at, a.connected_at) as last_seen_at
  )
  insert into public.notifications (user_id, kind, title, body, account_id)
  select s.user_id, 'account_disconnected',
         'Account ' || s.login || ' went silent',
         'No report from the EA on ' || s.login || '@' || s.server || ' since '
           || to_char(s.last_seen_at at time zone 'utc', 'YYYY-MM-DD HH24:MI') || ' UTC.',
         s.id
  from silent s;
  get diagnostics n = row_count;
  return n;
end;
$$;

-- Nothing in `private` is executable by PUBLIC; the grants above are the only way in.
revoke execute on all functions in schema private from public;
