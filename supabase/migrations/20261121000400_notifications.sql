-- Notifications: messages for a user written by the backend (e.g. "your account went silent").
create table public.notifications (
  id uuid primary key default gen_random_uuid(),
  user_id uuid not null references auth.users (id) on delete cascade,
  kind text not null check (kind in ('account_disconnected', 'account_error', 'account_connected', 'cashback_settled')),
  title text not null,
  body text not null,
  account_id uuid,
  created_at timestamptz not null default now(),
  read_at timestamptz
);
create index notifications_user_id_idx on public.notifications (user_id, created_at desc);
create index notifications_account_id_idx on public.notifications (account_id);
alter table public.notifications enable row level security;

create policy "owners read their notifications" on public.notifications
  for select to authenticated using (user_id = (select auth.uid()));
create policy "owners mark their notifications read" on public.notifications
  for update to authenticated
  using (user_id = (select auth.uid()))
  with check (user_id = (select auth.uid()));
create policy "owners delete their notifications" on public.notifications
  for delete to authenticated using (user_id = (select auth.uid()));
create trigger notifications_broadcast after insert or update or delete on public.notifications
  for each row execute function private.broadcast_to_owner();
