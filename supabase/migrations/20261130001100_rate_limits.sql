-- Rate limits (issue #15 item 5): private.rate_limits, private.take_rate_limit (GCRA in one upsert),
-- private.cleanup_rate_limits and its cron job, and the rates and bursts per kind in private.settings.
-- Declarative source: supabase/schemas/027_rate_limits.sql (settings rows in 010_foundation.sql, the
-- job in 900_cron_jobs.sql).

create table private.rate_limits (
  bucket text primary key,
  tat timestamptz not null
);
alter table private.rate_limits enable row level security;

-- Takes p_cost tokens from the bucket `<p_kind>:<p_subject>`. Allowed: the tokens are taken.
-- Refused: nothing is taken, and retry_after_seconds says when p_cost tokens will be there again.
create function private.take_rate_limit(p_kind text, p_subject text, p_cost integer default 1)
returns table (allowed boolean, retry_after_seconds integer)
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_bucket text;
  v_interval interval;
  v_burst numeric;
  v_tat timestamptz;
begin
  if coalesce(p_kind, '') !~ '^[a-z_]+$' then
    raise exception 'p_kind must be a rate limit kind (lowercase letters and _)' using errcode = 'invalid_parameter_value';
  end if;
  if coalesce(p_subject, '') = '' then
    raise exception 'p_subject is required' using errcode = 'invalid_parameter_value';
  end if;
  v_interval := make_interval(secs => 60 / private.setting('rate_limit_' || p_kind || '_per_minute'));
  v_burst := private.setting('rate_limit_' || p_kind || '_burst');
  if p_cost is null or p_cost < 1 or p_cost > v_burst then
    raise exception 'p_cost must be between 1 and the burst of %', p_kind using errcode = 'invalid_parameter_value';
  end if;
  v_bucket := p_kind || ':' || left(p_subject, 200);

  insert into private.rate_limits as r (bucket, tat)
  values (v_bucket, now() + p_cost * v_interval)
  on conflict (bucket) do update
    set tat = greatest(r.tat, now()) + p_cost * v_interval
    where greatest(r.tat, now()) + p_cost * v_interval <= now() + v_burst * v_interval;
  if found then
    return query select true, 0;
    return;
  end if;
  -- Refused: only the Retry-After figure is read now (the decision above is the one that counts).
  select r.tat into v_tat from private.rate_limits r where r.bucket = v_bucket;
  return query select false,
    greatest(1, ceil(extract(epoch from (greatest(v_tat, now()) + p_cost * v_interval - v_burst * v_interval - now())))::integer);
end;
$$;
grant execute on function private.take_rate_limit(text, text, integer) to service_role;

-- Cron (job rubi-cleanup-rate-limits, every 10 minutes): forget buckets that are full again (their
-- tat has passed): a missing row and a full bucket are the same thing.
create function private.cleanup_rate_limits() returns integer
language plpgsql
security definer
set search_path = ''
as $$
declare
  n integer;
begin
  delete from private.rate_limits where tat < now();
  get diagnostics n = row_count;
  return n;
end;
$$;

revoke execute on function private.take_rate_limit(text, text, integer), private.cleanup_rate_limits() from public;

insert into private.settings (key, value, description) values
  ('rate_limit_register_ip_per_minute', 30, 'register attempts per client IP: sustained rate (429 beyond it and the burst)'),
  ('rate_limit_register_ip_burst', 30, 'register attempts per client IP: burst'),
  ('rate_limit_register_account_per_minute', 6, 'register attempts per external account id: sustained rate'),
  ('rate_limit_register_account_burst', 10, 'register attempts per external account id: burst'),
  ('rate_limit_ea_auth_failure_credential_per_minute', 30, 'Failed EA signature checks per EA key or account id: sustained rate'),
  ('rate_limit_ea_auth_failure_credential_burst', 30, 'Failed EA signature checks per EA key or account id: burst'),
  ('rate_limit_ea_auth_failure_ip_per_minute', 120, 'Failed EA signature checks per client IP (a VPS runs many terminals): sustained rate'),
  ('rate_limit_ea_auth_failure_ip_burst', 120, 'Failed EA signature checks per client IP: burst'),
  ('rate_limit_vps_auth_failure_ip_per_minute', 30, 'Failed VPS host key checks per client IP: sustained rate'),
  ('rate_limit_vps_auth_failure_ip_burst', 30, 'Failed VPS host key checks per client IP: burst'),
  ('rate_limit_key_create_user_per_minute', 10, 'EA keys created per user: sustained rate'),
  ('rate_limit_key_create_user_burst', 20, 'EA keys created per user: burst');

select cron.schedule('rubi-cleanup-rate-limits', '*/10 * * * *', 'select private.cleanup_rate_limits()');
