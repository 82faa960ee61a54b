-- Rate limits (20261130001100_rate_limits.sql): private.take_rate_limit (GCRA, one upsert),
-- its settings, private.cleanup_rate_limits, and that no API role reaches the table directly.
--
-- `generate_series(...) g cross join lateral take_rate_limit(..., 'x' || left(g::text, 0))` calls
-- the function once per row (a lateral call that names no outer column is evaluated once).
--
-- The whole file is one transaction, so now() stands still: refilling is shown by moving a
-- bucket's tat back, as time passing would. The kind `pgtap` is this file's own (settings rows
-- inserted below, rolled back at the end).
begin;
\ir helpers/setup.psql

select plan(39);

select tests.clear_authentication();
insert into private.settings (key, value, description) values
  ('rate_limit_pgtap_per_minute', 60, 'test: one token a second'),
  ('rate_limit_pgtap_burst', 3, 'test: three at once');
select tests.create_user('rate.limits@pgtap.test') as pgtap_user \gset

-- ---------------------------------------------------------------------------------------------
-- No API role reads or writes the table, and only service_role may take tokens.
select ok((select relrowsecurity from pg_class where oid = 'private.rate_limits'::regclass), 'private.rate_limits has RLS enabled');

select tests.authenticate_as_anon();
select throws_ok('select * from private.rate_limits', '42501', null, 'anon cannot read private.rate_limits');
select throws_ok($$insert into private.rate_limits values ('pgtap:x', now())$$, '42501', null, 'anon cannot write private.rate_limits');
select throws_ok($$select * from private.take_rate_limit('pgtap', 'x')$$, '42501', null, 'anon cannot take tokens');

select tests.authenticate_as(:'pgtap_user');
select throws_ok('select * from private.rate_limits', '42501', null, 'authenticated cannot read private.rate_limits');
select throws_ok($$delete from private.rate_limits$$, '42501', null, 'authenticated cannot delete from private.rate_limits');
select throws_ok($$select * from private.take_rate_limit('pgtap', 'x')$$, '42501', null, 'authenticated cannot take tokens');

select tests.authenticate_as_service_role();
select throws_ok('select * from private.rate_limits', '42501', null, 'service_role cannot read private.rate_limits (only through the function)');
select throws_ok($$update private.rate_limits set tat = now()$$, '42501', null, 'service_role cannot update private.rate_limits');
select throws_ok('select private.cleanup_rate_limits()', '42501', null, 'service_role cannot run the cleanup (cron does)');

-- ---------------------------------------------------------------------------------------------
-- Burst, then refusal with Retry-After; nothing is taken by a refusal.
select results_eq($$select allowed, retry_after_seconds from private.take_rate_limit('pgtap', 'burst')$$,
  $$values (true, 0)$$, 'service_role takes a token: allowed');
select results_eq($$select allowed from private.take_rate_limit('pgtap', 'burst')$$, $$values (true)$$, 'second token of a burst of 3');
select results_eq($$select allowed from private.take_rate_limit('pgtap', 'burst')$$, $$values (true)$$, 'third token of a burst of 3');
select results_eq($$select allowed, retry_after_seconds from private.take_rate_limit('pgtap', 'burst')$$,
  $$values (false, 1)$$, 'the fourth at the same instant is refused, retry after 1 s (one token a second)');
select results_eq($$select allowed, retry_after_seconds from private.take_rate_limit('pgtap', 'burst', 2)$$,
  $$values (false, 2)$$, 'two tokens: retry after 2 s');
select tests.clear_authentication();
select is((select tat from private.rate_limits where bucket = 'pgtap:burst'), now() + interval '3 seconds',
  'refusals took nothing: tat is 3 intervals ahead, one per allowed token');

-- Another subject has its own bucket.
select tests.authenticate_as_service_role();
select results_eq($$select allowed from private.take_rate_limit('pgtap', 'other')$$, $$values (true)$$, 'another subject is not limited by the first');

-- ---------------------------------------------------------------------------------------------
-- Refill: 2 s later two tokens are back, not three.
select tests.clear_authentication();
update private.rate_limits set tat = tat - interval '2 seconds' where bucket = 'pgtap:burst';
select tests.authenticate_as_service_role();
select results_eq($$select allowed from private.take_rate_limit('pgtap', 'burst', 2)$$, $$values (true)$$, 'after 2 s, two tokens at once');
select results_eq($$select allowed, retry_after_seconds from private.take_rate_limit('pgtap', 'burst')$$,
  $$values (false, 1)$$, 'and no third');
-- A long idle bucket refills to the burst, never beyond it.
select tests.clear_authentication();
update private.rate_limits set tat = now() - interval '1 hour' where bucket = 'pgtap:burst';
select tests.authenticate_as_service_role();
select is((select count(*)::int from generate_series(1, 10) g cross join lateral private.take_rate_limit('pgtap', 'burst' || left(g::text, 0)) t where t.allowed), 3,
  'after an hour idle: 3 of 10 taken in one statement (the burst, not 60)');

-- ---------------------------------------------------------------------------------------------
-- Settings are read on every call.
select tests.clear_authentication();
update private.settings set value = 5 where key = 'rate_limit_pgtap_burst';
select tests.authenticate_as_service_role();
select is((select count(*)::int from generate_series(1, 10) g cross join lateral private.take_rate_limit('pgtap', 'settings' || left(g::text, 0)) t where t.allowed), 5,
  'a burst of 5 lets 5 through');
select tests.clear_authentication();
update private.settings set value = 6 where key = 'rate_limit_pgtap_per_minute';
select tests.authenticate_as_service_role();
select results_eq($$select allowed, retry_after_seconds from private.take_rate_limit('pgtap', 'slow')$$,
  $$values (true, 0)$$, '6 a minute: the first is allowed');
select is((select count(*)::int from generate_series(1, 10) g cross join lateral private.take_rate_limit('pgtap', 'slow' || left(g::text, 0)) t where t.allowed), 4,
  '6 a minute with a burst of 5: four more at once');
select results_eq($$select allowed, retry_after_seconds from private.take_rate_limit('pgtap', 'slow')$$,
  $$values (false, 10)$$, '6 a minute: retry after 10 s');

-- Every shipped kind has its two settings, and they are positive.
select tests.clear_authentication();
select is_empty($$
  select k from unnest(array['register_ip', 'register_account', 'ea_auth_failure_credential', 'ea_auth_failure_ip',
                             'vps_auth_failure_ip', 'operator_auth_failure_ip', 'key_create_user']) k
  where coalesce((select value from private.settings where key = 'rate_limit_' || k || '_per_minute'), 0) <= 0
     or coalesce((select value from private.settings where key = 'rate_limit_' || k || '_burst'), 0) < 1
$$, 'every kind the functions use has a positive rate and a burst of at least 1');

-- ---------------------------------------------------------------------------------------------
-- Bad input.
select tests.authenticate_as_service_role();
select throws_ok($$select * from private.take_rate_limit('nope', 'x')$$, 'P0002', null, 'an unknown kind has no settings: P0002');
select throws_ok($$select * from private.take_rate_limit('pgtap', 'x', 0)$$, '22023', null, 'a cost below 1 is refused');
select throws_ok($$select * from private.take_rate_limit('pgtap', 'x', 6)$$, '22023', null, 'a cost above the burst is refused (it could never pass)');
select throws_ok($$select * from private.take_rate_limit('pgtap', '')$$, '22023', null, 'a subject is required');
select throws_ok($$select * from private.take_rate_limit('Bad Kind', 'x')$$, '22023', null, 'a kind is lowercase letters and _');

-- ---------------------------------------------------------------------------------------------
-- Concurrency-safe shape: the decision and the write are one upsert whose WHERE re-reads the
-- row it locked (READ COMMITTED re-checks it against the latest version), with no read before it.
select tests.clear_authentication();
select matches(
  (select prosrc from pg_proc where oid = 'private.take_rate_limit(text, text, integer)'::regprocedure),
  'insert into private\.rate_limits as r \(bucket, tat\)\s+values \([^;]*\)\s+on conflict \(bucket\) do update\s+set tat = greatest\(r\.tat, now\(\)\) \+ [^;]*\s+where greatest\(r\.tat, now\(\)\) \+ [^;]*<= [^;]*;',
  'take_rate_limit decides in one insert ... on conflict do update ... where');
select is(
  (select count(*)::int from regexp_matches(
     (select prosrc from pg_proc where oid = 'private.take_rate_limit(text, text, integer)'::regprocedure),
     'from private\.rate_limits', 'g')), 1,
  'the only read of the table is the Retry-After figure, after the decision');
select ok(
  position('insert into private.rate_limits' in (select prosrc from pg_proc where oid = 'private.take_rate_limit(text, text, integer)'::regprocedure))
  < position('from private.rate_limits' in (select prosrc from pg_proc where oid = 'private.take_rate_limit(text, text, integer)'::regprocedure)),
  'and it comes after the upsert');
select is((select provolatile::text from pg_proc where oid = 'private.take_rate_limit(text, text, integer)'::regprocedure), 'v',
  'take_rate_limit is volatile (never folded or cached by the planner)');

-- ---------------------------------------------------------------------------------------------
-- Cleanup: buckets whose tat has passed are full again and go; the others stay.
delete from private.rate_limits;
insert into private.rate_limits (bucket, tat) values
  ('pgtap:idle', now() - interval '1 second'),
  ('pgtap:long-idle', now() - interval '1 day'),
  ('pgtap:busy', now() + interval '5 seconds');
select is(private.cleanup_rate_limits(), 2, 'cleanup removes the two full buckets');
select results_eq('select bucket from private.rate_limits', $$values ('pgtap:busy')$$, 'the bucket still draining stays');
select is((select command from cron.job where jobname = 'rubi-cleanup-rate-limits'), 'select private.cleanup_rate_limits()',
  'cron job rubi-cleanup-rate-limits runs the cleanup');
select is((select schedule from cron.job where jobname = 'rubi-cleanup-rate-limits'), '*/10 * * * *', 'every 10 minutes');

-- A bucket that was cleaned up is full: it grants the whole burst again.
select tests.authenticate_as_service_role();
select is((select count(*)::int from generate_series(1, 10) g cross join lateral private.take_rate_limit('pgtap', 'idle' || left(g::text, 0)) t where t.allowed), 5,
  'a cleaned-up bucket starts full');

select * from finish();
rollback;
