-- How a signed EA request gets in: replay protection, the gates, and the two helpers every endpoint
-- function starts with. (The credentials themselves: EA keys in 020_ea_keys_sessions.sql, an
-- account EA's api secret in 060_provisioning.sql and 080_account_ea.sql. The endpoint functions
-- sit next to the tables they write: private.open_session / close_session (020), create_signal,
-- cancel_signal, deliver_signals, report_signal (030_signals.sql), push_positions, ping_session
-- (040_positions_snapshots.sql), ingest_trades (090_cashback.sql).)
--
-- Each EA request is one transaction, and the hot path one round trip. The edge function verifies
-- the signature in TypeScript with the secret it has (cached sealed, see
-- packages/edge/src/ea-credentials.ts: the secret never travels to SQL in clear) and sends ONE
-- statement, on the connection's own role, in Postgres's implicit transaction:
--
--   select private.ping_session(private.enter_ea_key($key, $request_id, $sealed, $scopes), $session, $figures)
--
-- `private.enter_ea_key` (the gate) checks that the key is live and still the one the function
-- verified with, remembers the request id, stamps the key's last use, then switches the
-- transaction to role `rubi_ea` (010_foundation.sql: `authenticated` plus the few writes only a
-- terminal makes) with the EA's claims, as PostgREST would for a user. The endpoint function then
-- runs as the EA, under RLS and the state machines. Everything commits or rolls back together: a
-- request that failed can be retried with the same X-Trade-Id.
--
-- Error convention, from SQL to HTTP (packages/edge/src/errors.ts maps SQLSTATEs, nothing else):
--   28000 invalid_authorization_specification  401  unknown/revoked credential, replayed request id
--   28P01 invalid_password                     (retried once by the toolkit: the cached credential
--                                               changed, e.g. a re-issued api secret or new scopes)
--   22023 invalid_parameter_value (+ COLUMN)   400  naming the offending field (`body.symbol`, ...)
--   P0002 no_data_found                        404  with the message (`session not found`)
--   42501 insufficient_privilege               404  (RLS and privilege failures reveal nothing)
--   23514 check_violation                      409  with the message (rules, state machines)
--   23505 unique_violation                     409

-- ---------------------------------------------------------------------------------------------
-- Replay protection for signed EA requests (connector EAs by key, provisioned EAs by account):
-- (credential, request id) is remembered for longer than the timestamp tolerance; a second
-- sighting is a replay.
create table private.seen_request_ids (
  credential_id text not null,
  request_id text not null,
  seen_at timestamptz not null default now(),
  expires_at timestamptz not null,
  primary key (credential_id, request_id)
);
create index seen_request_ids_expires_at_idx on private.seen_request_ids (expires_at);
alter table private.seen_request_ids enable row level security;

-- True if the id is new (and now remembered), false if it was seen before.
create function private.remember_request_id(p_credential_id text, p_request_id text) returns boolean
language plpgsql
security definer
set search_path = ''
as $$
begin
  insert into private.seen_request_ids (credential_id, request_id, expires_at)
  values (p_credential_id, p_request_id, now() + make_interval(secs => private.setting('seen_request_ttl_seconds')))
  on conflict do nothing;
  return found;
end;
$$;
grant execute on function private.remember_request_id(text, text) to service_role;

-- Cron (job rubi-cleanup-seen-request-ids, every 10 minutes): forget expired request ids.
create function private.cleanup_seen_request_ids() returns integer
language plpgsql
security definer
set search_path = ''
as $$
declare
  n integer;
begin
  delete from private.seen_request_ids where expires_at < now();
  get diagnostics n = row_count;
  return n;
end;
$$;

-- ---------------------------------------------------------------------------------------------
-- Gates. `admit_*` are security definer: they read credentials and write the replay table, which
-- no API role can. `enter_*` are security invoker (a security definer function may not change
-- role); their SET clause pins search_path only, and a SET clause restores only the settings it
-- names on return, so the role switch they make lasts until the end of the caller's transaction.
-- Neither is granted to any API role: only the connection's own role (which verified the
-- signature) may call them.

create function private.admit_ea_key(p_key_id uuid, p_request_id text, p_sealed_secret text, p_scopes text[])
returns uuid
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_user uuid;
  v_scopes text[];
  v_sealed text;
begin
  select k.user_id, k.scopes, s.secret_ciphertext into v_user, v_scopes, v_sealed
  from public.ea_keys k
  join private.ea_key_secrets s on s.key_id = k.id
  where k.id = p_key_id and k.revoked_at is null;
  if v_user is null then
    raise exception 'unknown or revoked EA key' using errcode = 'invalid_authorization_specification';
  end if;
  if v_sealed is distinct from p_sealed_secret or v_scopes is distinct from p_scopes then
    raise exception 'EA key credentials changed since they were read' using errcode = 'invalid_password';
  end if;
  if not private.remember_request_id('ea_key:' || p_key_id::text, p_request_id) then
    raise exception 'replayed request (X-Trade-Id already used)' using errcode = 'invalid_authorization_specification';
  end if;
  -- The key's last use, at most once a minute (a write per request would serialise a busy key).
  update public.ea_keys set last_used_at = now()
  where id = p_key_id and (last_used_at is null or last_used_at < now() - interval '1 minute');
  return v_user;
end;
$$;

create function private.enter_ea_key(p_key_id uuid, p_request_id text, p_sealed_secret text, p_scopes text[])
returns uuid
language plpgsql
set search_path = ''
as $$
declare
  v_user uuid := private.admit_ea_key(p_key_id, p_request_id, p_sealed_secret, p_scopes);
begin
  perform set_config('role', 'rubi_ea', true),
    set_config('request.jwt.claims',
      json_build_object('aud', 'authenticated', 'ea_key_id', p_key_id, 'sub', v_user, 'role', 'authenticated')::text, true);
  return v_user;
end;
$$;

create function private.admit_account_ea(p_external_account_id uuid, p_request_id text, p_sealed_secret text)
returns table (account_id uuid, user_id uuid)
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_account uuid;
  v_user uuid;
  v_sealed text;
begin
  select a.id, a.user_id, s.api_secret_ciphertext into v_account, v_user, v_sealed
  from public.trading_accounts a
  join private.account_secrets s on s.account_id = a.id
  where a.external_account_id = p_external_account_id and a.deleted_at is null and s.api_secret_ciphertext is not null;
  if v_account is null then
    raise exception 'unknown account or not registered' using errcode = 'invalid_authorization_specification';
  end if;
  if v_sealed is distinct from p_sealed_secret then
    raise exception 'account credentials changed since they were read' using errcode = 'invalid_password';
  end if;
  if not private.remember_request_id('account:' || v_account::text, p_request_id) then
    raise exception 'replayed request (X-Trade-Id already used)' using errcode = 'invalid_authorization_specification';
  end if;
  return query select v_account, v_user;
end;
$$;

create function private.enter_account_ea(p_external_account_id uuid, p_request_id text, p_sealed_secret text)
returns uuid
language plpgsql
set search_path = ''
as $$
declare
  v_account uuid;
  v_user uuid;
begin
  select a.account_id, a.user_id into v_account, v_user
  from private.admit_account_ea(p_external_account_id, p_request_id, p_sealed_secret) a;
  perform set_config('role', 'rubi_ea', true),
    set_config('request.jwt.claims',
      json_build_object('aud', 'authenticated', 'ea_account_id', v_account, 'sub', v_user, 'role', 'authenticated')::text, true);
  return v_user;
end;
$$;

revoke execute on function private.admit_ea_key(uuid, text, text, text[]), private.enter_ea_key(uuid, text, text, text[]),
  private.admit_account_ea(uuid, text, text), private.enter_account_ea(uuid, text, text)
  from public, anon, authenticated, service_role;

-- ---------------------------------------------------------------------------------------------
-- The caller of an endpoint function: the EA the gate admitted. `p_caller` is the gate's result,
-- which also makes the gate run first (an argument is evaluated before the call).
create function private.ea_caller(p_caller uuid, p_claim text) returns uuid
language plpgsql stable
set search_path = ''
as $$
begin
  if p_caller is null or p_caller is distinct from auth.uid() or coalesce(auth.jwt() ->> p_claim, '') = '' then
    raise exception 'only an admitted EA may do this' using errcode = 'insufficient_privilege';
  end if;
  return p_caller;
end;
$$;

-- A session the EA names, which must exist (RLS: and be its owner's) and not be disconnected.
create function private.live_session(p_session_id uuid, p_disconnected text default 'session is disconnected: connect again')
returns text
language plpgsql stable
set search_path = ''
as $$
declare
  v_status text;
begin
  select s.status into v_status from public.mt5_sessions s where s.id = p_session_id;
  if v_status is null then
    raise exception 'session not found' using errcode = 'no_data_found';
  end if;
  if v_status = 'disconnected' then
    raise exception '%', p_disconnected using errcode = 'check_violation';
  end if;
  return v_status;
end;
$$;
grant execute on function private.ea_caller(uuid, text), private.live_session(uuid, text) to rubi_ea;

-- Nothing in `private` is executable by PUBLIC; the grants above are the only way in.
revoke execute on all functions in schema private from public;
