import { randomUUID } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomToken, sha256Hex } from '@rubi/crypto';
import { asOwner, asService, asUser, createPostgresDb, type PostgresDb } from '@rubi/db';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Backend } from '../scripts/demo/backend.ts';
import { databaseUrl } from '../tests/integration/support/context.ts';
import type { E2eUser } from '../tests/integration/e2e/support/auth.ts';
import { startE2eStack, type E2eStack } from '../tests/integration/e2e/support/e2e-stack.ts';
import { startNpmStart, type NpmStart } from '../tests/integration/e2e/support/npm-start.ts';
import { postmasterOf, startCpu } from './support/cpu.ts';
import { serveDenoEntry, type ServedEntry } from './support/deno-entry.ts';
import { connectTerminals, provisionAccounts, roundRobin, type ProvisionedAccount, type Terminal } from './support/fixtures.ts';
import { LEGACY_COMMIT, startLegacyFunctions, startLegacyNpmStart, type LegacyFunctions, type LegacyNpmStart } from './support/legacy-tree.ts';
import { SignedHttp } from '@rubi/ea-sim';
import {
  describeFigures,
  formatMeasurements,
  formatTable,
  markdownTable,
  ms,
  rate,
  runHttp,
  runSql,
  type Figures,
  type Measured,
  type NextRequest,
  type Reference,
  type Row,
} from './support/measure.ts';

/**
 * The EA hot path under load (issue #13, item 7), in one run:
 *
 * 1. For each concurrency of BENCH_CONNECTIONS (default 10 and 64): POST /ping, GET /signals/pending
 *    (nothing pending) and POST /trades ×100 against the real functions under Deno
 *    (functions/<name>/index.ts, unchanged) on PostgreSQL 15, each beside
 *    - its SQL baseline: the one statement the function sends (gate + endpoint function), straight
 *      through the same postgres.js adapter (@rubi/db), with the key's real sealed secret and scopes;
 *    - a ceiling: for ping and poll a bare `select 1` through the same stack (Deno, the edge toolkit,
 *      the adapter: bench/support/ceiling-function.ts); for trades a raw batched insert of the same
 *      100 rows into a scratch copy of closed_trades (same columns, constraints and indexes; no
 *      triggers, no RLS);
 *    - for ping, the legacy function: POST /ping as it was before issue #13 (commit ea01513), served
 *      from that tree by the same Deno with its own database (bench/support/legacy-tree.ts);
 *    - for ping, the legacy path: the three transactions the function sent before issue #13, SQL only.
 * 2. One heavy user with 1,000,000 signals and 1,000,000 closed trades: the poll and
 *    GET /accounts/stats at one connection.
 * 3. The embedded default (`npm start`: one Deno process, PGlite): POST /functions/v1/ping at 10
 *    connections, then the same against `npm start` of the tree before issue #13.
 *
 * Prints figures and fails only when requests fail; timings never fail it (see bench/README.md).
 */

function positiveEnv(name: string, fallback: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isFinite(value) || value <= 0) throw new Error(`${name} must be a positive number, got ${JSON.stringify(raw)}`);
  return value;
}

function connectionsEnv(): number[] {
  const raw = process.env.BENCH_CONNECTIONS ?? '';
  const list = (raw === '' ? '10,64' : raw).split(',').map((s) => s.trim()).filter(Boolean).map(Number);
  if (list.length === 0 || list.some((n) => !Number.isInteger(n) || n <= 0)) {
    throw new Error(`BENCH_CONNECTIONS must be a comma list of positive integers, got ${JSON.stringify(raw)}`);
  }
  return list;
}

const SECONDS = positiveEnv('BENCH_SECONDS', 5);
const CONNECTIONS = connectionsEnv();
const MAX_CONNECTIONS = Math.max(...CONNECTIONS);
/** Unmeasured load before each measurement: JIT, connection pools, plan caches. */
const WARMUP_SECONDS = Math.min(1, SECONDS);
const TRADES_PER_BATCH = 100;
/** The heavy user's history. */
const HEAVY_SIGNALS = 1_000_000;
const HEAVY_TRADES = 1_000_000;
const HEAVY_PENDING = 5;
/** The embedded default is measured at 10 connections, as the figure it is compared with was. */
const EMBEDDED_CONNECTIONS = 10;
/** Before issue #13, from the issue: "The embedded default sustains 63–83 pings/s" (printed beside the figure measured in the run). */
const EMBEDDED_LEGACY = { low: 63, high: 83 };

const FUNCTIONS = ['keys', 'connect', 'ping', 'signals', 'accounts', 'vps', 'register', 'trades', 'ops'] as const;

// ---------------------------------------------------------------------------------------------
// What the functions send now (packages/edge/src/db.ts, callAsEa): the gate as the endpoint
// function's first argument, one statement, no transaction around it.

const PING_SQL = 'select * from private.ping_session(private.enter_ea_key($1, $2, $3, $4), $5, $6)';
const POLL_SQL = 'select * from private.deliver_signals(private.enter_ea_key($1, $2, $3, $4), $5, $6)';
const TRADES_SQL = 'select * from private.ingest_trades(private.enter_account_ea($1, $2, $3), $4, $5)';
/** GET /signals/pending's default `limit` (packages/contracts/src/signals.ts). */
const POLL_LIMIT = 50;

// The legacy path: what POST /ping sent before issue #13 (git show HEAD:functions/ping/app.ts and
// HEAD:packages/edge/src/auth-middleware.ts at the commit before it), three transactions per ping.
const LEGACY_CREDENTIALS_SQL = 'select * from private.ea_key_credentials($1)';
const LEGACY_REPLAY_SQL = `with touched as (update public.ea_keys set last_used_at = now()
            where id = $3::uuid and (last_used_at is null or last_used_at < now() - interval '1 minute'))
  select private.remember_request_id($1, $2) as fresh`;
const LEGACY_LIVE_SESSION_SQL = 'select status from public.mt5_sessions where id = $1';
const LEGACY_PING_UPDATE_SQL = `update public.mt5_sessions set last_ping_at = greatest(now(), last_ping_at + interval '1 microsecond'),
    balance = $2, equity = $3, margin = $4, margin_free = $5, margin_level = $6, profit = $7
  where id = $1 returning user_id, ping_interval_seconds, last_ping_at`;
const LEGACY_PING_SNAPSHOT_SQL = `insert into public.account_snapshots
    (session_id, user_id, captured_at, balance, equity, margin, margin_free, margin_level, profit)
  values ($1, $2, $3, $4, $5, $6, $7, $8, $9) on conflict do nothing`;
const LEGACY_PING_WAITING_SQL = `select count(*)::int as n from public.trading_signals
  where session_id = $1 and status in ('PENDING', 'DELIVERED') and (expires_at is null or expires_at > now())`;

// The trades ceiling: the same rows, columns and values as private.ingest_trades inserts, into a copy
// of closed_trades with its constraints and indexes, as one statement.
// The rate limiter's statement as packages/edge/src/rate-limit.ts sends it on a failed signature
// (two buckets: the credential and the client IP), and the bench's own kinds: `bench_open` never
// refuses (every call writes its rows), `bench_closed` refuses after its first token.
const LIMITER_SQL = `select coalesce(bool_and(t.allowed), true) as allowed, coalesce(max(t.retry_after_seconds), 0)::int as retry_after_seconds
  from (values ($1::text, $2::text), ($3::text, $4::text)) b(kind, subject) cross join lateral private.take_rate_limit(b.kind, b.subject) t`;
const LIMITER_SETTINGS_SQL = `insert into private.settings (key, value, description) values
  ('rate_limit_bench_open_per_minute', 6000000, 'bench'), ('rate_limit_bench_open_burst', 1000000000, 'bench'),
  ('rate_limit_bench_closed_per_minute', 1, 'bench'), ('rate_limit_bench_closed_burst', 1, 'bench')
  on conflict (key) do update set value = excluded.value`;
// The limits the bench itself would hit, loosened for the run and restored after it: failed
// signatures are answered 401, not 429, while the uniform-401 timings are measured, and one user
// creates an EA key per connection (64 in a few seconds, past `key_create_user`'s burst).
const LOOSENED_LIMITS = "key like 'rate\\_limit\\_ea\\_auth\\_failure\\_%' or key like 'rate\\_limit\\_key\\_create\\_user\\_%'";
const LIMITER_LOOSEN_SQL = `update private.settings set value = 1000000000 where ${LOOSENED_LIMITS}`;

const RAW_TABLE_SQL = `create schema if not exists bench;
  drop table if exists bench.raw_closed_trades;
  create table bench.raw_closed_trades (like public.closed_trades including defaults including constraints including indexes)`;
const RAW_INSERT_SQL = `insert into bench.raw_closed_trades (account_id, user_id, ticket, symbol, type, lots, open_time, close_time,
    open_price, close_price, commission, swap, profit, magic, comment, cashback_rate, cashback_amount, currency)
  select $1::uuid, $2::uuid, i.ticket, i.symbol, i.type, i.lots, i.open_time, i.close_time, i.open_price, i.close_price,
    coalesce(i.commission, 0), coalesce(i.swap, 0), coalesce(i.profit, 0), i.magic, i.comment, $3::numeric, round(i.lots * $3::numeric, 4), $4::text
  from jsonb_to_recordset($5::jsonb) as i(ticket bigint, symbol text, type text, lots numeric, open_time timestamptz, close_time timestamptz,
    open_price numeric, close_price numeric, commission numeric, swap numeric, profit numeric, magic bigint, comment text)
  order by i.ticket`;

// The cost of rebate plans (issue #17): the same call to the flat-rate ingest of before plans
// (bench/support/flat-rate-ingest.sql), next to the plan-based one (TRADES_SQL). The accounts' broker
// gets a realistic plan first: a version with a dozen rules (symbols, patterns, groups, a default).
const FLAT_TRADES_SQL = 'select * from bench.ingest_trades_flat(private.enter_account_ea($1, $2, $3), $4, $5)';
const BENCH_PLAN_SQL = `with plan as (
    insert into public.rebate_plans (broker_id, name, valid_from)
    select distinct a.broker_id, 'bench plan', now() - interval '1 day' from public.trading_accounts a where a.id = any($1::uuid[])
    on conflict do nothing
    returning id
  )
  insert into public.rebate_rules (plan_id, symbol, symbol_pattern, symbol_group, side, kind, amount, lot_multiplier, currency, priority)
  select plan.id, r.symbol, r.pattern, r.grp::public.symbol_group, 'close', r.kind::public.rebate_kind, r.amount, r.mult, 'USD', r.priority
  from plan cross join (values
    ('GBPUSD', null, null, 'per_lot', 4.5, 1, 0), ('USDJPY', null, null, 'per_lot', 4, 1, 0), ('US30', null, null, 'per_lot', 2, 1, 0),
    (null, 'GBP%', null, 'per_lot', 3, 1, 0), (null, 'AUD%', null, 'per_lot', 3, 1, 0), (null, 'NAS%', null, 'per_lot', 1, 1, 0),
    (null, null, 'metals', 'per_lot', 3.5, 1.5, 0), (null, null, 'crypto', 'commission_percent', 20, 1, 0),
    (null, null, 'indices', 'per_lot', 1, 1, 0), (null, null, 'energies', 'per_lot', 2, 1, 0), (null, null, 'forex', 'per_lot', 3.5, 1, 5),
    (null, null, null, 'per_lot', 3.5, 1, 0)) r(symbol, pattern, grp, kind, amount, mult, priority)`;

const requestId = (): string => `msg_${randomUUID().replaceAll('-', '')}`;

// ---------------------------------------------------------------------------------------------
// Request bodies

const FIGURES = { balance: 10_000, equity: 10_012.5, margin: 0, margin_free: 10_012.5, margin_level: null, profit: 12.5 };
const pingBody = (sessionId: string) => ({ session_id: sessionId, ...FIGURES });

interface TradeInput {
  ticket: number;
  symbol: string;
  type: 'BUY' | 'SELL';
  lots: number;
  open_time: string;
  close_time: string;
  open_price: number;
  close_price: number;
  commission: number;
  swap: number;
  profit: number;
  magic: number | null;
  comment: string | null;
}

/** Ticket blocks shared by every trades measurement, so every batch inserts 100 new rows. */
let nextBlock = 0;
const TICKET_BASE = 1_000_000_000;
function tradeBatch(): TradeInput[] {
  const first = TICKET_BASE + nextBlock * TRADES_PER_BATCH;
  nextBlock += 1;
  const close = Date.now() - 3_600_000;
  return Array.from({ length: TRADES_PER_BATCH }, (_, i) => ({
    ticket: first + i,
    symbol: i % 2 === 0 ? 'EURUSD' : 'XAUUSD',
    type: i % 3 === 0 ? 'SELL' : 'BUY',
    lots: 0.01 * (1 + (i % 50)),
    open_time: new Date(close - 600_000 - i * 1000).toISOString(),
    close_time: new Date(close - i * 1000).toISOString(),
    open_price: 1.1,
    close_price: 1.105,
    commission: -0.7,
    swap: 0,
    profit: 5,
    magic: null,
    comment: null,
  }));
}

// ---------------------------------------------------------------------------------------------

/** What the gates compare: the stored sealed secret (and a key's scopes), read once as the owner. */
interface KeyCredential {
  sealed: string;
  scopes: string[];
}

interface GoalLine {
  goal: string;
  measured: string;
  met: boolean | undefined;
}

const loadAverage = (): string => loadavg().map((l) => l.toFixed(2)).join(', ');
const seconds = (t0: number): string => `${((performance.now() - t0) / 1000).toFixed(1)} s`;

describe(`EA hot path: ${SECONDS} s per measurement, ${CONNECTIONS.join(' and ')} connections`, () => {
  let stack: E2eStack;
  let ceiling: ServedEntry;
  let sql: PostgresDb;
  /** The SQL baseline once more with a function's pool (4 connections, packages/edge/src/deps.ts). */
  let sql4: PostgresDb;
  /** The cluster's postmaster, when it runs on this machine (CPU accounting). */
  let postgresRoot: number | undefined;
  let user: E2eUser;
  let terminals: Terminal[] = [];
  let accounts: ProvisionedAccount[] = [];
  let removeHost: (() => Promise<void>) | undefined;
  /** POST /ping before issue #13, served from the old tree, and its EAs (one per connection). */
  let legacyFns: LegacyFunctions | undefined;
  let legacyDb: PostgresDb | undefined;
  let legacyTerminals: Terminal[] = [];
  const keyCredentials = new Map<string, KeyCredential>();
  const accountSealed = new Map<string, string>();
  const tables: { connections: number; rows: Row[] }[] = [];
  /** Every measurement, by section, with where the CPU went. */
  const sections: { title: string; measured: Measured[] }[] = [];
  let current: Measured[] = [];
  const section = (title: string): void => {
    current = [];
    sections.push({ title, measured: current });
  };
  const heavyLines: string[][] = [];
  const embeddedLines: string[][] = [];
  const goals: GoalLine[] = [];
  const notes: string[] = [];
  /** The failed-signature limits as they were before the bench loosened them. */
  let limiterSaved: { key: string; value: string }[] = [];
  const loadBefore = loadAverage();

  beforeAll(async () => {
    const t0 = performance.now();
    stack = await startE2eStack(FUNCTIONS);
    ceiling = await serveDenoEntry('bench/support/ceiling-function.ts', '/ceiling/health', {
      SUPABASE_URL: stack.supabaseUrl,
      SUPABASE_DB_URL: databaseUrl(),
      SUPABASE_JWKS: stack.auth.jwks,
      ENCRYPTION_KEY: stack.secrets.encryptionKey,
      LOG_LEVEL: 'info',
    });
    // The references' own pool: one connection per concurrent loop.
    sql = createPostgresDb(databaseUrl(), { max: MAX_CONNECTIONS, applicationName: 'rubi-bench-baseline' });
    sql4 = createPostgresDb(databaseUrl(), { max: 4, applicationName: 'rubi-bench-baseline-pool4' });
    const [backend] = await stack.db.query<{ pid: number }>(asOwner(), 'select pg_backend_pid() as pid');
    postgresRoot = backend ? postmasterOf(backend.pid) : undefined;
    limiterSaved = await stack.db.query<{ key: string; value: string }>(asOwner(), `select key, value::text from private.settings where ${LOOSENED_LIMITS}`);
    await stack.db.query(asOwner(), LIMITER_LOOSEN_SQL);
    user = await stack.auth.createUser(stack.db, `bench-${randomUUID()}@bench.invalid`);
    // One EA per connection, each with its own key and session: requests are spread round-robin,
    // as many terminals pinging at once would be (not one session taking every ping).
    terminals = await connectTerminals((path) => stack.deno.url(path), user.token, MAX_CONNECTIONS);
    ({ accounts, removeHost } = await provisionAccounts(stack, user.token, MAX_CONNECTIONS));
    const keys = await stack.db.query<{ id: string; scopes: string[]; secret_ciphertext: string }>(
      asOwner(),
      `select k.id, k.scopes::text[] as scopes, s.secret_ciphertext
       from public.ea_keys k join private.ea_key_secrets s on s.key_id = k.id where k.id = any($1::uuid[])`,
      [terminals.map((t) => t.keyId)],
    );
    for (const k of keys) keyCredentials.set(k.id, { sealed: k.secret_ciphertext, scopes: k.scopes });
    const secrets = await stack.db.query<{ account_id: string; api_secret_ciphertext: string }>(
      asOwner(),
      'select account_id, api_secret_ciphertext from private.account_secrets where account_id = any($1::uuid[])',
      [accounts.map((a) => a.accountId)],
    );
    for (const s of secrets) accountSealed.set(s.account_id, s.api_secret_ciphertext);
    await sql.query(asOwner(), RAW_TABLE_SQL);
    await sql.query(asOwner(), await readFile(new URL('./support/flat-rate-ingest.sql', import.meta.url), 'utf8'));
    await sql.query(asOwner(), BENCH_PLAN_SQL, [accounts.map((a) => a.accountId)]);
    await sql.query(asOwner(), LIMITER_SETTINGS_SQL);
    // The old function, with its own cluster and its own EAs, provisioned through its own keys and
    // connect functions as the old bench did. When it cannot be served the run goes on without it.
    try {
      legacyFns = await startLegacyFunctions(['keys', 'connect', 'ping'], {
        SUPABASE_URL: stack.supabaseUrl,
        SUPABASE_JWKS: stack.auth.jwks,
        ENCRYPTION_KEY: stack.secrets.encryptionKey,
        LOG_LEVEL: 'info',
      });
      legacyDb = createPostgresDb(legacyFns.databaseUrl, { max: 1, applicationName: 'rubi-bench-legacy' });
      const legacyUser = await stack.auth.createUser(legacyDb, `bench-legacy-${randomUUID()}@bench.invalid`);
      legacyTerminals = await connectTerminals((path) => (legacyFns as LegacyFunctions).url(path), legacyUser.token, MAX_CONNECTIONS);
      notes.push(`legacy function (${LEGACY_COMMIT}: keys, connect, ping on its own cluster) ready in ${legacyFns.timings}`);
    } catch (error) {
      notes.push(`legacy function NOT measured: ${error instanceof Error ? error.message : String(error)}`);
      console.log(`[bench] ${notes.at(-1) ?? ''}`);
      legacyTerminals = [];
    }
    console.log(
      `\n[bench] ${FUNCTIONS.length} functions + the ceiling under Deno, ${terminals.length} connector EAs, ${accounts.length} provisioned accounts ` +
        `(ready in ${seconds(t0)}); ${SECONDS} s per measurement (+${WARMUP_SECONDS} s warm-up), ${CONNECTIONS.join(' and ')} connections; ` +
        `${cpus().length} CPUs (${cpus()[0]?.model ?? 'unknown'}), load generator, Deno and PostgreSQL on the same machine; ` +
        `load average ${loadBefore}`,
    );
  });

  afterAll(async () => {
    const out: string[] = [`\n[bench] EA hot path, ${new Date().toISOString()}; load average before ${loadBefore}, after ${loadAverage()}`];
    for (const t of tables) out.push(`\n${t.connections} connections:\n\n${formatTable(t.rows)}`);
    if (heavyLines.length > 0) {
      out.push(`\n1,000,000 signals and 1,000,000 closed trades, one connection:\n\n${markdownTable(['scenario', 'req/s', 'p50 ms', 'p99 ms', 'errors', 'goal'], heavyLines)}`);
    }
    if (embeddedLines.length > 0) {
      out.push(`\nembedded default (npm start, PGlite), ${EMBEDDED_CONNECTIONS} connections:\n\n${markdownTable(['scenario', 'req/s', 'p50 ms', 'p99 ms', 'errors', 'legacy pings/s', 'goal'], embeddedLines)}`);
    }
    if (goals.length > 0) {
      out.push(
        `\ngoals:\n\n${markdownTable(
          ['goal', 'measured', 'met'],
          goals.map((g) => [g.goal, g.measured, g.met === undefined ? '–' : g.met ? 'yes' : 'NO']),
        )}`,
      );
    }
    for (const sec of sections) {
      if (sec.measured.length > 0) out.push(`\nevery measurement, ${sec.title} (CPU in % of one core, ${cpus().length * 100} % = the machine):\n\n${formatMeasurements(sec.measured)}`);
    }
    for (const n of notes) out.push(`\n[bench] ${n}`);
    console.log(`${out.join('\n')}\n`);
    if (stack && user) await stack.db.query(asOwner(), 'delete from auth.users where id = $1', [user.id]).catch(() => undefined);
    await removeHost?.().catch(() => undefined);
    await sql?.query(asOwner(), 'drop schema if exists bench cascade').catch(() => undefined);
    await sql?.query(asOwner(), "delete from private.settings where key like 'rate\\_limit\\_bench\\_%'").catch(() => undefined);
    for (const { key, value } of limiterSaved) {
      await sql?.query(asOwner(), 'update private.settings set value = $2::numeric where key = $1', [key, value]).catch(() => undefined);
    }
    await sql?.query(asOwner(), "delete from private.rate_limits where bucket like 'bench\\_%' or bucket like 'ea\\_auth\\_failure\\_%'").catch(() => undefined);
    await sql?.close();
    await sql4?.close();
    await ceiling?.stop();
    await legacyDb?.close();
    await legacyFns?.close();
    await stack?.close();
  });

  /** Warm-up, then autocannon against the Deno process `denoPid` (its CPU is accounted as Deno's). */
  async function http(
    label: string,
    load: { url: string; method: 'GET' | 'POST'; next: () => NextRequest },
    connections: number,
    denoPid: number | undefined,
    /** The PostgreSQL server's process tree; null: none (PGlite runs inside Deno). */
    postgres: number | null | undefined = postgresRoot,
  ): Promise<Figures> {
    await runHttp({ ...load, seconds: WARMUP_SECONDS, connections });
    const stop = startCpu({ deno: denoPid, postgres: postgres ?? undefined });
    const figures = { ...(await runHttp({ ...load, seconds: SECONDS, connections })), cpu: undefined as Figures['cpu'] };
    figures.cpu = stop();
    console.log(describeFigures(`[bench] ${connections}c ${label}`, figures));
    current.push({ label: `${connections}c ${label}`, figures });
    return figures;
  }

  /** Warm-up, then `concurrency` loops of `op`. */
  async function loops(label: string, op: () => Promise<unknown>, concurrency: number): Promise<Figures> {
    await runSql({ op, seconds: WARMUP_SECONDS, concurrency });
    const stop = startCpu({ postgres: postgresRoot });
    const figures = { ...(await runSql({ op, seconds: SECONDS, concurrency })), cpu: undefined as Figures['cpu'] };
    figures.cpu = stop();
    console.log(describeFigures(`[bench] ${concurrency}c ${label}`, figures));
    current.push({ label: `${concurrency}c ${label}`, figures });
    return figures;
  }

  const pidOf = (fn: string): number | undefined => stack.deno.functions[fn]?.pid;

  /**
   * "≥ 4× today's ping, same run": held against the old function when it was measured, with the
   * ratio to the SQL-only legacy path (an upper bound of the old function) printed beside it.
   */
  function todayGoal(what: string, fn: Figures, oldFunction: Reference | undefined, oldSql: Reference): GoalLine {
    const vsSql = fn.perSecond / oldSql.figures.perSecond;
    if (!oldFunction) {
      return { goal: `${what} ≥ 4× today's ping (legacy path SQL only, same run; old function not measured)`, measured: `${vsSql.toFixed(2)}×`, met: vsSql >= 4 };
    }
    const vsFn = fn.perSecond / oldFunction.figures.perSecond;
    return {
      goal: `${what} ≥ 4× today's ping (old function ${LEGACY_COMMIT}, same run)`,
      measured: `${vsFn.toFixed(2)}× (${vsSql.toFixed(2)}× its SQL-only path)`,
      met: vsFn >= 4,
    };
  }

  function expectNoFailures(label: string, ...all: Figures[]): void {
    for (const f of all) {
      expect({ errors: f.errors, first: f.firstError }, `${label}: failed requests`).toEqual({ errors: 0, first: undefined });
      expect(f.count, `${label}: nothing completed`).toBeGreaterThan(0);
    }
  }

  const keyOf = (t: Terminal): KeyCredential => {
    const k = keyCredentials.get(t.keyId);
    if (!k) throw new Error(`no credential read for key ${t.keyId}`);
    return k;
  };

  // -------------------------------------------------------------------------------------------
  // 1. Each scenario beside its SQL baseline, its ceiling and (ping) the legacy path.

  for (const connections of CONNECTIONS) {
    it(`${connections} connections: ping, poll and trades vs SQL baseline, ceiling and legacy path`, async () => {
      section(`${connections} connections`);
      const eas = terminals.slice(0, connections);
      const accs = accounts.slice(0, connections);
      const rows: Row[] = [];

      // POST /ping
      const bodies = new Map(eas.map((t) => [t.sessionId, JSON.stringify(pingBody(t.sessionId))]));
      const pingHttp = roundRobin(eas);
      const pingFn = await http(
        'POST /ping function',
        {
          url: stack.deno.url('/ping'),
          method: 'POST',
          next: () => {
            const t = pingHttp();
            const body = bodies.get(t.sessionId) ?? '';
            return { body, headers: t.signer.sign(body) };
          },
        },
        connections,
        pidOf('ping'),
      );
      // The old function itself (commit ea01513), driven exactly as today's: same autocannon load,
      // same body, signed the same way (the wire format is unchanged), one EA per connection; right
      // after today's, so that both see the same moment of the shared machine.
      let legacyFunction: Reference | undefined;
      const legacyEas = legacyTerminals.slice(0, connections);
      if (legacyFns && legacyEas.length === connections) {
        const legacyBodies = new Map(legacyEas.map((t) => [t.sessionId, JSON.stringify(pingBody(t.sessionId))]));
        const legacyHttp = roundRobin(legacyEas);
        legacyFunction = {
          label: `POST /ping before issue #13 (${LEGACY_COMMIT}), served from that tree by the same Deno, on its own database`,
          figures: await http(
            `POST /ping legacy function (${LEGACY_COMMIT})`,
            {
              url: legacyFns.url('/ping'),
              method: 'POST',
              next: () => {
                const t = legacyHttp();
                const body = legacyBodies.get(t.sessionId) ?? '';
                return { body, headers: t.signer.sign(body) };
              },
            },
            connections,
            legacyFns.pidOf('ping'),
            legacyFns.postgresRoot ?? null,
          ),
        };
      }
      const pingSqlEa = roundRobin(eas);
      const figures = JSON.stringify(FIGURES);
      const pingOp = (db: PostgresDb) => async () => {
        const t = pingSqlEa();
        const k = keyOf(t);
        const [row] = await db.query<{ ping_session: unknown }>(asOwner(), PING_SQL, [t.keyId, requestId(), k.sealed, k.scopes, t.sessionId, figures]);
        if (!row?.ping_session) throw new Error('ping_session returned no row');
      };
      const pingBaseline = await loops('POST /ping SQL baseline', pingOp(sql), connections);
      // Diagnostic: the same with a function's pool of 4 connections (what one function process has).
      const pingPool4 = await loops('POST /ping SQL baseline, pool of 4 (a function\'s)', pingOp(sql4), connections);

      // The rate limiter (issue #15): what one call costs beside the ping's one-call SQL. The
      // functions send it only on a FAILED verification (a verified request never does), as
      // service_role, two buckets in one statement.
      const limiterEa = roundRobin(eas);
      const limiterOp = (kind: string) => () => {
        const t = limiterEa();
        return sql.query(asService(), LIMITER_SQL, [kind, `ea_key:${t.keyId}`, kind, `ip:${t.keyId}`]);
      };
      const limiterOpen = await loops('rate limiter SQL, 2 buckets taken (writes)', limiterOp('bench_open'), connections);
      const limiterClosed = await loops('rate limiter SQL, 2 buckets refused (reads back Retry-After)', limiterOp('bench_closed'), connections);
      expectNoFailures('rate limiter SQL', limiterOpen, limiterClosed);
      notes.push(
        `${connections}c rate limiter: ${Math.round(limiterOpen.perSecond)}/s p50 ${limiterOpen.p50.toFixed(2)} ms taken, ` +
          `${Math.round(limiterClosed.perSecond)}/s p50 ${limiterClosed.p50.toFixed(2)} ms refused, beside the ping's one-call SQL ` +
          `${Math.round(pingBaseline.perSecond)}/s p50 ${pingBaseline.p50.toFixed(2)} ms (the hot path sends no limiter call)`,
      );

      // Uniform 401s (issue #15): an unknown key id and a known key with a wrong signature take the
      // same steps and get the same answer; their times, printed (never asserted).
      const wrongSecret = `whsec_${Buffer.from('bench-wrong-secret-bench-wrong-s').toString('base64')}`;
      const unknownSigners = eas.map(() => new SignedHttp({ header: 'x-ea-key-id', id: randomUUID(), secret: wrongSecret }));
      const knownWrongSigners = eas.map((t) => new SignedHttp({ header: 'x-ea-key-id', id: t.keyId, secret: wrongSecret }));
      const refusedPing = (signers: SignedHttp[]) => {
        const next = roundRobin(signers);
        return {
          url: stack.deno.url('/ping'),
          method: 'POST' as const,
          next: () => {
            const body = JSON.stringify(pingBody(eas[0]?.sessionId ?? randomUUID()));
            return { body, headers: next().sign(body) };
          },
        };
      };
      const unknown401 = await http('POST /ping 401: unknown key id', refusedPing(unknownSigners), connections, pidOf('ping'));
      const wrong401 = await http('POST /ping 401: known key, wrong signature', refusedPing(knownWrongSigners), connections, pidOf('ping'));
      notes.push(
        `${connections}c uniform 401 (POST /ping): unknown key p50 ${unknown401.p50.toFixed(2)} ms (${Math.round(unknown401.perSecond)}/s), ` +
          `known key with a wrong signature p50 ${wrong401.p50.toFixed(2)} ms (${Math.round(wrong401.perSecond)}/s)`,
      );
      const legacyEa = roundRobin(eas);
      const legacy: Reference = {
        label: "legacy path, SQL only (an upper bound of the old function's throughput, which never exceeded its SQL)",
        figures: await loops(
          'POST /ping legacy path (SQL only)',
          async () => {
            const t = legacyEa();
            // (a) the credentials, as service_role
            const [credentials] = await sql.query<{ user_id: string }>(asService(), LEGACY_CREDENTIALS_SQL, [t.keyId]);
            if (!credentials) throw new Error('unknown or revoked EA key');
            // (b) the replay check with the throttled last-use stamp, as service_role
            const [replay] = await sql.query<{ fresh: boolean }>(asService(), LEGACY_REPLAY_SQL, [`ea_key:${t.keyId}`, requestId(), t.keyId]);
            if (!replay?.fresh) throw new Error('replayed request');
            // (c) the work, as the EA: today EA statements run as role rubi_ea (the old path switched
            // to authenticated, which may no longer write these tables); same round trips: the
            // role switch is the transaction's first statement either way.
            await sql.transaction(asOwner(), async (tx) => {
              await tx.query(`select set_config('role', 'rubi_ea', true), set_config('request.jwt.claims', $1, true)`, [
                JSON.stringify({ aud: 'authenticated', role: 'authenticated', sub: credentials.user_id, ea_key_id: t.keyId }),
              ]);
              const [live] = await tx.query<{ status: string }>(LEGACY_LIVE_SESSION_SQL, [t.sessionId]);
              if (!live || live.status === 'disconnected') throw new Error('session not live');
              const [session] = await tx.query<{ user_id: string; last_ping_at: Date }>(LEGACY_PING_UPDATE_SQL, [
                t.sessionId,
                FIGURES.balance,
                FIGURES.equity,
                FIGURES.margin,
                FIGURES.margin_free,
                FIGURES.margin_level,
                FIGURES.profit,
              ]);
              if (!session) throw new Error('session not found');
              await tx.query(LEGACY_PING_SNAPSHOT_SQL, [
                t.sessionId,
                session.user_id,
                session.last_ping_at,
                FIGURES.balance,
                FIGURES.equity,
                FIGURES.margin,
                FIGURES.margin_free,
                FIGURES.margin_level,
                FIGURES.profit,
              ]);
              await tx.query(LEGACY_PING_WAITING_SQL, [t.sessionId]);
            });
          },
          connections,
        ),
      };
      const select1: Reference = {
        label: '`select 1` over HTTP through the same Deno, toolkit and adapter',
        figures: await http('ceiling GET /ceiling/select1', { url: ceiling.url('/ceiling/select1'), method: 'GET', next: () => ({ headers: {} }) }, connections, ceiling.pid),
      };
      rows.push({ scenario: 'POST /ping', fn: pingFn, baseline: pingBaseline, ceiling: select1, legacy, ...(legacyFunction ? { legacyFunction } : {}) });

      // GET /signals/pending, nothing pending. The session goes in the query string (unsigned: a
      // GET signs the empty body) and the terminal's key in the headers.
      const pollHttp = roundRobin(eas);
      const pollFn = await http(
        'GET /signals/pending function',
        {
          url: stack.deno.url('/signals/pending'),
          method: 'GET',
          next: () => {
            const t = pollHttp();
            return { headers: t.signer.sign(''), path: `/signals/pending?session_id=${t.sessionId}` };
          },
        },
        connections,
        pidOf('signals'),
      );
      const pollSqlEa = roundRobin(eas);
      const pollOp = (db: PostgresDb) => () => {
        const t = pollSqlEa();
        const k = keyOf(t);
        return db.query(asOwner(), POLL_SQL, [t.keyId, requestId(), k.sealed, k.scopes, t.sessionId, POLL_LIMIT]);
      };
      const pollBaseline = await loops('GET /signals/pending SQL baseline', pollOp(sql), connections);
      const pollPool4 = await loops('GET /signals/pending SQL baseline, pool of 4 (a function\'s)', pollOp(sql4), connections);
      // The poll is held to today's *ping* (the legacy path and function of the poll are not measured).
      rows.push({ scenario: 'GET /signals/pending', fn: pollFn, baseline: pollBaseline, ceiling: select1, legacy, ...(legacyFunction ? { legacyFunction } : {}) });

      // POST /trades ×100
      const tradesHttp = roundRobin(accs);
      const tradesFn = await http(
        `POST /trades ×${TRADES_PER_BATCH} function`,
        {
          url: stack.deno.url('/trades'),
          method: 'POST',
          next: () => {
            const a = tradesHttp();
            const body = JSON.stringify({ trades: tradeBatch() });
            return { body, headers: a.signer.sign(body) };
          },
        },
        connections,
        pidOf('trades'),
      );
      const tradesSqlAccount = roundRobin(accs);
      const tradesBaseline = await loops(
        `POST /trades ×${TRADES_PER_BATCH} SQL baseline`,
        async () => {
          const a = tradesSqlAccount();
          const [result] = await sql.query<{ accepted: number[] }>(asOwner(), TRADES_SQL, [
            a.externalId,
            requestId(),
            accountSealed.get(a.accountId),
            a.accountId,
            JSON.stringify(tradeBatch()),
          ]);
          if (result?.accepted.length !== TRADES_PER_BATCH) throw new Error(`expected ${TRADES_PER_BATCH} new trades, ${result?.accepted.length ?? 0} stored`);
        },
        connections,
      );
      const flatAccount = roundRobin(accs);
      const flat: Reference = {
        label: 'the same call to the flat-rate ingest of before rebate plans (bench/support/flat-rate-ingest.sql)',
        figures: await loops(
          `POST /trades ×${TRADES_PER_BATCH} SQL, flat rate (before plans)`,
          async () => {
            const a = flatAccount();
            const [result] = await sql.query<{ accepted: number[] }>(asOwner(), FLAT_TRADES_SQL, [
              a.externalId,
              requestId(),
              accountSealed.get(a.accountId),
              a.accountId,
              JSON.stringify(tradeBatch()),
            ]);
            if (result?.accepted.length !== TRADES_PER_BATCH) throw new Error(`expected ${TRADES_PER_BATCH} new trades, ${result?.accepted.length ?? 0} stored`);
          },
          connections,
        ),
      };
      const rawAccount = roundRobin(accs);
      const raw: Reference = {
        label: 'raw batched insert of the same 100 rows, same columns and indexes, no triggers or RLS',
        figures: await loops(
          `POST /trades ×${TRADES_PER_BATCH} ceiling: raw insert`,
          () => {
            const a = rawAccount();
            return sql.query(asOwner(), RAW_INSERT_SQL, [a.accountId, user.id, 0.5, 'USD', JSON.stringify(tradeBatch())]);
          },
          connections,
        ),
      };
      // Its legacy column: the flat rate of before plans (issue #17), not the path of before issue #13.
      rows.push({ scenario: `POST /trades ×${TRADES_PER_BATCH}`, fn: tradesFn, baseline: tradesBaseline, ceiling: raw, legacy: flat });

      tables.push({ connections, rows });
      console.log(`\n[bench] ${connections} connections\n\n${formatTable(rows)}\n`);

      const r = (a: number, b: number) => a / b;
      const ping = r(pingFn.perSecond, pingBaseline.perSecond);
      const poll = r(pollFn.perSecond, pollBaseline.perSecond);
      goals.push(
        { goal: `${connections}c ping ≥ 0.6× its one-call SQL`, measured: `${ping.toFixed(2)}×`, met: ping >= 0.6 },
        { goal: `${connections}c poll ≥ 0.6× its one-call SQL`, measured: `${poll.toFixed(2)}×`, met: poll >= 0.6 },
        todayGoal(`${connections}c ping`, pingFn, legacyFunction, legacy),
        todayGoal(`${connections}c poll`, pollFn, legacyFunction, legacy),
        {
          goal: `${connections}c trades SQL with rebate plans ≥ 0.8× the flat rate (same run)`,
          measured: `${r(tradesBaseline.perSecond, flat.figures.perSecond).toFixed(2)}×`,
          met: r(tradesBaseline.perSecond, flat.figures.perSecond) >= 0.8,
        },
        {
          goal: `${connections}c trades ≥ 0.6× the raw insert`,
          measured: `${r(tradesFn.perSecond, raw.figures.perSecond).toFixed(2)}×`,
          met: r(tradesFn.perSecond, raw.figures.perSecond) >= 0.6,
        },
      );

      if (legacyFunction) expectNoFailures(`${connections} connections, legacy function`, legacyFunction.figures);
      expectNoFailures(`${connections} connections`, pingFn, pingBaseline, pingPool4, pollPool4, legacy.figures, select1.figures, pollFn, pollBaseline, tradesFn, tradesBaseline, raw.figures, flat.figures);
    });
  }

  // -------------------------------------------------------------------------------------------
  // 2. A heavy user: 1M signals, 1M closed trades. The poll and the stats at one connection.

  it('1M signals and 1M closed trades: the poll, GET /accounts/stats and GET /ops/metrics at one connection', async () => {
    section('1M signals and 1M closed trades, one connection');
    const heavy = await stack.auth.createUser(stack.db, `bench-heavy-${randomUUID()}@bench.invalid`);
    let heavyHost: (() => Promise<void>) | undefined;
    const operatorKeyName = `bench-${randomUUID()}`;
    try {
      const [polled] = await connectTerminals((path) => stack.deno.url(path), heavy.token, 1);
      const provisioned = await provisionAccounts(stack, heavy.token, 1);
      heavyHost = provisioned.removeHost;
      const [account] = provisioned.accounts;
      if (!polled || !account) throw new Error('no heavy terminal or account');

      // Bulk history as the owner with session_replication_role = replica: no per-row trigger
      // (2M realtime messages, the lifecycle and transition checks that a finished history passed
      // long ago) and no statement trigger (the counters are rebuilt below); constraints still hold.
      const t0 = performance.now();
      const timings: string[] = [];
      await stack.db.transaction(asOwner(), async (tx) => {
        await tx.query('set local session_replication_role = replica');
        let t = performance.now();
        const [others] = await tx.query<{ ids: string[] }>(
          `with s as (
             insert into public.mt5_sessions (user_id, account_number, broker, server, currency, leverage, status, connected_at, last_ping_at, disconnected_at)
             select $1::uuid, 70000000 + g, 'Rubi Broker Ltd', 'RubiBroker-Old', 'USD', 100, 'disconnected',
               now() - make_interval(days => 40 - g), now() - make_interval(days => 30 - g), now() - make_interval(days => 30 - g)
             from generate_series(1, 3) g
             returning id)
           select array_agg(id) as ids from s`,
          [heavy.id],
        );
        const sessions = [polled.sessionId, ...(others?.ids ?? [])];
        // History spread over the four sessions (every fourth on the polled one), 2 s apart, newest
        // last: 45 % EXECUTED, 40 % EXPIRED, 5 % each REJECTED, FAILED, CANCELLED.
        await tx.query(
          `insert into public.trading_signals (user_id, session_id, type, symbol, volume, source, status, status_message,
             signal_time, expires_at, delivered_at, completed_at, created_at, updated_at)
           select $1::uuid, ($2::uuid[])[1 + i % 4], case when i % 2 = 0 then 'BUY' else 'SELL' end,
             case when i % 3 = 0 then 'XAUUSD' else 'EURUSD' end, 0.1, 'api', st, null,
             ts, ts + interval '60 seconds', case when st not in ('EXPIRED', 'CANCELLED') then ts + interval '1 second' end,
             ts + interval '2 seconds', ts, ts + interval '2 seconds'
           from generate_series(1, $3::int) i,
             lateral (select now() - make_interval(secs => 2 * ($3::int - i) + 3600)) x(ts),
             lateral (select case i % 20 when 0 then 'REJECTED' when 1 then 'FAILED' when 2 then 'CANCELLED'
                                 when 3 then 'EXPIRED' when 4 then 'EXPIRED' when 5 then 'EXPIRED' when 6 then 'EXPIRED'
                                 when 7 then 'EXPIRED' when 8 then 'EXPIRED' when 9 then 'EXPIRED' when 10 then 'EXPIRED'
                                 else 'EXECUTED' end) y(st)`,
          [heavy.id, sessions, HEAVY_SIGNALS - HEAVY_PENDING],
        );
        await tx.query(
          `insert into public.trading_signals (user_id, session_id, type, symbol, volume, source, status, created_at, updated_at, signal_time)
           select $1::uuid, $2::uuid, 'BUY', 'EURUSD', 0.1, 'api', 'PENDING', now() - make_interval(secs => 10 - i), now(), now()
           from generate_series(1, $3::int) i`,
          [heavy.id, polled.sessionId, HEAVY_PENDING],
        );
        timings.push(`${HEAVY_SIGNALS.toLocaleString('en')} signals ${seconds(t)}`);
        t = performance.now();
        await tx.query(
          `insert into public.closed_trades (account_id, user_id, ticket, symbol, type, lots, open_time, close_time, open_price,
             close_price, commission, swap, profit, cashback_rate, cashback_amount, currency)
           select $1::uuid, $2::uuid, i, case when i % 2 = 0 then 'EURUSD' else 'XAUUSD' end, case when i % 3 = 0 then 'SELL' else 'BUY' end,
             0.1, ts - interval '10 minutes', ts, 1.1, 1.105, -0.7, 0, 5, 2, 0.2, 'USD'
           from generate_series(1, $3::int) i, lateral (select now() - make_interval(secs => 3 * ($3::int - i) + 3600)) x(ts)`,
          [account.accountId, heavy.id, HEAVY_TRADES],
        );
        timings.push(`${HEAVY_TRADES.toLocaleString('en')} closed trades ${seconds(t)}`);
        t = performance.now();
        // What the statement triggers on trading_signals keep (20261130000400_flat_hot_paths.sql):
        // the user's counters, recomputed from a count.
        await tx.query(
          `insert into public.user_signal_stats as s (user_id, pending, delivered, executed, rejected, failed, unknown, expired, cancelled)
           select $1::uuid, count(*) filter (where status = 'PENDING'), count(*) filter (where status = 'DELIVERED'),
             count(*) filter (where status = 'EXECUTED'), count(*) filter (where status = 'REJECTED'),
             count(*) filter (where status = 'FAILED'), count(*) filter (where status = 'UNKNOWN'), count(*) filter (where status = 'EXPIRED'),
             count(*) filter (where status = 'CANCELLED')
           from public.trading_signals where user_id = $1::uuid
           on conflict (user_id) do update set pending = excluded.pending, delivered = excluded.delivered, executed = excluded.executed,
             rejected = excluded.rejected, failed = excluded.failed, unknown = excluded.unknown, expired = excluded.expired, cancelled = excluded.cancelled`,
          [heavy.id],
        );
        // And what the statement triggers on closed_trades keep (20261130001400_ops_metrics.sql): the
        // account's unsettled cashback.
        await tx.query(
          `insert into private.account_cashback_unsettled as u (account_id, currency, amount)
           select account_id, currency, sum(cashback_amount) from public.closed_trades
           where account_id = $1::uuid and settled_on is null and cashback_withheld is null group by 1, 2
           on conflict (account_id, currency) do update set amount = excluded.amount`,
          [account.accountId],
        );
        // And the report's 15-minute cells (20261130001700_cashback_reports.sql).
        await tx.query(
          `insert into private.cashback_report_cells (user_id, account_id, bucket, symbol_group, currency, withheld, trades, lots, accrued, settled)
           select user_id, account_id, date_bin('15 minutes', close_time, timestamptz '2000-01-01 00:00Z'), symbol_group, currency,
             coalesce(cashback_withheld::text, ''), count(*), sum(lots), sum(cashback_amount),
             coalesce(sum(cashback_amount) filter (where settled_on is not null), 0)
           from public.closed_trades where account_id = $1::uuid group by 1, 2, 3, 4, 5, 6`,
          [account.accountId],
        );
        timings.push(`counters ${seconds(t)}`);
      });
      let t = performance.now();
      await stack.db.query(asOwner(), 'analyze public.trading_signals, public.closed_trades, public.mt5_sessions, public.user_signal_stats, private.cashback_report_cells');
      timings.push(`analyze ${seconds(t)}`);
      const seeding = `seeded in ${seconds(t0)} (${timings.join(', ')})`;
      console.log(`[bench] heavy user: ${seeding}`);
      notes.push(`heavy user ${seeding}`);

      // The poll: the first (warm-up) poll delivers the 5 PENDING signals; every poll after it
      // returns those 5 (delivered, not yet reported), as an EA that has not reported yet sees.
      const pollFn = await http(
        `GET /signals/pending (${HEAVY_PENDING} delivered) function, 1M signals`,
        {
          url: stack.deno.url('/signals/pending'),
          method: 'GET',
          next: () => ({ headers: polled.signer.sign(''), path: `/signals/pending?session_id=${polled.sessionId}` }),
        },
        1,
        pidOf('signals'),
      );
      const [k] = await stack.db.query<{ scopes: string[]; secret_ciphertext: string }>(
        asOwner(),
        'select k.scopes::text[] as scopes, s.secret_ciphertext from public.ea_keys k join private.ea_key_secrets s on s.key_id = k.id where k.id = $1',
        [polled.keyId],
      );
      if (!k) throw new Error('no heavy key');
      const pollSql = await loops(
        'GET /signals/pending SQL baseline, 1M signals',
        () => sql.query(asOwner(), POLL_SQL, [polled.keyId, requestId(), k.secret_ciphertext, k.scopes, polled.sessionId, POLL_LIMIT]),
        1,
      );
      const token = heavy.token;
      const statsFn = await http(
        'GET /accounts/stats function, 1M signals',
        { url: stack.deno.url('/accounts/stats'), method: 'GET', next: () => ({ headers: { authorization: `Bearer ${token}` } }) },
        1,
        pidOf('accounts'),
      );
      // GET /accounts/cashback/report (issue #17): the default month report (the last 365 days),
      // which covers all 1M closed trades of the heavy account, per user (index user_id, close_time).
      const reportFn = await http(
        'GET /accounts/cashback/report?period=month function, 1M closed trades',
        { url: stack.deno.url('/accounts/cashback/report?period=month&group_by=symbol_group'), method: 'GET', next: () => ({ headers: { authorization: `Bearer ${token}` } }) },
        1,
        pidOf('accounts'),
      );
      const reportSql = await loops(
        'private.cashback_report() SQL, month by symbol group, 1M closed trades',
        () => sql.query(asUser(heavy.id), `select * from private.cashback_report(null, now() - interval '365 days', now(), 'month', true)`),
        1,
      );
      // GET /ops/metrics (issue #16), as Prometheus scrapes it: one at a time, with an operator key;
      // then its one SQL function alone.
      const operatorKey = `rubi_op_${randomToken(32)}`;
      await stack.db.query(asOwner(), 'insert into private.operator_keys (name, key_hash) values ($1, $2)', [operatorKeyName, await sha256Hex(operatorKey)]);
      const metricsFn = await http(
        'GET /ops/metrics function, 1M signals + 1M closed trades',
        { url: stack.deno.url('/ops/metrics'), method: 'GET', next: () => ({ headers: { authorization: `Bearer ${operatorKey}` } }) },
        1,
        pidOf('ops'),
      );
      const metricsSql = await loops('private.ops_metrics() SQL, 1M signals + 1M closed trades', () => sql.query(asOwner(), 'select * from private.ops_metrics()'), 1);
      heavyLines.push(
        ['GET /signals/pending (function)', rate(pollFn.perSecond), ms(pollFn.p50), ms(pollFn.p99), String(pollFn.errors), 'p99 ≤ 10 ms'],
        ['GET /signals/pending (its one-call SQL)', rate(pollSql.perSecond), ms(pollSql.p50), ms(pollSql.p99), String(pollSql.errors), '–'],
        ['GET /accounts/stats (function)', rate(statsFn.perSecond), ms(statsFn.p50), ms(statsFn.p99), String(statsFn.errors), 'p99 ≤ 50 ms'],
        ['GET /accounts/cashback/report?period=month (function, 1M trades in range)', rate(reportFn.perSecond), ms(reportFn.p50), ms(reportFn.p99), String(reportFn.errors), '–'],
        ['GET /accounts/cashback/report (private.cashback_report SQL)', rate(reportSql.perSecond), ms(reportSql.p50), ms(reportSql.p99), String(reportSql.errors), '–'],
        ['GET /ops/metrics (function)', rate(metricsFn.perSecond), ms(metricsFn.p50), ms(metricsFn.p99), String(metricsFn.errors), 'p99 ≤ 50 ms'],
        ['GET /ops/metrics (private.ops_metrics SQL)', rate(metricsSql.perSecond), ms(metricsSql.p50), ms(metricsSql.p99), String(metricsSql.errors), '–'],
      );
      goals.push(
        { goal: 'poll p99 ≤ 10 ms, 1 connection, 1M signals', measured: `${ms(pollFn.p99)} ms`, met: pollFn.p99 <= 10 },
        { goal: 'stats ≤ 50 ms (p99), 1 connection, 1M signals + 1M closed trades', measured: `${ms(statsFn.p99)} ms`, met: statsFn.p99 <= 50 },
        { goal: 'cashback report ≤ 50 ms (p99), 1 connection, 1M closed trades in range', measured: `${ms(reportFn.p99)} ms`, met: reportFn.p99 <= 50 },
        { goal: 'metrics scrape ≤ 50 ms (p99), 1 connection, 1M signals + 1M closed trades', measured: `${ms(metricsFn.p99)} ms`, met: metricsFn.p99 <= 50 },
      );
      expectNoFailures('heavy user', pollFn, pollSql, statsFn, reportFn, reportSql, metricsFn, metricsSql);
    } finally {
      // The history goes the way it came (replica: no 1M per-row broadcasts on delete), then the
      // user with everything else of theirs (with triggers).
      const t = performance.now();
      await stack.db
        .transaction(asOwner(), async (tx) => {
          await tx.query('set local session_replication_role = replica');
          await tx.query('delete from public.trading_signals where user_id = $1', [heavy.id]);
          await tx.query('delete from public.closed_trades where user_id = $1', [heavy.id]);
        })
        .catch((error: unknown) => console.log(`[bench] heavy cleanup failed: ${String(error)}`));
      await stack.db.query(asOwner(), 'delete from auth.users where id = $1', [heavy.id]).catch(() => undefined);
      await stack.db.query(asOwner(), 'delete from private.operator_keys where name = $1', [operatorKeyName]).catch(() => undefined);
      await heavyHost?.().catch(() => undefined);
      console.log(`[bench] heavy user removed in ${seconds(t)}`);
    }
  });

  // -------------------------------------------------------------------------------------------
  // 3. The embedded default: `npm start` (one Deno process, PGlite in a data folder).

  it(`embedded default (npm start): POST /functions/v1/ping at ${EMBEDDED_CONNECTIONS} connections, beside the one before issue #13`, async () => {
    section(`embedded default, ${EMBEDDED_CONNECTIONS} connections`);

    /** Pings from `count` connector EAs of a user signed up on `url`, at EMBEDDED_CONNECTIONS connections. */
    const embeddedPings = async (label: string, server: NpmStart): Promise<Figures> => {
      const functionsUrl = `${server.url}/functions/v1`;
      const dash = await new Backend(server.url).signUp(`bench-${Date.now()}@example.com`, 'bench password 123');
      const eas = await connectTerminals((path) => `${functionsUrl}${path}`, dash.token, EMBEDDED_CONNECTIONS);
      const bodies = new Map(eas.map((t) => [t.sessionId, JSON.stringify(pingBody(t.sessionId))]));
      const next = roundRobin(eas);
      return http(
        label,
        {
          url: `${functionsUrl}/ping`,
          method: 'POST',
          next: () => {
            const t = next();
            const body = bodies.get(t.sessionId) ?? '';
            return { body, headers: t.signer.sign(body) };
          },
        },
        EMBEDDED_CONNECTIONS,
        // npm, sh and the one Deno process with PGlite in it: no PostgreSQL server.
        server.pid,
        null,
      );
    };
    // npm exits with the signal while Deno may still be closing PGlite (its last WAL segment):
    // retry until the folder is really gone instead of failing the run on ENOTEMPTY.
    const removeDir = (dir: string) => rm(dir, { recursive: true, force: true, maxRetries: 20, retryDelay: 250 });

    // Today's, then (once it stopped) the one of before issue #13, each on a fresh data dir.
    let pingFn: Figures;
    const dataDir = await mkdtemp(join(tmpdir(), 'rubi-bench-local-'));
    let server: NpmStart | undefined;
    try {
      const t0 = performance.now();
      server = await startNpmStart({ args: ['--data-dir', dataDir], timeoutMs: 180_000 });
      notes.push(`embedded default ready in ${seconds(t0)} (npm start -- --data-dir <fresh temp dir>, migrations applied on start)`);
      pingFn = await embeddedPings('embedded POST /functions/v1/ping', server);
    } finally {
      await server?.stop('SIGTERM');
      await removeDir(dataDir);
    }

    let oldFn: Figures | undefined;
    const oldDataDir = await mkdtemp(join(tmpdir(), 'rubi-bench-local-legacy-'));
    let old: LegacyNpmStart | undefined;
    try {
      const t0 = performance.now();
      old = await startLegacyNpmStart(oldDataDir);
      notes.push(`embedded default of ${LEGACY_COMMIT} (npm start in that tree, fresh data dir) ready in ${seconds(t0)}`);
      oldFn = await embeddedPings(`embedded POST /functions/v1/ping legacy (${LEGACY_COMMIT})`, old.server);
    } catch (error) {
      notes.push(`embedded default of ${LEGACY_COMMIT} NOT measured: ${error instanceof Error ? error.message : String(error)}`);
    } finally {
      await old?.close();
      await removeDir(oldDataDir);
    }

    const recorded = `${EMBEDDED_LEGACY.low}–${EMBEDDED_LEGACY.high} recorded in the issue`;
    const vsRecorded = `${(pingFn.perSecond / EMBEDDED_LEGACY.high).toFixed(1)}–${(pingFn.perSecond / EMBEDDED_LEGACY.low).toFixed(1)}× the issue's ${EMBEDDED_LEGACY.low}–${EMBEDDED_LEGACY.high}/s`;
    if (oldFn) {
      const times = pingFn.perSecond / oldFn.perSecond;
      embeddedLines.push(
        ['POST /functions/v1/ping', rate(pingFn.perSecond), ms(pingFn.p50), ms(pingFn.p99), String(pingFn.errors), `${rate(oldFn.perSecond)} (${LEGACY_COMMIT}, same run; ${recorded})`, `≥ 5×: ${rate(5 * oldFn.perSecond)}/s`],
        [`POST /functions/v1/ping before #13 (${LEGACY_COMMIT})`, rate(oldFn.perSecond), ms(oldFn.p50), ms(oldFn.p99), String(oldFn.errors), '–', '–'],
      );
      goals.push({
        goal: `embedded pings ≥ 5× today (npm start of ${LEGACY_COMMIT}, same run)`,
        measured: `${rate(pingFn.perSecond)}/s = ${times.toFixed(1)}× (${vsRecorded})`,
        met: times >= 5,
      });
      expectNoFailures('embedded ping', pingFn, oldFn);
    } else {
      const goal = 5 * EMBEDDED_LEGACY.high;
      embeddedLines.push([
        'POST /functions/v1/ping',
        rate(pingFn.perSecond),
        ms(pingFn.p50),
        ms(pingFn.p99),
        String(pingFn.errors),
        `${EMBEDDED_LEGACY.low}–${EMBEDDED_LEGACY.high} (before #13, from the issue; the old tree could not be served)`,
        `≥ 5×: ${5 * EMBEDDED_LEGACY.low}–${goal}/s`,
      ]);
      goals.push({
        goal: `embedded pings ≥ 5× today (${EMBEDDED_LEGACY.low}–${EMBEDDED_LEGACY.high}/s before, recorded figure)`,
        measured: `${rate(pingFn.perSecond)}/s = ${vsRecorded}`,
        met: pingFn.perSecond >= goal,
      });
      expectNoFailures('embedded ping', pingFn);
    }
  });
});
