-- Local platform SQL: recreates what a Supabase project provides before our migrations run.
-- Applied ONLY where Supabase's own services are absent (PGlite, the throwaway PostgreSQL 15
-- test cluster). Never pushed to a Supabase project. Written from Supabase's documented behaviour.
--
-- 00: the API roles PostgREST, Realtime and the Edge Functions switch into.
--   anon           requests with the publishable (anon) key and no user session
--   authenticated  requests carrying a user's JWT
--   service_role   trusted servers; bypasses RLS
--   authenticator  the login role PostgREST connects as, then `set role`s into one of the above
do $$
begin
  if not exists (select 1 from pg_roles where rolname = 'anon') then
    create role anon nologin noinherit;
  end if;
  if not exists (select 1 from pg_roles where rolname = 'authenticated') then
    create role authenticated nologin noinherit;
  end if;
  if not exists (select 1 from pg_roles where rolname = 'service_role') then
    create role service_role nologin noinherit bypassrls;
  end if;
  if not exists (select 1 from pg_roles where rolname = 'authenticator') then
    create role authenticator login noinherit;
  end if;
end
$$;

grant anon, authenticated, service_role to authenticator;

-- Supabase exposes `public` through the Data API: the API roles may use it, and objects the
-- owner creates there are granted to them by default. RLS is what actually protects rows,
-- which is why every table we create in `public` enables it.
grant usage on schema public to anon, authenticated, service_role;
alter default privileges in schema public grant all on tables to anon, authenticated, service_role;
alter default privileges in schema public grant all on sequences to anon, authenticated, service_role;
alter default privileges in schema public grant all on functions to anon, authenticated, service_role;
