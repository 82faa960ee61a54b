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
  type EaConfigFile,
  type FetchLike,
} from '../src/index.ts';

// The simulated EAs against the real functions, in process: the local server (`npm start`'s
// stand-in for a Supabase project, PGlite in memory) serves every function; the simulators and the
// dashboard reach it through its fetch, so requests are real Requests, signed and parsed. On the
// wire every response carries a Date header (Deno.serve adds it: `npm start`, Supabase's Edge
// Runtime); in process there is no transport, so `withDate` adds it as the transport would.

const URL_BASE = 'http://127.0.0.1:54321';
let server: LocalServer;
let backend: Backend;
let network: FlakyNetwork;
let dashboard: Dashboard;
let tmp: string;

beforeAll(async () => {
  server = await createLocalServer({ publicUrl: URL_BASE, cron: false, logSink: () => {} });
  network = new FlakyNetwork(async (input, init) => withDate(await server.fetch(new Request(input, init))));
  backend = new Backend(URL_BASE, network.fetch);
  dashboard = await backend.signUp('sim-trader@example.com', 'correct horse battery');
  tmp = await mkdtemp(join(tmpdir(), 'rubi-ea-sim-'));
});
function withDate(res: Response): Response {
  if (res.headers.has('date')) return res;
  const headers = new Headers(res.headers);
  headers.set('date', new Date().toUTCString());
  return new Response(res.body, { status: res.status, statusText: res.statusText, headers });
}

/** The retries of a signed request without the real EA's seconds of backoff. */
const FAST_RETRY = { baseDelayMs: 2, maxDelayMs: 10 };

interface Sent {
  method: string;
  path: string;
  id: string | null;
  status: number;
  message?: string;
}

/** What an EA sent and what came back (0: no response), seen from the EA's side of the network. */
function recorder(inner: FetchLike): { fetch: FetchLike; sent: Sent[] } {
  const sent: Sent[] = [];
  const fetch: FetchLike = async (input, init) => {
    const entry: Sent = { method: init.method ?? 'GET', path: new URL(input).pathname.replace('/functions/v1', ''), id: new Headers(init.headers).get('x-trade-id'), status: 0 };
    sent.push(entry);
    const res = await inner(input, init);
    entry.status = res.status;
    if (!res.ok) entry.message = ((await res.clone().json()) as { error?: { message?: string } }).error?.message;
    return res;
  };
  return { fetch, sent };
}

afterAll(async () => {
  await server?.close();
  if (tmp) await rm(tmp, { recursive: true, force: true });
});

describe('connector EA', () => {
  let ea: ConnectorEa;
  let feed: PriceFeed;
  const events: ConnectorEvent[] = [];
  const log = recorder((input, init) => network.fetch(input, init));

  beforeAll(async () => {
    const key = await dashboard.createEaKey('simulated terminal');
    feed = new PriceFeed(STANDARD_SYMBOLS, { seed: 3 });
    feed.set('EURUSD', 1.1);
    const account = new SimulatedAccount({ login: 61_000_001, server: 'RubiBroker-Demo', broker: 'Rubi Broker Ltd', balance: 10_000, feed, firstTicket: 5_000 });
    ea = new ConnectorEa({
      functionsUrl: backend.functionsUrl,
      keyId: key.id,
      secret: key.secret,
      account,
      http: { fetch: log.fetch, retry: FAST_RETRY },
      onEvent: (e) => events.push(e),
    });
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

  it('a report whose answer was lost: the retry under the same id is refused as a replay, so it landed; a fresh id gets the answer', async () => {
    const signal = await dashboard.createSignal({ session_id: ea.sessionId!, type: 'BUY', symbol: 'GBPUSD', volume: 0.1 });
    network.dropNextResponses(1, matching('POST', `/signals/${signal.id}/status`));
    const before = log.sent.length;
    await ea.tick();
    const reports = log.sent.slice(before).filter((r) => r.path.endsWith('/status'));
    expect(reports.map((r) => [r.status, r.message])).toEqual([
      [0, undefined],
      [401, 'replayed request (X-Trade-Id already used)'],
      [200, undefined],
    ]);
    expect(reports[1]!.id).toBe(reports[0]!.id);
    expect(reports[2]!.id).not.toBe(reports[0]!.id);
    expect(events.filter((e) => e.type === 'resent_fresh_id')).toHaveLength(1);
    expect(await dashboard.signal(signal.id)).toMatchObject({ status: 'EXECUTED' });
    const [orders] = await server.db.query<{ n: number }>(asOwner(), 'select count(*)::int as n from public.trading_orders where signal_id = $1', [signal.id]);
    expect(orders!.n).toBe(1);
    expect(ea.account.positions.filter((p) => p.symbol === 'GBPUSD')).toHaveLength(1);
    expect(network.dropped).toBe(1);
  });

  it('resends its kept report on a later tick when every attempt lost its answer, never placing the order twice', async () => {
    const signal = await dashboard.createSignal({ session_id: ea.sessionId!, type: 'SELL', symbol: 'XAUUSD', volume: 0.1 });
    network.dropNextResponses(3, matching('POST', `/signals/${signal.id}/status`));
    await expect(ea.tick()).rejects.toMatchObject({ status: 0, retryable: true, attempts: 3 });
    expect((await dashboard.signal(signal.id)).status).toBe('EXECUTED'); // the server got it; the EA does not know
    expect(ea.account.positions.filter((p) => p.symbol === 'XAUUSD')).toHaveLength(1);
    await ea.tick(); // a report is still owed: poll, get the signal again, resend the kept report
    expect(ea.account.positions.filter((p) => p.symbol === 'XAUUSD')).toHaveLength(1);
    expect(ea.counters).toMatchObject({ signals_received: 3, orders_executed: 3 });
    expect(network.dropped).toBe(4);
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

  it('a poll whose answer was lost, then the signal expired: the ping still says it waits; it is reported REJECTED, not executed', async () => {
    const gbp = () => ea.account.positions.filter((p) => p.symbol === 'GBPUSD').length;
    const before = gbp();
    const signal = await dashboard.createSignal({ session_id: ea.sessionId!, type: 'BUY', symbol: 'GBPUSD', volume: 0.1, ttl_seconds: 3600 });
    network.dropNextResponses(3, matching('GET', '/signals/pending'));
    await expect(ea.tick()).rejects.toMatchObject({ status: 0, retryable: true, attempts: 3 });
    expect((await dashboard.signal(signal.id)).status).toBe('DELIVERED'); // delivered; the EA never saw it
    await server.db.query(asOwner(), `update public.trading_signals set expires_at = now() - interval '1 second' where id = $1`, [signal.id]);
    expect((await ea.ping()).pending_signals).toBe(1); // the poll would hand it back: the EA must poll
    await ea.tick();
    expect(await dashboard.signal(signal.id)).toMatchObject({ status: 'REJECTED' });
    expect((await dashboard.signal(signal.id)).status_message).toMatch(/^the signal expired at .* before it was executed/);
    expect(gbp()).toBe(before);
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
    expect(sessions.find((s) => s.id === second)).toMatchObject({ status: 'disconnected', counters: { orders_executed: 4 } });
  });
});

/** A trading account registered on the dashboard, claimed by a VPS host: its launch package. */
async function launchPackage(login: number): Promise<{ accountId: string; pkg: Record<string, string> }> {
  const host = await backend.operator(server.serviceRoleKey).createVpsHost(`sim-host-${login}`, { capacity: 1 });
  const broker = (await dashboard.brokers()).brokers.find((b) => b.name === 'IC Markets')!;
  const account = await dashboard.registerTradingAccount({ broker_id: broker.id, platform: 'MT5', login, server: 'ICMarketsSC-Demo', investor_password: 'Investor-Sim-1' });
  const vps = (path: string, body?: unknown) =>
    server.fetch(
      new Request(`${URL_BASE}/functions/v1/vps${path}`, {
        method: 'POST',
        headers: { 'x-vps-api-key': host.api_key, 'content-type': 'application/json' },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      }),
    );
  expect((await vps('/claim', { max: 1 })).status).toBe(200);
  const pkg = (await (await vps(`/accounts/${account.id}/launch-package`)).json()) as Record<string, string>;
  return { accountId: account.id, pkg };
}

const eaConfigOf = (pkg: Record<string, string>): EaConfigFile => ({
  external_account_id: pkg.external_account_id!,
  register_url: pkg.register_url!,
  trades_url: pkg.trades_url!,
  provisioning_token: pkg.provisioning_token!,
  token_expires_at: pkg.token_expires_at,
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

describe('provisioned EA', () => {
  let accountId: string;
  let folder: string;
  const login = 62_000_001;

  beforeAll(async () => {
    const launched = await launchPackage(login);
    accountId = launched.accountId;
    const pkg = launched.pkg;
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
      ea: eaConfigOf(pkg),
    });
    folder = built.folder;
  });

  let ea: ProvisionedEa;
  const stateFile = () => join(tmp, 'ea-state.json');

  it('reads the files the agent wrote and registers with the one-time token, which is then spent', async () => {
    ea = await ProvisionedEa.fromTerminalFolder(folder, { stateFile: stateFile(), http: { fetch: network.fetch, retry: FAST_RETRY } });
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

  it('keeps trades in its outbox until acknowledged: a response lost on every attempt is resent after a restart and counted once', async () => {
    expect(await ea.enqueue([trade(1), trade(2), trade(3, { lots: 0.5 })])).toBe(3);
    expect(await ea.enqueue([trade(1)])).toBe(0);
    // the trader proves the account is theirs (issue #15; no cashback accrues until then): a pending
    // order with the dashboard's ownership code, deleted at once; the EA finds it in the history
    const trader = new SimulatedAccount({ login, server: 'ICMarketsSC-Demo', broker: 'IC Markets', balance: 10_000, feed: new PriceFeed(STANDARD_SYMBOLS, { seed: 3 }) });
    const proof = trader.placePendingOrder({ symbol: 'EURUSD', comment: (await dashboard.tradingAccount(accountId)).ownership.code! });
    if (proof.ok) trader.deletePendingOrder(proof.order);
    expect(await ea.scanOwnership(trader)).toHaveLength(1);
    network.dropNextResponses(3, matching('POST', '/functions/v1/trades'));
    const lost = await ea.flush();
    expect(lost.error).toBeInstanceOf(EaHttpError);
    expect(lost.error).toMatchObject({ status: 0, attempts: 3 });
    expect(lost.remaining).toBe(3);
    // A restart: the outbox and the secret come back from the state file.
    ea = await ProvisionedEa.fromTerminalFolder(folder, { stateFile: stateFile(), http: { fetch: network.fetch, retry: FAST_RETRY } });
    expect(ea.registered).toBe(true);
    expect(ea.outbox.map((t) => t.ticket)).toEqual([1, 2, 3]);
    const resent = await ea.flush();
    expect(resent).toMatchObject({ accepted: [], duplicates: [1, 2, 3], cashbackAccrued: 0, remaining: 0 });
    expect(await ea.enqueue([trade(2)])).toBe(0); // acknowledged tickets are not queued again
    // the lost request carried the code: the backend verified the account before storing its trades
    expect((await dashboard.tradingAccount(accountId)).ownership.verified_at).not.toBeNull();
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

describe('clock skew, retries and revoked credentials', () => {
  const TEN_MINUTES = 10 * 60_000;
  const refusedFor = (skewMs: number) => (skewMs > 0 ? 'request timestamp is more than 300 s in the future' : 'request timestamp is more than 300 s old');

  async function connectorEa(login: number, http: { skewMs?: number; fetch?: FetchLike } = {}) {
    const key = await dashboard.createEaKey(`sim ${login}`);
    const log = recorder(http.fetch ?? ((input, init) => network.fetch(input, init)));
    const events: ConnectorEvent[] = [];
    const feed = new PriceFeed(STANDARD_SYMBOLS, { seed: login });
    const account = new SimulatedAccount({ login, server: 'RubiBroker-Demo', broker: 'Rubi Broker Ltd', balance: 10_000, feed, firstTicket: 7_000 });
    const ea = new ConnectorEa({
      functionsUrl: backend.functionsUrl,
      keyId: key.id,
      secret: key.secret,
      account,
      http: { fetch: log.fetch, retry: FAST_RETRY, now: () => Date.now() + (http.skewMs ?? 0) },
      onEvent: (e) => events.push(e),
    });
    return { ea, key, log, events };
  }

  it.each([
    ['fast', TEN_MINUTES],
    ['slow', -TEN_MINUTES],
  ])('a connector EA whose clock is 10 minutes %s resyncs after one refused request and keeps sending: every ping and report lands once', async (_, skewMs) => {
    const { ea, log, events } = await connectorEa(skewMs > 0 ? 63_000_001 : 63_000_002, { skewMs });
    await ea.connect();
    expect(log.sent.filter((r) => r.status === 401)).toEqual([{ method: 'POST', path: '/connect', id: log.sent[0]!.id, status: 401, message: refusedFor(skewMs) }]);
    expect(log.sent[1]).toMatchObject({ path: '/connect', id: log.sent[0]!.id, status: 200 }); // the same request, signed again
    expect(Math.abs(ea.clockOffsetSeconds + skewMs / 1000)).toBeLessThanOrEqual(2);
    expect(events.filter((e) => e.type === 'clock_resynced')).toHaveLength(1);

    await ea.tick();
    const signal = await dashboard.createSignal({ session_id: ea.sessionId!, type: 'BUY', symbol: 'EURUSD', volume: 0.2 });
    await ea.tick();
    await ea.tick();
    const sessionId = ea.sessionId!;
    await ea.disconnect();

    // One refused request in all: every later one was signed with the corrected clock.
    expect(log.sent.filter((r) => r.status !== 200)).toHaveLength(1);
    expect(new Set(log.sent.map((r) => r.id)).size).toBe(log.sent.length - 1);
    const [pings] = await server.db.query<{ n: number }>(asOwner(), 'select count(*)::int as n from public.account_snapshots where session_id = $1', [sessionId]);
    expect(pings!.n).toBe(3);
    expect(await dashboard.signal(signal.id)).toMatchObject({ status: 'EXECUTED' });
    const [orders] = await server.db.query<{ n: number }>(asOwner(), 'select count(*)::int as n from public.trading_orders where signal_id = $1', [signal.id]);
    expect(orders!.n).toBe(1);
    expect(ea.account.positions).toHaveLength(1);
    const session = (await dashboard.sessions()).sessions.find((s) => s.id === sessionId);
    expect(session).toMatchObject({ status: 'disconnected', counters: { orders_executed: 1, errors: 0 } });
  });

  it.each([
    ['fast', TEN_MINUTES],
    ['slow', -TEN_MINUTES],
  ])('a provisioned EA whose clock is 10 minutes %s resyncs instead of taking the 401 for a re-provisioned account: its trades land once', async (_, skewMs) => {
    const login = skewMs > 0 ? 64_000_001 : 64_000_002;
    const { accountId, pkg } = await launchPackage(login);
    const log = recorder((input, init) => network.fetch(input, init));
    const events: string[] = [];
    const ea = new ProvisionedEa({
      config: eaConfigOf(pkg),
      identity: { platform: 'MT5', login, server: 'ICMarketsSC-Demo' },
      http: { fetch: log.fetch, retry: FAST_RETRY, now: () => Date.now() + skewMs },
      onEvent: (e) => events.push(e.type),
    });
    const trades = [trade(101), trade(102), trade(103)];
    let tick = 0;
    // Each report interval the trader closes one more trade.
    await ea.run({ ticks: 3, intervalMs: 1, source: () => trades.slice(0, ++tick) });
    expect(ea.outbox).toHaveLength(0);
    const signed = log.sent.filter((r) => r.path === '/trades');
    expect(signed.map((r) => r.status)).toEqual([401, 200, 200, 200]);
    expect(signed[0]).toMatchObject({ message: refusedFor(skewMs) });
    expect(signed[1]!.id).toBe(signed[0]!.id);
    expect(Math.abs(ea.clockOffsetSeconds + skewMs / 1000)).toBeLessThanOrEqual(2);
    expect(events.filter((t) => t === 'clock_resynced')).toHaveLength(1);
    expect((await dashboard.tradingAccount(accountId)).figures).toMatchObject({ trades: 3, lots: 3 });
  });

  it('a clock skew 401 without a Date header (nor server_time) cannot be corrected: it is thrown', async () => {
    const noDate: FetchLike = async (input, init) => {
      const res = await network.fetch(input, init);
      const headers = new Headers(res.headers);
      headers.delete('date');
      return new Response(res.body, { status: res.status, headers });
    };
    const { ea, log } = await connectorEa(63_000_003, { skewMs: TEN_MINUTES, fetch: noDate });
    await expect(ea.connect()).rejects.toMatchObject({ status: 401, clockSkew: true, message: expect.stringContaining(refusedFor(TEN_MINUTES)) });
    expect(log.sent).toHaveLength(1);
  });

  it('a revoked EA key still ends the run with its 401, after one request and no retry', async () => {
    const { ea, key, log, events } = await connectorEa(63_000_004, { skewMs: TEN_MINUTES });
    await ea.connect();
    await server.db.query(asOwner(), 'update public.ea_keys set revoked_at = now() where id = $1', [key.id]);
    const before = log.sent.length;
    await expect(ea.run({ ticks: 2, intervalMs: 1 })).rejects.toMatchObject({ status: 401, message: expect.stringContaining('unknown or revoked EA key') });
    expect(log.sent.slice(before)).toEqual([{ method: 'POST', path: '/connect', id: expect.any(String), status: 401, message: 'unknown or revoked EA key' }]);
    expect(events.filter((e) => e.type === 'clock_resynced')).toHaveLength(1); // only the first connect's
  });

  it('a re-provisioned account (the stored api secret no longer verifies) still stops the provisioned EA', async () => {
    const login = 64_000_003;
    const { pkg } = await launchPackage(login);
    const ea = new ProvisionedEa({ config: eaConfigOf(pkg), identity: { platform: 'MT5', login, server: 'ICMarketsSC-Demo' }, http: { fetch: network.fetch, retry: FAST_RETRY } });
    await ea.register();
    await ea.enqueue([trade(201)]);
    await server.db.query(asOwner(), 'update private.account_secrets set api_secret_ciphertext = null where account_id = (select id from public.trading_accounts where external_account_id = $1)', [pkg.external_account_id]);
    await expect(ea.flush()).rejects.toMatchObject({ status: 401, message: expect.stringContaining('unknown credential or signature does not match') });
    expect(ea.outbox.map((t) => t.ticket)).toEqual([201]);
  });

  it('a 503 is retried after a backoff with the same X-Trade-Id and body, and succeeds', async () => {
    const { ea, log, events } = await connectorEa(63_000_005);
    await ea.connect();
    network.serverErrorNext(1, 503, matching('POST', '/functions/v1/ping'));
    const before = log.sent.length;
    await ea.ping();
    const pings = log.sent.slice(before);
    expect(pings.map((r) => [r.path, r.status])).toEqual([
      ['/ping', 503],
      ['/ping', 200],
    ]);
    expect(pings[1]!.id).toBe(pings[0]!.id);
    expect(events.find((e) => e.type === 'retrying')).toMatchObject({ status: 503, attempt: 1, requestId: pings[0]!.id });
    await ea.disconnect();
  });

  it('a trades batch refused with a 503 is sent again under the same X-Trade-Id and acknowledged once', async () => {
    const login = 64_000_004;
    const { accountId, pkg } = await launchPackage(login);
    const log = recorder((input, init) => network.fetch(input, init));
    const ea = new ProvisionedEa({ config: eaConfigOf(pkg), identity: { platform: 'MT5', login, server: 'ICMarketsSC-Demo' }, http: { fetch: log.fetch, retry: FAST_RETRY } });
    await ea.register();
    await ea.enqueue([trade(301), trade(302)]);
    network.serverErrorNext(1, 503, matching('POST', '/functions/v1/trades'));
    expect(await ea.flush()).toMatchObject({ accepted: [301, 302], duplicates: [], remaining: 0 });
    const sent = log.sent.filter((r) => r.path === '/trades');
    expect(sent.map((r) => r.status)).toEqual([503, 200]);
    expect(sent[1]!.id).toBe(sent[0]!.id);
    expect((await dashboard.tradingAccount(accountId)).figures).toMatchObject({ trades: 2 });
  });

  it('a trades answer lost once: the same-id retry is refused as a replay, a fresh id gets the answer (duplicates), counted once', async () => {
    const login = 64_000_005;
    const { accountId, pkg } = await launchPackage(login);
    const log = recorder((input, init) => network.fetch(input, init));
    const ea = new ProvisionedEa({ config: eaConfigOf(pkg), identity: { platform: 'MT5', login, server: 'ICMarketsSC-Demo' }, http: { fetch: log.fetch, retry: FAST_RETRY } });
    await ea.register();
    await ea.enqueue([trade(401), trade(402)]);
    network.dropNextResponses(1, matching('POST', '/functions/v1/trades'));
    expect(await ea.flush()).toMatchObject({ accepted: [], duplicates: [401, 402], remaining: 0 });
    const sent = log.sent.filter((r) => r.path === '/trades');
    expect(sent.map((r) => [r.status, r.message])).toEqual([
      [0, undefined],
      [401, 'replayed request (X-Trade-Id already used)'],
      [200, undefined],
    ]);
    expect(sent[1]!.id).toBe(sent[0]!.id);
    expect(sent[2]!.id).not.toBe(sent[0]!.id);
    expect((await dashboard.tradingAccount(accountId)).figures).toMatchObject({ trades: 2 });
  });

  it('a disconnect whose answer was lost is not sent again: the replay refusal proves it was applied', async () => {
    const { ea, log } = await connectorEa(63_000_006);
    const { session_id } = await ea.connect();
    network.dropNextResponses(1, matching('POST', '/connect/disconnect'));
    expect(await ea.disconnect()).toBeUndefined();
    expect(log.sent.filter((r) => r.path === '/connect/disconnect').map((r) => r.status)).toEqual([0, 401]);
    expect(ea.sessionId).toBeUndefined();
    expect((await dashboard.sessions()).sessions.find((s) => s.id === session_id)).toMatchObject({ status: 'disconnected' });
  });
});
