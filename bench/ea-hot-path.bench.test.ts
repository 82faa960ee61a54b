import { randomUUID } from 'node:crypto';
import { cpus } from 'node:os';
import { asOwner, asUser, createPostgresDb, type PostgresDb, type Queryable } from '@rubi/db';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { liveSession } from '../functions/_shared/live-session.ts';
import { PING_SNAPSHOT_SQL, PING_UPDATE_SQL, PING_WAITING_SQL } from '../functions/ping/app.ts';
import { DELIVER_PENDING_SQL, DELIVERED_SIGNALS_SQL } from '../functions/signals/app.ts';
import { INSERT_TRADES_SQL } from '../functions/trades/app.ts';
import { databaseUrl } from '../tests/integration/support/context.ts';
import type { E2eUser } from '../tests/integration/e2e/support/auth.ts';
import { startE2eStack, type E2eStack } from '../tests/integration/e2e/support/e2e-stack.ts';
import { connectTerminals, provisionAccounts, roundRobin, type ProvisionedAccount, type Terminal } from './support/fixtures.ts';
import { describeFigures, formatTable, runHttp, runSql, type Figures, type NextRequest, type Row } from './support/measure.ts';

/**
 * The EA hot path under load: the requests every terminal makes all day, against the real
 * functions under Deno (functions/<name>/index.ts, unchanged) on PostgreSQL 15, each next to a
 * baseline: the same SQL the function's handler runs, sent straight through the same postgres.js
 * adapter (@rubi/db) as the same principal, at the same concurrency, in the same run. The gap
 * between the two is what authentication, replay protection, validation, HTTP and Deno cost.
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

const SECONDS = positiveEnv('BENCH_SECONDS', 5);
const CONNECTIONS = Math.round(positiveEnv('BENCH_CONNECTIONS', 10));
/** Unmeasured load before each measurement: JIT, connection pools, plan caches. */
const WARMUP_SECONDS = Math.min(1, SECONDS);
const TRADES_PER_BATCH = 100;

const FUNCTIONS = ['keys', 'connect', 'ping', 'signals', 'accounts', 'vps', 'register', 'trades'] as const;

// ---------------------------------------------------------------------------------------------
// The handlers' transactions, built from the statements the functions export (so the baseline
// cannot drift from the handler), minus what only the function does (auth, validation, HTTP).

/** functions/ping/app.ts: the handler's transaction. */
async function pingSql(tx: Queryable, sessionId: string, body: PingBody): Promise<void> {
  await liveSession(tx, sessionId);
  const [session] = await tx.query<{ user_id: string; ping_interval_seconds: number; last_ping_at: Date }>(PING_UPDATE_SQL, [
    sessionId,
    body.balance,
    body.equity,
    body.margin,
    body.margin_free,
    body.margin_level,
    body.profit,
  ]);
  if (!session) throw new Error('session not found');
  await tx.query(PING_SNAPSHOT_SQL, [
    sessionId,
    session.user_id,
    session.last_ping_at,
    body.balance,
    body.equity,
    body.margin,
    body.margin_free,
    body.margin_level,
    body.profit,
  ]);
  await tx.query(PING_WAITING_SQL, [sessionId]);
}

/** functions/signals/app.ts, GET /signals/pending: the handler's transaction (default limit 50). */
async function pendingSql(tx: Queryable, sessionId: string, limit = 50): Promise<void> {
  await liveSession(tx, sessionId);
  await tx.query(DELIVER_PENDING_SQL, [sessionId, limit]);
  await tx.query(DELIVERED_SIGNALS_SQL, [sessionId, limit]);
}

/** functions/trades/app.ts, POST /trades: the handler's transaction. */
async function tradesSql(tx: Queryable, accountId: string, rows: TradeInput[]): Promise<void> {
  const [inserted] = await tx.query<{ accepted: number[] }>(INSERT_TRADES_SQL, [accountId, JSON.stringify(rows)]);
  if (inserted?.accepted.length !== rows.length) throw new Error(`expected ${rows.length} new trades, ${inserted?.accepted.length ?? 0} stored`);
  await tx.query('select private.account_heard_from($1)', [accountId]);
}

// ---------------------------------------------------------------------------------------------
// Request bodies

interface PingBody {
  session_id: string;
  balance: number;
  equity: number;
  margin: number;
  margin_free: number;
  margin_level: number | null;
  profit: number;
}

const pingBody = (sessionId: string): PingBody => ({
  session_id: sessionId,
  balance: 10_000,
  equity: 10_012.5,
  margin: 0,
  margin_free: 10_012.5,
  margin_level: null,
  profit: 12.5,
});

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

/** Ticket blocks shared by the function run and the baseline, so every batch inserts 100 new rows. */
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

describe(`EA hot path: ${SECONDS} s per measurement, ${CONNECTIONS} connections`, () => {
  let stack: E2eStack;
  let sql: PostgresDb;
  let user: E2eUser;
  let terminals: Terminal[] = [];
  let accounts: ProvisionedAccount[] = [];
  let removeHost: (() => Promise<void>) | undefined;
  const rows: Row[] = [];

  beforeAll(async () => {
    stack = await startE2eStack(FUNCTIONS);
    // The baseline's own pool: one connection per concurrent loop.
    sql = createPostgresDb(databaseUrl(), { max: CONNECTIONS, applicationName: 'rubi-bench-baseline' });
    user = await stack.auth.createUser(stack.db, `bench-${randomUUID()}@bench.invalid`);
    // One EA per connection, each with its own key and session: requests are spread round-robin,
    // as many terminals pinging at once would be (not one session taking every ping).
    terminals = await connectTerminals(stack, user.token, CONNECTIONS);
    ({ accounts, removeHost } = await provisionAccounts(stack, user.token, CONNECTIONS));
    console.log(
      `\n[bench] ${FUNCTIONS.length} functions under Deno, ${terminals.length} connector EAs, ${accounts.length} provisioned accounts; ` +
        `${SECONDS} s per measurement (+${WARMUP_SECONDS} s warm-up), ${CONNECTIONS} connections; ` +
        `${cpus().length} CPUs (${cpus()[0]?.model ?? 'unknown'}), load generator, Deno and PostgreSQL on the same machine`,
    );
  });

  afterAll(async () => {
    if (rows.length > 0) console.log(`\n[bench] EA hot path, ${new Date().toISOString()}\n\n${formatTable(rows)}\n`);
    if (stack && user) await stack.db.query(asOwner(), 'delete from auth.users where id = $1', [user.id]).catch(() => undefined);
    await removeHost?.().catch(() => undefined);
    await sql?.close();
    await stack?.close();
  });

  /** Warm-up, then the function under autocannon, then the baseline under the same concurrency. */
  async function measure(
    scenario: string,
    http: { url: string; method: 'GET' | 'POST'; next: () => NextRequest },
    op: () => Promise<unknown>,
  ): Promise<Row> {
    await runHttp({ ...http, seconds: WARMUP_SECONDS, connections: CONNECTIONS });
    const fn = await runHttp({ ...http, seconds: SECONDS, connections: CONNECTIONS });
    console.log(describeFigures(`[bench] ${scenario} function`, fn));
    await runSql({ op, seconds: WARMUP_SECONDS, concurrency: CONNECTIONS });
    const baseline: Figures = await runSql({ op, seconds: SECONDS, concurrency: CONNECTIONS });
    console.log(describeFigures(`[bench] ${scenario} SQL baseline`, baseline));
    const row = { scenario, fn, sql: baseline };
    rows.push(row);
    return row;
  }

  function expectNoFailures(row: Row): void {
    expect({ errors: row.fn.errors, first: row.fn.firstError }, `${row.scenario}: failed requests`).toEqual({ errors: 0, first: undefined });
    expect({ errors: row.sql.errors, first: row.sql.firstError }, `${row.scenario}: failed baseline transactions`).toEqual({ errors: 0, first: undefined });
    expect(row.fn.count, `${row.scenario}: no request completed`).toBeGreaterThan(0);
  }

  it('POST /ping (heartbeat) vs its session update + snapshot insert', async () => {
    const bodies = new Map(terminals.map((t) => [t.sessionId, JSON.stringify(pingBody(t.sessionId))]));
    const httpTerminal = roundRobin(terminals);
    const sqlTerminal = roundRobin(terminals);
    const row = await measure(
      'POST /ping',
      {
        url: stack.deno.url('/ping'),
        method: 'POST',
        next: () => {
          const t = httpTerminal();
          const body = bodies.get(t.sessionId) ?? '';
          return { body, headers: t.signer.sign(body) };
        },
      },
      () => {
        const t = sqlTerminal();
        return sql.transaction(asUser(user.id, { ea_key_id: t.keyId }), (tx) => pingSql(tx, t.sessionId, pingBody(t.sessionId)));
      },
    );
    expectNoFailures(row);
  });

  it('GET /signals/pending with nothing pending (the poll) vs its select', async () => {
    const httpTerminal = roundRobin(terminals);
    const sqlTerminal = roundRobin(terminals);
    // The session goes in the query string (unsigned: a GET signs the empty body) and the
    // terminal's key in the headers; they must match, a session being visible to its key only.
    const row = await measure(
      'GET /signals/pending',
      {
        url: stack.deno.url('/signals/pending'),
        method: 'GET',
        next: () => {
          const t = httpTerminal();
          return { headers: t.signer.sign(''), path: `/signals/pending?session_id=${t.sessionId}` };
        },
      },
      () => {
        const t = sqlTerminal();
        return sql.transaction(asUser(user.id, { ea_key_id: t.keyId }), (tx) => pendingSql(tx, t.sessionId));
      },
    );
    expectNoFailures(row);
  });

  it(`POST /trades (${TRADES_PER_BATCH} closed trades) vs its insert`, async () => {
    const httpAccount = roundRobin(accounts);
    const sqlAccount = roundRobin(accounts);
    const row = await measure(
      `POST /trades ×${TRADES_PER_BATCH}`,
      {
        url: stack.deno.url('/trades'),
        method: 'POST',
        next: () => {
          const a = httpAccount();
          const body = JSON.stringify({ trades: tradeBatch() });
          return { body, headers: a.signer.sign(body) };
        },
      },
      () => {
        const a = sqlAccount();
        const batch = tradeBatch();
        return sql.transaction(asUser(user.id, { ea_account_id: a.accountId }), (tx) => tradesSql(tx, a.accountId, batch));
      },
    );
    expectNoFailures(row);
  });
});
