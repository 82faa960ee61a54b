-- Notifications: messages for a user written by the backend, read and marked read on the dashboard
-- (GET /accounts/notifications, mark one or all read).
--
-- Who writes which kind:
--   account_connected     trigger trading_accounts_notify_connected (060_provisioning.sql): an account
--                         enters `connected` by a request (EA, VPS agent, user), not by the owner's hand
--   account_disconnected  private.disconnect_silent_accounts, the silence sweep (060_provisioning.sql)
--   account_error         private.vps_report_state, with the agent's error code (070_vps_api.sql)
--   account_credentials_rejected
--                         private.vps_report_state: the broker refused the investor password (E_AUTH);
--                         the account waits for its owner to change it (070_vps_api.sql)
--   cashback_settled      private.settle_cashback, the nightly settlement (090_cashback.sql)
--   account_verified      private.account_ownership: the owner proved the account is theirs (090_cashback.sql)
--   account_verification_required
--                         migration 20261130001200_account_identity: a registration sharing its real
--                         account with another, left unverified; its owner must prove it
-- (account_error is also written by private.stop_owned_elsewhere, E_OWNED_ELSEWHERE: another user
-- proved the account is theirs; 090_cashback.sql.)
-- Every notification reaches the dashboard live (notifications_broadcast, event `notifications` on the
-- owner's topic `user:<uuid>`).

-- The vocabulary of this domain (see 010_foundation.sql).
create type public.notification_kind as enum ('account_connected', 'account_disconnected', 'account_error', 'cashback_settled',
  'account_verified', 'account_verification_required', 'account_credentials_rejected');
comment on type public.notification_kind is 'What a notification is about';
create cast (text as public.notification_kind) with inout as assignment;

create table public.notifications (
  id uuid primary key default gen_random_uuid(),
  user_id uuid not null references auth.users (id) on delete cascade,
  kind public.notification_kind not null,
  title text not null,
  body text not null,
  account_id uuid,
  created_at timestamptz not null default now(),
  read_at timestamptz
);
create index notifications_user_id_idx on public.notifications (user_id, created_at desc);
create index notifications_account_id_idx on public.notifications (account_id);
-- The unread filter and the unread count.
create index notifications_unread_idx on public.notifications (user_id, created_at desc) where read_at is null;
alter table public.notifications enable row level security;

create policy "owners read their notifications" on public.notifications
  for select to authenticated using (user_id = (select auth.uid()));
create policy "owners mark their notifications read" on public.notifications
  for update to authenticated
  using (user_id = (select auth.uid()))
  with check (user_id = (select auth.uid()));
create policy "owners delete their notifications" on public.notifications
  for delete to authenticated using (user_id = (select auth.uid()));
-- The backend writes notifications; a user marks them read (read_at, nothing else) and deletes them.
revoke insert, update, delete, truncate on public.notifications from anon, authenticated;
grant update (read_at), delete on public.notifications to authenticated;

-- Marking read is the only change a user makes to a notification (the policies already limit the
-- rows to their own): anything else an API role changes is refused. Security invoker on purpose:
-- it must see who is writing (as private.enforce_transition does).
create function private.guard_notification_update() returns trigger
language plpgsql
set search_path = ''
as $$
begin
  if private.current_actor() <> 'system' and (to_jsonb(new) - 'read_at') is distinct from (to_jsonb(old) - 'read_at') then
    raise exception 'only read_at of a notification can be changed' using errcode = 'insufficient_privilege';
  end if;
  return new;
end;
$$;
create trigger notifications_guard before update on public.notifications
  for each row execute function private.guard_notification_update();
create trigger notifications_broadcast after insert or update or delete on public.notifications
  for each row execute function private.broadcast_to_owner();

-- Nothing in `private` is executable by PUBLIC; the grants above are the only way in.
revoke execute on all functions in schema private from public;
