import { randomBytes, randomUUID } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Ownership } from '@rubi/contracts/trades.ts';
import { ownershipCodesIn, PriceFeed, ProvisionedEa, SimulatedAccount, STANDARD_SYMBOLS, type FetchLike, type ProvisionedEvent } from '../src/index.ts';

// The ownership proof (issue #15) in the simulator: the simulated account's pending orders (placed,
// deleted into the order history) and the provisioned EA's scan of their comments, sent as
// `ownership_codes` until the answer's `ownership` is `verified`; against a fake backend (fetch),
// which answers `ownership` as the registration's state, or not at all (an older backend).

const CODE = 'RUBI-7KQ2X9MD';
const REGISTERED = new Date('2026-11-20T09:00:00Z');
const T0 = new Date('2026-11-20T10:00:00Z');

function simAccount() {
  let now = T0;
  const feed = new PriceFeed(STANDARD_SYMBOLS, { seed: 7, clock: () => now });
  feed.set('EURUSD', 1.1);
  const a = new SimulatedAccount({ login: 5001, server: 'Sim-Demo', broker: 'Sim', balance: 10_000, feed, firstTicket: 1000 });
  return { a, at: (d: Date) => (now = d) };
}

interface FakeOptions {
  /** The answer's ownership for a request's codes; undefined: an older backend without the field. */
  ownership?: (codes: string[] | undefined) => Ownership;
  /** An older backend whose strict body refuses ownership_codes. */
  refuseCodes?: boolean;
}

function fakeBackend(o: FakeOptions = {}) {
  const trades: { trades: { ticket: number }[]; ownership_codes?: string[] }[] = [];
  const json = (status: number, body: unknown) => new Response(JSON.stringify(body), { status, headers: { 'content-type': 'application/json', date: new Date().toUTCString() } });
  const fetch: FetchLike = async (input, init) => {
    const body = JSON.parse(String(init.body)) as Record<string, unknown>;
    const now = new Date().toISOString();
    if (new URL(input).pathname.endsWith('/register')) {
      return json(200, {
        external_account_id: body.external_account_id,
        api_secret: `whsec_${randomBytes(32).toString('base64')}`,
        status: 'connected',
        account_header: 'X-Account-Id',
        signature_header: 'X-Trade-Signature',
        poll_interval_seconds: 60,
        max_trades_per_batch: 500,
        registered_at: REGISTERED.toISOString(),
        server_time: now,
      });
    }
    const request = body as (typeof trades)[number];
    trades.push(request);
    if (o.refuseCodes && request.ownership_codes !== undefined) {
      return json(400, { error: { code: 'validation_failed', message: 'Invalid request', details: [{ path: 'body', message: 'Unrecognized key: "ownership_codes"' }] } });
    }
    const answer = { accepted: request.trades.map((t) => t.ticket), duplicates: [], cashback_accrued: 0, server_time: now };
    return json(200, o.ownership ? { ...answer, ownership: o.ownership(request.ownership_codes) } : answer);
  };
  return { fetch, trades };
}

let tmp: string;
beforeAll(async () => {
  tmp = await mkdtemp(join(tmpdir(), 'rubi-ea-sim-ownership-'));
});
afterAll(async () => {
  await rm(tmp, { recursive: true, force: true });
});

function provisioned(fetch: FetchLike, stateFile?: string) {
  const events: ProvisionedEvent[] = [];
  const ea = new ProvisionedEa({
    config: { external_account_id: randomUUID(), register_url: 'http://backend.test/register', trades_url: 'http://backend.test/trades', provisioning_token: 'token', token_expires_at: undefined },
    identity: { platform: 'MT5', login: 5001, server: 'Sim-Demo' },
    http: { fetch, retry: { attempts: 1 } },
    ...(stateFile ? { stateFile } : {}),
    onEvent: (e) => events.push(e),
  });
  return { ea, events };
}

describe('ownership codes in order comments', () => {
  it('matches RUBI- + 8 Crockford base32 anywhere, case-insensitively, upper-cased, deduplicated, at most 10', () => {
    expect(ownershipCodesIn([CODE, `proof:${CODE.toLowerCase()}(1)`, 'RUBI-7KQ2X9M', 'RUBI-7KQ2X9MI', 'RUBI-7KQ2X9MO RUBI-7KQ2X9MU'])).toEqual([CODE]);
    expect(ownershipCodesIn([`x${CODE}Z and RUBI-ABCDEFGH`])).toEqual([CODE, 'RUBI-ABCDEFGH']);
    const many = Array.from({ length: 12 }, (_, i) => `RUBI-${String(i).padStart(8, '0')}`);
    expect(ownershipCodesIn(many)).toEqual(many.slice(0, 10));
  });
});

describe('simulated account: pending orders', () => {
  it('places a pending order far from the market, deletes it into the order history, and lists the comments', () => {
    const { a, at } = simAccount();
    const placed = a.placePendingOrder({ symbol: 'EURUSD', comment: `${CODE} and more text than a broker keeps` });
    expect(placed).toEqual({ ok: true, order: 1000 });
    expect(a.pendingOrders[0]).toMatchObject({ type: 'BUY_LIMIT', volume: 0.01, comment: `${CODE} and more text tha`, done_at: null });
    expect(a.pendingOrders[0]!.price).toBeLessThan(0.6);
    expect(a.placePendingOrder({ symbol: 'EURUSD', type: 'BUY_LIMIT', price: 1.2 })).toMatchObject({ ok: false });
    expect(a.placePendingOrder({ symbol: 'NOPE' })).toMatchObject({ ok: false });
    at(new Date(T0.getTime() + 60_000));
    expect(a.deletePendingOrder(1000)).toBe(true);
    expect(a.deletePendingOrder(1000)).toBe(false);
    expect(a.pendingOrders).toEqual([]);
    expect(a.orderHistory[0]).toMatchObject({ ticket: 1000, done_at: new Date(T0.getTime() + 60_000) });
    a.placePendingOrder({ symbol: 'EURUSD', type: 'SELL_STOP', comment: 'open one' });
    expect(a.orderComments(T0)).toEqual(['open one', `${CODE} and more text tha`]);
    expect(a.orderComments(new Date(T0.getTime() + 3_600_000))).toEqual(['open one']); // the deleted one is older than `since`
  });

  it('keeps its pending orders and order history in the state file', async () => {
    const stateFile = join(tmp, 'account.json');
    const feed = new PriceFeed(STANDARD_SYMBOLS, { seed: 7, clock: () => T0 });
    const first = new SimulatedAccount({ login: 5002, server: 'Sim-Demo', broker: 'Sim', balance: 10_000, feed, firstTicket: 2000, stateFile });
    first.placePendingOrder({ symbol: 'EURUSD', comment: 'kept' });
    const gone = first.placePendingOrder({ symbol: 'EURUSD', comment: CODE });
    if (gone.ok) first.deletePendingOrder(gone.order);
    const again = new SimulatedAccount({ login: 5002, server: 'Sim-Demo', broker: 'Sim', balance: 10_000, feed, stateFile });
    expect(again.pendingOrders.map((o) => o.comment)).toEqual(['kept']);
    expect(again.orderHistory[0]).toMatchObject({ comment: CODE, placed_at: T0, done_at: T0 });
  });
});

describe('provisioned EA: the ownership proof', () => {
  it('sends the codes of pending and deleted orders until verified, then neither reads nor sends them; verified is kept across a restart', async () => {
    const proven = { yes: false };
    const backend = fakeBackend({ ownership: (codes) => ((proven.yes ||= codes?.includes(CODE) ?? false) ? 'verified' : 'unverified') });
    const stateFile = join(tmp, 'ea-state.json');
    const { a } = simAccount();
    const { ea, events } = provisioned(backend.fetch, stateFile);
    await ea.run({ ticks: 1, orders: a }); // registers; nothing to prove yet
    expect(ea.ownership).toBe('unverified');

    a.placePendingOrder({ symbol: 'EURUSD', comment: 'RUBI-7KQ2X9MI' }); // a near miss
    a.placePendingOrder({ symbol: 'EURUSD', comment: 'proof rubi-7kq2x9mx' }); // the wrong code, lower case
    await ea.scanOwnership(a);
    expect((await ea.flush()).ownership).toBe('unverified');

    const placed = a.placePendingOrder({ symbol: 'EURUSD', comment: CODE });
    if (placed.ok) a.deletePendingOrder(placed.order); // the trader deletes it at once
    expect(await ea.scanOwnership(a)).toEqual(['RUBI-7KQ2X9MX', CODE]);
    expect(await ea.flush()).toMatchObject({ ownership: 'verified' });
    expect(ea.ownershipCodes).toEqual([]);
    expect(await ea.scanOwnership(a)).toEqual([]);
    await ea.flush();

    expect(backend.trades.map((t) => t.ownership_codes)).toEqual([undefined, ['RUBI-7KQ2X9MX'], ['RUBI-7KQ2X9MX', CODE], undefined]);
    expect(events.filter((e) => e.type === 'ownership')).toEqual([
      { type: 'ownership', ownership: 'unverified' },
      { type: 'ownership', ownership: 'verified' },
    ]);
    expect(events.filter((e) => e.type === 'ownership_codes_found')).toEqual([
      { type: 'ownership_codes_found', codes: ['RUBI-7KQ2X9MX'] },
      { type: 'ownership_codes_found', codes: [CODE] },
    ]);
    expect(JSON.parse(await readFile(stateFile, 'utf8'))).toMatchObject({ ownership: 'verified', registered_at: REGISTERED.toISOString() });

    // A restart: verified comes back from the state file; nothing is read or sent
    const restarted = new ProvisionedEa({ config: ea.config, identity: ea.identity, http: { fetch: backend.fetch }, stateFile });
    await restarted.load();
    expect(restarted.ownership).toBe('verified');
    expect(await restarted.scanOwnership(a)).toEqual([]);
    await restarted.flush();
    expect(backend.trades.at(-1)!.ownership_codes).toBeUndefined();
  });

  it('reads the history only from registered_at (less the widest server offset)', async () => {
    const { a, at } = simAccount();
    at(new Date(REGISTERED.getTime() - 15 * 3600_000));
    const old = a.placePendingOrder({ symbol: 'EURUSD', comment: 'RUBI-01DC0DE0' }); // an earlier registration's code
    if (old.ok) a.deletePendingOrder(old.order);
    at(T0);
    const backend = fakeBackend({ ownership: () => 'unverified' });
    const { ea } = provisioned(backend.fetch);
    await ea.register();
    expect(await ea.scanOwnership(a)).toEqual([]);
  });

  it('owned_elsewhere is kept and the codes still go; an answer without the field (an older backend) changes nothing', async () => {
    const { a } = simAccount();
    a.placePendingOrder({ symbol: 'EURUSD', comment: CODE });
    const elsewhere = fakeBackend({ ownership: () => 'owned_elsewhere' });
    const first = provisioned(elsewhere.fetch);
    await first.ea.run({ ticks: 2, intervalMs: 1, orders: a });
    expect(first.ea.ownership).toBe('owned_elsewhere');
    expect(elsewhere.trades.map((t) => t.ownership_codes)).toEqual([[CODE], [CODE]]);

    const older = fakeBackend();
    const second = provisioned(older.fetch);
    await second.ea.run({ ticks: 2, intervalMs: 1, orders: a });
    expect(second.ea.ownership).toBeNull();
    expect(older.trades.map((t) => t.ownership_codes)).toEqual([[CODE], [CODE]]);
  });

  it('a backend that refuses ownership_codes (strict, older than the proof): the batch goes again without them, and so do the next', async () => {
    const { a } = simAccount();
    a.placePendingOrder({ symbol: 'EURUSD', comment: CODE });
    const backend = fakeBackend({ refuseCodes: true });
    const { ea, events } = provisioned(backend.fetch);
    await ea.register();
    await ea.enqueue([{ ticket: 7, symbol: 'EURUSD', type: 'BUY', lots: 0.1, open_time: T0.toISOString(), close_time: T0.toISOString(), open_price: 1.1, close_price: 1.1, commission: 0, swap: 0, profit: 0 }]);
    await ea.scanOwnership(a);
    expect(await ea.flush()).toMatchObject({ accepted: [7], remaining: 0 });
    await ea.scanOwnership(a);
    await ea.flush();
    expect(backend.trades.map((t) => [t.trades.length, t.ownership_codes])).toEqual([
      [1, [CODE]],
      [1, undefined],
      [0, undefined],
    ]);
    expect(events.filter((e) => e.type === 'ownership_codes_refused')).toHaveLength(1);
  });
});
