import { mkdtemp, readdir, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { asOwner } from '@rubi/db';
import { createLocalServer, type LocalServer } from '@rubi/local-server';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Backend, type Dashboard } from '../../../scripts/demo/backend.ts';
import { decodeText } from '../../../vps-agent/src/ini.ts';
import { provisionFolder } from '../../../vps-agent/src/layout.ts';
import { classifyLine } from '../../../vps-agent/src/terminal-log.ts';
import { MT5_BASE, MT5_EA } from '../../../vps-agent/test/support/harness.ts';
import {
  ConnectorEa,
  EaHttpError,
  FlakyNetwork,
  matching,
  PriceFeed,
  ProvisionedEa,
  SimulatedAccount,
  STANDARD_SYMBOLS,
  type ConnectorEvent,
} from '../src/index.ts';

// The simulated EAs against the real functions, in process: the local server (`npm start`'s
// stand-in for a Supabase project, PGlite in memory) serves every function; the simulators and the
// dashboard reach it through its fetch, so requests are real Requests, signed and parsed.

const URL_BASE = 'http://127.0.0.1:54321';
let server: LocalServer;
let backend: Backend;
let network: FlakyNetwork;
let dashboard: Dashboard;
let tmp: string;

beforeAll(async () => {
  server = await createLocalServer({ publicUrl: URL_BASE, cron: false, logSink: () => {} });
  network = new FlakyNetwork((input, init) => Promise.resolve(server.fetch(new Request(input, init))));
  backend = new Backend(URL_BASE, network.fetch);
  dashboard = await backend.signUp('sim-trader@example.com', 'correct horse battery');
  tmp = await mkdtemp(join(tmpdir(), 'rubi-ea-sim-'));
});
afterAll(async () => {
  await server?.close();
  if (tmp) await rm(tmp, { recursive: true, force: true });
});

describe('connector EA', () => {
  let ea: ConnectorEa;
  let feed: PriceFeed;
  const events: ConnectorEvent[] = [];

  beforeAll(async () => {
    const key = await dashboard.createEaKey('simulated terminal');
    feed = new PriceFeed(STANDARD_SYMBOLS, { seed: 3 });
    feed.set('EURUSD', 1.1);
    const account = new SimulatedAccount({ login: 61_000_001, server: 'RubiBroker-Demo', broker: 'Rubi Broker Ltd', balance: 10_000, feed, firstTicket: 5_000 });
    ea = new ConnectorEa({ functionsUrl: backend.functionsUrl, keyId: key.id, secret: key.secret, account, http: { fetch: network.fetch }, onEvent: (e) => events.push(e) });
  });

  it('connects with its symbols and pings with nothing waiting', async () => {
    const connected = await ea.connect();
    expect(connected.resumed).toBe(false);
    expect((await ea.ping()).pending_signals).toBe(0);
    const [session] = (await dashboard.sessions()).sessions;
    expect(session).toMatchObject({ id: connected.session_id, account_number: 61_000_001, status: 'active', balance: 10_000 });
  });

  it('executes a risk-sized signal once, reports it, and pushes the position', async () => {
    // 1% of 10,000 = $100 at risk over a 200-point stop at $1 per point per lot: 0.5 lots.
    const signal = await dashboard.createSignal({ session_id: ea.sessionId!, type: 'BUY', symbol: 'EURUSD', entry_price: 1.1, stop_loss: 1.098, risk_percent: 1 });
    expect(signal.volume).toBe(0.5);
    feed.set('EURUSD', 1.1); // the tick's random step is undone below: pin the market at entry
    await ea.pollSignals();
    await ea.pushPositions();
    const done = await dashboard.signal(signal.id);
    expect(done).toMatchObject({ status: 'EXECUTED', order_ticket: 5000, volume: 0.5 });
    const open = (await dashboard.positions()).positions;
    expect(open.map((p) => [p.ticket, p.type, p.volume, p.stop_loss])).toEqual([[5000, 'BUY', 0.5, 1.098]]);
    expect(events.map((e) => e.type)).toContain('signal_executed');
  });

  it('resends its kept report when the response was lost, never placing the order twice', async () => {
    const signal = await dashboard.createSignal({ session_id: ea.sessionId!, type: 'SELL', symbol: 'XAUUSD', volume: 0.1 });
    network.dropNextResponses(1, matching('POST', `/signals/${signal.id}/status`));
    await expect(ea.tick()).rejects.toMatchObject({ status: 0, retryable: true });
    expect((await dashboard.signal(signal.id)).status).toBe('EXECUTED'); // the server got it; the EA does not know
    expect(ea.account.positions.filter((p) => p.symbol === 'XAUUSD')).toHaveLength(1);
    await ea.tick(); // a report is still owed: poll, get the signal again, resend the kept report
    expect(ea.account.positions.filter((p) => p.symbol === 'XAUUSD')).toHaveLength(1);
    expect(ea.counters).toMatchObject({ signals_received: 2, orders_executed: 2 });
    expect(network.dropped).toBe(1);
  });

  it('reports a broker refusal as REJECTED with its retcode', async () => {
    const signal = await dashboard.createSignal({ session_id: ea.sessionId!, type: 'CLOSE_SELL', symbol: 'EURUSD' });
    await ea.tick();
    expect(await dashboard.signal(signal.id)).toMatchObject({ status: 'REJECTED', status_message: 'no open SELL position on EURUSD' });
  });

  it('closes on CLOSE_BUY: the position shows closed on the dashboard', async () => {
    const signal = await dashboard.createSignal({ session_id: ea.sessionId!, type: 'CLOSE_BUY', symbol: 'EURUSD' });
    await ea.tick();
    expect((await dashboard.signal(signal.id)).status).toBe('EXECUTED');
    const all = (await dashboard.positions({ status: 'all' })).positions;
    expect(all.find((p) => p.ticket === 5000)?.status).toBe('closed');
    expect(ea.account.history.map((t) => t.ticket)).toContain(5000);
  });

  it('reopens a session the server closed, then disconnects with its counters', async () => {
    const first = ea.sessionId!;
    await server.db.query(asOwner(), `update public.mt5_sessions set status = 'stale' where id = $1`, [first]);
    await server.db.query(asOwner(), `update public.mt5_sessions set status = 'disconnected', disconnected_at = now() where id = $1`, [first]);
    await ea.tick();
    expect(ea.sessionId).not.toBe(first);
    const second = ea.sessionId!;
    await ea.disconnect();
    const sessions = (await dashboard.sessions()).sessions;
    expect(sessions.find((s) => s.id === second)).toMatchObject({ status: 'disconnected', counters: { orders_executed: 3 } });
  });
});

describe('provisioned EA', () => {
  let accountId: string;
  let folder: string;
  const login = 62_000_001;

  beforeAll(async () => {
    const host = await backend.operator(server.serviceRoleKey).createVpsHost('sim-host', { capacity: 2 });
    const broker = (await dashboard.brokers()).brokers.find((b) => b.name === 'IC Markets')!;
    const account = await dashboard.registerTradingAccount({ broker_id: broker.id, platform: 'MT5', login, server: 'ICMarketsSC-Demo', investor_password: 'Investor-Sim-1' });
    accountId = account.id;
    const vps = (path: string, body?: unknown) =>
      server.fetch(
        new Request(`${URL_BASE}/functions/v1/vps${path}`, {
          method: 'POST',
          headers: { 'x-vps-api-key': host.api_key, 'content-type': 'application/json' },
          ...(body === undefined ? {} : { body: JSON.stringify(body) }),
        }),
      );
    expect((await vps('/claim', { max: 1 })).status).toBe(200);
    const pkg = (await (await vps(`/accounts/${accountId}/launch-package`)).json()) as Record<string, string>;
    // The folder exactly as rubi-vps-agent builds it (its own code), from the launch package.
    const built = await provisionFolder({
      platform: 'MT5',
      basePath: MT5_BASE,
      eaPath: MT5_EA,
      terminalsBasePath: join(tmp, 'terminals'),
      externalAccountId: pkg.external_account_id!,
      login,
      password: pkg.investor_password!,
      server: pkg.server!,
      symbol: 'EURUSD',
      period: 'H1',
      ea: { external_account_id: pkg.external_account_id!, register_url: pkg.register_url!, trades_url: pkg.trades_url!, provisioning_token: pkg.provisioning_token!, token_expires_at: pkg.token_expires_at },
    });
    folder = built.folder;
  });

  const trade = (ticket: number, overrides: Record<string, unknown> = {}) => ({
    ticket,
    symbol: 'EURUSD',
    type: 'BUY' as const,
    lots: 1,
    open_time: new Date(Date.now() - 7200_000).toISOString(),
    close_time: new Date(Date.now() - 3600_000).toISOString(),
    open_price: 1.1,
    close_price: 1.101,
    commission: -7,
    swap: 0,
    profit: 100,
    ...overrides,
  });

  let ea: ProvisionedEa;
  const stateFile = () => join(tmp, 'ea-state.json');

  it('reads the files the agent wrote and registers with the one-time token, which is then spent', async () => {
    ea = await ProvisionedEa.fromTerminalFolder(folder, { stateFile: stateFile(), http: { fetch: network.fetch } });
    expect(ea.identity).toEqual({ platform: 'MT5', login, server: 'ICMarketsSC-Demo' });
    expect(ea.registered).toBe(false);
    const res = await ea.register();
    expect(res.status).toBe('connected');
    expect((await stat(stateFile())).mode & 0o777).toBe(0o600);
    // It says so in the terminal's EA log, in MT5's format, where the agent recognises it.
    const logs = join(folder, 'MQL5', 'Logs');
    const [logFile] = await readdir(logs);
    const { text, encoding } = decodeText(await readFile(join(logs, logFile!)));
    expect(encoding).toBe('utf16le');
    const line = text.split('\r\n').find((l) => l.includes('registered'));
    expect(line).toMatch(/^CS\t0\t\d\d:\d\d:\d\d\.\d{3}\tRubiEA \(EURUSD,H1\)\tregistered with the backend/);
    expect(classifyLine(line!)).toBe('ea_registered');
    const again = await ProvisionedEa.fromTerminalFolder(folder, { http: { fetch: network.fetch } });
    await expect(again.register()).rejects.toMatchObject({ status: 401 });
  });

  it('keeps trades in its outbox until acknowledged: a lost response is resent and counted once', async () => {
    expect(await ea.enqueue([trade(1), trade(2), trade(3, { lots: 0.5 })])).toBe(3);
    expect(await ea.enqueue([trade(1)])).toBe(0);
    network.dropNextResponses(1, matching('POST', '/functions/v1/trades'));
    const lost = await ea.flush();
    expect(lost.error).toBeInstanceOf(EaHttpError);
    expect(lost.remaining).toBe(3);
    // A restart: the outbox and the secret come back from the state file.
    ea = await ProvisionedEa.fromTerminalFolder(folder, { stateFile: stateFile(), http: { fetch: network.fetch } });
    expect(ea.registered).toBe(true);
    expect(ea.outbox.map((t) => t.ticket)).toEqual([1, 2, 3]);
    const resent = await ea.flush();
    expect(resent).toMatchObject({ accepted: [], duplicates: [1, 2, 3], cashbackAccrued: 0, remaining: 0 });
    expect(await ea.enqueue([trade(2)])).toBe(0); // acknowledged tickets are not queued again
    expect((await dashboard.tradingAccount(accountId)).figures).toMatchObject({ trades: 3, lots: 2.5, cashback_accrued: 8.75 });
    expect(JSON.parse(await readFile(stateFile(), 'utf8'))).toMatchObject({ outbox: [], acknowledged: [1, 2, 3] });
  });

  it('sets a malformed trade aside and delivers the rest; an empty batch keeps the account connected', async () => {
    await ea.enqueue([trade(4), trade(5, { close_time: new Date(Date.now() - 3 * 3600_000).toISOString() }), trade(6)]);
    const result = await ea.flush();
    expect(result).toMatchObject({ accepted: [4, 6], remaining: 0 });
    expect(ea.setAsideTrades.map((t) => t.ticket)).toEqual([5]);
    await server.db.query(asOwner(), `update public.trading_accounts set status = 'disconnected' where id = $1`, [accountId]);
    expect(await ea.flush()).toMatchObject({ sent: 0, accepted: [], duplicates: [] });
    expect((await dashboard.tradingAccount(accountId)).status).toBe('connected');
  });
});
