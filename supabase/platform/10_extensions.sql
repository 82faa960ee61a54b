-- 10: Supabase installs extensions into a dedicated `extensions` schema (kept out of `public`,
-- which the Data API exposes) and puts it on the search path of the API roles.
create schema if not exists extensions;
grant usage on schema extensions to anon, authenticated, service_role;
create extension if not exists pgcrypto with schema extensions;
