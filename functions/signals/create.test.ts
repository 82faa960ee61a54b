import { asOwner } from '@rubi/db';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createEaCredential } from '../../tests/support/ea-credentials.ts';
import { countRows, createEdgeHarness, eaRequest, userRequest, type EaCredential, type EdgeHarness, type TestUser } from '../../tests/support/edge-harness.ts';
import { errorPaths, openTradingSession, readError, readSignal, signalRow } from '../../tests/support/signal-fixtures.ts';
import { createConnectApp } from '../connect/app.ts';
import { createSignalsApp } from './app.ts';

let h: EdgeHarness;
let app: ReturnType<typeof createSignalsApp>;
let alice: TestUser;
let bob: TestUser;
let aliceKey: EaCredential;
let bobKey: EaCredential;
let session: string;
let bobSession: string;

beforeAll(async () => {
  h = await createEdgeHarness();
  app = createSignalsApp(h.deps);
  alice = await h.createUser('alice@example.com');
  bob = await h.createUser('bob@example.com');
  aliceKey = await createEaCredential(h, alice);
  bobKey = await createEaCredential(h, bob);
  // Equity 10 000 USD, max_risk_percent 2, max_open_positions 10 (the defaults).
  session = await openTradingSession(h, aliceKey, 5001);
  bobSession = await openTradingSession(h, bobKey, 6001);
  // Most tests pile signals onto one session: lift its position limit (tested on its own below).
  await h.db.query(asOwner(), 'update public.mt5_sessions set max_open_positions = 1000 where id = $1', [session]);
});
afterAll(() => h.close());

const buy = (overrides: Record<string, unknown> = {}) => ({ session_id: session, type: 'BUY', symbol: 'EURUSD', volume: 0.1, ...overrides });

describe('POST /signals: creating', () => {
  it('creates a signal from the dashboard with numbers as numbers and ISO timestamps', async () => {
    const res = await userRequest(app, 'POST', '/signals', alice.token, {
      ...buy({ entry_price: 1.1, stop_loss: 1.095, take_profit: 1.11, volume: 0.25 }),
      timeframe: 'H1',
      confidence: 72.5,
      signal_time: '2026-11-21T10:15:00.000Z',
    });
    expect(res.status).toBe(201);
    const signal = await readSignal(res);
    expect(signal).toMatchObject({
      session_id: session,
      type: 'BUY',
      symbol: 'EURUSD',
      entry_price: 1.1,
      stop_loss: 1.095,
      take_profit: 1.11,
      volume: 0.25,
      risk_percent: null,
      timeframe: 'H1',
      confidence: 72.5,
      signal_time: '2026-11-21T10:15:00.000Z',
      source: 'dashboard',
      client_signal_id: null,
      expires_at: null,
      status: 'PENDING',
      order_ticket: null,
      delivered_at: null,
      completed_at: null,
    });
    expect(signal.created_at).toMatch(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/);
    const row = await signalRow(h, signal.id);
    expect(row).toMatchObject({ user_id: alice.id, volume: '0.25', entry_price: '1.1' });
  });

  it('sizes a risk-percent signal from the session equity and stores the volume beside the risk', async () => {
    // 10 000 × 1 % = 100 USD; |1.10000 − 1.09500| = 500 ticks × 1 USD = 500 USD per lot → 0.20 lots.
    const res = await eaRequest(h, app, 'POST', '/signals', aliceKey, buy({ volume: undefined, risk_percent: 1, entry_price: 1.1, stop_loss: 1.095 }));
    expect(res.status).toBe(201);
    const signal = await readSignal(res);
    expect(signal).toMatchObject({ volume: 0.2, risk_percent: 1, source: 'ea' });
    expect(await signalRow(h, signal.id)).toMatchObject({ volume: '0.2', risk_percent: '1' });

    // USDJPY: 10 000 × 1.5 % = 150 USD; SELL 150.000, SL 150.400 = 400 ticks × 0.67 = 268 USD per lot → 0.559… → 0.55 lots.
    const jpy = await userRequest(app, 'POST', '/signals', alice.token, {
      session_id: session,
      type: 'SELL',
      symbol: 'USDJPY',
      entry_price: 150,
      stop_loss: 150.4,
      take_profit: 149,
      risk_percent: 1.5,
    });
    expect(jpy.status).toBe(201);
    expect(await readSignal(jpy)).toMatchObject({ volume: 0.55, risk_percent: 1.5 });

    // US500 (step 0.1): 10 000 × 0.3 % = 30 USD; 100 points = 10 000 ticks × 0.01 = 100 USD per lot → 0.3 lots.
    const index = await userRequest(app, 'POST', '/signals', alice.token, { session_id: session, type: 'BUY', symbol: 'US500', entry_price: 5000, stop_loss: 4900, risk_percent: 0.3 });
    expect(await readSignal(index)).toMatchObject({ volume: 0.3 });
  });

  it("uses the session's current equity (after a ping)", async () => {
    const s = await openTradingSession(h, aliceKey, 5002, { balance: 5000, equity: 5000 });
    // 5 000 × 2 % = 100 USD; XAUUSD 2000.00 → 1990.00 = 1 000 ticks × 1 USD → 0.10 lots.
    const body = { session_id: s, type: 'BUY', symbol: 'XAUUSD', entry_price: 2000, stop_loss: 1990, risk_percent: 2 };
    expect(await readSignal(await userRequest(app, 'POST', '/signals', alice.token, body))).toMatchObject({ volume: 0.1 });
    await h.db.query(asOwner(), 'update public.mt5_sessions set equity = 20000 where id = $1', [s]);
    // 20 000 × 2 % = 400 USD → 0.40 lots.
    expect(await readSignal(await userRequest(app, 'POST', '/signals', alice.token, body))).toMatchObject({ volume: 0.4 });
  });

  it("records source 'api' when a user token asks for it, and refuses a source from an EA", async () => {
    const res = await userRequest(app, 'POST', '/signals', alice.token, { ...buy(), source: 'api' });
    expect(await readSignal(res)).toMatchObject({ source: 'api' });
    const before = await countRows(h, 'public.trading_signals');
    const ea = await eaRequest(h, app, 'POST', '/signals', aliceKey, { ...buy(), source: 'dashboard' });
    expect(ea.status).toBe(400);
    expect(await errorPaths(ea)).toEqual(['body.source']);
    const spoof = await userRequest(app, 'POST', '/signals', alice.token, { ...buy(), source: 'ea' });
    expect(spoof.status).toBe(400);
    expect(await errorPaths(spoof)).toEqual(['body.source']);
    expect(await countRows(h, 'public.trading_signals')).toBe(before);
  });

  it('creates close signals without sizing', async () => {
    const res = await userRequest(app, 'POST', '/signals', alice.token, { session_id: session, type: 'CLOSE_BUY', symbol: 'EURUSD' });
    expect(res.status).toBe(201);
    expect(await readSignal(res)).toMatchObject({ type: 'CLOSE_BUY', volume: null, risk_percent: null });
  });

  it('accepts market orders (no entry) with SL and TP on the right sides of each other', async () => {
    const res = await userRequest(app, 'POST', '/signals', alice.token, { ...buy({ stop_loss: 1.09, take_profit: 1.12 }) });
    expect(res.status).toBe(201);
    const sell = await userRequest(app, 'POST', '/signals', alice.token, { ...buy({ type: 'SELL', stop_loss: 1.12, take_profit: 1.09 }) });
    expect(sell.status).toBe(201);
    expect(await readSignal(sell)).toMatchObject({ entry_price: null });
  });

  it('sets the expiry from expires_at or ttl_seconds', async () => {
    const at = new Date(Date.now() + 3600_000).toISOString();
    const withAt = await readSignal(await userRequest(app, 'POST', '/signals', alice.token, { ...buy(), expires_at: at }));
    expect(withAt.expires_at).toBe(at);
    const before = Date.now();
    const withTtl = await readSignal(await userRequest(app, 'POST', '/signals', alice.token, { ...buy(), ttl_seconds: 120 }));
    const expires = new Date(withTtl.expires_at ?? 0).getTime();
    expect(expires).toBeGreaterThanOrEqual(before + 119_000);
    expect(expires).toBeLessThanOrEqual(Date.now() + 121_000);
  });
});

describe('POST /signals: bad input is a 400 naming the field, and nothing is written', () => {
  // Bodies are built lazily: the session ids exist only after beforeAll.
  const cases: [string, () => Record<string, unknown>, string[], RegExp?][] = [
    ['BUY with the stop-loss above the entry', () => buy({ entry_price: 1.1, stop_loss: 1.105 }), ['body.stop_loss'], /below the entry/],
    ['BUY with the take-profit below the entry', () => buy({ entry_price: 1.1, take_profit: 1.09 }), ['body.take_profit'], /above the entry/],
    ['BUY with the stop-loss at the entry', () => buy({ entry_price: 1.1, stop_loss: 1.1 }), ['body.stop_loss']],
    ['SELL with the stop-loss below the entry', () => buy({ type: 'SELL', entry_price: 1.1, stop_loss: 1.095 }), ['body.stop_loss'], /above the entry/],
    ['SELL with the take-profit above the entry', () => buy({ type: 'SELL', entry_price: 1.1, take_profit: 1.2 }), ['body.take_profit']],
    ['market BUY with SL above TP', () => buy({ stop_loss: 1.12, take_profit: 1.09 }), ['body.stop_loss'], /below the take-profit/],
    ['market SELL with SL below TP', () => buy({ type: 'SELL', stop_loss: 1.09, take_profit: 1.12 }), ['body.stop_loss']],
    ['opening signal without volume or risk', () => buy({ volume: undefined }), ['body.volume'], /volume or risk_percent/],
    ['both volume and risk', () => buy({ risk_percent: 1, entry_price: 1.1, stop_loss: 1.09 }), ['body.risk_percent'], /not both/],
    ['risk without a stop-loss', () => buy({ volume: undefined, risk_percent: 1, entry_price: 1.1 }), ['body.stop_loss']],
    ['risk without an entry price', () => buy({ volume: undefined, risk_percent: 1, stop_loss: 1.09 }), ['body.entry_price'], /entry_price/],
    ['CLOSE_SELL with volume, SL and TP', () => ({ session_id: 'x', type: 'CLOSE_SELL', symbol: 'EURUSD', volume: 1, stop_loss: 1, take_profit: 2 }), ['body.session_id', 'body.volume', 'body.stop_loss', 'body.take_profit']],
    ['CLOSE_BUY with a risk percent', () => ({ session_id: session, type: 'CLOSE_BUY', symbol: 'EURUSD', risk_percent: 1 }), ['body.risk_percent']],
    ['expires_at and ttl_seconds', () => buy({ expires_at: '2099-01-01T00:00:00Z', ttl_seconds: 60 }), ['body.ttl_seconds']],
    ['confidence above 100', () => buy({ confidence: 101 }), ['body.confidence']],
    ['an unknown timeframe', () => buy({ timeframe: 'H2' }), ['body.timeframe']],
    ['an unknown type and a negative volume', () => buy({ type: 'LONG', volume: -1 }), ['body.type', 'body.volume']],
    ['a risk over 100 %', () => buy({ volume: undefined, risk_percent: 150, entry_price: 1.1, stop_loss: 1.09 }), ['body.risk_percent']],
    ['a symbol with a control character', () => buy({ symbol: 'EUR\nUSD' }), ['body.symbol']],
    ['a ticket-like client id with spaces', () => buy({ client_signal_id: 'a b' }), ['body.client_signal_id']],
    ['an unknown field', () => ({ ...buy(), leverage: 100 }), ['body']],
    ['a missing session', () => ({ type: 'BUY', symbol: 'EURUSD', volume: 0.1 }), ['body.session_id']],
    ['a malformed signal_time', () => buy({ signal_time: 'yesterday' }), ['body.signal_time']],
    ['a ttl of zero', () => buy({ ttl_seconds: 0 }), ['body.ttl_seconds']],
    // Checks that need the session's data:
    ['risk on a symbol the EA never described', () => buy({ symbol: 'GBPUSD', volume: undefined, risk_percent: 1, entry_price: 1.3, stop_loss: 1.29 }), ['body.symbol'], /no symbol specification reported for GBPUSD/],
    ["risk above the session's max_risk_percent", () => buy({ volume: undefined, risk_percent: 2.5, entry_price: 1.1, stop_loss: 1.09 }), ['body.risk_percent'], /max_risk_percent of 2/],
    // 10 000 × 0.01 % = 1 USD; 1 000 ticks → 1 000 USD per lot → 0.001 lots < 0.01.
    ['a risk too small for the minimum lot', () => buy({ volume: undefined, risk_percent: 0.01, entry_price: 1.1, stop_loss: 1.09 }), ['body.risk_percent'], /minimum lot/],
    ['a volume below the minimum', () => buy({ volume: 0.001 }), ['body.volume'], /minimum of 0.01/],
    ['a volume above the maximum', () => buy({ volume: 500 }), ['body.volume'], /maximum of 100/],
    ['a volume off the step', () => buy({ volume: 0.015 }), ['body.volume'], /volume step 0.01/],
    ['a US500 volume off its 0.1 step', () => buy({ symbol: 'US500', volume: 0.25 }), ['body.volume'], /volume step 0.1/],
    ['an expiry in the past', () => buy({ expires_at: '2020-01-01T00:00:00Z' }), ['body.expires_at'], /future/],
  ];

  it.each(cases)('%s', async (_name, makeBody, paths, message) => {
    const body = makeBody();
    const before = await countRows(h, 'public.trading_signals');
    const res = await userRequest(app, 'POST', '/signals', alice.token, body);
    expect(res.status).toBe(400);
    const { error } = await readError(res);
    expect(error.code).toBe('invalid_request');
    const got = [...new Set((error.details ?? []).map((d) => d.path))];
    if (paths[0] === 'body') expect(got.length).toBeGreaterThan(0);
    else expect(got.sort()).toEqual([...paths].sort());
    if (message) expect((error.details ?? []).map((d) => d.message).join(' ')).toMatch(message);
    expect(await countRows(h, 'public.trading_signals')).toBe(before);
  });

  it('rejects a body that is not JSON', async () => {
    const res = await app.request('/signals', {
      method: 'POST',
      headers: { authorization: `Bearer ${alice.token}`, 'content-type': 'application/json' },
      body: '{"session_id":',
    });
    expect(res.status).toBe(400);
  });

  it('accepts a volume without a specification as sent (nothing to check it against)', async () => {
    const res = await userRequest(app, 'POST', '/signals', alice.token, buy({ symbol: 'GBPUSD', volume: 0.123 }));
    expect(res.status).toBe(201);
  });
});

describe('POST /signals: sessions and limits', () => {
  it('answers 404 for an unknown session and 409 for a disconnected one', async () => {
    const before = await countRows(h, 'public.trading_signals');
    const unknown = await userRequest(app, 'POST', '/signals', alice.token, buy({ session_id: crypto.randomUUID() }));
    expect(unknown.status).toBe(404);
    expect((await readError(unknown)).error.message).toBe('session not found');
    const closed = await openTradingSession(h, aliceKey, 5003);
    await eaRequest(h, createConnectApp(h.deps), 'POST', '/connect/disconnect', aliceKey, { session_id: closed });
    const res = await userRequest(app, 'POST', '/signals', alice.token, buy({ session_id: closed }));
    expect(res.status).toBe(409);
    expect((await readError(res)).error.message).toMatch(/disconnected/);
    expect(await countRows(h, 'public.trading_signals')).toBe(before);
  });

  it("refuses a signal on another user's session (user token or EA key) and writes nothing", async () => {
    const before = await countRows(h, 'public.trading_signals');
    const byUser = await userRequest(app, 'POST', '/signals', bob.token, buy());
    expect(byUser.status).toBe(404);
    const byEa = await eaRequest(h, app, 'POST', '/signals', bobKey, buy());
    expect(byEa.status).toBe(404);
    // Nor with risk sizing (the specification of Alice's session is not Bob's to read).
    const risk = await userRequest(app, 'POST', '/signals', bob.token, buy({ volume: undefined, risk_percent: 1, entry_price: 1.1, stop_loss: 1.09 }));
    expect(risk.status).toBe(404);
    expect(await countRows(h, 'public.trading_signals')).toBe(before);
    // Bob's own session works.
    expect((await userRequest(app, 'POST', '/signals', bob.token, buy({ session_id: bobSession }))).status).toBe(201);
  });

  it('refuses an opening signal beyond max_open_positions, counting open positions and undelivered opening signals', async () => {
    const s = await openTradingSession(h, aliceKey, 5004);
    await h.db.query(asOwner(), 'update public.mt5_sessions set max_open_positions = 3 where id = $1', [s]);
    // One open position and one closed one (which does not count).
    await h.db.query(
      asOwner(),
      `insert into public.positions (session_id, ticket, user_id, symbol, type, volume, open_price, opened_at, closed_at)
       values ($1, 101, $2, 'EURUSD', 'BUY', 0.1, 1.1, now(), null), ($1, 102, $2, 'EURUSD', 'SELL', 0.1, 1.1, now(), now())`,
      [s, alice.id],
    );
    // An expired PENDING signal (not yet swept) does not count either.
    await h.db.query(
      asOwner(),
      `insert into public.trading_signals (user_id, session_id, type, symbol, volume, expires_at) values ($1, $2, 'BUY', 'EURUSD', 0.1, now() - interval '1 second')`,
      [alice.id, s],
    );
    const first = await readSignal(await userRequest(app, 'POST', '/signals', alice.token, buy({ session_id: s })));
    const second = await userRequest(app, 'POST', '/signals', alice.token, buy({ session_id: s, type: 'SELL' }));
    expect(second.status).toBe(201);
    const before = await countRows(h, 'public.trading_signals', 'session_id = $1', [s]);
    const third = await userRequest(app, 'POST', '/signals', alice.token, buy({ session_id: s }));
    expect(third.status).toBe(409);
    expect((await readError(third)).error.message).toMatch(/max_open_positions reached: the session has 1 open position\(s\) and 2 opening signal\(s\).*allows 3/);
    expect(await countRows(h, 'public.trading_signals', 'session_id = $1', [s])).toBe(before);
    // Closing signals are not limited.
    expect((await userRequest(app, 'POST', '/signals', alice.token, { session_id: s, type: 'CLOSE_BUY', symbol: 'EURUSD' })).status).toBe(201);
    // Cancelling a waiting signal frees its slot.
    expect((await userRequest(app, 'POST', `/signals/${first.id}/cancel`, alice.token)).status).toBe(200);
    expect((await userRequest(app, 'POST', '/signals', alice.token, buy({ session_id: s }))).status).toBe(201);
  });
});

describe('POST /signals: idempotency with client_signal_id', () => {
  it('returns the same signal with 200 on a retry and never creates a second', async () => {
    const body = buy({ client_signal_id: 'strategy-7:2026-11-21T10:15', entry_price: 1.1, stop_loss: 1.09, take_profit: 1.12, ttl_seconds: 600 });
    const first = await userRequest(app, 'POST', '/signals', alice.token, body);
    expect(first.status).toBe(201);
    const created = await readSignal(first);
    const again = await userRequest(app, 'POST', '/signals', alice.token, body);
    expect(again.status).toBe(200);
    expect(await readSignal(again)).toEqual(created);
    expect(await countRows(h, 'public.trading_signals', 'client_signal_id = $1', ['strategy-7:2026-11-21T10:15'])).toBe(1);
  });

  it('answers a retry even when the original now fills the position limit', async () => {
    const s = await openTradingSession(h, aliceKey, 5005);
    await h.db.query(asOwner(), 'update public.mt5_sessions set max_open_positions = 1 where id = $1', [s]);
    const body = { ...buy({ session_id: s, volume: undefined, risk_percent: 1, entry_price: 1.1, stop_loss: 1.095 }), client_signal_id: 'limit-retry' };
    const first = await readSignal(await eaRequest(h, app, 'POST', '/signals', aliceKey, body));
    const retry = await eaRequest(h, app, 'POST', '/signals', aliceKey, body);
    expect(retry.status).toBe(200);
    expect((await readSignal(retry)).id).toBe(first.id);
    // A new key on the full session is refused.
    expect((await eaRequest(h, app, 'POST', '/signals', aliceKey, { ...body, client_signal_id: 'limit-new' })).status).toBe(409);
  });

  it('refuses the same key with a different payload (409) and writes nothing', async () => {
    const body = buy({ client_signal_id: 'reused-key' });
    expect((await userRequest(app, 'POST', '/signals', alice.token, body)).status).toBe(201);
    const before = await countRows(h, 'public.trading_signals');
    const changed = await userRequest(app, 'POST', '/signals', alice.token, { ...body, volume: 0.2, type: 'SELL' });
    expect(changed.status).toBe(409);
    expect((await readError(changed)).error.message).toMatch(/differs in type, volume/);
    const fromEa = await eaRequest(h, app, 'POST', '/signals', aliceKey, body);
    expect(fromEa.status).toBe(409);
    expect((await readError(fromEa)).error.message).toMatch(/source/);
    expect(await countRows(h, 'public.trading_signals')).toBe(before);
  });

  it('scopes keys per user: Bob may use the key Alice used', async () => {
    const key = 'shared-name-1';
    expect((await userRequest(app, 'POST', '/signals', alice.token, buy({ client_signal_id: key }))).status).toBe(201);
    const res = await userRequest(app, 'POST', '/signals', bob.token, buy({ client_signal_id: key, session_id: bobSession }));
    expect(res.status).toBe(201);
    expect(await countRows(h, 'public.trading_signals', 'client_signal_id = $1', [key])).toBe(2);
  });

  it('creates one row when two requests with the same key race', async () => {
    const body = buy({ client_signal_id: 'race-1' });
    const results = await Promise.all([1, 2, 3].map(() => userRequest(app, 'POST', '/signals', alice.token, body)));
    expect(results.map((r) => r.status).sort()).toEqual([200, 200, 201]);
    const ids = new Set(await Promise.all(results.map(async (r) => (await readSignal(r)).id)));
    expect(ids.size).toBe(1);
    expect(await countRows(h, 'public.trading_signals', 'client_signal_id = $1', ['race-1'])).toBe(1);
  });
});

describe('POST /signals: credentials', () => {
  it('rejects missing, bad and expired tokens and bad EA signatures with 401, writing nothing', async () => {
    const before = await countRows(h, 'public.trading_signals');
    const body = buy();
    expect((await userRequest(app, 'POST', '/signals', null, body)).status).toBe(401);
    expect((await userRequest(app, 'POST', '/signals', 'not.a.jwt', body)).status).toBe(401);
    expect((await userRequest(app, 'POST', '/signals', await h.tokenFor(alice.id, { expiresInSeconds: -120 }), body)).status).toBe(401);
    expect((await eaRequest(h, app, 'POST', '/signals', { keyId: aliceKey.keyId, secret: bobKey.secret }, body)).status).toBe(401);
    expect((await eaRequest(h, app, 'POST', '/signals', aliceKey, body, { rawBody: JSON.stringify({ ...body, volume: 50 }) })).status).toBe(401);
    const stale = Math.floor(h.clock.now.getTime() / 1000) - 301;
    expect((await eaRequest(h, app, 'POST', '/signals', aliceKey, body, { timestamp: stale })).status).toBe(401);
    expect(await countRows(h, 'public.trading_signals')).toBe(before);
    expect((await eaRequest(h, app, 'POST', '/signals', aliceKey, body, { id: 'create-replay-1' })).status).toBe(201);
    const replay = await eaRequest(h, app, 'POST', '/signals', aliceKey, body, { id: 'create-replay-1' });
    expect(replay.status).toBe(401);
    expect(await countRows(h, 'public.trading_signals')).toBe(before + 1);
  });

  it('refuses an EA key without the signals scope (403)', async () => {
    const pingOnly = await createEaCredential(h, alice, ['ping']);
    const res = await eaRequest(h, app, 'POST', '/signals', pingOnly, buy());
    expect(res.status).toBe(403);
  });
});
