-- GET /ops/fleet lists the accounts in error newest error first: by trading_accounts.error_at (when
-- the account entered `error`, set by private.account_lifecycle), not updated_at, which any later
-- write to the account moves (a retry scheduled, a heartbeat field, a rename). Accounts without an
-- error time come last; ties by id.
--
-- The definition is that of supabase/schemas/095_operations.sql.

create or replace function private.ops_fleet() returns jsonb
language sql stable
security definer
set search_path = ''
as $$
  select jsonb_build_object(
    'server_time', now(),
    'hosts', coalesce((
      select jsonb_agg(jsonb_build_object(
        'name', h.name,
        'version', h.version,
        'capacity', h.capacity,
        'accounts_held', (select count(*) from public.trading_accounts a where a.vps_host_id = h.id),
        'dedicated', h.dedicated_user_id is not null,
        'revoked', h.revoked_at is not null,
        'last_heartbeat_at', h.last_heartbeat_at,
        'heartbeat_age_seconds', floor(extract(epoch from now() - h.last_heartbeat_at)),
        'terminals', coalesce((
          select jsonb_agg(jsonb_build_object(
            'account_id', a.id, 'platform', a.platform, 'login', a.login, 'server', a.server,
            'status', a.status, 'terminal_state', a.terminal_state, 'last_seen_at', a.last_seen_at,
            'error_code', a.error_code, 'paused', a.paused_at is not null, 'deleted', a.deleted_at is not null
          ) order by a.login, a.server, a.id)
          from public.trading_accounts a where a.vps_host_id = h.id), '[]'::jsonb)
      ) order by h.name)
      from private.vps_hosts h), '[]'::jsonb),
    'accounts_in_error', coalesce((
      select jsonb_agg(jsonb_build_object(
        'account_id', a.id, 'platform', a.platform, 'login', a.login, 'server', a.server,
        'host', (select h.name from private.vps_hosts h where h.id = a.vps_host_id),
        'error_code', a.error_code, 'error_message', a.error_message, 'attempts', a.attempts,
        'next_retry_at', a.next_retry_at, 'credentials_rejected', a.credentials_rejected_at is not null
      ) order by a.error_at desc nulls last, a.id)
      from public.trading_accounts a where a.status = 'error' and a.deleted_at is null), '[]'::jsonb)
  )
$$;
