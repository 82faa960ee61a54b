import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { asOwner } from '@rubi/db';
import { createAccountsApp } from '../../functions/accounts/app.ts';
import { createConnectApp } from '../../functions/connect/app.ts';
import { createKeysApp } from '../../functions/keys/app.ts';
import { createPingApp } from '../../functions/ping/app.ts';
import { createPositionsApp } from '../../functions/positions/app.ts';
import { createEaCredential } from '../support/ea-credentials.ts';
import { countRows, createEdgeHarness, signHeaders, userRequest, type EaCredential, type EdgeHarness, type FetchApp, type TestUser } from '../support/edge-harness.ts';
import { connectBody, openSession } from '../support/terminal.ts';

// Property: whatever body arrives (random JSON, wrong types, valid shapes with hostile values,
// non-JSON text), a route never answers 5xx, and a rejected request writes nothing.

interface FuzzRoute {
  name: string;
  app: FetchApp;
  method: 'POST' | 'GET' | 'PUT';
  path: string;
  auth: 'user' | 'ea';
  /** A valid body, whose keys the generator reuses with hostile values. */
  sample: Record<string, unknown>;
  /** Tables whose row counts must not change when the request is rejected. */
  tables: string[];
}

let h: EdgeHarness;
let user: TestUser;
let key: EaCredential;
let routes: FuzzRoute[];

beforeAll(async () => {
  h = await createEdgeHarness();
  user = await h.createUser('fuzz@example.com');
  key = await createEaCredential(h, user);
  const sessionId = await openSession(h, key, 7001);
  const accounts = createAccountsApp(h.deps);
  const [broker] = await h.db.query<{ id: string }>(asOwner(), `select id from public.brokers where name = 'IC Markets'`);
  const registered = await userRequest(accounts, 'POST', '/accounts/trading-accounts', user.token, {
    broker_id: broker?.id,
    platform: 'MT5',
    login: 7003,
    server: 'Fuzz-Live',
    investor_password: 'fuzz-investor',
  });
  const accountId = ((await registered.json()) as { id: string }).id;
  routes = [
    {
      name: 'trading account password',
      app: accounts,
      method: 'PUT',
      path: `/accounts/trading-accounts/${accountId}/password`,
      auth: 'user',
      sample: { investor_password: 'fuzz-investor-2' },
      tables: ['public.trading_accounts', 'private.account_secrets'],
    },
    {
      name: 'trading account cashback settings',
      app: accounts,
      method: 'PUT',
      path: `/accounts/trading-accounts/${accountId}/cashback-settings`,
      auth: 'user',
      sample: { payout_currency: null, excluded_magics: [777], excluded_symbols: ['XAU%'] },
      tables: ['public.trading_accounts'],
    },
    { name: 'keys create', app: createKeysApp(h.deps), method: 'POST', path: '/keys', auth: 'user', sample: { name: 'k', scopes: ['ping'] }, tables: ['public.ea_keys'] },
    {
      name: 'connect',
      app: createConnectApp(h.deps),
      method: 'POST',
      path: '/connect',
      auth: 'ea',
      sample: connectBody(7002),
      tables: ['public.mt5_sessions', 'public.symbol_specs'],
    },
    {
      name: 'connect disconnect',
      app: createConnectApp(h.deps),
      method: 'POST',
      path: '/connect/disconnect',
      auth: 'ea',
      sample: { session_id: sessionId, errors: 1 },
      tables: ['public.mt5_sessions'],
    },
    {
      name: 'ping',
      app: createPingApp(h.deps),
      method: 'POST',
      path: '/ping',
      auth: 'ea',
      sample: { session_id: sessionId, balance: 1, equity: 1 },
      tables: ['public.account_snapshots'],
    },
    {
      name: 'positions update',
      app: createPositionsApp(h.deps),
      method: 'POST',
      path: '/positions/update',
      auth: 'ea',
      sample: {
        session_id: sessionId,
        positions: [{ ticket: 1, symbol: 'EURUSD', type: 'BUY', volume: 0.1, open_price: 1.1, profit: 0, opened_at: '2026-11-20T10:00:00Z' }],
      },
      tables: ['public.positions'],
    },
  ];
});
afterAll(() => h.close());

const hostile = fc.oneof(
  fc.anything(),
  fc.string(),
  fc.double(),
  fc.constantFrom(null, -1, 0, 1e308, -1e308, '', ' ', '0', 'NaN', '1e999', '\u0000', "'; drop table x; --", '00000000-0000-0000-0000-000000000000'),
);

function bodies(sample: Record<string, unknown>): fc.Arbitrary<string> {
  const keys = Object.keys(sample);
  const mutated = fc
    .record(Object.fromEntries(keys.map((k) => [k, fc.oneof(hostile, fc.constant(sample[k]))])), { requiredKeys: [] })
    .map((o) => JSON.stringify(o));
  return fc.oneof(
    mutated,
    fc.json(),
    fc.string(),
    fc.anything().map((v) => JSON.stringify(v) ?? 'undefined'),
    fc.constantFrom('', '{', '[]', 'null', '{"a":', '\u0000'),
  );
}

async function send(route: FuzzRoute, text: string): Promise<Response> {
  const headers: Record<string, string> = { 'content-type': 'application/json' };
  if (route.auth === 'user') headers.authorization = `Bearer ${user.token}`;
  else Object.assign(headers, { 'x-ea-key-id': key.keyId }, await signHeaders(key.secret, text, Math.floor(h.clock.now.getTime() / 1000)));
  return route.app.request(route.path, { method: route.method, headers, body: text });
}

describe('every route under random and malformed bodies', () => {
  it('never answers 5xx and writes nothing when it rejects', async () => {
    for (const route of routes) {
      await fc.assert(
        fc.asyncProperty(bodies(route.sample), async (text) => {
          const before = await Promise.all(route.tables.map((t) => countRows(h, t)));
          const res = await send(route, text);
          expect(res.status, `${route.name} answered ${res.status} to ${text.slice(0, 200)}`).toBeLessThan(500);
          if (res.status >= 400) {
            const body = (await res.json()) as { error?: { code?: string } };
            expect(body.error?.code).toBeTypeOf('string');
            const after = await Promise.all(route.tables.map((t) => countRows(h, t)));
            expect(after, `${route.name} wrote rows while rejecting ${text.slice(0, 200)}`).toEqual(before);
          }
        }),
        // Found by this test: a NUL character made Postgres raise, which was a 500.
        { numRuns: 40, examples: [[JSON.stringify({ ...route.sample, name: '\u0000', broker: '\u0000' })]] },
      );
    }
  });
});

// The read routes with a query string (issue #17 reports): random and hostile values for each
// parameter never make a 5xx; a rejection names its error.
const QUERY_ROUTES: { name: string; path: string; sample: Record<string, string> }[] = [
  {
    name: 'cashback report',
    path: '/accounts/cashback/report',
    sample: { period: 'week', from: '2026-01-01T00:00:00Z', to: '2026-03-01T00:00:00Z', group_by: 'symbol_group', tz: 'Europe/Berlin', format: 'csv' },
  },
];

describe('every query route under random and malformed query strings', () => {
  it('never answers 5xx', async () => {
    const accounts = createAccountsApp(h.deps);
    const value = fc.oneof(fc.string(), fc.constantFrom('', '\u0000', 'NaN', '-1', '0001-01-01T00:00:00Z', '9999-12-31T23:59:59Z', "'; drop table x; --", 'day', 'month', 'csv', 'UTC', '+99:99'));
    for (const route of QUERY_ROUTES) {
      const keys = [...Object.keys(route.sample), 'account_id'];
      await fc.assert(
        fc.asyncProperty(
          fc.record(Object.fromEntries(keys.map((k) => [k, fc.oneof(value, fc.constant(route.sample[k] ?? crypto.randomUUID()))])), { requiredKeys: [] }),
          async (query) => {
            const qs = new URLSearchParams(query as Record<string, string>).toString();
            const res = await accounts.request(`${route.path}?${qs}`, { headers: { authorization: `Bearer ${user.token}` } });
            expect(res.status, `${route.name} answered ${res.status} to ?${qs}`).toBeLessThan(500);
            if (res.status >= 400) expect(((await res.json()) as { error?: { code?: string } }).error?.code).toBeTypeOf('string');
          },
        ),
        { numRuns: 60, examples: [[{ tz: '\u0000' }], [{ from: '0001-01-01T00:00:00Z' }], [{ tz: '+99:99', period: 'day' }]] },
      );
    }
  });
});
