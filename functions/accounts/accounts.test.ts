import fc from 'fast-check';
import { asOwner } from '@rubi/db';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createEaCredential } from '../../tests/support/ea-credentials.ts';
import { createEdgeHarness, eaRequest, userRequest, type EaCredential, type EdgeHarness, type TestUser } from '../../tests/support/edge-harness.ts';
import { EURUSD_SPEC, openSession } from '../../tests/support/terminal.ts';
import { createConnectApp } from '../connect/app.ts';
import { createPingApp } from '../ping/app.ts';
import { createPositionsApp } from '../positions/app.ts';
import { createAccountsApp } from './app.ts';

let h: EdgeHarness;
let app: ReturnType<typeof createAccountsApp>;
let alice: TestUser;
let bob: TestUser;
let aliceKey: EaCredential;
let bobKey: EaCredential;

interface ErrorBody {
  error: { code: string; details?: { path: string; message: string }[] };
}
interface SessionJson {
  id: string;
  account_number: number;
  status: string;
  balance: number;
  equity: number;
  margin: number;
  margin_free: number;
  margin_level: number | null;
  profit: number;
  leverage: number;
  disconnected_at: string | null;
  risk: { max_open_positions: number; max_risk_percent: number };
  counters: { signals_sent: number; signals_received: number; orders_executed: number; errors: number };
  open_positions: number;
  pending_signals: number;
  created_at: string;
  [k: string]: unknown;
}
interface SnapshotJson {
  captured_at: string;
  balance: number;
  equity: number;
  margin: number;
  margin_free: number;
  margin_level: number | null;
  profit: number;
}
interface DetailJson {
  session: SessionJson;
  latest_snapshot: SnapshotJson | null;
  history: { from: string; to: string; total: number; downsampled: boolean; bucket_seconds: number | null; points: SnapshotJson[] };
  symbols: Record<string, unknown>[];
}

const get = async <T>(user: TestUser, path: string, status = 200): Promise<T> => {
  const res = await userRequest(app, 'GET', path, user.token);
  expect(res.status, `${path}: ${status === res.status ? '' : await res.clone().text()}`).toBe(status);
  return (await res.json()) as T;
};

const ping = (key: EaCredential, sessionId: string, figures: Record<string, number | null>) =>
  eaRequest(h, createPingApp(h.deps), 'POST', '/ping', key, { session_id: sessionId, ...figures });

const disconnect = (key: EaCredential, sessionId: string, counters: Record<string, number> = {}) =>
  eaRequest(h, createConnectApp(h.deps), 'POST', '/connect/disconnect', key, { session_id: sessionId, ...counters });

const pushPositions = async (key: EaCredential, sessionId: string, tickets: number[]) => {
  const res = await eaRequest(h, createPositionsApp(h.deps), 'POST', '/positions/update', key, {
    session_id: sessionId,
    positions: tickets.map((ticket) => ({ ticket, symbol: 'EURUSD', type: 'BUY', volume: 0.1, open_price: 1.1, profit: 1, opened_at: '2026-11-20T10:00:00Z' })),
  });
  expect(res.status).toBe(200);
};

/** Signals of `userId` on `sessionId`, driven to `status` through the legal transitions (as the database owner). */
async function signalsIn(userId: string, sessionId: string, status: string, n: number): Promise<void> {
  for (let i = 0; i < n; i++) {
    const [row] = await h.db.query<{ id: string }>(
      asOwner(),
      `insert into public.trading_signals (user_id, session_id, type, symbol, volume) values ($1, $2, 'BUY', 'EURUSD', 0.1) returning id`,
      [userId, sessionId],
    );
    const path: Record<string, string[]> = {
      PENDING: [],
      DELIVERED: ['DELIVERED'],
      EXECUTED: ['DELIVERED', 'EXECUTED'],
      REJECTED: ['DELIVERED', 'REJECTED'],
      FAILED: ['DELIVERED', 'FAILED'],
      UNKNOWN: ['DELIVERED', 'UNKNOWN'],
      EXPIRED: ['EXPIRED'],
      CANCELLED: ['CANCELLED'],
    };
    for (const next of path[status] ?? []) {
      await h.db.query(asOwner(), 'update public.trading_signals set status = $2 where id = $1', [row?.id, next]);
    }
  }
}

/** Snapshots at explicit times (the ping function can only stamp "now"). */
async function snapshotsAt(userId: string, sessionId: string, times: Date[], equity: (i: number) => number): Promise<void> {
  await h.db.query(
    asOwner(),
    `insert into public.account_snapshots (session_id, user_id, captured_at, balance, equity)
     select $1, $2, t.at, 10000, t.equity
     from jsonb_to_recordset($3::jsonb) as t(at timestamptz, equity numeric)`,
    [sessionId, userId, JSON.stringify(times.map((at, i) => ({ at: at.toISOString(), equity: equity(i) })))],
  );
}

beforeAll(async () => {
  h = await createEdgeHarness();
  app = createAccountsApp(h.deps);
  alice = await h.createUser('alice@example.com');
  bob = await h.createUser('bob@example.com');
  aliceKey = await createEaCredential(h, alice);
  bobKey = await createEaCredential(h, bob);
});
afterAll(() => h.close());

describe('GET /accounts/sessions', () => {
  let first: string;
  let second: string;
  let third: string;

  beforeAll(async () => {
    first = await openSession(h, aliceKey, 4001);
    second = await openSession(h, aliceKey, 4002);
    third = await openSession(h, aliceKey, 4003);
    expect((await disconnect(aliceKey, first, { signals_sent: 3, signals_received: 5, orders_executed: 4, errors: 1 })).status).toBe(200);
    expect((await ping(aliceKey, third, { balance: 10250.5, equity: 10310.25, margin: 120.5, margin_free: 10189.75, margin_level: 8556.22, profit: 59.75 })).status).toBe(200);
    await pushPositions(aliceKey, third, [1, 2, 3]);
    await pushPositions(aliceKey, third, [2, 3]);
    await signalsIn(alice.id, third, 'PENDING', 2);
    await signalsIn(alice.id, third, 'DELIVERED', 1);
    await signalsIn(alice.id, third, 'EXECUTED', 1);
    await h.db.query(asOwner(), `update public.mt5_sessions set status = 'stale' where id = $1`, [second]);
  });

  it('lists active and past sessions, newest first, with figures and counters as JSON numbers', async () => {
    const body = await get<{ sessions: SessionJson[]; next_cursor: string | null }>(alice, '/accounts/sessions');
    expect(body.sessions.map((s) => s.id)).toEqual([third, second, first]);
    expect(body.next_cursor).toBeNull();
    const [live, stale, past] = body.sessions;
    expect(live).toMatchObject({
      account_number: 4003,
      status: 'active',
      broker: 'IC Markets',
      server: 'ICMarketsSC-Demo',
      currency: 'USD',
      leverage: 500,
      balance: 10250.5,
      equity: 10310.25,
      margin: 120.5,
      margin_free: 10189.75,
      margin_level: 8556.22,
      profit: 59.75,
      disconnected_at: null,
      ping_interval_seconds: 30,
      risk: { max_open_positions: 10, max_risk_percent: 2 },
      open_positions: 2,
      pending_signals: 3,
      ea_key_id: aliceKey.keyId,
      terminal_build: 4755,
    });
    expect(stale).toMatchObject({ status: 'stale', open_positions: 0, pending_signals: 0, margin_level: null });
    expect(past).toMatchObject({
      status: 'disconnected',
      counters: { signals_sent: 3, signals_received: 5, orders_executed: 4, errors: 1 },
    });
    expect(past?.disconnected_at).toMatch(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/);
    expect(new Date(String(live?.last_ping_at)).toISOString()).toBe(live?.last_ping_at);
  });

  it('filters by status and account number', async () => {
    const only = async (q: string) => (await get<{ sessions: SessionJson[] }>(alice, `/accounts/sessions${q}`)).sessions.map((s) => s.id);
    expect(await only('?status=disconnected')).toEqual([first]);
    expect(await only('?status=stale')).toEqual([second]);
    expect(await only('?status=active')).toEqual([third]);
    expect(await only('?account_number=4002')).toEqual([second]);
  });

  it('pages with a cursor', async () => {
    const page1 = await get<{ sessions: SessionJson[]; next_cursor: string | null }>(alice, '/accounts/sessions?limit=2');
    expect(page1.sessions.map((s) => s.id)).toEqual([third, second]);
    expect(page1.next_cursor).toEqual(expect.any(String));
    const page2 = await get<{ sessions: SessionJson[]; next_cursor: string | null }>(
      alice,
      `/accounts/sessions?limit=2&cursor=${encodeURIComponent(page1.next_cursor ?? '')}`,
    );
    expect(page2.sessions.map((s) => s.id)).toEqual([first]);
    expect(page2.next_cursor).toBeNull();
  });

  it('rejects bad queries naming the parameter', async () => {
    for (const [query, path] of [
      ['?status=open', 'query.status'],
      ['?limit=abc', 'query.limit'],
      ['?account_number=-4', 'query.account_number'],
      ['?cursor=WyJ4Il0', 'query.cursor'],
    ] as const) {
      const body = await get<ErrorBody>(alice, `/accounts/sessions${query}`, 400);
      expect(body.error.details?.map((d) => d.path), query).toContain(path);
    }
  });

  it("does not list another user's sessions", async () => {
    const bobSession = await openSession(h, bobKey, 4001);
    const body = await get<{ sessions: SessionJson[] }>(bob, '/accounts/sessions');
    expect(body.sessions.map((s) => s.id)).toEqual([bobSession]);
  });
});

describe('GET /accounts/sessions/{id}', () => {
  let sessionId: string;

  beforeAll(async () => {
    sessionId = await openSession(h, aliceKey, 4101);
    expect((await ping(aliceKey, sessionId, { balance: 10000, equity: 10010, profit: 10 })).status).toBe(200);
    expect((await ping(aliceKey, sessionId, { balance: 10000, equity: 10025.5, margin: 50, margin_free: 9975.5, margin_level: 20051, profit: 25.5 })).status).toBe(200);
    // A snapshot 25 hours old: outside the default window.
    await snapshotsAt(alice.id, sessionId, [new Date(Date.now() - 25 * 3600_000)], () => 9000);
  });

  it('returns the session, its latest snapshot, the last 24 h of history and its symbol specifications', async () => {
    const body = await get<DetailJson>(alice, `/accounts/sessions/${sessionId}`);
    expect(body.session).toMatchObject({ id: sessionId, account_number: 4101, equity: 10025.5, status: 'active' });
    expect(body.latest_snapshot).toMatchObject({ balance: 10000, equity: 10025.5, margin: 50, margin_free: 9975.5, margin_level: 20051, profit: 25.5 });
    expect(body.history).toMatchObject({ total: 2, downsampled: false, bucket_seconds: null });
    expect(body.history.points.map((p) => p.equity)).toEqual([10010, 10025.5]);
    expect(body.history.points[0]).toMatchObject({ margin: 0, margin_free: 0, margin_level: null });
    expect(Date.parse(body.history.to) - Date.parse(body.history.from)).toBe(24 * 3600_000);
    expect(Math.abs(Date.parse(body.history.to) - Date.now())).toBeLessThan(60_000);
    expect(body.symbols).toEqual([{ ...EURUSD_SPEC, updated_at: expect.stringMatching(/Z$/) }]);
  });

  it('takes the history window from `from` and `to`', async () => {
    const from = new Date(Date.now() - 26 * 3600_000).toISOString();
    const wide = await get<DetailJson>(alice, `/accounts/sessions/${sessionId}?from=${from}`);
    expect(wide.history.points.map((p) => p.equity)).toEqual([9000, 10010, 10025.5]);
    expect(wide.history.from).toBe(from);
    const to = new Date(Date.now() - 24 * 3600_000).toISOString();
    const old = await get<DetailJson>(alice, `/accounts/sessions/${sessionId}?from=${from}&to=${to}`);
    expect(old.history).toMatchObject({ total: 1, from, to });
    // The latest snapshot does not depend on the window.
    expect(old.latest_snapshot?.equity).toBe(10025.5);
  });

  it('downsamples to at most max_points real snapshots, evenly spread, the newest kept', async () => {
    const id = await openSession(h, aliceKey, 4102);
    const start = Date.now() - 10 * 3600_000;
    const times = Array.from({ length: 20 }, (_, i) => new Date(start + i * 30 * 60_000));
    await snapshotsAt(alice.id, id, times, (i) => 10000 + i);
    const from = times[0]?.toISOString() ?? '';
    const to = times[19]?.toISOString() ?? '';
    const body = await get<DetailJson>(alice, `/accounts/sessions/${id}?from=${from}&to=${to}&max_points=4`);
    expect(body.history).toMatchObject({ total: 20, downsampled: true, bucket_seconds: (19 * 30 * 60) / 4 });
    // Buckets of 2 h 22.5 min: the last snapshot of each.
    expect(body.history.points.map((p) => p.equity)).toEqual([10004, 10009, 10014, 10019]);
    const all = await get<DetailJson>(alice, `/accounts/sessions/${id}?from=${from}&to=${to}`);
    expect(all.history).toMatchObject({ total: 20, downsampled: false });
    expect(all.history.points).toHaveLength(20);
  });

  it('never returns more than 2000 points', async () => {
    const id = await openSession(h, aliceKey, 4103);
    await h.db.query(
      asOwner(),
      `insert into public.account_snapshots (session_id, user_id, captured_at, balance, equity)
       select $1, $2, now() - make_interval(secs => g * 20), 10000, 10000 + g from generate_series(1, 2500) g`,
      [id, alice.id],
    );
    const body = await get<DetailJson>(alice, `/accounts/sessions/${id}`);
    expect(body.history.total).toBe(2500);
    expect(body.history.downsampled).toBe(true);
    // 2500 snapshots 20 s apart: 2000 buckets of ~25 s over the span they cover, none empty.
    expect(body.history.points).toHaveLength(2000);
    expect(body.history.bucket_seconds).toBeCloseTo((2499 * 20) / 2000, 3);
    const times = body.history.points.map((p) => Date.parse(p.captured_at));
    expect([...times].sort((a, b) => a - b)).toEqual(times);
    expect(body.history.points.at(-1)?.equity).toBe(10001);
  });

  it('rejects bad input naming the field', async () => {
    const cases = [
      ['/accounts/sessions/not-a-uuid', 'path.id'],
      [`/accounts/sessions/${sessionId}?from=yesterday`, 'query.from'],
      [`/accounts/sessions/${sessionId}?from=0000-01-01T00:00:00Z`, 'query.from'],
      [`/accounts/sessions/${sessionId}?to=9999-12-31T23:59:59Z&from=0000-12-31T23:59:59Z`, 'query.from'],
      [`/accounts/sessions/${sessionId}?max_points=5000`, 'query.max_points'],
      [`/accounts/sessions/${sessionId}?max_points=1`, 'query.max_points'],
      [`/accounts/sessions/${sessionId}?from=2026-11-21T10:00:00Z&to=2026-11-21T09:00:00Z`, 'query.from'],
      [`/accounts/sessions/${sessionId}?from=${new Date(Date.now() + 3600_000).toISOString()}`, 'query.from'],
    ] as const;
    for (const [path, field] of cases) {
      const body = await get<ErrorBody>(alice, path, 400);
      expect(body.error.details?.map((d) => d.path), path).toContain(field);
    }
  });

  it("answers 404 for an unknown session and for another user's", async () => {
    expect((await get<ErrorBody>(alice, '/accounts/sessions/00000000-0000-4000-8000-000000000000', 404)).error.code).toBe('not_found');
    expect((await get<ErrorBody>(bob, `/accounts/sessions/${sessionId}`, 404)).error.code).toBe('not_found');
  });
});

describe('GET /accounts/stats', () => {
  it('counts exactly what the user owns', async () => {
    const carol = await h.createUser('carol@example.com');
    const carolKey = await createEaCredential(h, carol);
    const live = await openSession(h, carolKey, 4201);
    const stale = await openSession(h, carolKey, 4202);
    const gone = await openSession(h, carolKey, 4203);
    await h.db.query(asOwner(), `update public.mt5_sessions set status = 'stale' where id = $1`, [stale]);
    await pushPositions(carolKey, live, [1, 2, 3, 4]);
    await pushPositions(carolKey, live, [1, 2, 3]);
    await pushPositions(carolKey, stale, [7]);
    expect((await disconnect(carolKey, gone)).status).toBe(200);
    const counts = { PENDING: 2, DELIVERED: 1, EXECUTED: 3, REJECTED: 1, FAILED: 1, UNKNOWN: 1, EXPIRED: 1, CANCELLED: 2 };
    for (const [status, n] of Object.entries(counts)) await signalsIn(carol.id, status === 'PENDING' ? stale : live, status, n);

    expect(await get(carol, '/accounts/stats')).toEqual({
      signals: { total: 12, pending: 2, delivered: 1, executed: 3, rejected: 1, failed: 1, unknown: 1, expired: 1, cancelled: 2 },
      sessions: { total: 3, active: 1, stale: 1 },
      positions: { open: 4 },
    });
  });

  it("does not count another user's rows", async () => {
    const dave = await h.createUser('dave@example.com');
    expect(await get(dave, '/accounts/stats')).toEqual({
      signals: { total: 0, pending: 0, delivered: 0, executed: 0, rejected: 0, failed: 0, unknown: 0, expired: 0, cancelled: 0 },
      sessions: { total: 0, active: 0, stale: 0 },
      positions: { open: 0 },
    });
    const bobStats = await get<{ sessions: { total: number }; signals: { total: number } }>(bob, '/accounts/stats');
    const [bobSessions] = await h.db.query<{ n: number }>(asOwner(), 'select count(*)::int as n from public.mt5_sessions where user_id = $1', [bob.id]);
    expect(bobStats.sessions.total).toBe(bobSessions?.n);
    expect(bobStats.signals.total).toBe(0);
  });
});

describe('accounts: authentication and documents', () => {
  it.each(['/accounts/sessions', '/accounts/sessions/00000000-0000-4000-8000-000000000000', '/accounts/stats'])(
    '%s requires a valid, unexpired user token',
    async (path) => {
      expect((await userRequest(app, 'GET', path, null)).status).toBe(401);
      expect((await userRequest(app, 'GET', path, 'not.a.jwt')).status).toBe(401);
      expect((await userRequest(app, 'GET', path, await h.tokenFor(alice.id, { expiresInSeconds: -120 }))).status).toBe(401);
      expect((await userRequest(app, 'GET', path, await h.tokenFor(alice.id, { role: 'anon' }))).status).toBe(401);
      const body = (await (await eaRequest(h, app, 'GET', path, aliceKey)).json()) as ErrorBody;
      expect(body.error.code).toBe('unauthorized');
    },
  );

  it('serves its OpenAPI document', async () => {
    const doc = (await (await app.request('/accounts/openapi.json')).json()) as { openapi: string; paths: Record<string, unknown> };
    expect(doc.openapi).toBe('3.1.0');
    expect(Object.keys(doc.paths)).toEqual(expect.arrayContaining(['/accounts/sessions', '/accounts/sessions/{id}', '/accounts/stats']));
  });
});

describe('accounts under random queries', () => {
  it('never answers 5xx', async () => {
    const sessionId = await openSession(h, aliceKey, 4900);
    const value = fc.oneof(
      fc.string(),
      fc.constantFrom('active', '0', '-1', '1', '2', '2000', '2001', '1e3', '%00', '0000-01-01T00:00:00Z', '9999-12-31T23:59:59Z', '2026-11-21T10:00:00+14:00'),
    );
    const query = fc.dictionary(fc.constantFrom('status', 'limit', 'cursor', 'account_number', 'from', 'to', 'max_points'), value);
    await fc.assert(
      fc.asyncProperty(fc.constantFrom('/accounts/sessions', `/accounts/sessions/${sessionId}`, '/accounts/stats'), query, async (path, q) => {
        const res = await userRequest(app, 'GET', `${path}?${new URLSearchParams(q).toString()}`, alice.token);
        expect(res.status, `${path} ${JSON.stringify(q)}`).toBeLessThan(500);
      }),
      { numRuns: 100, examples: [[`/accounts/sessions/${sessionId}`, { from: '0000-01-01T00:00:00Z', to: '9999-12-31T23:59:59Z', max_points: '2' }]] },
    );
  });
});
