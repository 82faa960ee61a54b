import fc from 'fast-check';
import { asOwner } from '@rubi/db';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createEaCredential } from '../../tests/support/ea-credentials.ts';
import { countRows, createEdgeHarness, eaRequest, signHeaders, userRequest, type EaCredential, type EdgeHarness, type TestUser } from '../../tests/support/edge-harness.ts';
import { openSession } from '../../tests/support/terminal.ts';
import { createConnectApp } from '../connect/app.ts';
import { createPositionsApp } from './app.ts';

let h: EdgeHarness;
let app: ReturnType<typeof createPositionsApp>;
let alice: TestUser;
let bob: TestUser;
let aliceKey: EaCredential;
let bobKey: EaCredential;

interface ErrorBody {
  error: { code: string; message: string; details?: { path: string; message: string }[] };
}
interface UpdateBody {
  open: number;
  closed: number;
  tickets_closed: number[];
}
interface PositionJson {
  session_id: string;
  ticket: number;
  symbol: string;
  type: string;
  volume: number;
  open_price: number;
  current_price: number | null;
  stop_loss: number | null;
  take_profit: number | null;
  profit: number;
  swap: number;
  commission: number;
  magic: number | null;
  comment: string | null;
  opened_at: string;
  closed_at: string | null;
  status: 'open' | 'closed';
  updated_at: string;
}
interface ListBody {
  positions: PositionJson[];
  next_cursor: string | null;
}

/** A position as an MT5 EA reports it (PositionGet*), every field filled. */
function position(ticket: number, overrides: Record<string, unknown> = {}) {
  return {
    ticket,
    symbol: 'EURUSD',
    type: 'BUY',
    volume: 0.1,
    open_price: 1.08345,
    current_price: 1.08412,
    stop_loss: 1.079,
    take_profit: 1.09,
    profit: 6.7,
    swap: -0.12,
    commission: -0.7,
    magic: 20261121,
    comment: 'rubi signal',
    opened_at: '2026-11-20T10:15:00Z',
    ...overrides,
  };
}

const push = (key: EaCredential, sessionId: string, positions: unknown[], opts = {}) =>
  eaRequest(h, app, 'POST', '/positions/update', key, { session_id: sessionId, positions }, opts);

async function pushOk(key: EaCredential, sessionId: string, positions: unknown[]): Promise<UpdateBody> {
  const res = await push(key, sessionId, positions);
  if (res.status !== 200) throw new Error(`push failed: ${res.status} ${await res.text()}`);
  return (await res.json()) as UpdateBody;
}

async function rowsOf(sessionId: string) {
  return h.db.query<{ ticket: number; profit: string; closed_at: Date | null; updated_at: Date; stop_loss: string | null }>(
    asOwner(),
    'select ticket, profit, closed_at, updated_at, stop_loss from public.positions where session_id = $1 order by ticket',
    [sessionId],
  );
}

const messages = (userId: string) => countRows(h, 'realtime.messages', "topic = $1 and event = 'positions'", [`user:${userId}`]);

beforeAll(async () => {
  h = await createEdgeHarness();
  app = createPositionsApp(h.deps);
  alice = await h.createUser('alice@example.com');
  bob = await h.createUser('bob@example.com');
  aliceKey = await createEaCredential(h, alice);
  bobKey = await createEaCredential(h, bob);
});
afterAll(() => h.close());

describe('POST /positions/update', () => {
  it('stores the full list, then closes the tickets that disappear and updates the others', async () => {
    const sessionId = await openSession(h, aliceKey, 5001);
    const first = await pushOk(aliceKey, sessionId, [position(11), position(12, { type: 'SELL', symbol: 'GBPUSD' }), position(13)]);
    expect(first).toEqual({ open: 3, closed: 0, tickets_closed: [] });
    const [stored] = await h.db.query<Record<string, unknown>>(asOwner(), 'select * from public.positions where session_id = $1 and ticket = 12', [sessionId]);
    expect(stored).toMatchObject({ user_id: alice.id, symbol: 'GBPUSD', type: 'SELL', volume: '0.1', open_price: '1.08345', swap: '-0.12', magic: 20261121 });
    expect((stored?.opened_at as Date).toISOString()).toBe('2026-11-20T10:15:00.000Z');

    const second = await pushOk(aliceKey, sessionId, [position(12, { type: 'SELL', symbol: 'GBPUSD' }), position(13, { profit: -3.25, volume: 0.05 }), position(14)]);
    expect(second).toEqual({ open: 3, closed: 1, tickets_closed: [11] });
    const rows = await rowsOf(sessionId);
    expect(rows.map((r) => [r.ticket, r.closed_at === null])).toEqual([
      [11, false],
      [12, true],
      [13, true],
      [14, true],
    ]);
    expect(rows.find((r) => r.ticket === 13)?.profit).toBe('-3.25');
  });

  it('reopens a closed ticket that reappears', async () => {
    const sessionId = await openSession(h, aliceKey, 5002);
    await pushOk(aliceKey, sessionId, [position(21), position(22)]);
    expect(await pushOk(aliceKey, sessionId, [position(22)])).toEqual({ open: 1, closed: 1, tickets_closed: [21] });
    expect(await pushOk(aliceKey, sessionId, [position(21), position(22)])).toEqual({ open: 2, closed: 0, tickets_closed: [] });
    expect(await countRows(h, 'public.positions', 'session_id = $1 and closed_at is null', [sessionId])).toBe(2);
  });

  it('is idempotent: the same list twice changes nothing the second time (no update, no broadcast)', async () => {
    const sessionId = await openSession(h, aliceKey, 5003);
    const list = [position(31), position(32, { stop_loss: 0, take_profit: 0, current_price: null, magic: null, comment: null })];
    await pushOk(aliceKey, sessionId, [position(30), ...list]);
    expect(await pushOk(aliceKey, sessionId, list)).toEqual({ open: 2, closed: 1, tickets_closed: [30] });
    const before = await rowsOf(sessionId);
    const broadcastsBefore = await messages(alice.id);
    expect(await pushOk(aliceKey, sessionId, list)).toEqual({ open: 2, closed: 0, tickets_closed: [] });
    expect(await rowsOf(sessionId)).toEqual(before);
    expect(await messages(alice.id)).toBe(broadcastsBefore);
    // A real change is broadcast to the owner's topic.
    await pushOk(aliceKey, sessionId, [position(31, { profit: 99 }), list[1]]);
    expect(await messages(alice.id)).toBe(broadcastsBefore + 1);
  });

  it('stores the MT5 zero stop-loss / take-profit as none', async () => {
    const sessionId = await openSession(h, aliceKey, 5004);
    await pushOk(aliceKey, sessionId, [position(41, { stop_loss: 0, take_profit: 0 })]);
    expect(await countRows(h, 'public.positions', 'session_id = $1 and stop_loss is null and take_profit is null', [sessionId])).toBe(1);
  });

  it('closes every open position when the list is empty', async () => {
    const sessionId = await openSession(h, aliceKey, 5005);
    await pushOk(aliceKey, sessionId, [position(53), position(51), position(52)]);
    expect(await pushOk(aliceKey, sessionId, [])).toEqual({ open: 0, closed: 3, tickets_closed: [51, 52, 53] });
    expect(await pushOk(aliceKey, sessionId, [])).toEqual({ open: 0, closed: 0, tickets_closed: [] });
  });

  it('accepts a full list of 500 positions (within the default body limit) in one statement, and refuses 501', async () => {
    const sessionId = await openSession(h, aliceKey, 5006);
    const many = Array.from({ length: 500 }, (_, i) => position(1_000_000 + i, { comment: 'rubi signal 4d7c2a0e-5b1f' }));
    expect(JSON.stringify({ session_id: sessionId, positions: many }).length).toBeLessThan(256 * 1024);
    expect(await pushOk(aliceKey, sessionId, many)).toEqual({ open: 500, closed: 0, tickets_closed: [] });
    const res = await push(aliceKey, sessionId, [...many, position(2_000_000)]);
    expect(res.status).toBe(400);
    expect(((await res.json()) as ErrorBody).error.details?.map((d) => d.path)).toContain('body.positions');
    expect(await countRows(h, 'public.positions', 'session_id = $1', [sessionId])).toBe(500);
  });

  it('rejects a duplicate ticket naming it, and writes none of the list', async () => {
    const sessionId = await openSession(h, aliceKey, 5007);
    const res = await push(aliceKey, sessionId, [position(71), position(72), position(71)]);
    expect(res.status).toBe(400);
    const body = (await res.json()) as ErrorBody;
    expect(body.error.code).toBe('invalid_request');
    expect(body.error.details).toEqual([{ path: 'body.positions.2.ticket', message: 'duplicate ticket 71 (also at positions.0)' }]);
    expect(await countRows(h, 'public.positions', 'session_id = $1', [sessionId])).toBe(0);
  });

  it('rejects a list with one bad position naming its fields, and writes none of them', async () => {
    const sessionId = await openSession(h, aliceKey, 5008);
    await pushOk(aliceKey, sessionId, [position(80)]);
    const before = await rowsOf(sessionId);
    const res = await push(aliceKey, sessionId, [
      position(81),
      position(82, { volume: 0, type: 'LONG', opened_at: 'yesterday' }),
      position(83, { ticket: -1, symbol: 'EUR\u0007USD', comment: 'a\u0000b' }),
      position(84, { extra: true }),
      position(85, { opened_at: '0000-01-01T00:00:00Z' }),
    ]);
    expect(res.status).toBe(400);
    const paths = ((await res.json()) as ErrorBody).error.details?.map((d) => d.path) ?? [];
    expect(paths).toEqual(
      expect.arrayContaining([
        'body.positions.1.volume',
        'body.positions.1.type',
        'body.positions.1.opened_at',
        'body.positions.2.ticket',
        'body.positions.2.symbol',
        'body.positions.2.comment',
        'body.positions.3',
        'body.positions.4.opened_at',
      ]),
    );
    expect(await rowsOf(sessionId)).toEqual(before);

    const missing = await eaRequest(h, app, 'POST', '/positions/update', aliceKey, { session_id: 'nope' });
    expect(missing.status).toBe(400);
    expect(((await missing.json()) as ErrorBody).error.details?.map((d) => d.path)).toEqual(expect.arrayContaining(['body.session_id', 'body.positions']));
    const text = '{"session_id":';
    const malformed = await app.request('/positions/update', {
      method: 'POST',
      body: text,
      headers: {
        'content-type': 'application/json',
        'x-ea-key-id': aliceKey.keyId,
        ...(await signHeaders(aliceKey.secret, text, Math.floor(h.clock.now.getTime() / 1000))),
      },
    });
    expect(malformed.status).toBe(400);
    expect(await rowsOf(sessionId)).toEqual(before);
  });

  it('answers 404 for an unknown session and 409 for a disconnected one, writing nothing', async () => {
    expect((await push(aliceKey, '00000000-0000-4000-8000-000000000000', [position(1)])).status).toBe(404);
    const sessionId = await openSession(h, aliceKey, 5009);
    const closed = await eaRequest(h, createConnectApp(h.deps), 'POST', '/connect/disconnect', aliceKey, { session_id: sessionId });
    expect(closed.status).toBe(200);
    const res = await push(aliceKey, sessionId, [position(91)]);
    expect(res.status).toBe(409);
    expect(((await res.json()) as ErrorBody).error.code).toBe('conflict');
    expect(await countRows(h, 'public.positions', 'session_id = $1', [sessionId])).toBe(0);
  });

  it('accepts a stale session (the EA is evidently alive)', async () => {
    const sessionId = await openSession(h, aliceKey, 5010);
    await h.db.query(asOwner(), `update public.mt5_sessions set status = 'stale' where id = $1`, [sessionId]);
    expect(await pushOk(aliceKey, sessionId, [position(101)])).toEqual({ open: 1, closed: 0, tickets_closed: [] });
  });

  it("refuses another user's EA with 404 and leaves the positions as they were", async () => {
    const sessionId = await openSession(h, aliceKey, 5011);
    await pushOk(aliceKey, sessionId, [position(111), position(112)]);
    const before = await rowsOf(sessionId);
    const res = await push(bobKey, sessionId, [position(111, { profit: -1000 })]);
    expect(res.status).toBe(404);
    expect(((await res.json()) as ErrorBody).error.code).toBe('not_found');
    expect(await rowsOf(sessionId)).toEqual(before);
    expect(await countRows(h, 'public.positions', 'user_id = $1', [bob.id])).toBe(0);
  });

  it('rejects missing, wrong, tampered, replayed and stale signatures with 401, and a key without the scope with 403', async () => {
    const sessionId = await openSession(h, aliceKey, 5012);
    await pushOk(aliceKey, sessionId, [position(121)]);
    const before = await rowsOf(sessionId);
    const body = { session_id: sessionId, positions: [position(122)] };
    const now = Math.floor(h.clock.now.getTime() / 1000);
    const unsigned = await app.request('/positions/update', { method: 'POST', body: JSON.stringify(body), headers: { 'content-type': 'application/json' } });
    expect(unsigned.status).toBe(401);
    expect((await eaRequest(h, app, 'POST', '/positions/update', { keyId: aliceKey.keyId, secret: bobKey.secret }, body)).status).toBe(401);
    expect((await eaRequest(h, app, 'POST', '/positions/update', aliceKey, body, { rawBody: JSON.stringify({ ...body, positions: [] }) })).status).toBe(401);
    expect((await eaRequest(h, app, 'POST', '/positions/update', aliceKey, body, { timestamp: now - 400 })).status).toBe(401);
    expect((await eaRequest(h, app, 'POST', '/positions/update', aliceKey, body, { timestamp: now + 400 })).status).toBe(401);
    expect(await rowsOf(sessionId)).toEqual(before);
    expect((await eaRequest(h, app, 'POST', '/positions/update', aliceKey, { session_id: sessionId, positions: [] }, { id: 'positions-once' })).status).toBe(200);
    const replay = await eaRequest(h, app, 'POST', '/positions/update', aliceKey, body, { id: 'positions-once' });
    expect(replay.status).toBe(401);
    expect(((await replay.json()) as ErrorBody).error.code).toBe('unauthorized');
    expect(await countRows(h, 'public.positions', 'session_id = $1 and ticket = 122', [sessionId])).toBe(0);

    const pingOnly = await createEaCredential(h, alice, ['ping']);
    expect((await push(pingOnly, sessionId, [position(123)])).status).toBe(403);
    expect(await countRows(h, 'public.positions', 'session_id = $1 and ticket = 123', [sessionId])).toBe(0);
  });
});

describe('GET /positions', () => {
  let s1: string;
  let s2: string;
  let carol: TestUser;

  beforeAll(async () => {
    carol = await h.createUser('carol@example.com');
    const carolKey = await createEaCredential(h, carol);
    s1 = await openSession(h, carolKey, 6001);
    s2 = await openSession(h, carolKey, 6002);
    await pushOk(carolKey, s1, [
      position(1, { opened_at: '2026-11-20T08:00:00Z' }),
      position(2, { opened_at: '2026-11-20T09:00:00Z', symbol: 'XAUUSD', stop_loss: 0 }),
      position(3, { opened_at: '2026-11-20T09:00:00Z' }),
    ]);
    await pushOk(carolKey, s1, [position(2, { opened_at: '2026-11-20T09:00:00Z', symbol: 'XAUUSD', stop_loss: 0 }), position(3, { opened_at: '2026-11-20T09:00:00Z' })]);
    // Two opening times within one millisecond: cursors must keep Postgres' microseconds.
    await pushOk(carolKey, s2, [
      position(1, { opened_at: '2026-11-20T10:00:00.123456Z' }),
      position(5, { opened_at: '2026-11-20T10:00:00.123400Z' }),
      position(4, { opened_at: '2026-11-20T07:00:00Z' }),
    ]);
  });

  const list = async (user: TestUser, query = '') => {
    const res = await userRequest(app, 'GET', `/positions${query}`, user.token);
    expect(res.status).toBe(200);
    return (await res.json()) as ListBody;
  };

  it('lists the open positions by default, most recently opened first, with JSON numbers and ISO times', async () => {
    const body = await list(carol);
    // opened_at desc, then (session_id, ticket) desc.
    expect(body.positions.map((p) => [p.session_id, p.ticket])).toEqual([
      [s2, 1],
      [s2, 5],
      [s1, 3],
      [s1, 2],
      [s2, 4],
    ]);
    expect(body.next_cursor).toBeNull();
    const xau = body.positions.find((p) => p.symbol === 'XAUUSD');
    expect(xau).toMatchObject({
      ticket: 2,
      type: 'BUY',
      volume: 0.1,
      open_price: 1.08345,
      current_price: 1.08412,
      stop_loss: null,
      take_profit: 1.09,
      profit: 6.7,
      swap: -0.12,
      commission: -0.7,
      magic: 20261121,
      comment: 'rubi signal',
      opened_at: '2026-11-20T09:00:00.000Z',
      closed_at: null,
      status: 'open',
    });
    expect(new Date(xau?.updated_at ?? '').toISOString()).toBe(xau?.updated_at);
  });

  it('filters by status, session and symbol', async () => {
    const closed = await list(carol, '?status=closed');
    expect(closed.positions.map((p) => [p.session_id, p.ticket, p.status])).toEqual([[s1, 1, 'closed']]);
    expect(closed.positions[0]?.closed_at).toMatch(/^\d{4}-\d{2}-\d{2}T.*Z$/);
    expect((await list(carol, '?status=all')).positions).toHaveLength(6);
    expect((await list(carol, `?status=all&session_id=${s1}`)).positions.map((p) => p.ticket).sort()).toEqual([1, 2, 3]);
    expect((await list(carol, '?symbol=XAUUSD')).positions.map((p) => p.ticket)).toEqual([2]);
  });

  it.each([1, 2, 4])('pages with a cursor, without gaps or repeats (limit %i)', async (limit) => {
    const seen: string[] = [];
    let cursor: string | null = null;
    let pages = 0;
    do {
      const body: ListBody = await list(carol, `?status=all&limit=${limit}${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`);
      seen.push(...body.positions.map((p) => `${p.session_id}:${p.ticket}`));
      cursor = body.next_cursor;
      pages++;
    } while (cursor);
    expect(pages).toBe(Math.ceil(6 / limit));
    const all = (await list(carol, '?status=all')).positions.map((p) => `${p.session_id}:${p.ticket}`);
    expect(seen).toEqual(all);
  });

  it('rejects bad queries naming the parameter', async () => {
    for (const [query, path] of [
      ['?status=pending', 'query.status'],
      ['?limit=0', 'query.limit'],
      ['?limit=201', 'query.limit'],
      ['?session_id=abc', 'query.session_id'],
      ['?cursor=bm90LWEtY3Vyc29y', 'query.cursor'],
      ['?cursor=%%%', 'query.cursor'],
    ] as const) {
      const res = await userRequest(app, 'GET', `/positions${query}`, carol.token);
      expect(res.status, query).toBe(400);
      expect(((await res.json()) as ErrorBody).error.details?.map((d) => d.path), query).toContain(path);
    }
  });

  it('requires a valid, unexpired user token (an EA signature is not enough)', async () => {
    expect((await userRequest(app, 'GET', '/positions', null)).status).toBe(401);
    expect((await userRequest(app, 'GET', '/positions', 'not.a.jwt')).status).toBe(401);
    expect((await userRequest(app, 'GET', '/positions', await h.tokenFor(carol.id, { expiresInSeconds: -120 }))).status).toBe(401);
    expect((await eaRequest(h, app, 'GET', '/positions', aliceKey)).status).toBe(401);
  });

  it("shows nobody else's positions, even when asked for their session", async () => {
    const mine = await list(bob, '?status=all');
    expect(mine.positions).toEqual([]);
    expect((await list(bob, `?status=all&session_id=${s1}`)).positions).toEqual([]);
    expect((await list(alice, '?status=all')).positions.some((p) => p.session_id === s1 || p.session_id === s2)).toBe(false);
  });

  it('serves its OpenAPI document', async () => {
    const doc = (await (await app.request('/positions/openapi.json')).json()) as { paths: Record<string, unknown> };
    expect(Object.keys(doc.paths)).toEqual(expect.arrayContaining(['/positions/update', '/positions']));
  });
});

describe('positions under random and hostile input', () => {
  const hostile = fc.oneof(
    fc.anything(),
    fc.string(),
    fc.double(),
    fc.constantFrom(null, -1, 0, 1e308, -1e308, 2 ** 63, '', ' ', 'NaN', '\u0000', "'; drop table x; --", '0000-01-01T00:00:00Z', '9999-12-31T23:59:59Z'),
  );

  it('never answers 5xx to a push, and a rejected push writes nothing', async () => {
    const sessionId = await openSession(h, aliceKey, 5900);
    await pushOk(aliceKey, sessionId, [position(1), position(2)]);
    const sample = position(3);
    const mutatedPosition = fc.record(
      Object.fromEntries(Object.keys(sample).map((k) => [k, fc.oneof(hostile, fc.constant(sample[k as keyof typeof sample]))])),
      { requiredKeys: [] },
    );
    const bodies = fc.oneof(
      fc.array(mutatedPosition, { maxLength: 4 }).map((positions) => ({ session_id: sessionId, positions: [position(1), ...positions] })),
      fc.record({ session_id: fc.oneof(hostile, fc.constant(sessionId)), positions: fc.oneof(hostile, fc.constant([position(1)])) }, { requiredKeys: [] }),
      fc.anything(),
    );
    await fc.assert(
      fc.asyncProperty(bodies, async (body) => {
        const before = await rowsOf(sessionId);
        const res = await eaRequest(h, app, 'POST', '/positions/update', aliceKey, body);
        expect(res.status, `answered ${res.status} to ${JSON.stringify(body)?.slice(0, 300)}`).toBeLessThan(500);
        if (res.status >= 400) {
          expect(((await res.json()) as ErrorBody).error.code).toBeTypeOf('string');
          expect(await rowsOf(sessionId)).toEqual(before);
        } else {
          // Put the book back for the next run.
          await pushOk(aliceKey, sessionId, [position(1), position(2)]);
        }
      }),
      {
        numRuns: 60,
        examples: [
          [{ session_id: sessionId, positions: [position(1, { opened_at: '0000-01-01T00:00:00Z' })] }],
          [{ session_id: sessionId, positions: [position(1, { comment: '\u0000' })] }],
          [{ session_id: sessionId, positions: [position(1, { profit: 1e308, swap: -1e308, ticket: Number.MAX_SAFE_INTEGER })] }],
        ],
      },
    );
  });

  it('never answers 5xx to a listing query', async () => {
    const value = fc.oneof(fc.string(), fc.constantFrom('open', 'all', '0', '-1', '201', '1e3', 'W10', '%00', '00000000-0000-4000-8000-000000000000'));
    const queries = fc.dictionary(fc.constantFrom('status', 'limit', 'cursor', 'session_id', 'symbol', 'other'), value);
    await fc.assert(
      fc.asyncProperty(queries, async (q) => {
        const res = await userRequest(app, 'GET', `/positions?${new URLSearchParams(q).toString()}`, alice.token);
        expect(res.status, JSON.stringify(q)).toBeLessThan(500);
      }),
      { numRuns: 60 },
    );
  });
});
