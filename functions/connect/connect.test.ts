import { asOwner } from '@rubi/db';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createEaCredential } from '../../tests/support/ea-credentials.ts';
import { countRows, createEdgeHarness, eaRequest, userRequest, type EaCredential, type EdgeHarness, type TestUser } from '../../tests/support/edge-harness.ts';
import { connectBody, EURUSD_SPEC } from '../../tests/support/terminal.ts';
import { createKeysApp } from '../keys/app.ts';
import { createConnectApp } from './app.ts';

let h: EdgeHarness;
let app: ReturnType<typeof createConnectApp>;
let alice: TestUser;
let bob: TestUser;
let aliceKey: EaCredential;
let bobKey: EaCredential;

beforeAll(async () => {
  h = await createEdgeHarness();
  app = createConnectApp(h.deps);
  alice = await h.createUser('alice@example.com');
  bob = await h.createUser('bob@example.com');
  aliceKey = await createEaCredential(h, alice);
  bobKey = await createEaCredential(h, bob);
});
afterAll(() => h.close());

describe('connect', () => {
  it('opens a session with the risk settings and records symbol specifications', async () => {
    const res = await eaRequest(h, app, 'POST', '/connect', aliceKey, connectBody(1001));
    expect(res.status).toBe(200);
    const body = (await res.json()) as { session_id: string; resumed: boolean; ping_interval_seconds: number; risk: Record<string, number>; server_time: string };
    expect(body.resumed).toBe(false);
    expect(body.ping_interval_seconds).toBe(30);
    expect(body.risk).toEqual({ max_open_positions: 10, max_risk_percent: 2 });
    expect(new Date(body.server_time).getTime()).toBe(h.clock.now.getTime());
    const [spec] = await h.db.query<{ tick_size: string; user_id: string }>(asOwner(), 'select tick_size, user_id from public.symbol_specs where session_id = $1', [
      body.session_id,
    ]);
    expect(Number(spec?.tick_size)).toBe(EURUSD_SPEC.tick_size);
    expect(spec?.user_id).toBe(alice.id);
    expect(await countRows(h, 'public.ea_keys', 'id = $1 and last_used_at is not null', [aliceKey.keyId])).toBe(1);
  });

  it('stores fractional margin figures on a new session (found by the EA simulator: $10 was typed integer)', async () => {
    const res = await eaRequest(h, app, 'POST', '/connect', aliceKey, connectBody(1009, { margin: 52.99, margin_free: 9947.01, equity: 9999.99 }));
    expect(res.status).toBe(200);
    const { session_id } = (await res.json()) as { session_id: string };
    const [row] = await h.db.query<{ margin: string; margin_free: string }>(asOwner(), 'select margin::text, margin_free::text from public.mt5_sessions where id = $1', [session_id]);
    expect(row).toEqual({ margin: '52.99', margin_free: '9947.01' });
  });

  it('resumes the live session of the same terminal instead of opening a second one', async () => {
    const first = (await (await eaRequest(h, app, 'POST', '/connect', aliceKey, connectBody(1002))).json()) as { session_id: string };
    const again = await eaRequest(h, app, 'POST', '/connect', aliceKey, connectBody(1002, { balance: 12000, symbols: [{ ...EURUSD_SPEC, volume_max: 50 }] }));
    const second = (await again.json()) as { session_id: string; resumed: boolean };
    expect(second).toMatchObject({ session_id: first.session_id, resumed: true });
    expect(await countRows(h, 'public.mt5_sessions', 'account_number = 1002')).toBe(1);
    expect(await countRows(h, 'public.symbol_specs', 'session_id = $1 and volume_max = 50', [first.session_id])).toBe(1);
  });

  it('disconnects with the EA counters, once', async () => {
    const { session_id } = (await (await eaRequest(h, app, 'POST', '/connect', aliceKey, connectBody(1003))).json()) as { session_id: string };
    const res = await eaRequest(h, app, 'POST', '/connect/disconnect', aliceKey, {
      session_id,
      signals_sent: 3,
      signals_received: 5,
      orders_executed: 4,
      errors: 1,
    });
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({ session_id, status: 'disconnected' });
    const [row] = await h.db.query<{ status: string; orders_executed: number; errors: number }>(
      asOwner(),
      'select status, orders_executed, errors from public.mt5_sessions where id = $1',
      [session_id],
    );
    expect(row).toEqual({ status: 'disconnected', orders_executed: 4, errors: 1 });
    expect((await eaRequest(h, app, 'POST', '/connect/disconnect', aliceKey, { session_id })).status).toBe(409);
    // The terminal connects again: a new session.
    const next = (await (await eaRequest(h, app, 'POST', '/connect', aliceKey, connectBody(1003))).json()) as { session_id: string; resumed: boolean };
    expect(next.resumed).toBe(false);
    expect(next.session_id).not.toBe(session_id);
  });

  it('hands what a disconnected session left behind to the terminal\'s new session', async () => {
    const { session_id: old } = (await (await eaRequest(h, app, 'POST', '/connect', aliceKey, connectBody(1010))).json()) as { session_id: string };
    await h.db.query(
      asOwner(),
      `insert into public.trading_signals (id, user_id, session_id, type, symbol, volume, status) values
         ('00000000-0000-4000-8000-0000000010a1', $1, $2, 'BUY', 'EURUSD', 0.1, 'PENDING'),
         ('00000000-0000-4000-8000-0000000010a2', $1, $2, 'SELL', 'EURUSD', 0.1, 'PENDING')`,
      [alice.id, old],
    );
    await h.db.query(asOwner(), `update public.trading_signals set status = 'DELIVERED' where id = '00000000-0000-4000-8000-0000000010a2'`);
    await h.db.query(
      asOwner(),
      `insert into public.positions (session_id, ticket, user_id, symbol, type, volume, open_price, opened_at) values ($1, 77, $2, 'EURUSD', 'BUY', 0.1, 1.1, now())`,
      [old, alice.id],
    );
    await eaRequest(h, app, 'POST', '/connect/disconnect', aliceKey, { session_id: old });
    const { session_id: fresh } = (await (await eaRequest(h, app, 'POST', '/connect', aliceKey, connectBody(1010))).json()) as { session_id: string };
    const signals = await h.db.query<{ id: string; session_id: string }>(
      asOwner(),
      `select id, session_id from public.trading_signals where id in ('00000000-0000-4000-8000-0000000010a1', '00000000-0000-4000-8000-0000000010a2') order by id`,
    );
    // The PENDING one and the DELIVERED one (still unreported) follow the terminal: the next poll
    // returns the DELIVERED one again, and the EA looks its id up before executing anything.
    expect(signals).toEqual([
      { id: '00000000-0000-4000-8000-0000000010a1', session_id: fresh },
      { id: '00000000-0000-4000-8000-0000000010a2', session_id: fresh },
    ]);
    expect(await countRows(h, 'public.trading_signals', "id = '00000000-0000-4000-8000-0000000010a2' and status = 'DELIVERED'")).toBe(1);
    expect(await countRows(h, 'public.positions', 'session_id = $1 and closed_at is not null', [old])).toBe(1);
    // Another terminal of the same user is left alone.
    expect(await countRows(h, 'public.trading_signals', 'session_id = $1', [fresh])).toBe(2);
  });

  it('rejects bad input naming the fields and writes nothing', async () => {
    const before = await countRows(h, 'public.mt5_sessions');
    const res = await eaRequest(h, app, 'POST', '/connect', aliceKey, connectBody(-5, { currency: 'dollars', symbols: [{ ...EURUSD_SPEC, volume_min: 5, volume_max: 1 }] }));
    expect(res.status).toBe(400);
    const { error } = (await res.json()) as { error: { details: { path: string }[] } };
    const paths = error.details.map((d) => d.path);
    expect(paths).toEqual(expect.arrayContaining(['body.account_number', 'body.currency', 'body.symbols.0.volume_max']));
    expect(await countRows(h, 'public.mt5_sessions')).toBe(before);
  });

  it('rejects missing, wrong, tampered, replayed and stale signatures with 401 and writes nothing', async () => {
    const before = await countRows(h, 'public.mt5_sessions');
    const body = connectBody(1999);
    const unsigned = await app.request('/connect', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
    expect(unsigned.status).toBe(401);
    expect((await eaRequest(h, app, 'POST', '/connect', { keyId: aliceKey.keyId, secret: bobKey.secret }, body)).status).toBe(401);
    expect((await eaRequest(h, app, 'POST', '/connect', aliceKey, body, { rawBody: JSON.stringify({ ...body, balance: 1e9 }) })).status).toBe(401);
    const stale = Math.floor(h.clock.now.getTime() / 1000) - 301;
    expect((await eaRequest(h, app, 'POST', '/connect', aliceKey, body, { timestamp: stale })).status).toBe(401);
    const future = Math.floor(h.clock.now.getTime() / 1000) + 301;
    expect((await eaRequest(h, app, 'POST', '/connect', aliceKey, body, { timestamp: future })).status).toBe(401);
    expect(await countRows(h, 'public.mt5_sessions')).toBe(before);
    const ok = await eaRequest(h, app, 'POST', '/connect', aliceKey, body, { id: 'replay-me-1' });
    expect(ok.status).toBe(200);
    const replay = await eaRequest(h, app, 'POST', '/connect', aliceKey, body, { id: 'replay-me-1' });
    expect(replay.status).toBe(401);
    expect(((await replay.json()) as { error: { message: string } }).error.message).toMatch(/replay/);
  });

  it('refuses a revoked key and a key without the connect scope', async () => {
    const temp = await createEaCredential(h, alice);
    await userRequest(createKeysApp(h.deps), 'POST', `/keys/${temp.keyId}/revoke`, alice.token);
    expect((await eaRequest(h, app, 'POST', '/connect', temp, connectBody(1004))).status).toBe(401);
    const pingOnly = await createEaCredential(h, alice, ['ping']);
    expect((await eaRequest(h, app, 'POST', '/connect', pingOnly, connectBody(1005))).status).toBe(403);
  });

  it("cannot disconnect another user's session", async () => {
    const { session_id } = (await (await eaRequest(h, app, 'POST', '/connect', aliceKey, connectBody(1006))).json()) as { session_id: string };
    const res = await eaRequest(h, app, 'POST', '/connect/disconnect', bobKey, { session_id, errors: 99 });
    expect(res.status).toBe(404);
    expect(await countRows(h, 'public.mt5_sessions', "id = $1 and status = 'active' and errors = 0", [session_id])).toBe(1);
  });

  it('never logs the EA secret', () => {
    const all = h.logs.join('\n');
    expect(all).not.toContain(aliceKey.secret);
    expect(all).not.toContain(bobKey.secret);
  });
});
