-- The VPS doorbell becomes private (issue #15, item 7): only VPS hosts may listen, nobody but the
-- database may ring it. A host joins with a token the `vps` function mints (POST
-- /vps/realtime-token: role anon + claim vps_host_id, short-lived). Declarative source:
-- supabase/schemas/015_realtime.sql (the policy) and 060_provisioning.sql (the ring).

-- The doorbell: when an account enters the queue, wake the VPS agents. The payload carries no
-- account data (agents fetch work through the vps function). The topic is private: only VPS hosts
-- may listen (policy "vps hosts receive the doorbell", 015_realtime.sql), and no client may ring it.
create or replace function private.ring_vps_doorbell() returns trigger
language plpgsql
security definer
set search_path = ''
as $$
begin
  perform realtime.send('{}'::jsonb, 'account_pending', 'vps:doorbell', true);
  return null;
end;
$$;

-- The VPS doorbell: joined only with a token the `vps` function mints for an authenticated host
-- (POST /vps/realtime-token: role anon, claim vps_host_id, ten minutes, signed with a key the
-- project trusts). The role is anon so the token grants nothing else; the claim can only come from
-- that signing key (Supabase Auth puts user-chosen data under user_metadata, never at the top). The
-- publishable key (anon without the claim) and users' tokens (authenticated) cannot join. No
-- INSERT policy: no client can ring it, only the database (realtime.send as the owner).
create policy "vps hosts receive the doorbell" on realtime.messages
  for select to anon
  using (
    extension = 'broadcast'
    and topic = 'vps:doorbell'
    and topic = (select realtime.topic())
    and coalesce((select auth.jwt()) ->> 'vps_host_id', '') <> ''
  );
