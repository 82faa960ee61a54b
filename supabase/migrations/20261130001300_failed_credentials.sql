-- Issue #15 item 6, part 2 of 2: a password the broker refused is never tried again.
--
-- When a VPS host reports E_AUTH (the trade server rejected the login or the investor password),
-- the account used to go to `error` and the backoff sweep queued it again, and a host launched the
-- terminal with the very same password, up to account_retry_max_attempts times (and as often as
-- the user pressed retry): each one a failed login at the broker, which locks accounts for that.
-- Now the account remembers the credential that failed (private.account_secrets.failed_credential_hash,
-- a SHA-256 of the sealed password and its key id) and shows credentials_rejected_at to its owner;
-- it never re-enters the queue until the owner changes the password
-- (private.change_investor_password, PUT /accounts/trading-accounts/{id}/password), which clears
-- the mark and requeues it. The owner is told by an `account_credentials_rejected` notification
-- (the enum value: 20261130001290_failed_credentials_kind.sql).
--
-- The definitions are those of supabase/schemas/060_provisioning.sql and 070_vps_api.sql.

alter table public.trading_accounts add column credentials_rejected_at timestamptz;
alter table private.account_secrets
  add column failed_credential_hash text check (failed_credential_hash ~ '^[0-9a-f]{64}$');
comment on column public.trading_accounts.credentials_rejected_at is
  'When the broker refused the investor password (E_AUTH): the account is not launched again until its owner changes the password (private.change_investor_password).';
comment on column private.account_secrets.failed_credential_hash is
  'private.credential_hash of the sealed password the broker refused; while it equals the current one the account never re-enters the queue.';

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

create or replace function private.reclaim_expired_leases() returns integer
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

create or replace function private.retry_errored_accounts() returns integer
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

create or replace function private.vps_report_state(
  p_host_id uuid,
  p_account_id uuid,
  p_state text,
  p_error_code text default null,
  p_error_message text default null
)
returns table (
  account_id uuid,
  external_account_id uuid,
  status text,
  terminal_state text,
  error_code text,
  error_message text,
  attempts integer,
  next_retry_at timestamptz,
  held boolean,
  removed boolean
)
language plpgsql
security definer
set search_path = ''
as $$
#variable_conflict use_column
declare
  v_account public.trading_accounts;
  v_lease timestamptz := now() + make_interval(secs => private.setting('account_lease_seconds'));
  v_gone boolean;
  v_message text;
  v_removed boolean := false;
  -- The one error code that is a failed login at the broker (the agent's vocabulary: vps-agent/src/terminal.ts).
  v_rejected boolean := p_state = 'error' and p_error_code = 'E_AUTH';
begin
  if p_state is null
     or not (p_state = any (enum_range(null::public.terminal_state)::text[]) or p_state in ('connected', 'error')) then
    raise exception 'unknown terminal state %', coalesce(p_state, 'null') using errcode = 'invalid_parameter_value';
  end if;
  if p_state = 'error' and (p_error_code is null or p_error_code !~ '^E_[A-Z0-9_]+$') then
    raise exception 'an error report needs an error code such as E_AUTH' using errcode = 'invalid_parameter_value';
  end if;

  select a.* into v_account
  from public.trading_accounts a
  join private.vps_hosts h on h.id = a.vps_host_id and h.revoked_at is null
  where a.id = p_account_id and a.vps_host_id = p_host_id
  for update of a;
  if not found then
    return;
  end if;
  v_gone := v_account.paused_at is not null or v_account.deleted_at is not null;
  if v_rejected and v_account.deleted_at is null then
    update private.account_secrets s
    set failed_credential_hash = private.credential_hash(s.investor_password_ciphertext, s.encryption_key_id)
    where s.account_id = v_account.id;
  end if;

  case
    when p_state in ('launching', 'running', 'crashed') then
      update public.trading_accounts a set terminal_state = p_state::public.terminal_state, lease_expires_at = v_lease
      where a.id = v_account.id returning a.* into v_account;

    when p_state = 'connected' then
      update public.trading_accounts a
      set terminal_state = 'running',
          lease_expires_at = v_lease,
          status = case when not v_gone and a.status in ('provisioning', 'disconnected') then 'connected' else a.status end
      where a.id = v_account.id returning a.* into v_account;

    when p_state = 'error' and v_gone then
      update public.trading_accounts a
      set terminal_state = 'crashed', lease_expires_at = v_lease,
          credentials_rejected_at = case when v_rejected and a.deleted_at is null then now() else a.credentials_rejected_at end
      where a.id = v_account.id returning a.* into v_account;

    when p_state = 'error' then
      v_message := coalesce(nullif(btrim(p_error_message), ''), case p_error_code
        when 'E_AUTH' then 'The trade server rejected the login or the investor password.'
        when 'E_SRV_NOT_FOUND' then 'The trade server was not found: check the server name.'
        when 'E_LAUNCH' then 'The terminal could not be started.'
        when 'E_CRASH_LOOP' then 'The terminal kept crashing after restarts.'
        else 'The terminal reported ' || p_error_code || '.'
      end);
      -- account_lifecycle: attempts + 1, next_retry_at (backoff, none for rejected credentials),
      -- vps_host_id and lease cleared.
      update public.trading_accounts a
      set status = 'error', error_code = p_error_code, error_message = left(v_message, 1000), terminal_state = 'stopped',
          credentials_rejected_at = case when v_rejected then now() end
      where a.id = v_account.id returning a.* into v_account;
      insert into public.notifications (user_id, kind, title, body, account_id)
      values (
        v_account.user_id,
        case when v_rejected then 'account_credentials_rejected' else 'account_error' end,
        case when v_rejected then 'Account ' || v_account.login || ': the broker rejected the password'
             else 'Account ' || v_account.login || ' could not be started' end,
        v_account.login || '@' || v_account.server || ': ' || v_account.error_message || ' (' || p_error_code || ') '
          || case when v_rejected
               then 'It will not be started again with this password: update the investor password of the account to relaunch it.'
             when v_account.next_retry_at is not null
               then 'Next automatic attempt at ' || to_char(v_account.next_retry_at at time zone 'utc', 'YYYY-MM-DD HH24:MI') || ' UTC.'
               else 'No further automatic attempts: fix the account, then retry it.'
             end,
        v_account.id
      );

    when p_state = 'stopped' and v_account.deleted_at is not null then
      -- The terminal of a deleted account is gone: remove the account (with its secrets, trades
      -- and ledger, as account_action does for an account no host holds).
      delete from public.trading_accounts a where a.id = v_account.id;
      v_account.vps_host_id := null;
      v_account.terminal_state := 'stopped';
      v_removed := true;

    when p_state = 'stopped' and v_account.paused_at is not null then
      update public.trading_accounts a set vps_host_id = null, lease_expires_at = null, terminal_state = 'stopped'
      where a.id = v_account.id returning a.* into v_account;

    else -- stopped, still wanted: the host keeps it
      update public.trading_accounts a set terminal_state = 'stopped', lease_expires_at = v_lease
      where a.id = v_account.id returning a.* into v_account;
  end case;

  return query select
    v_account.id, v_account.external_account_id, v_account.status::text, v_account.terminal_state::text, v_account.error_code,
    v_account.error_message, v_account.attempts, v_account.next_retry_at,
    v_account.vps_host_id is not distinct from p_host_id and not v_removed, v_removed;
end;
$$;

-- Accounts already stopped by a refused password: remembered as such (no more automatic retries).
-- A paused account keeps the error code it had when it was paused.
update private.account_secrets s
set failed_credential_hash = private.credential_hash(s.investor_password_ciphertext, s.encryption_key_id)
from public.trading_accounts a
where a.id = s.account_id and a.error_code = 'E_AUTH' and a.deleted_at is null and a.status in ('error', 'disconnected');
update public.trading_accounts
set credentials_rejected_at = updated_at, next_retry_at = null
where error_code = 'E_AUTH' and deleted_at is null and status in ('error', 'disconnected');

-- Nothing in `private` is executable by PUBLIC; the grants above are the only way in.
revoke execute on all functions in schema private from public;
