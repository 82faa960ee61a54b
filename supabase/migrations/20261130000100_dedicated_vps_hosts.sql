-- A VPS host may be dedicated to one user: it runs that user's accounts and nobody else's, and the
-- shared hosts leave that user's accounts to it.
--
-- Why: a trader who brings their own VPS (or an operator who reserves one for a client) must not
-- have strangers' terminals on it, nor see their own accounts started elsewhere. The local demo
-- relies on it too: its throwaway agent, on a server that other people use, provisions only the
-- demo user's accounts and leaves everyone else's queue exactly as it was.

alter table private.vps_hosts
  add column dedicated_user_id uuid references auth.users (id) on delete cascade;
create index vps_hosts_dedicated_user_id_idx on private.vps_hosts (dedicated_user_id)
  where dedicated_user_id is not null;
comment on column private.vps_hosts.dedicated_user_id is
  'When set, the host claims only this user''s accounts, and shared hosts (null) never claim them while the host is not revoked. Deleted with the user.';

create or replace function private.claim_accounts(p_host_id uuid, p_limit integer, p_platforms text[] default array['MT4', 'MT5'])
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
      and a.platform = any (p_platforms)
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
comment on function private.claim_accounts(uuid, integer, text[]) is
  'Hands a VPS host up to p_limit queued accounts (within its free capacity) of the platforms it runs, oldest first, FOR UPDATE SKIP LOCKED: a dedicated host only its user''s, a shared host everyone else''s. Sets provisioning and a lease.';
