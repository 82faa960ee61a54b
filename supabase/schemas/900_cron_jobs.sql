-- Scheduled jobs (pg_cron). Each job calls one SQL function, defined next to the tables it works
-- on (tests call the same functions directly).
-- Debian's pg_cron is 1.4.2: standard 5-field cron syntax, nothing finer than a minute.
-- cron.schedule(name, ...) upserts by name, so re-running this file is harmless.

-- On Supabase and in our PostgreSQL 15 test cluster the real extension is available; in PGlite
-- the platform SQL provides a `cron` stand-in with the same schedule() signature.
do $$
begin
  if exists (select 1 from pg_available_extensions where name = 'pg_cron') then
    -- Supabase installs pg_cron into pg_catalog (its objects live in the `cron` schema).
    create extension if not exists pg_cron with schema pg_catalog;
  elsif to_regprocedure('cron.schedule(text,text,text)') is null then
    raise exception 'pg_cron is not available and no cron stand-in is installed';
  end if;
end
$$;

-- pg_cron logs every run in cron.job_run_details and never trims it.
create function private.cleanup_cron_history() returns integer
language plpgsql
security definer
set search_path = ''
as $$
declare
  n integer;
begin
  delete from cron.job_run_details
  where end_time < now() - make_interval(days => private.setting('cron_history_days')::integer);
  get diagnostics n = row_count;
  return n;
end;
$$;

-- Nothing in `private` is executable by PUBLIC; the grants above are the only way in.
revoke execute on all functions in schema private from public;

select cron.schedule('rubi-sweep-stale-sessions', '* * * * *', 'select private.sweep_stale_sessions()');           -- 020_ea_keys_sessions.sql
select cron.schedule('rubi-expire-signals', '* * * * *', 'select private.expire_signals()');                       -- 030_signals.sql
select cron.schedule('rubi-retry-errored-accounts', '* * * * *', 'select private.retry_errored_accounts()');       -- 060_provisioning.sql
select cron.schedule('rubi-reclaim-expired-leases', '* * * * *', 'select private.reclaim_expired_leases()');       -- 060_provisioning.sql
select cron.schedule('rubi-disconnect-silent-accounts', '* * * * *', 'select private.disconnect_silent_accounts()'); -- 060_provisioning.sql
select cron.schedule('rubi-settle-cashback', '5 0 * * *', 'select private.settle_cashback()');                     -- 090_cashback.sql
select cron.schedule('rubi-cleanup-seen-request-ids', '*/10 * * * *', 'select private.cleanup_seen_request_ids()'); -- 025_ea_request_path.sql
select cron.schedule('rubi-cleanup-rate-limits', '*/10 * * * *', 'select private.cleanup_rate_limits()');           -- 027_rate_limits.sql
select cron.schedule('rubi-cleanup-cron-history', '15 3 * * *', 'select private.cleanup_cron_history()');          -- above
select cron.schedule('rubi-maintain-snapshot-partitions', '30 0 * * *', 'select private.maintain_snapshot_partitions()'); -- 040_positions_snapshots.sql
