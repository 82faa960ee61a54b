-- Catalog-wide checks: written against the catalog rather than a list of known objects, so a
-- table, policy, function or job added later is held to the same rules without editing this file.
begin;
\ir helpers/setup.psql

select plan(26);

select tests.clear_authentication();

-- ---------------------------------------------------------------------------------------------
-- Tables in public (the schema the Data API exposes).
select cmp_ok((select count(*)::int from pg_class c join pg_namespace n on n.oid = c.relnamespace
               where n.nspname = 'public' and c.relkind in ('r', 'p')), '>=', 12,
  'public holds the application tables (so the checks below are not vacuous)');

select is_empty($$
  select c.relname from pg_class c join pg_namespace n on n.oid = c.relnamespace
  where n.nspname = 'public' and c.relkind in ('r', 'p') and not c.relrowsecurity
$$, 'every table in public has row-level security enabled');

select is_empty($$
  select c.relname from pg_class c join pg_namespace n on n.oid = c.relnamespace
  where n.nspname = 'public' and c.relkind in ('r', 'p')
    and not exists (select 1 from pg_policy p where p.polrelid = c.oid)
$$, 'every table in public has at least one policy');

select is_empty($$
  select c.relname from pg_class c join pg_namespace n on n.oid = c.relnamespace
  where n.nspname = 'public' and c.relkind in ('v', 'm')
$$, 'public has no views or materialized views (they would bypass RLS as their owner)');

select is_empty($$
  select tablename || ': ' || policyname from pg_policies
  where schemaname = 'public' and roles <> array['authenticated']::name[] and roles <> array['rubi_ea']::name[]
$$, 'every policy on public tables names its role: authenticated or rubi_ea (an admitted EA) only (anon evaluates none)');

select is_empty($$
  select tablename || ': ' || policyname from pg_policies
  where schemaname = 'public'
    and regexp_count(coalesce(qual, '') || coalesce(with_check, ''), 'auth\.(uid|jwt)\(\)')
     <> regexp_count(coalesce(qual, '') || coalesce(with_check, ''), '\( SELECT auth\.(uid|jwt)\(\) AS [a-z]+\)')
$$, 'policies call auth.uid() / auth.jwt() wrapped in a sub-select (evaluated once per statement)');

-- The column every ownership policy filters on is the leading column of an index.
select is_empty($$
  select c.relname from pg_class c
  join pg_namespace n on n.oid = c.relnamespace
  join pg_attribute a on a.attrelid = c.oid and a.attname = 'user_id' and not a.attisdropped
  where n.nspname = 'public' and c.relkind in ('r', 'p')
    and not exists (select 1 from pg_index i where i.indrelid = c.oid and i.indkey[0] = a.attnum)
$$, 'every public table with a user_id column has an index led by user_id');

-- ---------------------------------------------------------------------------------------------
-- Functions.
select is_empty($$
  select p.oid::regprocedure::text from pg_proc p join pg_namespace n on n.oid = p.pronamespace
  where n.nspname = 'private' and p.prosecdef
    and not exists (select 1 from unnest(coalesce(p.proconfig, '{}')) c where c like 'search_path=%')
$$, 'every security-definer function in private pins its search_path');

select is_empty($$
  select p.oid::regprocedure::text from pg_proc p join pg_namespace n on n.oid = p.pronamespace
  where n.nspname = 'private'
    and not exists (select 1 from unnest(coalesce(p.proconfig, '{}')) c where c like 'search_path=%')
$$, 'every function in private pins its search_path (Supabase lint function_search_path_mutable)');

select is_empty($$
  select p.oid::regprocedure::text from pg_proc p join pg_namespace n on n.oid = p.pronamespace
  where n.nspname = 'public' and p.prosecdef
$$, 'no security-definer function sits in public, where the Data API would expose it as an RPC');

-- PUBLIC (grantee 0) must not hold EXECUTE on anything in private: a NULL proacl means the
-- built-in default, which grants EXECUTE to PUBLIC.
select is_empty($$
  select p.oid::regprocedure::text from pg_proc p join pg_namespace n on n.oid = p.pronamespace
  where n.nspname = 'private'
    and exists (select 1 from aclexplode(coalesce(p.proacl, acldefault('f', p.proowner))) a
                where a.grantee = 0 and a.privilege_type = 'EXECUTE')
$$, 'no function in private is executable by PUBLIC');

-- ---------------------------------------------------------------------------------------------
-- pg_cron: on this cluster the real extension provides the cron schema, and it holds exactly our jobs.
select has_extension('pg_cron', 'the pg_cron extension is installed');
select ok(exists (
  select 1 from pg_depend d
  where d.classid = 'pg_class'::regclass and d.objid = 'cron.job'::regclass
    and d.refclassid = 'pg_extension'::regclass
    and d.refobjid = (select oid from pg_extension where extname = 'pg_cron')
    and d.deptype = 'e'
), 'cron.job belongs to the pg_cron extension (not the PGlite stand-in)');

select is(
  array(select jobname::text from cron.job order by jobname),
  array[
    'rubi-cleanup-cron-history',
    'rubi-cleanup-rate-limits',
    'rubi-cleanup-seen-request-ids',
    'rubi-disconnect-silent-accounts',
    'rubi-expire-signals',
    'rubi-maintain-snapshot-partitions',
    'rubi-reclaim-expired-leases',
    'rubi-retry-errored-accounts',
    'rubi-settle-cashback',
    'rubi-sweep-stale-sessions'
  ],
  'cron.job holds exactly the expected jobs');

select is_empty($$
  select j.jobname from cron.job j
  where j.command !~ '^select private\.[a-z_]+\(\)$'
     or not exists (
       select 1 from pg_proc p join pg_namespace n on n.oid = p.pronamespace
       where n.nspname = 'private' and p.proname = substring(j.command from '^select private\.([a-z_]+)\(\)$')
         and p.pronargs = p.pronargdefaults)
$$, 'every job runs `select private.<fn>()` for a function that exists and needs no argument');

-- And each command really runs (inside this transaction, rolled back at the end).
select lives_ok(j.command, format('job %s runs: %s', j.jobname, j.command))
from cron.job j order by j.jobname;

select is_empty($$
  select j.jobname from cron.job j where not j.active or j.database <> current_database()
$$, 'every job is active and runs in this database');

select * from finish();
rollback;
