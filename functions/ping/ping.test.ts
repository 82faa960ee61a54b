import { asOwner } from '@rubi/db';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createEaCredential } from '../../tests/support/ea-credentials.ts';
import { countRows, createEdgeHarness, eaRequest, type EaCredential, type EdgeHarness, type TestUser } from '../../tests/support/edge-harness.ts';
import { openSession } from '../../tests/support/terminal.ts';
import { createPingApp } from './app.ts';

let h: EdgeHarness;
let app: ReturnType<typeof createPingApp>;
let alice: TestUser;
let aliceKey: EaCredential;
let bobKey: EaCredential;
let sessionId: string;

const figures = { balance: 10000, equity: 10150.5, margin: 200, margin_free: 9950.5, margin_level: 5075.25, profit: 150.5 };

beforeAll(async () => {
  h = await createEdgeHarness();
  app = createPingApp(h.deps);
  alice = await h.createUser('alice@example.com');
  aliceKey = await createEaCredential(h, alice);
  bobKey = await createEaCredential(h, await h.createUser('bob@example.com'));
  sessionId = await openSession(h, aliceKey, 3001);
});
afterAll(() => h.close());

describe('ping', () => {
  it('records the figures and a snapshot and reports the work waiting', async () => {
    const res = await eaRequest(h, app, 'POST', '/ping', aliceKey, { session_id: sessionId, ...figures });
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({ session_status: 'active', pending_signals: 0, ping_interval_seconds: 30 });
    const [session] = await h.db.query<{ equity: string; profit: string }>(asOwner(), 'select equity, profit from public.mt5_sessions where id = $1', [sessionId]);
    expect(Number(session?.equity)).toBe(10150.5);
    expect(await countRows(h, 'public.account_snapshots', 'session_id = $1 and equity = 10150.5', [sessionId])).toBe(1);

    await h.db.query(asOwner(), `insert into public.trading_signals (user_id, session_id, type, symbol, volume) values ($1, $2, 'BUY', 'EURUSD', 0.1), ($1, $2, 'SELL', 'EURUSD', 0.1)`, [
      alice.id,
      sessionId,
    ]);
    await h.db.query(asOwner(), `insert into public.trading_signals (user_id, session_id, type, symbol, volume, expires_at) values ($1, $2, 'BUY', 'EURUSD', 0.1, now() - interval '1 minute')`, [
      alice.id,
      sessionId,
    ]);
    const again = (await (await eaRequest(h, app, 'POST', '/ping', aliceKey, { session_id: sessionId, ...figures })).json()) as { pending_signals: number };
    expect(again.pending_signals).toBe(2);
  });

  it('revives a stale session', async () => {
    await h.db.query(asOwner(), `update public.mt5_sessions set status = 'stale' where id = $1`, [sessionId]);
    const res = await eaRequest(h, app, 'POST', '/ping', aliceKey, { session_id: sessionId, balance: 1, equity: 1 });
    expect(res.status).toBe(200);
    expect(await countRows(h, 'public.mt5_sessions', "id = $1 and status = 'active'", [sessionId])).toBe(1);
  });

  it('refuses a disconnected session with 409', async () => {
    const closed = await openSession(h, aliceKey, 3002);
    await h.db.query(asOwner(), `update public.mt5_sessions set status = 'disconnected' where id = $1`, [closed]);
    expect((await eaRequest(h, app, 'POST', '/ping', aliceKey, { session_id: closed, balance: 1, equity: 1 })).status).toBe(409);
  });

  it('rejects bad input naming the fields and writes nothing', async () => {
    const before = await countRows(h, 'public.account_snapshots');
    const res = await eaRequest(h, app, 'POST', '/ping', aliceKey, { session_id: 'nope', balance: 'lots', equity: null });
    expect(res.status).toBe(400);
    const paths = ((await res.json()) as { error: { details: { path: string }[] } }).error.details.map((d) => d.path);
    expect(paths).toEqual(expect.arrayContaining(['body.session_id', 'body.balance', 'body.equity']));
    expect(await countRows(h, 'public.account_snapshots')).toBe(before);
  });

  it("cannot ping another user's session, and writes nothing", async () => {
    const before = await countRows(h, 'public.account_snapshots', 'session_id = $1', [sessionId]);
    const res = await eaRequest(h, app, 'POST', '/ping', bobKey, { session_id: sessionId, balance: 1, equity: 1 });
    expect(res.status).toBe(404);
    expect(await countRows(h, 'public.account_snapshots', 'session_id = $1', [sessionId])).toBe(before);
  });

  it('rejects unsigned, replayed and stale pings', async () => {
    const body = { session_id: sessionId, ...figures };
    expect((await app.request('/ping', { method: 'POST', body: JSON.stringify(body), headers: { 'content-type': 'application/json' } })).status).toBe(401);
    expect((await eaRequest(h, app, 'POST', '/ping', aliceKey, body, { id: 'ping-once' })).status).toBe(200);
    const before = h.logs.length;
    expect((await eaRequest(h, app, 'POST', '/ping', aliceKey, body, { id: 'ping-once' })).status).toBe(401);
    // The log says why, so a replay can be told from a bad signature.
    expect(JSON.parse(h.logs[before] ?? '{}')).toMatchObject({ status: 401, failure: expect.stringMatching(/replayed/) });
    expect((await eaRequest(h, app, 'POST', '/ping', aliceKey, body, { timestamp: Math.floor(h.clock.now.getTime() / 1000) - 400 })).status).toBe(401);
  });
});
