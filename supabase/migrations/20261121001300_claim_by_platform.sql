-- A VPS host claims only accounts of the platforms it can run.
--
-- Before, claim_accounts handed any queued account to any host: a host with only an MT5 install
-- claimed an MT4 account, failed to launch it (E_LAUNCH) and sent it into the error/retry cycle,
-- possibly again and again, while a host that could run it sat idle. The agent now sends the
-- platforms it is configured for; without them (older agents) both are assumed, as before.

drop function private.claim_accounts(uuid, integer);

create function private.claim_accounts(p_host_id uuid, p_limit integer, p_platforms text[] default array['MT4', 'MT5'])
returns setof public.trading_accounts
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_capacity integer;
  v_held integer;
  v_take integer;
begin
  select h.capacity into v_capacity from private.vps_hosts h
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
      and a.platform = any (p_platforms)
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

revoke execute on all functions in schema private from public;
