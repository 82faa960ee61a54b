-- Rate limits (issue #15): how many attempts a credential, an account, a user or a client IP may
-- make on the auth-sensitive routes (register, failed EA signatures, failed VPS host keys, EA key
-- creation), kept here so that they hold across every instance of every function.
--
-- One row per bucket (`<kind>:<subject>`, e.g. `register_ip:203.0.113.7`) holding a GCRA
-- "theoretical arrival time" (tat): the moment the bucket would be full again. A request costing n
-- moves tat n emission intervals (60 s / rate) later; it is allowed when tat stays within the burst
-- (burst x interval) of now. The decision and the write are ONE upsert: concurrent requests on a
-- bucket queue on its row lock and each sees the tat the previous one left, so no two requests can
-- both take the last token. Rates and bursts per kind are settings
-- (`rate_limit_<kind>_per_minute`, `rate_limit_<kind>_burst`), read on every call.
--
-- The edge side (packages/edge/src/rate-limit.ts) calls private.take_rate_limit as service_role and
-- answers 429 with Retry-After; which routes take which buckets, and what happens when the limiter
-- itself fails, is written there. No API role can read or write the table.
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

-- Nothing in `private` is executable by PUBLIC; the grant above is the only way in.
revoke execute on all functions in schema private from public;
