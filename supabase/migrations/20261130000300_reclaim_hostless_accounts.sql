-- Accounts whose VPS host row is gone go back to the queue.
--
-- trading_accounts.vps_host_id is `on delete set null`: deleting a host (by hand, or with the user
-- a dedicated host belonged to) left the accounts it held in provisioning/connected/disconnected
-- with no host and no lease anyone renews, and reclaim_expired_leases only looked at rows with a
-- host, so they were never run again. Now an expired lease is reclaimed whether or not its host row
-- still exists, and a provisioning or connected account with no host at all is reclaimed too.

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
    and deleted_at is null;
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
