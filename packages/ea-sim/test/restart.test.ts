import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { asOwner } from '@rubi/db';
import { createLocalServer, type LocalServer } from '@rubi/local-server';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Backend, type Dashboard } from '../../../scripts/demo/backend.ts';
import {
  ConnectorEa,
  ConnectorJournal,
  connectorTag,
  FlakyNetwork,
  matching,
  PriceFeed,
  SimulatedAccount,
  STANDARD_SYMBOLS,
  type ConnectorEaOptions,
  type ConnectorEvent,
} from '../src/index.ts';

// The connector EA across a crash, against the real functions in process (PGlite), as the MQL EA
// does it (mql/Include/Rubi/Connector.mqh): the journal and the account outlive the EA; a new EA
// over the same journal file and account state is the restarted terminal.

const URL_BASE = 'http://127.0.0.1:54321';
const FAST_RETRY = { baseDelayMs: 2, maxDelayMs: 10 };
let server: LocalServer;
let backend: Backend;
let network: FlakyNetwork;
let dashboard: Dashboard;
let key: { id: string; secret: string };
let tmp: string;

beforeAll(async () => {
  server = await createLocalServer({ publicUrl: URL_BASE, cron: false, logSink: () => {} });
  network = new FlakyNetwork(async (input, init) => withDate(await server.fetch(new Request(input, init))));
  backend = new Backend(URL_BASE, network.fetch);
  dashboard = await backend.signUp('sim-restart@example.com', 'correct horse battery');
  key = await dashboard.createEaKey('restarting terminal');
  tmp = await mkdtemp(join(tmpdir(), 'rubi-ea-sim-restart-'));
});
afterAll(async () => {
  await server?.close();
  if (tmp) await rm(tmp, { recursive: true, force: true });
});
function withDate(res: Response): Response {
  if (res.headers.has('date')) return res;
  const headers = new Headers(res.headers);
  headers.set('date', new Date().toUTCString());
  return new Response(res.body, { status: res.status, statusText: res.statusText, headers });
}

class Crash extends Error {}

/** A terminal: its account state and journal files; `start` is the EA started (again) on it. */
function terminal(login: number) {
  const stateFile = join(tmp, `account-${login}.json`);
  const journal = join(tmp, `connector-${login}.journal`);
  const events: ConnectorEvent[] = [];
  const start = (extra: Partial<ConnectorEaOptions> = {}) => {
    const feed = new PriceFeed(STANDARD_SYMBOLS, { seed: 5 });
    feed.set('EURUSD', 1.1);
    const account = new SimulatedAccount({ login, server: 'RubiBroker-Demo', broker: 'Rubi Broker Ltd', balance: 10_000, feed, firstTicket: 9_000, stateFile });
    return new ConnectorEa({
      functionsUrl: backend.functionsUrl,
      keyId: key.id,
      secret: key.secret,
      account,
      journal,
      http: { fetch: network.fetch, retry: FAST_RETRY },
      onEvent: (e) => events.push(e),
      ...extra,
    });
  };
  return { start, journal, events };
}

async function ordersOf(signalId: string): Promise<number> {
  const [row] = await server.db.query<{ n: number }>(asOwner(), 'select count(*)::int as n from public.trading_orders where signal_id = $1', [signalId]);
  return row!.n;
}

describe('connector EA restarted over its journal', () => {
  for (const how of ['a crash (no disconnect)', 'a clean disconnect'] as const) {
    it(`the order filled, the report never reached the server, then ${how}: the restarted EA reports EXECUTED with the first ticket, one order`, async () => {
      const t = terminal(how === 'a clean disconnect' ? 62_000_002 : 62_000_001);
      const first = t.start();
      const session = (await first.connect()).session_id;
      const signal = await dashboard.createSignal({ session_id: session, type: 'BUY', symbol: 'EURUSD', volume: 0.2 });
      // Every attempt at the report fails: the EA gives up with the outcome kept (here: in its journal).
      network.failNextRequests(3, matching('POST', `/signals/${signal.id}/status`));
      await expect(first.pollSignals()).rejects.toMatchObject({ status: 0 });
      expect(first.account.positions.map((p) => [p.ticket, p.comment])).toEqual([[9_000, connectorTag(signal.id)]]);
      expect((await dashboard.signal(signal.id)).status).toBe('DELIVERED');
      if (how === 'a clean disconnect') await first.disconnect();

      const second = t.start(); // the restarted terminal: the same journal and account files
      expect(second.account.positions.map((p) => p.ticket)).toEqual([9_000]);
      const reconnected = await second.connect();
      expect(reconnected.resumed).toBe(how !== 'a clean disconnect');
      expect(reconnected.session_id === session).toBe(how !== 'a clean disconnect');
      await second.pollSignals(); // the DELIVERED signal followed the terminal: redelivered, not executed again
      expect(await dashboard.signal(signal.id)).toMatchObject({ status: 'EXECUTED', order_ticket: 9_000, volume: 0.2 });
      expect(second.account.positions).toHaveLength(1);
      expect(second.account.deals.filter((d) => d.entry === 'IN')).toHaveLength(1);
      expect(await ordersOf(signal.id)).toBe(1);
      expect(second.journal.stateOf(signal.id)).toBe('reported');
      expect(new ConnectorJournal(t.journal).stateOf(signal.id)).toBe('reported');
      expect(second.counters).toMatchObject({ signals_received: 0, orders_executed: 0 });
      await second.disconnect();
    });
  }

  it('a crash after the order filled, before its outcome was journaled: found in the history by its tag, EXECUTED with that ticket, not sent again', async () => {
    const t = terminal(62_000_003);
    const first = t.start({
      hooks: {
        afterOrder: () => {
          throw new Crash('the terminal died after the fill');
        },
      },
    });
    const session = (await first.connect()).session_id;
    const signal = await dashboard.createSignal({ session_id: session, type: 'SELL', symbol: 'EURUSD', volume: 0.1 });
    await expect(first.pollSignals()).rejects.toBeInstanceOf(Crash);
    expect(new ConnectorJournal(t.journal).stateOf(signal.id)).toBe('sending');

    const second = t.start();
    expect((await second.connect()).resumed).toBe(true);
    await second.pollSignals();
    const done = await dashboard.signal(signal.id);
    expect(done).toMatchObject({ status: 'EXECUTED', order_ticket: 9_000, volume: 0.1 });
    expect(done.status_message).toContain(`order found in the terminal's history after a restart (deal 1009000, comment ${connectorTag(signal.id)}): not sent again`);
    expect(second.account.positions.map((p) => p.ticket)).toEqual([9_000]);
    expect(await ordersOf(signal.id)).toBe(1);
    expect(t.events.filter((e) => e.type === 'signal_recovered')).toHaveLength(1);
    // A later tick finds nothing left to do.
    await second.tick();
    expect(second.account.positions).toHaveLength(1);
    expect(second.journal.unsettled()).toBe(0);
  });

  it('a crash after "sending" was journaled, before the order left: UNKNOWN (outcome unknown), no order sent', async () => {
    const t = terminal(62_000_004);
    const first = t.start({
      hooks: {
        beforeOrder: () => {
          throw new Crash('the terminal died before the order left');
        },
      },
    });
    const session = (await first.connect()).session_id;
    const signal = await dashboard.createSignal({ session_id: session, type: 'BUY', symbol: 'EURUSD', volume: 0.1 });
    await expect(first.pollSignals()).rejects.toBeInstanceOf(Crash);
    await first.disconnect();

    const second = t.start();
    expect((await second.connect()).resumed).toBe(false);
    await second.pollSignals();
    const done = await dashboard.signal(signal.id);
    expect(done.status).toBe('UNKNOWN');
    expect(done.status_message).toBe(
      `outcome unknown: the EA restarted while this signal was being sent; no order with magic 20261121 and comment ${connectorTag(signal.id)} was found in the terminal's history or positions; the order was not sent again - check the account before sending the signal again`,
    );
    expect(second.account.positions).toHaveLength(0);
    expect(second.account.deals).toHaveLength(0);
    expect(second.journal.stateOf(signal.id)).toBe('reported');
    expect(second.counters.errors).toBe(1);
    // The journal file is the MQL EA's line format: "<fnv1a hex>\t<id>\t<json>".
    const lines = (await readFile(t.journal, 'utf8')).trimEnd().split('\n');
    expect(lines.map((l) => [l.split('\t')[1], (JSON.parse(l.split('\t').slice(2).join('\t')) as { state: string }).state])).toEqual([
      [signal.id, 'sending'],
      [signal.id, 'sent'],
      [signal.id, 'reported'],
    ]);
    expect(lines[0]).toMatch(/^[0-9a-f]{8}\t/);
  });
});
