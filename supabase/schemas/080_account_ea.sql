-- The provisioned EA's side of the cashback flow: `register` (a one-time provisioning token buys an
-- api secret) and `trades` (closed trades, signed with that secret, keep the account connected).
--
--   vps launch package                register                         trades
--   token = random, hash stored  ->   hash matches, not expired,  ->   the gate (enter_account_ea),
--   (private.vps_launch_package)      login/server/platform match:     then ingest_trades: inserts
--                                     api secret stored (sealed),      with cashback, then
--                                     token spent, status connected    touch_account: last_seen_at,
--                                                                      disconnected -> connected
--
-- The gate is in 025_ea_request_path.sql; the closed trades and private.ingest_trades, the only
-- way to write them, in 090_cashback.sql.

-- ---------------------------------------------------------------------------------------------
-- Credentials of a provisioned EA (cashback flow), used by the edge toolkit as service_role to
-- verify a signed request: the account behind an external account id, its owner, and the
-- encrypted api secret issued by `register`. Deleted accounts have no credentials.
create function private.account_ea_credentials(p_external_account_id uuid)
returns table (account_id uuid, user_id uuid, status text, api_secret_ciphertext text, api_secret_key_id text)
language sql stable
security definer
set search_path = ''
as $$
  select a.id, a.user_id, a.status, s.api_secret_ciphertext, s.api_secret_key_id
  from public.trading_accounts a
  join private.account_secrets s on s.account_id = a.id
  where a.external_account_id = p_external_account_id
    and a.deleted_at is null
    and s.api_secret_ciphertext is not null
$$;
grant execute on function private.account_ea_credentials(uuid) to service_role;

-- ---------------------------------------------------------------------------------------------
-- Registration of an account's EA, called by the `register` edge function as service_role (the EA
-- has no secret yet: the provisioning token is its credential). The caller generates the api secret
-- and seals it with the account's internal id as associated data; only the ciphertext arrives here.
--
-- One transaction, under a lock on the account and its secrets row (two registrations with the same
-- token cannot both succeed: the second sees the token spent):
--   - no row:                      no live (not deleted) account has that external id;
--   - a row with `refused` set:    nothing was written. 'no_token' (none outstanding: spent, or never
--                                  issued), 'token_mismatch', 'token_expired' or 'identity_mismatch'
--                                  (login, server or platform differ from the account's). The edge
--                                  answers every one of these, and the missing row, with the same
--                                  401: the reason is for the operator's log, never for the caller;
--   - a row with `refused` null:   registered. The api secret replaces any previous one (the old
--                                  secret stops verifying at once), the token is spent (hash and
--                                  expiry cleared), terminal_build recorded, last_seen_at = now(), and
--                                  the account moves to `connected` from `provisioning`, or from
--                                  `disconnected` unless paused. Any other status is kept (a paused
--                                  account stays paused; an account that went back to the queue or to
--                                  `error` meanwhile is sorted out by the hosts, not by the EA).
--
-- The token is compared by its SHA-256: a timing difference would reveal bits of a hash, which does
-- not help anyone find a token. The server name is compared by its key (private.server_key: case
-- and whitespace aside): the terminal reports the broker's spelling, the user typed theirs (the
-- token is the credential either way).
create function private.register_account_ea(
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
grant execute on function private.register_account_ea(uuid, text, bigint, text, text, integer, text, text) to service_role;

-- ---------------------------------------------------------------------------------------------
-- The account's EA was heard from (a signed `trades` request, empty batches included): last_seen_at
-- moves, which is what keeps the account `connected` (private.disconnect_silent_accounts), and an
-- account that the silence sweep had marked `disconnected` comes back to `connected` unless its
-- owner paused it. Other statuses are left alone. Returns the status afterwards, or null for a
-- deleted account. Called by private.ingest_trades after the gate proved who is calling; no API
-- role may execute it.
-- The same update stores what the EA reported about its terminal, for the account's health
-- (issue #16); a null argument is "not reported" (an older EA) and leaves the stored report:
--   p_broker_connected      broker_connected; broker_connected_changed_at moves when it changes
--                           (the first report included), broker_reported_at with every report
--   p_backfill_complete,    history_backfill_complete and history_synced_until, reported together:
--   p_history_synced_until  either one present replaces both (a new backfill clears the old mark)
create function private.touch_account(p_account_id uuid, p_broker_connected boolean default null,
  p_history_synced_until timestamptz default null, p_backfill_complete boolean default null) returns text
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_status text;
begin
  -- PL/pgSQL, not SQL: its plan is kept for the session (a SQL function's body is parsed and planned
  -- again on every call).
  update public.trading_accounts a
  set last_seen_at = now(),
      status = case when a.status = 'disconnected' and a.paused_at is null then 'connected' else a.status end,
      broker_connected = coalesce(p_broker_connected, a.broker_connected),
      broker_connected_changed_at = case
        when p_broker_connected is not null and p_broker_connected is distinct from a.broker_connected then now()
        else a.broker_connected_changed_at end,
      broker_reported_at = case when p_broker_connected is null then a.broker_reported_at else now() end,
      history_backfill_complete = case
        when p_backfill_complete is null and p_history_synced_until is null then a.history_backfill_complete
        else p_backfill_complete end,
      history_synced_until = case
        when p_backfill_complete is null and p_history_synced_until is null then a.history_synced_until
        else p_history_synced_until end
  where a.id = p_account_id and a.deleted_at is null
  returning a.status into v_status;
  return v_status;
end;
$$;
revoke execute on function private.touch_account(uuid, boolean, timestamptz, boolean) from public, anon, authenticated, service_role;

-- Nothing in `private` is executable by PUBLIC; the grants above are the only way in.
revoke execute on all functions in schema private from public;
