import { randomBytes, randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { PriceFeed, ProvisionedEa, RETCODE, SimulatedAccount, STANDARD_SYMBOLS, type FetchLike, type ProvisionedEvent } from '../src/index.ts';

// The report on the terminal (account health, issue #16) in the simulator: the simulated account's
// connection to the broker (a simulated disconnection) and the provisioned EA's `broker_connected`,
// `backfill_complete` and `history_synced_until` in its POST /trades bodies; against a fake backend.

interface SentBody {
  trades: { ticket: number }[];
  broker_connected?: boolean;
  backfill_complete?: boolean;
  history_synced_until?: string;
}

function fakeBackend() {
  const sent: SentBody[] = [];
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
        max_trades_per_batch: 2,
        registered_at: now,
        server_time: now,
      });
    }
    const request = body as unknown as SentBody;
    sent.push(request);
    return json(200, { accepted: request.trades.map((t) => t.ticket), duplicates: [], cashback_accrued: 0, ownership: 'verified', server_time: now });
  };
  return { fetch, sent };
}

function simAccount() {
  const feed = new PriceFeed(STANDARD_SYMBOLS, { seed: 11 });
  feed.set('EURUSD', 1.1);
  return new SimulatedAccount({ login: 6001, server: 'Sim-Demo', broker: 'Sim', balance: 10_000, feed, firstTicket: 2000 });
}

function provisioned(fetch: FetchLike, broker?: SimulatedAccount) {
  const events: ProvisionedEvent[] = [];
  const ea = new ProvisionedEa({
    config: { external_account_id: randomUUID(), register_url: 'http://backend.test/register', trades_url: 'http://backend.test/trades', provisioning_token: 'token', token_expires_at: undefined },
    identity: { platform: 'MT5', login: 6001, server: 'Sim-Demo' },
    http: { fetch, retry: { attempts: 1 } },
    ...(broker ? { broker } : {}),
    onEvent: (e) => events.push(e),
  });
  return { ea, events };
}

describe('the simulated account’s connection to the broker', () => {
  it('is connected until disconnected; orders fail while it is not', () => {
    const a = simAccount();
    expect(a.brokerConnected).toBe(true);
    a.disconnectFromBroker();
    expect(a.brokerConnected).toBe(false);
    expect(a.marketOrder({ symbol: 'EURUSD', type: 'BUY', volume: 0.1 })).toMatchObject({ ok: false, retcode: RETCODE.CONNECTION });
    a.reconnectToBroker();
    expect(a.marketOrder({ symbol: 'EURUSD', type: 'BUY', volume: 0.1 })).toMatchObject({ ok: true });
  });
});

describe('the provisioned EA’s report', () => {
  it('an EA without a broker link or history source reports nothing (as an older EA)', async () => {
    const backend = fakeBackend();
    const { ea } = provisioned(backend.fetch);
    await ea.run({ ticks: 1 });
    expect(backend.sent).toEqual([{ trades: [] }]);
  });

  it('connected: broker_connected true; the backfill is complete on the request that empties the outbox', async () => {
    const backend = fakeBackend();
    const a = simAccount();
    for (let i = 0; i < 3; i++) {
      const r = a.marketOrder({ symbol: 'EURUSD', type: 'BUY', volume: 0.1 });
      if (r.ok) a.closePosition(r.order);
    }
    const { ea } = provisioned(backend.fetch, a);
    const before = Date.now();
    await ea.run({ ticks: 1, source: () => a.history });
    // max_trades_per_batch 2: two requests, the first leaves one trade behind.
    expect(backend.sent.map((b) => [b.trades.length, b.broker_connected, b.backfill_complete, b.history_synced_until !== undefined])).toEqual([
      [2, true, false, false],
      [1, true, true, true],
    ]);
    const until = Date.parse(backend.sent[1]?.history_synced_until ?? '');
    expect(until).toBeGreaterThanOrEqual(before - 1000);
    expect(until).toBeLessThanOrEqual(Date.now());
  });

  it('disconnected from the broker: no history read, but the (empty) batch still says so', async () => {
    const backend = fakeBackend();
    const a = simAccount();
    const { ea, events } = provisioned(backend.fetch, a);
    await ea.run({ ticks: 1, source: () => a.history }); // connected: backfill done
    a.disconnectFromBroker();
    const r = a.marketOrder({ symbol: 'EURUSD', type: 'BUY', volume: 0.1 });
    expect(r.ok).toBe(false);
    let reads = 0;
    await ea.run({
      ticks: 2,
      intervalMs: 1,
      source: () => {
        reads++;
        return a.history;
      },
    });
    expect(reads).toBe(0);
    expect(backend.sent.slice(1).map((b) => [b.trades.length, b.broker_connected, b.backfill_complete])).toEqual([
      [0, false, true],
      [0, false, true],
    ]);
    expect(events.filter((e) => e.type === 'broker_disconnected')).toHaveLength(2);
    // Reconnected: the history is read again and the report says connected.
    a.reconnectToBroker();
    await ea.run({ ticks: 1, source: () => a.history });
    expect(backend.sent.at(-1)).toMatchObject({ broker_connected: true, backfill_complete: true });
  });

  it('terminalReport: before the first read the history is not reported', () => {
    const a = simAccount();
    const { ea } = provisioned(fakeBackend().fetch, a);
    expect(ea.terminalReport()).toEqual({ broker_connected: true });
  });
});
