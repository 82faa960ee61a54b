import { asOwner } from '@rubi/db';
import type { PendingSignals, Signal } from '@rubi/contracts/signals.ts';
import type { z } from '@hono/zod-openapi';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createEaCredential } from '../../tests/support/ea-credentials.ts';
import { countRows, createEdgeHarness, eaRequest, userRequest, type EaCredential, type EdgeHarness, type TestUser } from '../../tests/support/edge-harness.ts';
import { errorPaths, openTradingSession, readError, readSignal, signalRow } from '../../tests/support/signal-fixtures.ts';
import { createSignalsApp } from './app.ts';

// The life of a signal after it is created: delivery to the EA, the EA's report, cancellation,
// and reading one signal.

let h: EdgeHarness;
let app: ReturnType<typeof createSignalsApp>;
let alice: TestUser;
let bob: TestUser;
let aliceKey: EaCredential;
let bobKey: EaCredential;

beforeAll(async () => {
  h = await createEdgeHarness();
  app = createSignalsApp(h.deps);
  alice = await h.createUser('alice@example.com');
  bob = await h.createUser('bob@example.com');
  aliceKey = await createEaCredential(h, alice);
  bobKey = await createEaCredential(h, bob);
});
afterAll(() => h.close());

async function create(sessionId: string, overrides: Record<string, unknown> = {}): Promise<Signal> {
  const res = await userRequest(app, 'POST', '/signals', alice.token, { session_id: sessionId, type: 'BUY', symbol: 'EURUSD', volume: 0.1, ...overrides });
  if (res.status !== 201) throw new Error(`create failed: ${res.status} ${await res.text()}`);
  return readSignal(res);
}

async function poll(sessionId: string, key = aliceKey, query = ''): Promise<{ status: number; body: z.infer<typeof PendingSignals> }> {
  const res = await eaRequest(h, app, 'GET', `/signals/pending?session_id=${sessionId}${query}`, key);
  return { status: res.status, body: (await res.json()) as z.infer<typeof PendingSignals> };
}

const statusOf = async (id: string) => (await signalRow(h, id))?.status;

describe('GET /signals/pending', () => {
  it('delivers waiting signals oldest first and marks them DELIVERED', async () => {
    const s = await openTradingSession(h, aliceKey, 7001);
    const a = await create(s);
    const b = await create(s, { type: 'SELL' });
    const { status, body } = await poll(s);
    expect(status).toBe(200);
    expect(body.signals.map((x) => x.id)).toEqual([a.id, b.id]);
    expect(body.signals.every((x) => x.status === 'DELIVERED' && x.delivered_at !== null)).toBe(true);
    expect(body.signals[0]).toMatchObject({ volume: 0.1, type: 'BUY', symbol: 'EURUSD' });
    expect(await statusOf(a.id)).toBe('DELIVERED');
  });

  it('returns delivered-but-unreported signals again, so a lost response loses nothing', async () => {
    const s = await openTradingSession(h, aliceKey, 7002);
    const a = await create(s);
    const first = await poll(s);
    const deliveredAt = first.body.signals[0]?.delivered_at;
    const b = await create(s);
    const second = await poll(s);
    expect(second.body.signals.map((x) => x.id)).toEqual([a.id, b.id]);
    // The first delivery time is kept.
    expect(second.body.signals[0]?.delivered_at).toBe(deliveredAt);
    // Once reported, it is no longer returned.
    await eaRequest(h, app, 'POST', `/signals/${a.id}/status`, aliceKey, { status: 'EXECUTED', order_ticket: 9001 });
    expect((await poll(s)).body.signals.map((x) => x.id)).toEqual([b.id]);
  });

  it('skips expired, cancelled and other sessions’ signals', async () => {
    const s = await openTradingSession(h, aliceKey, 7003);
    const other = await openTradingSession(h, aliceKey, 7004);
    const live = await create(s, { ttl_seconds: 3600 });
    const expiring = await create(s, { ttl_seconds: 3600 });
    await h.db.query(asOwner(), "update public.trading_signals set expires_at = now() - interval '1 second' where id = $1", [expiring.id]);
    const cancelled = await create(s);
    await userRequest(app, 'POST', `/signals/${cancelled.id}/cancel`, alice.token);
    const elsewhere = await create(other);
    const { body } = await poll(s);
    expect(body.signals.map((x) => x.id)).toEqual([live.id]);
    expect(await statusOf(expiring.id)).toBe('PENDING');
    expect(await statusOf(elsewhere.id)).toBe('PENDING');
  });

  it('respects the limit, counting signals already delivered', async () => {
    const s = await openTradingSession(h, aliceKey, 7005);
    const ids: string[] = [];
    for (let i = 0; i < 5; i++) ids.push((await create(s)).id);
    expect((await poll(s, aliceKey, '&limit=2')).body.signals.map((x) => x.id)).toEqual(ids.slice(0, 2));
    expect(await countRows(h, 'public.trading_signals', "session_id = $1 and status = 'DELIVERED'", [s])).toBe(2);
    // Still two unreported: nothing more is delivered within a limit of 2.
    expect((await poll(s, aliceKey, '&limit=2')).body.signals.map((x) => x.id)).toEqual(ids.slice(0, 2));
    expect((await poll(s, aliceKey, '&limit=4')).body.signals.map((x) => x.id)).toEqual(ids.slice(0, 4));
    expect(await countRows(h, 'public.trading_signals', "session_id = $1 and status = 'DELIVERED'", [s])).toBe(4);
  });

  it("refuses another user's EA (404) and delivers nothing", async () => {
    const s = await openTradingSession(h, aliceKey, 7006);
    const a = await create(s);
    const res = await poll(s, bobKey);
    expect(res.status).toBe(404);
    expect(JSON.stringify(res.body)).not.toContain(a.id);
    expect(await statusOf(a.id)).toBe('PENDING');
  });

  it('answers 404 for an unknown session and 409 for a disconnected one', async () => {
    expect((await poll(crypto.randomUUID())).status).toBe(404);
    const s = await openTradingSession(h, aliceKey, 7007);
    await h.db.query(asOwner(), "update public.mt5_sessions set status = 'disconnected' where id = $1", [s]);
    expect((await poll(s)).status).toBe(409);
  });

  it('rejects bad queries with 400 naming the parameter', async () => {
    const missing = await eaRequest(h, app, 'GET', '/signals/pending', aliceKey);
    expect(missing.status).toBe(400);
    expect(await errorPaths(missing)).toEqual(['query.session_id']);
    const bad = await eaRequest(h, app, 'GET', '/signals/pending?session_id=nope&limit=0', aliceKey);
    expect((await errorPaths(bad)).sort()).toEqual(['query.limit', 'query.session_id']);
  });

  it('requires an EA key with the signals scope, correctly signed and fresh', async () => {
    const s = await openTradingSession(h, aliceKey, 7008);
    const a = await create(s);
    const path = `/signals/pending?session_id=${s}`;
    expect((await userRequest(app, 'GET', path, alice.token)).status).toBe(401);
    expect((await app.request(path)).status).toBe(401);
    expect((await eaRequest(h, app, 'GET', path, { keyId: aliceKey.keyId, secret: bobKey.secret })).status).toBe(401);
    const stale = Math.floor(h.clock.now.getTime() / 1000) - 301;
    expect((await eaRequest(h, app, 'GET', path, aliceKey, undefined, { timestamp: stale })).status).toBe(401);
    const pingOnly = await createEaCredential(h, alice, ['ping']);
    expect((await eaRequest(h, app, 'GET', path, pingOnly)).status).toBe(403);
    expect(await statusOf(a.id)).toBe('PENDING');
    expect((await eaRequest(h, app, 'GET', path, aliceKey, undefined, { id: 'poll-replay-1' })).status).toBe(200);
    expect((await eaRequest(h, app, 'GET', path, aliceKey, undefined, { id: 'poll-replay-1' })).status).toBe(401);
  });
});

describe('POST /signals/{id}/status', () => {
  async function delivered(account: number, overrides: Record<string, unknown> = {}): Promise<{ session: string; signal: Signal }> {
    const session = await openTradingSession(h, aliceKey, account);
    const signal = await create(session, overrides);
    await poll(session);
    return { session, signal };
  }
  const counters = async (session: string) =>
    (await h.db.query<{ orders_executed: number; errors: number }>(asOwner(), 'select orders_executed, errors from public.mt5_sessions where id = $1', [session]))[0];

  it('records an EXECUTED report: the order, the ticket, the final state and the session counter', async () => {
    const { session, signal } = await delivered(7101);
    const res = await eaRequest(h, app, 'POST', `/signals/${signal.id}/status`, aliceKey, {
      status: 'EXECUTED',
      order_ticket: 123456789,
      price: 1.10012,
      volume: 0.1,
      retcode: 10009,
      message: 'done',
      executed_at: '2026-11-21T10:15:01.250Z',
    });
    expect(res.status).toBe(200);
    const body = await readSignal(res);
    expect(body).toMatchObject({ id: signal.id, status: 'EXECUTED', order_ticket: 123456789, status_message: 'done' });
    expect(body.completed_at).not.toBeNull();
    const [order] = await h.db.query<Record<string, unknown>>(asOwner(), 'select * from public.trading_orders where signal_id = $1', [signal.id]);
    expect(order).toMatchObject({ user_id: alice.id, session_id: session, result: 'EXECUTED', ticket: 123456789, price: '1.10012', volume: '0.1', retcode: 10009, comment: 'done' });
    expect((order?.executed_at as Date).toISOString()).toBe('2026-11-21T10:15:01.250Z');
    expect(order?.requested_at).toBeInstanceOf(Date);
    expect(await counters(session)).toEqual({ orders_executed: 1, errors: 0 });
  });

  it('answers an identical retry with the current state, without a second order', async () => {
    const { session, signal } = await delivered(7102);
    const report = { status: 'EXECUTED', order_ticket: 555, price: 1.1 };
    const first = await readSignal(await eaRequest(h, app, 'POST', `/signals/${signal.id}/status`, aliceKey, report));
    const retry = await eaRequest(h, app, 'POST', `/signals/${signal.id}/status`, aliceKey, report);
    expect(retry.status).toBe(200);
    expect(await readSignal(retry)).toEqual(first);
    expect(await countRows(h, 'public.trading_orders', 'signal_id = $1', [signal.id])).toBe(1);
    expect(await counters(session)).toEqual({ orders_executed: 1, errors: 0 });
    // A different outcome for the same signal is a conflict.
    const other = await eaRequest(h, app, 'POST', `/signals/${signal.id}/status`, aliceKey, { status: 'EXECUTED', order_ticket: 556 });
    expect(other.status).toBe(409);
    expect((await eaRequest(h, app, 'POST', `/signals/${signal.id}/status`, aliceKey, { status: 'FAILED' })).status).toBe(409);
    expect(await countRows(h, 'public.trading_orders', 'signal_id = $1', [signal.id])).toBe(1);
  });

  it('records REJECTED and FAILED (FAILED counts as a session error); a retry is idempotent', async () => {
    const { session, signal } = await delivered(7103);
    const rejected = await eaRequest(h, app, 'POST', `/signals/${signal.id}/status`, aliceKey, { status: 'REJECTED', retcode: 10019, message: 'no money' });
    expect(await readSignal(rejected)).toMatchObject({ status: 'REJECTED', status_message: 'no money', order_ticket: null });
    const again = await eaRequest(h, app, 'POST', `/signals/${signal.id}/status`, aliceKey, { status: 'REJECTED', retcode: 10019, message: 'no money' });
    expect(again.status).toBe(200);
    const second = await create(session);
    await poll(session);
    await eaRequest(h, app, 'POST', `/signals/${second.id}/status`, aliceKey, { status: 'FAILED', retcode: 10006 });
    expect(await statusOf(second.id)).toBe('FAILED');
    expect(await counters(session)).toEqual({ orders_executed: 0, errors: 1 });
    const [order] = await h.db.query<{ result: string; executed_at: Date | null }>(asOwner(), 'select result, executed_at from public.trading_orders where signal_id = $1', [second.id]);
    expect(order).toEqual({ result: 'FAILED', executed_at: null });
  });

  it('records UNKNOWN (outcome unknown: counts as a session error, like FAILED)', async () => {
    const { session, signal } = await delivered(7131);
    const message = 'outcome unknown: the EA restarted while this signal was being sent';
    const res = await eaRequest(h, app, 'POST', `/signals/${signal.id}/status`, aliceKey, { status: 'UNKNOWN', message });
    expect(await readSignal(res)).toMatchObject({ status: 'UNKNOWN', status_message: message, order_ticket: null });
    expect((await eaRequest(h, app, 'POST', `/signals/${signal.id}/status`, aliceKey, { status: 'UNKNOWN', message })).status).toBe(200);
    expect(await counters(session)).toEqual({ orders_executed: 0, errors: 1 });
    const [order] = await h.db.query<{ result: string; executed_at: Date | null }>(asOwner(), 'select result, executed_at from public.trading_orders where signal_id = $1', [signal.id]);
    expect(order).toEqual({ result: 'UNKNOWN', executed_at: null });
  });

  it('takes MQL zeros (no ticket, price or volume on a rejection) as none', async () => {
    const { signal } = await delivered(7108);
    const res = await eaRequest(h, app, 'POST', `/signals/${signal.id}/status`, aliceKey, { status: 'REJECTED', order_ticket: 0, price: 0, volume: 0, retcode: 10019 });
    expect(res.status).toBe(200);
    expect(await readSignal(res)).toMatchObject({ status: 'REJECTED', order_ticket: null });
    const [order] = await h.db.query<Record<string, unknown>>(asOwner(), 'select ticket, price, volume, retcode from public.trading_orders where signal_id = $1', [signal.id]);
    expect(order).toEqual({ ticket: null, price: null, volume: null, retcode: 10019 });
    // The retry with the same zeros is the same report.
    expect((await eaRequest(h, app, 'POST', `/signals/${signal.id}/status`, aliceKey, { status: 'REJECTED', order_ticket: 0 })).status).toBe(200);
    // EXECUTED needs a real ticket.
    const { signal: other } = await delivered(7109);
    const zero = await eaRequest(h, app, 'POST', `/signals/${other.id}/status`, aliceKey, { status: 'EXECUTED', order_ticket: 0 });
    expect(await errorPaths(zero)).toEqual(['body.order_ticket']);
  });

  it('refuses a report on a signal that was never delivered (409) and writes nothing', async () => {
    const session = await openTradingSession(h, aliceKey, 7104);
    const signal = await create(session);
    const res = await eaRequest(h, app, 'POST', `/signals/${signal.id}/status`, aliceKey, { status: 'EXECUTED', order_ticket: 1 });
    expect(res.status).toBe(409);
    expect((await readError(res)).error.message).toMatch(/PENDING: only a DELIVERED signal/);
    expect(await statusOf(signal.id)).toBe('PENDING');
    expect(await countRows(h, 'public.trading_orders', 'signal_id = $1', [signal.id])).toBe(0);
  });

  it('rejects bad reports with 400 naming the field', async () => {
    const { signal } = await delivered(7105);
    const noTicket = await eaRequest(h, app, 'POST', `/signals/${signal.id}/status`, aliceKey, { status: 'EXECUTED' });
    expect(noTicket.status).toBe(400);
    expect(await errorPaths(noTicket)).toEqual(['body.order_ticket']);
    const wrong = await eaRequest(h, app, 'POST', `/signals/${signal.id}/status`, aliceKey, { status: 'DELIVERED', price: -1, extra: true });
    expect((await errorPaths(wrong)).sort()).toEqual(['body', 'body.price', 'body.status'].sort());
    const badId = await eaRequest(h, app, 'POST', '/signals/not-a-uuid/status', aliceKey, { status: 'FAILED' });
    expect(await errorPaths(badId)).toEqual(['path.id']);
    expect(await statusOf(signal.id)).toBe('DELIVERED');
    expect(await countRows(h, 'public.trading_orders', 'signal_id = $1', [signal.id])).toBe(0);
  });

  it("refuses users, bad signatures and another user's EA; nothing is written", async () => {
    const { signal } = await delivered(7106);
    const path = `/signals/${signal.id}/status`;
    const report = { status: 'EXECUTED', order_ticket: 42 };
    expect((await userRequest(app, 'POST', path, alice.token, report)).status).toBe(401);
    expect((await eaRequest(h, app, 'POST', path, aliceKey, report, { rawBody: JSON.stringify({ ...report, order_ticket: 43 }) })).status).toBe(401);
    expect((await eaRequest(h, app, 'POST', path, { keyId: aliceKey.keyId, secret: bobKey.secret }, report)).status).toBe(401);
    const bobs = await eaRequest(h, app, 'POST', path, bobKey, report);
    expect(bobs.status).toBe(404);
    expect(await statusOf(signal.id)).toBe('DELIVERED');
    expect(await countRows(h, 'public.trading_orders', 'signal_id = $1', [signal.id])).toBe(0);
  });

  it('counts the execution only on the session of the reporting key', async () => {
    // A second key of the same user may report (the signal is the user's), but the session row
    // belongs to the key that connected it, so its counters are left alone.
    const { session, signal } = await delivered(7107);
    const second = await createEaCredential(h, alice);
    const res = await eaRequest(h, app, 'POST', `/signals/${signal.id}/status`, second, { status: 'EXECUTED', order_ticket: 77 });
    expect(res.status).toBe(200);
    expect(await counters(session)).toEqual({ orders_executed: 0, errors: 0 });
  });
});

describe('POST /signals/{id}/cancel', () => {
  it('cancels a pending signal (user or EA), idempotently', async () => {
    const session = await openTradingSession(h, aliceKey, 7201);
    const signal = await create(session);
    const res = await userRequest(app, 'POST', `/signals/${signal.id}/cancel`, alice.token);
    expect(res.status).toBe(200);
    const cancelled = await readSignal(res);
    expect(cancelled).toMatchObject({ status: 'CANCELLED', status_message: 'cancelled by the user' });
    expect(cancelled.completed_at).not.toBeNull();
    const again = await userRequest(app, 'POST', `/signals/${signal.id}/cancel`, alice.token);
    expect(again.status).toBe(200);
    expect(await readSignal(again)).toEqual(cancelled);
    const byEa = await create(session);
    expect(await readSignal(await eaRequest(h, app, 'POST', `/signals/${byEa.id}/cancel`, aliceKey))).toMatchObject({
      status: 'CANCELLED',
      status_message: 'cancelled by the EA',
    });
  });

  it('refuses to cancel a delivered or finished signal (409)', async () => {
    const session = await openTradingSession(h, aliceKey, 7202);
    const signal = await create(session);
    await poll(session);
    const res = await userRequest(app, 'POST', `/signals/${signal.id}/cancel`, alice.token);
    expect(res.status).toBe(409);
    expect((await readError(res)).error.message).toMatch(/DELIVERED: only a PENDING signal can be cancelled/);
    await eaRequest(h, app, 'POST', `/signals/${signal.id}/status`, aliceKey, { status: 'EXECUTED', order_ticket: 5 });
    expect((await eaRequest(h, app, 'POST', `/signals/${signal.id}/cancel`, aliceKey)).status).toBe(409);
    expect(await statusOf(signal.id)).toBe('EXECUTED');
  });

  it("refuses another user's signal (404) by token or EA key, and bad credentials (401)", async () => {
    const session = await openTradingSession(h, aliceKey, 7203);
    const signal = await create(session);
    const path = `/signals/${signal.id}/cancel`;
    expect((await userRequest(app, 'POST', path, bob.token)).status).toBe(404);
    expect((await eaRequest(h, app, 'POST', path, bobKey)).status).toBe(404);
    expect((await userRequest(app, 'POST', path, null)).status).toBe(401);
    expect((await userRequest(app, 'POST', path, await h.tokenFor(alice.id, { expiresInSeconds: -60 }))).status).toBe(401);
    expect((await eaRequest(h, app, 'POST', path, { keyId: aliceKey.keyId, secret: bobKey.secret })).status).toBe(401);
    expect((await eaRequest(h, app, 'POST', path, aliceKey, undefined, { timestamp: Math.floor(h.clock.now.getTime() / 1000) - 301 })).status).toBe(401);
    expect((await userRequest(app, 'POST', '/signals/123/cancel', alice.token)).status).toBe(400);
    expect(await statusOf(signal.id)).toBe('PENDING');
  });
});

describe('GET /signals/{id}', () => {
  it("reads one's own signal; another user's is 404; credentials are required", async () => {
    const session = await openTradingSession(h, aliceKey, 7301);
    const signal = await create(session, { take_profit: 1.2 });
    const res = await userRequest(app, 'GET', `/signals/${signal.id}`, alice.token);
    expect(res.status).toBe(200);
    expect(await readSignal(res)).toEqual(signal);
    expect((await userRequest(app, 'GET', `/signals/${signal.id}`, bob.token)).status).toBe(404);
    expect((await userRequest(app, 'GET', `/signals/${crypto.randomUUID()}`, alice.token)).status).toBe(404);
    expect((await userRequest(app, 'GET', `/signals/${signal.id}`, null)).status).toBe(401);
    expect((await userRequest(app, 'GET', `/signals/${signal.id}`, 'bad.token.here')).status).toBe(401);
    expect((await userRequest(app, 'GET', `/signals/${signal.id}`, await h.tokenFor(alice.id, { expiresInSeconds: -60 }))).status).toBe(401);
    const badId = await userRequest(app, 'GET', '/signals/xyz', alice.token);
    expect(badId.status).toBe(400);
    expect(await errorPaths(badId)).toEqual(['path.id']);
  });
});

describe('the function', () => {
  it('serves its OpenAPI document with every route', async () => {
    const doc = (await (await app.request('/signals/openapi.json')).json()) as { paths: Record<string, Record<string, unknown>> };
    expect(Object.keys(doc.paths).sort()).toEqual(['/signals', '/signals/health', '/signals/pending', '/signals/{id}', '/signals/{id}/cancel', '/signals/{id}/status']);
    expect(Object.keys(doc.paths['/signals'] ?? {}).sort()).toEqual(['get', 'post']);
  });

  it('never logs a secret or a token', () => {
    const all = h.logs.join('\n');
    expect(all).not.toContain(aliceKey.secret);
    expect(all).not.toContain(bobKey.secret);
    expect(all).not.toContain(alice.token);
  });
});
