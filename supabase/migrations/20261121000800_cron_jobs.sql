-- Scheduled jobs. Each job calls one SQL function (tests call the same functions directly).
-- Debian's pg_cron is 1.4.2: standard 5-field cron syntax, nothing finer than a minute.
-- cron.schedule(name, ...) upserts by name, so re-running this file is harmless.

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

select cron.schedule('rubi-sweep-stale-sessions', '* * * * *', 'select private.sweep_stale_sessions()');
select cron.schedule('rubi-expire-signals', '* * * * *', 'select private.expire_signals()');
select cron.schedule('rubi-retry-errored-accounts', '* * * * *', 'select private.retry_errored_accounts()');
select cron.schedule('rubi-reclaim-expired-leases', '* * * * *', 'select private.reclaim_expired_leases()');
select cron.schedule('rubi-disconnect-silent-accounts', '* * * * *', 'select private.disconnect_silent_accounts()');
select cron.schedule('rubi-settle-cashback', '5 0 * * *', 'select private.settle_cashback()');
select cron.schedule('rubi-cleanup-seen-request-ids', '*/10 * * * *', 'select private.cleanup_seen_request_ids()');
select cron.schedule('rubi-cleanup-cron-history', '15 3 * * *', 'select private.cleanup_cron_history()');
select cron.schedule('rubi-maintain-snapshot-partitions', '30 0 * * *', 'select private.maintain_snapshot_partitions()');
