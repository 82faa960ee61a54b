import fc from 'fast-check';
import { asOwner } from '@rubi/db';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createEaCredential } from '../../tests/support/ea-credentials.ts';
import { countRows, createEdgeHarness, eaRequest, signHeaders, userRequest, type EaCredential, type EdgeHarness, type TestUser } from '../../tests/support/edge-harness.ts';
import { openTradingSession } from '../../tests/support/signal-fixtures.ts';
import { createSignalsApp } from './app.ts';

// Property: whatever arrives at the signals routes (hostile values in valid shapes, random JSON,
// odd query strings), the answer is never a 5xx, and a rejected request writes nothing.

let h: EdgeHarness;
let app: ReturnType<typeof createSignalsApp>;
let user: TestUser;
let key: EaCredential;
let session: string;
let deliveredId: string;

const hostile = fc.oneof(
  fc.anything(),
  fc.string(),
  fc.double(),
  fc.integer(),
  fc.constantFrom(null, -1, 0, 5e-324, 1e-300, 1e308, 1e9, '', '0', 'NaN', '\u0000', '0000-01-01T00:00:00Z', '9999-12-31T23:59:59Z', 'BUY', 'CLOSE_SELL', 'H1'),
);

function bodies(sample: Record<string, unknown>): fc.Arbitrary<string> {
  const keys = Object.keys(sample);
  return fc.oneof(
    fc.record(Object.fromEntries(keys.map((k) => [k, fc.oneof(hostile, fc.constant(sample[k]))])), { requiredKeys: [] }).map((o) => JSON.stringify(o)),
    fc.json(),
    fc.constantFrom('', '{', '[]', 'null', '{"a":'),
  );
}

beforeAll(async () => {
  h = await createEdgeHarness();
  app = createSignalsApp(h.deps);
  user = await h.createUser('fuzz-signals@example.com');
  key = await createEaCredential(h, user);
  session = await openTradingSession(h, key, 9001);
  const created = await userRequest(app, 'POST', '/signals', user.token, { session_id: session, type: 'BUY', symbol: 'EURUSD', volume: 0.1 });
  deliveredId = ((await created.json()) as { id: string }).id;
  await eaRequest(h, app, 'GET', `/signals/pending?session_id=${session}`, key);
});
afterAll(() => h.close());

async function expectClean(res: Response, text: string, before: number[], tables: string[]): Promise<void> {
  expect(res.status, `answered ${res.status} to ${text.slice(0, 300)}`).toBeLessThan(500);
  if (res.status >= 400) {
    expect(((await res.json()) as { error?: { code?: string } }).error?.code).toBeTypeOf('string');
    expect(await Promise.all(tables.map((t) => countRows(h, t)))).toEqual(before);
  }
}

describe('signals under hostile input', () => {
  it('POST /signals', async () => {
    const sample = {
      session_id: '',
      type: 'BUY',
      symbol: 'EURUSD',
      entry_price: 1.1,
      stop_loss: 1.09,
      take_profit: 1.12,
      risk_percent: 1,
      timeframe: 'H1',
      confidence: 50,
      signal_time: '2026-11-21T10:00:00Z',
      client_signal_id: 'fuzz',
      expires_at: '2099-01-01T00:00:00Z',
      ttl_seconds: 60,
    };
    const tables = ['public.trading_signals'];
    await fc.assert(
      fc.asyncProperty(bodies({ ...sample, session_id: session }), async (text) => {
        const before = await Promise.all(tables.map((t) => countRows(h, t)));
        const res = await app.request('/signals', { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${user.token}` }, body: text });
        await expectClean(res, text, before, tables);
      }),
      { numRuns: 150 },
    );
  });

  it('POST /signals/{id}/status', async () => {
    const tables = ['public.trading_orders'];
    const sample = { status: 'EXECUTED', order_ticket: 1, price: 1.1, volume: 0.1, retcode: 10009, message: 'ok', executed_at: '2026-11-21T10:00:00Z' };
    await fc.assert(
      fc.asyncProperty(bodies(sample), async (text) => {
        const before = await Promise.all(tables.map((t) => countRows(h, t)));
        const headers = { 'content-type': 'application/json', 'x-ea-key-id': key.keyId, ...(await signHeaders(key.secret, text, Math.floor(h.clock.now.getTime() / 1000))) };
        const res = await app.request(`/signals/${deliveredId}/status`, { method: 'POST', headers, body: text });
        await expectClean(res, text, before, tables);
        // Undo a success so that later runs still exercise a DELIVERED signal.
        if (res.status === 200) {
          await h.db.query(asOwner(), 'delete from public.trading_orders where signal_id = $1', [deliveredId]);
          await h.db.query(asOwner(), 'delete from public.trading_signals where id = $1', [deliveredId]);
          const created = await userRequest(app, 'POST', '/signals', user.token, { session_id: session, type: 'BUY', symbol: 'EURUSD', volume: 0.1 });
          deliveredId = ((await created.json()) as { id: string }).id;
          await eaRequest(h, app, 'GET', `/signals/pending?session_id=${session}`, key);
        }
      }),
      { numRuns: 150 },
    );
  });

  it('GET /signals with random query strings', async () => {
    const param = fc.constantFrom('limit', 'cursor', 'symbol', 'status', 'session_id', 'from', 'to', 'other');
    const value = fc.oneof(fc.string(), fc.constantFrom('0', '-1', '1e9', '0000-01-01T00:00:00Z', '9999-12-31T23:59:59Z', 'PENDING', '%00', 'AAAA'));
    await fc.assert(
      fc.asyncProperty(fc.array(fc.tuple(param, value), { maxLength: 5 }), async (pairs) => {
        const query = new URLSearchParams(pairs).toString();
        const res = await userRequest(app, 'GET', `/signals?${query}`, user.token);
        expect(res.status, `answered ${res.status} to ?${query}`).toBeLessThan(500);
      }),
      { numRuns: 150 },
    );
  });
});
