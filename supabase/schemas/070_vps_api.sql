-- The VPS agent's API (the `vps` edge function): what a host may read and change about the
-- trading accounts it holds.
--
-- The function authenticates a host by its key (private.authenticate_vps_host) and then runs as
-- service_role, which can reach accounts only through the functions below. Every one of them
-- takes the host id and acts only on accounts that host holds (trading_accounts.vps_host_id =
-- p_host_id) while the host is not revoked: another host's account looks exactly like an
-- account that does not exist. Claiming and heartbeats are private.claim_accounts and
-- private.vps_heartbeat (060_provisioning.sql).

-- ---------------------------------------------------------------------------------------------
-- The launch package of an account the host holds: what the terminal needs to log in (the
-- investor password stays sealed here; the edge function opens it with the account's id as
-- associated data) and a fresh one-time provisioning token for the EA's `register` call. Only
-- the token's SHA-256 (p_token_hash, computed by the caller) is stored; each call replaces the
-- previous token, which can no longer be used.
--
-- No row: the host does not hold the account (or the host is revoked).
-- A row with `refused` set (and no secret, no token stored): the host holds the account but must
-- not launch it: 'paused', 'deleted' (tear it down instead) or 'status <status>'.
create function private.vps_launch_package(p_host_id uuid, p_account_id uuid, p_token_hash text)
returns table (
  account_id uuid,
  external_account_id uuid,
  platform text,
  login bigint,
  server text,
  broker text,
  investor_password_ciphertext text,
  encryption_key_id text,
  provisioning_token_expires_at timestamptz,
  refused text
)
language plpgsql
security definer
set search_path = ''
as $$
#variable_conflict use_column
declare
  v_account public.trading_accounts;
  v_refused text;
  v_expires timestamptz;
begin
  if p_token_hash is null or p_token_hash !~ '^[0-9a-f]{64}$' then
    raise exception 'p_token_hash must be a lowercase hex SHA-256' using errcode = 'invalid_parameter_value';
  end if;

  select a.* into v_account
  from public.trading_accounts a
  join private.vps_hosts h on h.id = a.vps_host_id and h.revoked_at is null
  where a.id = p_account_id and a.vps_host_id = p_host_id
  for update of a;
  if not found then
    return;
  end if;

  v_refused := case
    when v_account.deleted_at is not null then 'deleted'
    when v_account.paused_at is not null then 'paused'
    when v_account.status not in ('provisioning', 'connected') then 'status ' || v_account.status
  end;

  if v_refused is null then
    v_expires := now() + make_interval(secs => private.setting('provisioning_token_ttl_seconds'));
    update private.account_secrets s
    set provisioning_token_hash = p_token_hash, provisioning_token_expires_at = v_expires
    where s.account_id = v_account.id;
    if not found then
      raise exception 'account % has no secrets row', v_account.id using errcode = 'no_data_found';
    end if;
  end if;

  return query
  select v_account.id, v_account.external_account_id, v_account.platform::text, v_account.login, v_account.server, b.name,
         case when v_refused is null then s.investor_password_ciphertext end,
         case when v_refused is null then s.encryption_key_id end,
         case when v_refused is null then v_expires end,
         v_refused
  from public.brokers b
  join private.account_secrets s on s.account_id = v_account.id
  where b.id = v_account.broker_id;
end;
$$;
grant execute on function private.vps_launch_package(uuid, uuid, text) to service_role;

-- ---------------------------------------------------------------------------------------------
-- A host reports what its terminal for an account is doing. Every report renews the account's
-- lease (while the host still holds it). p_state: a terminal_state, or `connected` / `error`
-- (account statuses the agent reports).
--
--   launching | running | crashed   terminal_state only (crashed: it exited and the agent restarts
--                                    it with backoff)
--   connected                       the terminal is logged in and the EA reports: status
--                                    `connected` (from provisioning, or from disconnected after a
--                                    silence); terminal_state running
--   error                           the account cannot run (p_error_code E_AUTH, E_SRV_NOT_FOUND,
--                                    E_LAUNCH, E_CRASH_LOOP, ...; p_error_message shown to the
--                                    user): status `error`, which counts the attempt, schedules
--                                    the retry and releases the host (trigger account_lifecycle);
--                                    the owner gets an `account_error` notification.
--                                    E_AUTH (the broker refused the login or the investor
--                                    password) also remembers the failed credential: no automatic
--                                    retry and no way back to the queue until the owner changes
--                                    the password (see "Rejected credentials", 060_provisioning.sql);
--                                    the notification is `account_credentials_rejected`
--   stopped                         the terminal is down. A paused account is released (the host
--                                    forgets it), a deleted one is removed; otherwise only
--                                    terminal_state (the host still holds it and may start it)
--
-- A paused or deleted account never changes status through a report: an `error` or `connected`
-- only records the terminal's state, and the host keeps it until it reports `stopped` (an E_AUTH
-- on a paused account still remembers the failed credential: resuming it is refused until the
-- password changes).
--
-- No row: the host does not hold the account. Otherwise the account after the report, with
-- `held` (does the host still hold it? if not it must stop the terminal and forget the account)
-- and `removed` (the deleted account is gone).
create function private.vps_report_state(
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
grant execute on function private.vps_report_state(uuid, uuid, text, text, text) to service_role;

-- ---------------------------------------------------------------------------------------------
-- The terminals a host listed in its heartbeat ([{account_id, state}], state a terminal_state:
-- launching, running, stopped, crashed): records the state of those it holds, and returns the ids of those
-- it does NOT hold (lease lost and the account requeued, released after an error, deleted, or
-- never its own). The agent must stop those terminals: two hosts never run one account.
create function private.vps_report_terminals(p_host_id uuid, p_terminals jsonb)
returns setof uuid
language plpgsql
security definer
set search_path = ''
as $$
begin
  if p_terminals is null or jsonb_typeof(p_terminals) <> 'array' then
    raise exception 'p_terminals must be a JSON array' using errcode = 'invalid_parameter_value';
  end if;
  if exists (
    select 1 from jsonb_array_elements(p_terminals) t
    where jsonb_typeof(t) <> 'object'
       or t ->> 'account_id' is null
       or not coalesce(t ->> 'state', '') = any (enum_range(null::public.terminal_state)::text[])
  ) then
    raise exception 'each terminal needs an account_id and a state (%)',
      array_to_string(enum_range(null::public.terminal_state)::text[], ', ')
      using errcode = 'invalid_parameter_value';
  end if;
  if not exists (select 1 from private.vps_hosts h where h.id = p_host_id and h.revoked_at is null) then
    raise exception 'unknown VPS host' using errcode = 'insufficient_privilege';
  end if;

  return query
  with reported as (
    select distinct on ((t ->> 'account_id')::uuid) (t ->> 'account_id')::uuid as account_id,
           (t ->> 'state')::public.terminal_state as state
    from jsonb_array_elements(p_terminals) t
  ),
  recorded as (
    update public.trading_accounts a set terminal_state = r.state
    from reported r
    where a.id = r.account_id and a.vps_host_id = p_host_id and a.terminal_state is distinct from r.state
    returning a.id
  )
  select r.account_id from reported r
  where not exists (select 1 from public.trading_accounts a where a.id = r.account_id and a.vps_host_id = p_host_id)
  order by r.account_id;
end;
$$;
grant execute on function private.vps_report_terminals(uuid, jsonb) to service_role;

-- ---------------------------------------------------------------------------------------------
-- Accounts the host holds whose terminal must be stopped and removed: paused or deleted by
-- their owner. After stopping one the host reports `stopped` (which releases or removes it).
create function private.vps_teardown_list(p_host_id uuid)
returns table (account_id uuid, external_account_id uuid, platform text, reason text)
language sql stable
security definer
set search_path = ''
as $$
  select a.id, a.external_account_id, a.platform,
         case when a.deleted_at is not null then 'deleted' else 'paused' end
  from public.trading_accounts a
  join private.vps_hosts h on h.id = a.vps_host_id and h.revoked_at is null
  where a.vps_host_id = p_host_id and (a.paused_at is not null or a.deleted_at is not null)
  order by a.created_at, a.id
$$;
grant execute on function private.vps_teardown_list(uuid) to service_role;

-- ---------------------------------------------------------------------------------------------
-- Every account the host holds, for an agent that restarts and must adopt its running terminals
-- (or launch the missing ones) instead of starting duplicates. `teardown` says which of them
-- must be stopped instead ('paused', 'deleted'), null for those to keep running. No secrets.
create function private.vps_held_accounts(p_host_id uuid)
returns table (
  account_id uuid,
  external_account_id uuid,
  platform text,
  login bigint,
  server text,
  broker text,
  status text,
  terminal_state text,
  lease_expires_at timestamptz,
  teardown text
)
language sql stable
security definer
set search_path = ''
as $$
  select a.id, a.external_account_id, a.platform, a.login, a.server, b.name, a.status, a.terminal_state,
         a.lease_expires_at,
         case when a.deleted_at is not null then 'deleted' when a.paused_at is not null then 'paused' end
  from public.trading_accounts a
  join private.vps_hosts h on h.id = a.vps_host_id and h.revoked_at is null
  join public.brokers b on b.id = a.broker_id
  where a.vps_host_id = p_host_id
  order by a.created_at, a.id
$$;
grant execute on function private.vps_held_accounts(uuid) to service_role;

-- Nothing in `private` is executable by PUBLIC; the grants above are the only way in.
revoke execute on all functions in schema private from public;
