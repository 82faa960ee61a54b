import { asOwner } from '@rubi/db';
import type { Signal } from '@rubi/contracts/signals.ts';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createEaCredential } from '../../tests/support/ea-credentials.ts';
import { createEdgeHarness, eaRequest, userRequest, type EaCredential, type EdgeHarness, type TestUser } from '../../tests/support/edge-harness.ts';
import { errorPaths, openTradingSession } from '../../tests/support/signal-fixtures.ts';
import { encodeCursor } from '@rubi/edge';
import { createSignalsApp } from './app.ts';

let h: EdgeHarness;
let app: ReturnType<typeof createSignalsApp>;
let carol: TestUser;
let dave: TestUser;
let carolKey: EaCredential;
let s1: string;
let s2: string;
/** Carol's signal ids, newest first, as the list must return them. */
let expected: string[];

interface Page {
  signals: Signal[];
  next_cursor: string | null;
}

async function list(query: string, token = carol.token): Promise<{ status: number; page: Page }> {
  const res = await userRequest(app, 'GET', `/signals${query}`, token);
  return { status: res.status, page: (await res.json()) as Page };
}

async function all(query: string, limit: number): Promise<{ ids: string[]; pages: number }> {
  const ids: string[] = [];
  let cursor: string | null = null;
  let pages = 0;
  do {
    const sep = query ? '&' : '?';
    const { status, page } = await list(`${query}${sep}limit=${limit}${cursor ? `&cursor=${cursor}` : ''}`);
    expect(status).toBe(200);
    ids.push(...page.signals.map((s) => s.id));
    cursor = page.next_cursor;
    pages++;
  } while (cursor && pages < 100);
  return { ids, pages };
}

beforeAll(async () => {
  h = await createEdgeHarness();
  app = createSignalsApp(h.deps);
  carol = await h.createUser('carol@example.com');
  dave = await h.createUser('dave@example.com');
  carolKey = await createEaCredential(h, carol);
  s1 = await openTradingSession(h, carolKey, 8001);
  s2 = await openTradingSession(h, carolKey, 8002);
  // Eleven signals with known created_at values; four of them share one microsecond-precise
  // instant, so the id must break the tie for the keyset to be exact.
  const rows: [string, string, string, string][] = [
    [s1, 'EURUSD', 'PENDING', '2026-11-01T10:00:00.000001Z'],
    [s1, 'EURUSD', 'EXECUTED', '2026-11-01T10:00:00.000002Z'],
    [s1, 'XAUUSD', 'PENDING', '2026-11-02T09:00:00.123456Z'],
    [s1, 'XAUUSD', 'PENDING', '2026-11-02T09:00:00.123456Z'],
    [s2, 'XAUUSD', 'CANCELLED', '2026-11-02T09:00:00.123456Z'],
    [s2, 'EURUSD', 'PENDING', '2026-11-02T09:00:00.123456Z'],
    [s2, 'EURUSD', 'PENDING', '2026-11-02T09:00:00.123457Z'],
    [s2, 'USDJPY', 'EXPIRED', '2026-11-03T00:00:00Z'],
    [s1, 'USDJPY', 'PENDING', '2026-11-04T00:00:00Z'],
    [s1, 'US500', 'PENDING', '2026-11-05T00:00:00Z'],
    [s2, 'US500', 'PENDING', '2026-11-06T00:00:00Z'],
  ];
  // Signals are born PENDING (the state machine allows nothing else); the others walk there.
  const path: Record<string, string[]> = { PENDING: [], EXECUTED: ['DELIVERED', 'EXECUTED'], CANCELLED: ['CANCELLED'], EXPIRED: ['EXPIRED'] };
  for (const [session, symbol, status, createdAt] of rows) {
    const [row] = await h.db.query<{ id: string }>(
      asOwner(),
      `insert into public.trading_signals (user_id, session_id, type, symbol, volume, created_at)
       values ($1, $2, 'BUY', $3, 0.1, $4) returning id`,
      [carol.id, session, symbol, createdAt],
    );
    for (const next of path[status] ?? []) {
      await h.db.query(asOwner(), 'update public.trading_signals set status = $2 where id = $1', [row?.id, next]);
    }
  }
  const ordered = await h.db.query<{ id: string }>(asOwner(), 'select id from public.trading_signals where user_id = $1 order by created_at desc, id desc', [carol.id]);
  expected = ordered.map((r) => r.id);
  // Dave has a signal of his own, never visible to Carol.
  const daveKey = await createEaCredential(h, dave);
  const daveSession = await openTradingSession(h, daveKey, 8101);
  await userRequest(app, 'POST', '/signals', dave.token, { session_id: daveSession, type: 'SELL', symbol: 'EURUSD', volume: 0.1 });
});
afterAll(() => h.close());

describe('GET /signals', () => {
  it('lists newest first with the default page size', async () => {
    const { status, page } = await list('');
    expect(status).toBe(200);
    expect(page.signals.map((s) => s.id)).toEqual(expected);
    expect(page.next_cursor).toBeNull();
    expect(page.signals[0]).toMatchObject({ symbol: 'US500', volume: 0.1, created_at: '2026-11-06T00:00:00.000Z' });
  });

  it.each([1, 2, 3, 4, 5, 11])('pages through everything exactly once with limit %i', async (limit) => {
    const { ids, pages } = await all('', limit);
    expect(ids).toEqual(expected);
    expect(pages).toBe(Math.max(1, Math.ceil(expected.length / limit)));
  });

  it('filters by symbol, status, session and created_at range, and pages within a filter', async () => {
    const bySymbol = (await list('?symbol=XAUUSD')).page.signals;
    expect(bySymbol.map((s) => s.symbol)).toEqual(['XAUUSD', 'XAUUSD', 'XAUUSD']);
    const pending = (await list('?status=PENDING')).page.signals;
    expect(pending).toHaveLength(8);
    expect(pending.every((s) => s.status === 'PENDING')).toBe(true);
    const onS2 = (await list(`?session_id=${s2}`)).page.signals;
    expect(onS2).toHaveLength(5);
    expect(onS2.every((s) => s.session_id === s2)).toBe(true);
    const range = (await list('?from=2026-11-02T09:00:00.123456Z&to=2026-11-04T00:00:00Z')).page.signals;
    expect(range.map((s) => s.created_at)).toEqual([
      '2026-11-03T00:00:00.000Z',
      '2026-11-02T09:00:00.123Z',
      '2026-11-02T09:00:00.123Z',
      '2026-11-02T09:00:00.123Z',
      '2026-11-02T09:00:00.123Z',
      '2026-11-02T09:00:00.123Z',
    ]);
    const combined = await all(`?session_id=${s1}&status=PENDING`, 2);
    expect(combined.ids).toHaveLength(5);
    expect(combined.ids).toEqual(expected.filter((id) => [...pending].some((s) => s.id === id && s.session_id === s1)));
  });

  it("never shows another user's signals, even with their session id", async () => {
    const { page } = await list(`?session_id=${s1}`, dave.token);
    expect(page.signals).toEqual([]);
    const daves = (await list('', dave.token)).page.signals;
    expect(daves).toHaveLength(1);
    expect(expected).not.toContain(daves[0]?.id);
  });

  it('rejects bad queries with 400 naming the parameter', async () => {
    const cases: [string, string][] = [
      ['?limit=0', 'query.limit'],
      ['?limit=201', 'query.limit'],
      ['?limit=ten', 'query.limit'],
      ['?status=OPEN', 'query.status'],
      ['?session_id=42', 'query.session_id'],
      ['?from=yesterday', 'query.from'],
      ['?from=2026-11-05T00:00:00Z&to=2026-11-01T00:00:00Z', 'query.to'],
      ['?cursor=not-a-cursor', 'query.cursor'],
      [`?cursor=${encodeCursor(['2026-11-01T10:00:00Z', crypto.randomUUID()])}`, 'query.cursor'],
      [`?cursor=${encodeCursor(['2026-11-01T10:00:00.000000Z', 'x'])}`, 'query.cursor'],
      [`?cursor=${encodeCursor(['2026-11-01T10:00:00.000000Z', crypto.randomUUID(), 1])}`, 'query.cursor'],
    ];
    for (const [query, path] of cases) {
      const res = await userRequest(app, 'GET', `/signals${query}`, carol.token);
      expect(res.status, query).toBe(400);
      expect(await errorPaths(res), query).toEqual([path]);
    }
  });

  it('requires a user token (401), not an EA key', async () => {
    expect((await list('', '')).status).toBe(401);
    expect((await userRequest(app, 'GET', '/signals', 'x.y.z')).status).toBe(401);
    expect((await userRequest(app, 'GET', '/signals', await h.tokenFor(carol.id, { expiresInSeconds: -60 }))).status).toBe(401);
    expect((await eaRequest(h, app, 'GET', '/signals', carolKey)).status).toBe(401);
  });
});
