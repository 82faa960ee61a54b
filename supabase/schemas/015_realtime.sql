-- Realtime: Broadcast from Database (see design.md), and who may listen.
--
-- Every user-owned row change is broadcast to the owner's private topic `user:<uuid>`
-- (event = table name). The triggers that do it sit next to their tables:
--   per row, payload = operation + record(s), with private.broadcast_to_owner below:
--     mt5_sessions_broadcast and mt5_sessions_broadcast_update (020_ea_keys_sessions.sql: an update
--     that only moves last_ping_at is not broadcast), trading_signals_broadcast (030_signals.sql),
--     positions_broadcast (040_positions_snapshots.sql), notifications_broadcast (050_notifications.sql),
--     trading_accounts_broadcast and trading_accounts_broadcast_update (060_provisioning.sql: an update
--     that only renews the lease or moves last_seen_at is not broadcast, and no message carries the
--     host's bookkeeping: vps_host_id, lease_expires_at, claimed_at), cashback_ledger_broadcast
--     (090_cashback.sql);
--   per statement, payload = a summary per account: closed_trades_broadcast_insert / _update /
--     _delete with private.broadcast_closed_trades (090_cashback.sql).
-- And one data-free private topic: `vps:doorbell`, event `account_pending`, rung by
-- private.ring_vps_doorbell when an account enters the queue (060_provisioning.sql), which only VPS
-- hosts may join (policy below).

-- Only tables without secrets use this trigger. Its arguments, if any, name columns the message
-- leaves out (what the owner has no use for: trading_accounts' host bookkeeping); the payload is
-- then built here, in the shape realtime.broadcast_changes gives it. Security definer so the insert
-- into realtime.messages does not depend on the writer's privileges.
create function private.broadcast_to_owner() returns trigger
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_owner uuid := case when tg_op = 'DELETE' then old.user_id else new.user_id end;
  v_payload jsonb;
begin
  if v_owner is null then
    return null;
  end if;
  if tg_nargs = 0 then
    perform realtime.broadcast_changes(
      'user:' || v_owner::text, tg_table_name, tg_op, tg_table_name, tg_table_schema, new, old
    );
    return null;
  end if;
  v_payload := jsonb_build_object('operation', tg_op, 'table', tg_table_name, 'schema', tg_table_schema);
  if tg_op in ('INSERT', 'UPDATE') then
    v_payload := v_payload || jsonb_build_object('record', to_jsonb(new) - tg_argv);
  end if;
  if tg_op in ('UPDATE', 'DELETE') then
    v_payload := v_payload || jsonb_build_object('old_record', to_jsonb(old) - tg_argv);
  end if;
  perform realtime.send(v_payload, tg_table_name, 'user:' || v_owner::text, true);
  return null;
end;
$$;

-- ---------------------------------------------------------------------------------------------
-- Realtime authorization: a signed-in user may receive broadcasts only on their own private
-- topic `user:<uuid>`. Realtime evaluates this policy when a client joins a private channel,
-- with realtime.topic() set to the topic being joined. Row topic and joined topic must both be
-- the user's, so even a direct read of realtime.messages shows nothing of anyone else.
create policy "users receive their own topic" on realtime.messages
  for select to authenticated
  using (
    extension = 'broadcast'
    and topic = 'user:' || (select auth.uid())::text
    and topic = (select realtime.topic())
  );

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

-- Nothing in `private` is executable by PUBLIC; the grants above are the only way in.
revoke execute on all functions in schema private from public;
