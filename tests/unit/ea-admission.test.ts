// How a signed EA request reaches the database (issue #13, item 1): its signature is verified in
// TypeScript with a cached credential, then ONE statement runs the gate (key live and unchanged,
// request id remembered, key stamped, role switched to the EA) and the endpoint's work. These tests
// count what the functions send and prove that the cache never outlives a revocation or a change.
import { asOwner, type Db, type Principal } from '@rubi/db';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPingApp } from '../../functions/ping/app.ts';
import { createPositionsApp } from '../../functions/positions/app.ts';
import { createSignalsApp } from '../../functions/signals/app.ts';
import { createEaCredential } from '../support/ea-credentials.ts';
import { countRows, createEdgeHarness, eaRequest, signHeaders, type EaCredential, type EdgeHarness, type TestUser } from '../support/edge-harness.ts';
import { openSession } from '../support/terminal.ts';

interface Sent {
  kind: 'query' | 'transaction';
  principal: Principal['kind'];
  text?: string;
}

/** The harness's database, recording every statement and transaction the apps start. */
function recording(db: Db): { db: Db; sent: Sent[] } {
  const sent: Sent[] = [];
  return {
    sent,
    db: {
      dialect: db.dialect,
      query: (principal, text, params) => {
        sent.push({ kind: 'query', principal: principal.kind, text });
        return db.query(principal, text, params);
      },
      transaction: (principal, fn) => {
        sent.push({ kind: 'transaction', principal: principal.kind });
        return db.transaction(principal, fn);
      },
      close: () => db.close(),
    },
  };
}

let h: EdgeHarness;
let alice: TestUser;
let key: EaCredential;
let sessionId: string;
let rec: ReturnType<typeof recording>;
let ping: ReturnType<typeof createPingApp>;
let signals: ReturnType<typeof createSignalsApp>;
let positions: ReturnType<typeof createPositionsApp>;

const figures = { balance: 1000, equity: 1000, margin: 0, margin_free: 1000, profit: 0 };

beforeAll(async () => {
  h = await createEdgeHarness();
  alice = await h.createUser('alice@example.com');
  key = await createEaCredential(h, alice);
  sessionId = await openSession(h, key, 7001);
  rec = recording(h.deps.db);
  const deps = { ...h.deps, db: rec.db };
  ping = createPingApp(deps);
  signals = createSignalsApp(deps);
  positions = createPositionsApp(deps);
});
afterAll(() => h.close());

async function pendingSignal(): Promise<string> {
  const [row] = await h.db.query<{ id: string }>(
    asOwner(),
    `insert into public.trading_signals (user_id, session_id, type, symbol, volume) values ($1, $2, 'BUY', 'EURUSD', 0.1) returning id`,
    [alice.id, sessionId],
  );
  return row!.id;
}

describe('a signed EA request in the database', () => {
  it('is one statement on the hot path once the credential is known: ping, poll, report, positions', async () => {
    expect((await eaRequest(h, ping, 'POST', '/ping', key, { session_id: sessionId, ...figures })).status).toBe(200);

    rec.sent.length = 0;
    expect((await eaRequest(h, ping, 'POST', '/ping', key, { session_id: sessionId, ...figures })).status).toBe(200);
    expect(rec.sent).toEqual([{ kind: 'query', principal: 'owner', text: expect.stringMatching(/^select \* from private\.ping_session\(private\.enter_ea_key\(/) }]);

    const id = await pendingSignal();
    rec.sent.length = 0;
    const polled = await eaRequest(h, signals, 'GET', `/signals/pending?session_id=${sessionId}`, key);
    expect(polled.status).toBe(200);
    expect(((await polled.json()) as { signals: { id: string }[] }).signals.map((s) => s.id)).toContain(id);
    expect(rec.sent).toEqual([{ kind: 'query', principal: 'owner', text: expect.stringContaining('private.deliver_signals(private.enter_ea_key(') }]);

    rec.sent.length = 0;
    const reported = await eaRequest(h, signals, 'POST', `/signals/${id}/status`, key, { status: 'EXECUTED', order_ticket: 5001, price: 1.1, volume: 0.1 });
    expect(reported.status).toBe(200);
    expect(rec.sent).toEqual([{ kind: 'query', principal: 'owner', text: expect.stringContaining('private.report_signal(private.enter_ea_key(') }]);

    rec.sent.length = 0;
    expect((await eaRequest(h, positions, 'POST', '/positions/update', key, { session_id: sessionId, positions: [] })).status).toBe(200);
    expect(rec.sent).toHaveLength(1);
  });

  it('remembers the request id with the work: a request that failed can be retried with the same id', async () => {
    const id = await pendingSignal();
    const body = JSON.stringify({ status: 'EXECUTED', order_ticket: 5002, price: 1.1, volume: 0.1 });
    const headers = {
      'content-type': 'application/json',
      'x-ea-key-id': key.keyId,
      ...(await signHeaders(key.secret, body, Math.floor(h.clock.now.getTime() / 1000), { id: 'report-retried' })),
    };
    const send = () => signals.request(`/signals/${id}/status`, { method: 'POST', headers, body });

    // Not delivered yet: refused, and nothing of it stays, not even its id.
    expect((await send()).status).toBe(409);
    expect(await countRows(h, 'private.seen_request_ids', 'request_id = $1', ['report-retried'])).toBe(0);
    expect((await eaRequest(h, signals, 'GET', `/signals/pending?session_id=${sessionId}`, key)).status).toBe(200);

    // The very same request (id, timestamp, signature) now succeeds; a third time it is a replay.
    expect((await send()).status).toBe(200);
    expect(await countRows(h, 'public.trading_orders', 'signal_id = $1', [id])).toBe(1);
    const replay = await send();
    expect(replay.status).toBe(401);
    expect(await replay.json()).toMatchObject({ error: { message: 'replayed request (X-Trade-Id already used)' } });
    expect(await countRows(h, 'public.trading_orders', 'signal_id = $1', [id])).toBe(1);
  });

  it('refuses a revoked key on the very next request, although the function still holds its credential', async () => {
    const doomed = await createEaCredential(h, alice);
    const session = await openSession(h, doomed, 7002);
    expect((await eaRequest(h, ping, 'POST', '/ping', doomed, { session_id: session, ...figures })).status).toBe(200);
    expect(h.deps.credentials.get(`ea_key:${doomed.keyId}`)).toBeDefined();

    await h.db.query(asOwner(), 'update public.ea_keys set revoked_at = now() where id = $1', [doomed.keyId]);
    const res = await eaRequest(h, ping, 'POST', '/ping', doomed, { session_id: session, ...figures });
    expect(res.status).toBe(401);
    expect(await res.json()).toMatchObject({ error: { code: 'unauthorized', message: 'unknown or revoked EA key' } });
  });

  it('reads a changed credential again: scopes taken away since it was cached answer 403', async () => {
    const narrowed = await createEaCredential(h, alice);
    const session = await openSession(h, narrowed, 7003);
    expect((await eaRequest(h, signals, 'GET', `/signals/pending?session_id=${session}`, narrowed)).status).toBe(200);

    await h.db.query(asOwner(), `update public.ea_keys set scopes = array['connect', 'ping'] where id = $1`, [narrowed.keyId]);
    const res = await eaRequest(h, signals, 'GET', `/signals/pending?session_id=${session}`, narrowed);
    expect(res.status).toBe(403);
    expect(await res.json()).toMatchObject({ error: { message: 'this EA key lacks the signals scope' } });
    // Pings are still allowed, with the credential read again.
    expect((await eaRequest(h, ping, 'POST', '/ping', narrowed, { session_id: session, ...figures })).status).toBe(200);
  });

  it("prepares a key's signing key once, with its credential, and uses it for every request", async () => {
    expect((await eaRequest(h, ping, 'POST', '/ping', key, { session_id: sessionId, ...figures })).status).toBe(200);
    const cached = h.deps.credentials.get(`ea_key:${key.keyId.toLowerCase()}`);
    expect(cached?.signingKey.malformed).toBe(false);
    expect((await eaRequest(h, ping, 'POST', '/ping', key, { session_id: sessionId, ...figures })).status).toBe(200);
    expect(h.deps.credentials.get(`ea_key:${key.keyId.toLowerCase()}`)?.signingKey).toBe(cached?.signingKey);
    // A wrong signature is refused with the same cached key (read again once, as before).
    const res = await eaRequest(h, ping, 'POST', '/ping', { ...key, secret: `whsec_${btoa('x'.repeat(32))}` }, { session_id: sessionId, ...figures });
    expect(res.status).toBe(401);
  });

  it('stamps the key as used at most once a minute', async () => {
    await h.db.query(asOwner(), `update public.ea_keys set last_used_at = now() - interval '2 minutes' where id = $1`, [key.keyId]);
    expect((await eaRequest(h, ping, 'POST', '/ping', key, { session_id: sessionId, ...figures })).status).toBe(200);
    const [first] = await h.db.query<{ last_used_at: Date }>(asOwner(), 'select last_used_at from public.ea_keys where id = $1', [key.keyId]);
    expect(Date.now() - first!.last_used_at.getTime()).toBeLessThan(60_000);
    expect((await eaRequest(h, ping, 'POST', '/ping', key, { session_id: sessionId, ...figures })).status).toBe(200);
    const [second] = await h.db.query<{ last_used_at: Date }>(asOwner(), 'select last_used_at from public.ea_keys where id = $1', [key.keyId]);
    expect(second!.last_used_at.getTime()).toBe(first!.last_used_at.getTime());
  });
});
