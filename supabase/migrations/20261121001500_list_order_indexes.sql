-- Indexes that serve the dashboard lists in the order they are read (RLS adds user_id = auth.uid()):
--   GET /positions          order by opened_at desc, session_id desc, ticket desc (keyset cursor)
--   GET /accounts/sessions  order by created_at desc, id desc (keyset cursor)
-- Each replaces an index on the same leading column that could filter by owner but not give the
-- order, so every page sorted all of a user's rows. (The sessions index was on connected_at, which
-- no query orders by: a resume changes connected_at, so the list is ordered by created_at.)

drop index public.positions_user_id_idx;
create index positions_user_id_opened_idx on public.positions (user_id, opened_at desc, session_id desc, ticket desc);

drop index public.mt5_sessions_user_id_idx;
create index mt5_sessions_user_id_created_idx on public.mt5_sessions (user_id, created_at desc, id desc);
