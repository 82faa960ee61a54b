-- The current schema, one file per domain (supabase/schemas/*.sql, applied in file-name order on top of
-- what a Supabase project provides: supabase/platform locally). Every table, policy, trigger, function,
-- grant and comment of ours is defined here exactly once, in its final form, next to its table.
--
-- The deploy path is still supabase/migrations: a project that applied them keeps applying only new
-- ones. A schema change is written twice, here and as a new migration, and
-- tests/integration/declarative-schema.test.ts proves that the migrations and these files build the
-- same catalog. See "Where the schema lives" in the README.
--
-- Foundation: the private schema, operator settings, the state-machine engine and shared triggers.
--
-- `private` is never exposed through the Data API. It holds secrets, infrastructure tables and
-- the security-definer functions that perform privileged steps. API roles get USAGE so that our
-- edge functions (running as the request's principal) can call the few functions granted to them;
-- no table in `private` is granted to anon or authenticated.
create schema if not exists private;
revoke all on schema private from public;
grant usage on schema private to authenticated, service_role;

-- The role a signed EA request runs as. The gates (private.enter_ea_key / enter_account_ea,
-- 025_ea_request_path.sql) switch the request's transaction to it, with the EA's claims. It is a
-- member of `authenticated`, so it reads what a signed-in user reads and every `to authenticated`
-- policy applies to it; the few table writes an EA's functions make are granted to it alone (a
-- user's JWT, through PostgREST, cannot write what only a terminal may report). Only the role the
-- edge functions connect as (`postgres`) may switch to it: `authenticator` (PostgREST) is never a
-- member, so no JWT `role` claim can reach it. Roles belong to the cluster, not the database:
-- created once, whichever database gets here first.
do $$
begin
  if not exists (select 1 from pg_catalog.pg_roles where rolname = 'rubi_ea') then
    create role rubi_ea nologin inherit;
  end if;
end
$$;
grant authenticated to rubi_ea;
grant rubi_ea to postgres;

-- Functions are executable by PUBLIC by default in Postgres, and per-schema default privileges
-- cannot take that away (a global `alter default privileges revoke` could, but it would also
-- strip PUBLIC from every extension installed later). So each file that creates functions in
-- `private` ends with `revoke execute on all functions in schema private from public` (as each
-- migration does), and the pgTAP inventory checks that no private function is left executable by
-- PUBLIC. The grants next to each function are the only way in.

-- Supabase's defaults grant ALL on new public tables to the API roles. RLS governs rows, but
-- TRUNCATE ignores RLS, and REFERENCES/TRIGGER are never needed by a client: take them away.
-- (Before any table is created: the files after this one rely on it.)
alter default privileges in schema public revoke truncate, references, trigger on tables from anon, authenticated;

-- ---------------------------------------------------------------------------------------------
-- The vocabulary: every closed set of values that both the database and the TypeScript contracts
-- know is an enum in `public`, declared at the top of the file of the domain that owns it (one
-- shared by several domains, here). `npm run db:types` turns each into a union in
-- packages/db/src/database.types.ts and a list in its `Constants`, from which packages/contracts
-- builds its zod enums; tests/unit/vocabulary.test.ts fails when the catalog (pg_enum), the
-- generated file and a contract disagree. Enums, not domains: none of these is meant to grow
-- without a release (each new value needs code that handles it), and adding one is a one-line
-- migration (`alter type ... add value`).
--
-- Text into a vocabulary column: each enum gets an assignment cast from text, so statements built
-- from text keep working (jsonb_to_recordset column lists, text parameters, plpgsql variables,
-- `array['MT4', 'MT5']` literals): a text value is stored through the enum's input function, which
-- refuses a value outside the vocabulary (SQLSTATE 22P02). It is an assignment cast only: comparing
-- an enum column with a text expression still needs an explicit cast (`status = $1::text` is an
-- error; `status = $1` and `status = 'active'` are not).
--
-- Left as text: error codes (E_AUTH, ...: an open set the agent reads from terminal logs, checked by
-- pattern), private.state_transitions (one table for several machines, private) and
-- trading_signals.status (030_signals.sql says why).

-- Shared by positions (040_positions_snapshots.sql) and closed trades (090_cashback.sql).
create type public.trade_side as enum ('BUY', 'SELL');
comment on type public.trade_side is 'Direction of an open position or a closed trade';
create cast (text as public.trade_side) with inout as assignment;

-- ---------------------------------------------------------------------------------------------
-- Operator settings: tunables read by triggers and cron functions (change with an UPDATE, no
-- migration needed). The rows are reference data: they are part of the schema.
create table private.settings (
  key text primary key,
  value numeric not null,
  description text not null
);
alter table private.settings enable row level security;

insert into private.settings (key, value, description) values
  ('session_stale_multiplier', 3, 'A session with no ping for this many ping intervals becomes stale'),
  ('session_default_ping_interval_seconds', 30, 'Ping interval handed to a connecting EA'),
  ('account_retry_max_attempts', 5, 'After this many consecutive errors an account is no longer retried automatically'),
  ('account_retry_base_seconds', 60, 'First retry delay; doubles on each further error'),
  ('account_retry_max_delay_seconds', 3600, 'Upper bound of the retry delay'),
  ('account_lease_seconds', 180, 'How long a VPS host holds an account without heartbeating'),
  ('account_silent_seconds', 600, 'A connected account whose EA has been silent this long becomes disconnected'),
  ('provisioning_token_ttl_seconds', 86400, 'Lifetime of a one-time provisioning token'),
  ('seen_request_ttl_seconds', 900, 'How long signed request ids are kept for replay protection (> 2 x 300 s tolerance)'),
  ('snapshot_retention_days', 30, 'Account snapshots older than this are dropped with their partition'),
  ('snapshot_partitions_ahead_days', 7, 'Daily snapshot partitions created ahead of time'),
  ('cron_history_days', 7, 'cron.job_run_details rows older than this are deleted'),
  ('signal_redelivery_window_seconds', 3600,
   'A DELIVERED signal of a session that ended follows the terminal to its next session for this long after delivery'),
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
  ('rate_limit_operator_auth_failure_ip_per_minute', 30, 'Failed operator key checks per client IP: sustained rate'),
  ('rate_limit_operator_auth_failure_ip_burst', 30, 'Failed operator key checks per client IP: burst'),
  ('rate_limit_key_create_user_per_minute', 10, 'EA keys created per user: sustained rate'),
  ('rate_limit_key_create_user_burst', 20, 'EA keys created per user: burst'),
  ('ops_metrics_window_seconds', 300, 'GET /ops/metrics: terminals heard from and delivery latency cover this many seconds back'),
  ('cashback_report_max_days', 400, 'GET /accounts/cashback/report: the widest from..to range one request may ask for');

-- Security definer: triggers fired by API roles read settings too.
create function private.setting(p_key text) returns numeric
language plpgsql stable
security definer
set search_path = ''
as $$
declare
  v numeric;
begin
  select s.value into v from private.settings s where s.key = p_key;
  if v is null then
    raise exception 'unknown setting %', p_key using errcode = 'P0002';
  end if;
  return v;
end;
$$;

-- ---------------------------------------------------------------------------------------------
-- updated_at maintenance (a BEFORE UPDATE trigger on every table with an updated_at column).
create function private.set_updated_at() returns trigger
language plpgsql
set search_path = ''
as $$
begin
  new.updated_at := now();
  return new;
end;
$$;

-- ---------------------------------------------------------------------------------------------
-- State machines, enforced in the database.
-- Each legal transition is a row. `actor` says who may perform it:
--   any     anyone whose row-level access already allows the write
--   ea      only a request authenticated as an EA (claims carry ea_key_id or ea_account_id)
--   system  only trusted code: the database owner, service_role, cron, security-definer functions
-- from_state '(new)' lists the states a row may be created in.
-- The rows of each machine are listed next to its table: `session` (020_ea_keys_sessions.sql),
-- `signal` (030_signals.sql), `account` (060_provisioning.sql).
create table private.state_transitions (
  machine text not null,
  from_state text not null,
  to_state text not null,
  actor text not null check (actor in ('any', 'ea', 'system')),
  primary key (machine, from_state, to_state)
);
alter table private.state_transitions enable row level security;

-- Rule lookup for the trigger below; security definer because the trigger runs with the
-- privileges of whoever writes the row, and API roles cannot read private tables.
create function private.transition_actor(p_machine text, p_from text, p_to text) returns text
language sql stable
security definer
set search_path = ''
as $$
  select t.actor from private.state_transitions t
  where t.machine = p_machine and t.from_state = p_from and t.to_state = p_to
$$;

-- Who is writing: 'system' unless the statement runs as an API role, an EA's included (inside a
-- security-definer function current_user is the owner, so privileged functions count as 'system').
create function private.current_actor() returns text
language sql stable
set search_path = ''
as $$
  select case
    when current_user not in ('anon', 'authenticated', 'rubi_ea') then 'system'
    when coalesce(auth.jwt() ->> 'ea_key_id', auth.jwt() ->> 'ea_account_id') is not null then 'ea'
    else 'user'
  end
$$;

grant execute on function private.setting(text), private.transition_actor(text, text, text),
  private.current_actor() to anon, authenticated, service_role;

-- Trigger: TG_ARGV[0] names the machine; the row's `status` column is the state (an enum, or
-- text: the rule table is shared by several machines and keyed by text, hence the casts).
-- Security invoker on purpose: it must see who is writing.
create function private.enforce_transition() returns trigger
language plpgsql
set search_path = ''
as $$
declare
  v_from text;
  v_actor text;
  v_rule_actor text;
begin
  -- An update that leaves the status alone (most do: a ping, an EA's report) returns before anything
  -- is looked up.
  if tg_op = 'UPDATE' then
    if new.status is not distinct from old.status then
      return new;
    end if;
    v_from := old.status::text;
  else
    v_from := '(new)';
  end if;

  v_actor := private.current_actor();
  v_rule_actor := private.transition_actor(tg_argv[0], v_from, new.status::text);

  if v_rule_actor is null then
    raise exception 'illegal % transition: % -> %', tg_argv[0], v_from, new.status
      using errcode = 'check_violation', hint = 'see private.state_transitions';
  end if;
  if v_rule_actor <> 'any' and v_actor <> 'system' and v_actor <> v_rule_actor then
    raise exception '% transition % -> % is not allowed for %', tg_argv[0], v_from, new.status, v_actor
      using errcode = 'insufficient_privilege';
  end if;
  return new;
end;
$$;

-- Nothing in `private` is executable by PUBLIC; the grants above are the only way in.
revoke execute on all functions in schema private from public;
