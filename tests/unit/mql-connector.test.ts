import { randomBytes, randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { verifySignature } from '@rubi/crypto';
import { ReportSignalStatusRequest } from '@rubi/contracts/signals.ts';
import { UpdatePositionsRequest } from '@rubi/contracts/positions.ts';
import { ConnectRequest, DisconnectRequest } from '@rubi/contracts/connect.ts';
import { PingRequest } from '@rubi/contracts/ping.ts';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { z } from 'zod';
import { buildHostProgram, runHostProgram } from '../../mql/host/build.ts';

// Rubi/Connector.mqh (the RubiStudioConnector EA's logic) compiled on the host
// (mql/host/tests/connector_test.cpp) against the simulated terminal, talking real HTTP to a fake
// backend in this process that speaks the functions' contract (every body is parsed with the
// contract's zod schema, every request's signature verified). Crashes and restarts happen inside
// the C++ program (see its header); this file checks what reached the backend and the terminal.

const secret = `whsec_${randomBytes(32).toString('base64')}`;
const keyId = randomUUID();
const sessionId = randomUUID();
let exe = '';
let server: Server;
let base = '';
const tmpRoot = mkdtempSync(join(tmpdir(), 'mql-connector-'));
let runs = 0;

interface FakeSignal {
  id: string;
  type: 'BUY' | 'SELL' | 'CLOSE_BUY' | 'CLOSE_SELL';
  symbol: string;
  volume: number | null;
  entry_price: number | null;
  stop_loss: number | null;
  take_profit: number | null;
  risk_percent: number | null;
  status: string;
  order_ticket: number | null;
  expires_at?: string | null;
}

interface Fake {
  signals: FakeSignal[];
  reports: { id: string; body: ReportSignalStatusRequest }[];
  pushes: UpdatePositionsRequest[];
  connects: ConnectRequest[];
  pings: number;
  disconnects: z.infer<typeof DisconnectRequest>[];
  unsigned: number;
  /** Status reports to fail with 503 (per signal id: how many). */
  failReports: Map<string, number>;
  /** Pings to answer 404 (the session was swept). */
  failPings: number;
  /** The backend's clock (UTC s, in a Date header): timestamps more than 300 s off it are refused. Undefined: not checked. */
  serverClock: number | undefined;
  /** Every request: its path, X-Trade-Id, and whether its signature verified. */
  log: { path: string; id: string; verified: boolean }[];
}
let fake: Fake;

function reset(): void {
  fake = { signals: [], reports: [], pushes: [], connects: [], pings: 0, disconnects: [], unsigned: 0, failReports: new Map(), failPings: 0, serverClock: undefined, log: [] };
}
reset();

function signal(type: FakeSignal['type'], symbol: string, fields: Partial<FakeSignal> = {}): FakeSignal {
  const s: FakeSignal = { id: randomUUID(), type, symbol, volume: null, entry_price: null, stop_loss: null, take_profit: null, risk_percent: null, status: 'PENDING', order_ticket: null, ...fields };
  fake.signals.push(s);
  return s;
}

function asSignal(s: FakeSignal) {
  const now = new Date().toISOString();
  return {
    ...s,
    session_id: sessionId,
    timeframe: null,
    confidence: null,
    signal_time: now,
    source: 'dashboard',
    client_signal_id: null,
    expires_at: s.expires_at ?? null,
    status_message: null,
    delivered_at: now,
    completed_at: null,
    created_at: now,
    updated_at: now,
  };
}

beforeAll(async () => {
  exe = await buildHostProgram('connector_test', 'MQL5');
  server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', async () => {
      const raw = Buffer.concat(chunks).toString('utf8');
      const h = req.headers;
      const ts = Number(h['x-trade-timestamp']);
      const verdict = await verifySignature({
        secrets: [secret],
        headers: { id: (h['x-trade-id'] as string) ?? null, timestamp: (h['x-trade-timestamp'] as string) ?? null, signature: (h['x-trade-signature'] as string) ?? null },
        body: raw,
        nowSeconds: fake.serverClock ?? (Number.isFinite(ts) ? ts : 0), // by default the simulated clock: only the HMAC is checked
      });
      fake.log.push({ path: req.url ?? '', id: String(h['x-trade-id'] ?? ''), verified: verdict.ok });
      const send = (status: number, payload: unknown) => {
        const date = fake.serverClock === undefined ? {} : { date: new Date(fake.serverClock * 1000).toUTCString() };
        res.writeHead(status, { 'content-type': 'application/json', ...date });
        res.end(JSON.stringify(payload));
      };
      if (!verdict.ok && (verdict.reason === 'timestamp_too_old' || verdict.reason === 'timestamp_in_future')) {
        return send(401, { error: { code: 'unauthorized', message: `request timestamp is more than 300 s ${verdict.reason === 'timestamp_too_old' ? 'old' : 'in the future'}` } });
      }
      if (!verdict.ok || h['x-ea-key-id'] !== keyId || (raw !== '' && h['content-type'] !== 'application/json')) {
        fake.unsigned++;
        return send(401, { error: { code: 'unauthorized', message: 'bad signature' } });
      }
      const url = new URL(req.url ?? '/', 'http://x');
      const body = raw ? (JSON.parse(raw) as unknown) : undefined;
      const now = new Date().toISOString();
      const path = url.pathname;
      if (req.method === 'POST' && path === '/connect') {
        fake.connects.push(ConnectRequest.parse(body));
        return send(200, { session_id: sessionId, resumed: fake.connects.length > 1, server_time: now, ping_interval_seconds: 10, risk: { max_open_positions: 10, max_risk_percent: 5 } });
      }
      if (req.method === 'POST' && path === '/ping') {
        PingRequest.parse(body);
        fake.pings++;
        if (fake.failPings > 0) {
          fake.failPings--;
          return send(404, { error: { code: 'not_found', message: 'session not found' } });
        }
        const pending = fake.signals.filter((s) => s.status === 'PENDING' || s.status === 'DELIVERED').length;
        return send(200, { server_time: now, session_status: 'active', pending_signals: pending, ping_interval_seconds: 10 });
      }
      if (req.method === 'GET' && path === '/signals/pending') {
        expect(url.searchParams.get('session_id')).toBe(sessionId);
        const out = fake.signals.filter((s) => s.status === 'PENDING' || s.status === 'DELIVERED');
        for (const s of out) s.status = 'DELIVERED';
        return send(200, { signals: out.map(asSignal), server_time: now });
      }
      const status = /^\/signals\/([0-9a-f-]+)\/status$/.exec(path);
      if (req.method === 'POST' && status) {
        const id = status[1]!;
        const report = ReportSignalStatusRequest.parse(body);
        fake.reports.push({ id, body: report });
        const fails = fake.failReports.get(id) ?? 0;
        if (fails > 0) {
          fake.failReports.set(id, fails - 1);
          return send(503, { error: { code: 'unavailable', message: 'try later' } });
        }
        const s = fake.signals.find((x) => x.id === id);
        if (!s) return send(404, { error: { code: 'not_found', message: 'signal not found' } });
        const ticket = report.order_ticket || null;
        if (s.status === report.status && s.order_ticket === ticket) return send(200, asSignal(s));
        if (s.status !== 'DELIVERED') return send(409, { error: { code: 'conflict', message: `signal is ${s.status}` } });
        s.status = report.status;
        s.order_ticket = ticket;
        return send(200, asSignal(s));
      }
      if (req.method === 'POST' && path === '/positions/update') {
        const update = UpdatePositionsRequest.parse(body);
        fake.pushes.push(update);
        return send(200, { open: update.positions.length, closed: 0, tickets_closed: [] });
      }
      if (req.method === 'POST' && path === '/connect/disconnect') {
        fake.disconnects.push(DisconnectRequest.parse(body));
        return send(200, { session_id: sessionId, status: 'disconnected', disconnected_at: now });
      }
      return send(404, { error: { code: 'not_found', message: path } });
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}, 300_000);

afterAll(async () => {
  await new Promise<void>((resolve) => server?.close(() => resolve()));
  rmSync(tmpRoot, { recursive: true, force: true });
});

beforeEach(() => reset());

interface Run {
  out: string[];
  sends: { symbol: string; side: string; volume: number; filling: string; magic: number; comment: string }[];
  positions: { ticket: number; symbol: string; side: string; volume: number; magic: number; comment: string }[];
  journal: Map<string, string>;
  prints: string;
}

async function scenario(name: string, ids: string[] = []): Promise<Run> {
  const files = join(tmpRoot, String(runs++));
  const result = await runHostProgram(exe, [name, base, keyId, secret, ...ids], { files, env: { MQL_PRINT_STDERR: '1' } });
  if (result.code !== 0) throw new Error(`connector_test ${name} exited ${result.code ?? result.signal}\n${result.stdout}\n${result.stderr}`);
  const out = result.stdout.trimEnd().split('\n');
  const lastPositions = out.lastIndexOf('restart') >= 0 ? out.slice(out.lastIndexOf('restart')) : out;
  return {
    out,
    sends: out
      .filter((l) => l.startsWith('send '))
      .map((l) => {
        const [, symbol, side, volume, filling, magic, comment] = l.split(' ');
        return { symbol: symbol!, side: side!, volume: Number(volume), filling: filling!, magic: Number(magic), comment: comment ?? '' };
      }),
    positions: lastPositions
      .filter((l) => l.startsWith('position '))
      .map((l) => {
        const [, ticket, symbol, side, volume, magic, ...comment] = l.split(' ');
        return { ticket: Number(ticket), symbol: symbol!, side: side!, volume: Number(volume), magic: Number(magic), comment: comment.join(' ') };
      }),
    journal: new Map(lastPositions.filter((l) => l.startsWith('journal ')).map((l) => [l.split(' ')[1]!, l.split(' ')[2]!])),
    prints: result.stderr,
  };
}

const tagOf = (id: string) => `rubi:${id.replace(/-/g, '').slice(0, 20)}`;
const reportsOf = (id: string) => fake.reports.filter((r) => r.id === id).map((r) => r.body);
const finalOf = (id: string) => fake.signals.find((s) => s.id === id)!;

describe('RubiStudioConnector logic (Rubi/Connector.mqh)', () => {
  it('pure helpers: comment tag, retcode text, input checks, the journal file', async () => {
    const run = await scenario('pure');
    expect(run.out.filter((l) => l.startsWith('ok ')).length).toBeGreaterThanOrEqual(14);
    expect(run.out.at(-1)).toBe('done');
  }, 60_000);

  it('connects with the symbol specs, executes with normalised volume and the symbol\'s filling, refuses what cannot be sent, reports retcodes, pushes positions, disconnects', async () => {
    const buy = signal('BUY', 'EURUSD', { volume: 0.237, stop_loss: 1.095, take_profit: 1.11 });
    const tiny = signal('SELL', 'XAUUSD', { volume: 0.005 });
    const tight = signal('BUY', 'EURUSD', { volume: 0.1, stop_loss: 1.0998 });
    const poor = signal('SELL', 'EURUSD', { volume: 0.1 });
    const unknown = signal('BUY', 'NOPE', { volume: 0.1 });
    const gold = signal('BUY', 'XAUUSD', { volume: 0.1 });
    const pound = signal('SELL', 'GBPUSD', { volume: 0.25 });
    const run = await scenario('execute', [buy.id, tiny.id, tight.id, poor.id, unknown.id, gold.id, pound.id]);

    expect(fake.unsigned).toBe(0);
    expect(fake.connects).toHaveLength(1);
    const connect = fake.connects[0]!;
    expect(connect).toMatchObject({ account_number: 51234567, broker: 'Rubi Broker Ltd', server: 'RubiBroker-Demo', currency: 'USD', leverage: 500, balance: 10000 });
    // Duplicates and unknown symbols are left out.
    expect(connect.symbols!.map((s) => s.symbol)).toEqual(['EURUSD', 'XAUUSD', 'GBPUSD']);
    expect(connect.symbols![0]).toEqual({ symbol: 'EURUSD', tick_size: 0.00001, tick_value: 1, contract_size: 100000, volume_min: 0.01, volume_max: 50, volume_step: 0.01, digits: 5 });

    expect(run.sends).toEqual([
      { symbol: 'EURUSD', side: 'BUY', volume: 0.23, filling: 'IOC', magic: 777, comment: tagOf(buy.id) },
      { symbol: 'XAUUSD', side: 'BUY', volume: 0.1, filling: 'FOK', magic: 777, comment: tagOf(gold.id) },
      { symbol: 'GBPUSD', side: 'SELL', volume: 0.2, filling: 'RETURN', magic: 777, comment: tagOf(pound.id) },
    ]);
    // Orders that filled (the NO_MONEY refusal reached the trade server but filled nothing).
    expect(run.positions.map((p) => p.comment)).toEqual([tagOf(buy.id), tagOf(gold.id), tagOf(pound.id)]);

    const executed = reportsOf(buy.id);
    expect(executed).toHaveLength(1);
    expect(executed[0]).toMatchObject({ status: 'EXECUTED', price: 1.1001, volume: 0.23, retcode: 10009, message: '10009 TRADE_RETCODE_DONE: request completed' });
    expect(executed[0]!.order_ticket).toBe(run.positions[0]!.ticket);
    expect(executed[0]!.executed_at).toBe('2025-11-21T10:15:00Z');
    expect(reportsOf(tiny.id)).toEqual([{ status: 'REJECTED', retcode: null, message: "volume 0.005 is below the symbol's minimum of 0.01 lots" }]);
    expect(reportsOf(tight.id)[0]).toMatchObject({ status: 'REJECTED', retcode: null });
    expect(reportsOf(tight.id)[0]!.message).toBe('stop-loss 1.0998 must be at most 1.0995 (bid 1.1, stops level 50 points)');
    expect(reportsOf(poor.id)).toEqual([
      { status: 'REJECTED', retcode: 10019, message: '10019 TRADE_RETCODE_NO_MONEY: there is not enough money to complete the request (rejected by the simulated trade server)' },
    ]);
    expect(reportsOf(unknown.id)[0]).toMatchObject({ status: 'FAILED', retcode: null });
    expect(reportsOf(unknown.id)[0]!.message).toContain('symbol NOPE is not available');
    expect(reportsOf(gold.id)[0]).toMatchObject({ status: 'EXECUTED', volume: 0.1, retcode: 10009 });
    expect(reportsOf(pound.id)[0]).toMatchObject({ status: 'EXECUTED', volume: 0.2 });
    // Each signal reported once; every journal record settled.
    expect(fake.reports).toHaveLength(7);
    expect([...run.journal.values()]).toEqual(Array(7).fill('reported'));

    // Positions: the full list (all positions of the account), pushed at start and when it changed.
    expect(fake.pushes[0]!.positions).toEqual([]);
    const last = fake.pushes.at(-1)!.positions;
    expect(last.map((p) => p.ticket)).toEqual(run.positions.map((p) => p.ticket));
    expect(last[0]).toMatchObject({ symbol: 'EURUSD', type: 'BUY', volume: 0.23, open_price: 1.1001, current_price: 1.1, stop_loss: 1.095, take_profit: 1.11, magic: 777, comment: tagOf(buy.id), opened_at: '2025-11-21T10:15:00Z' });
    expect(fake.disconnects).toEqual([{ session_id: sessionId, signals_received: 7, orders_executed: 3, errors: 1 }]);
    expect(run.out).toContain('counters 7 3 1');
  }, 60_000);

  it('EnableAutoTrading=false: every signal is REJECTED with a clear message, no order, nothing closed', async () => {
    const buy = signal('BUY', 'EURUSD', { volume: 0.1 });
    const close = signal('CLOSE_BUY', 'EURUSD');
    const run = await scenario('autotrading-off', [buy.id, close.id]);
    expect(run.sends).toEqual([]);
    expect(run.positions).toHaveLength(1);
    for (const s of [buy, close]) {
      expect(reportsOf(s.id)).toEqual([{ status: 'REJECTED', retcode: null, message: "auto-trading is off in the EA's inputs (EnableAutoTrading=false): signal not executed" }]);
    }
  }, 60_000);

  it('MaxOpenPositions counts only the positions with the EA\'s magic', async () => {
    const second = signal('BUY', 'EURUSD', { volume: 0.1 });
    const third = signal('BUY', 'EURUSD', { volume: 0.1 });
    const run = await scenario('max-positions', [second.id, third.id]);
    expect(run.sends.map((s) => s.comment)).toEqual([tagOf(second.id)]);
    expect(reportsOf(second.id)[0]!.status).toBe('EXECUTED');
    expect(reportsOf(third.id)).toEqual([{ status: 'REJECTED', retcode: null, message: 'MaxOpenPositions reached: 2 open position(s) with magic 777, limit 2' }]);
  }, 60_000);

  it('MaxRiskPercent: the risk percent asked, or the risk of a fixed volume at its stop-loss', async () => {
    const risky = signal('BUY', 'EURUSD', { volume: 0.5, risk_percent: 2, entry_price: 1.1001, stop_loss: 1.0981 });
    const big = signal('BUY', 'EURUSD', { volume: 1, stop_loss: 1.0901 });
    const fine = signal('BUY', 'EURUSD', { volume: 0.05, stop_loss: 1.0901 });
    const run = await scenario('max-risk', [risky.id, big.id, fine.id]);
    expect(reportsOf(risky.id)[0]!.message).toBe('the signal risks 2% of equity at its stop-loss, above MaxRiskPercent 1%');
    expect(reportsOf(big.id)[0]!.message).toBe('the signal risks 10% of equity at its stop-loss, above MaxRiskPercent 1%');
    expect(reportsOf(fine.id)[0]!.status).toBe('EXECUTED');
    expect(run.sends).toHaveLength(1);
  }, 60_000);

  it('MaxRiskPercent: a risk-sized signal is checked at the market price, not only by the percent it was sized for', async () => {
    // Sized by the server for 1 % of 10000 with a 10-pip stop (entry 1.0991): 1 lot. The market is at
    // 1.1001 now, 20 pips above the stop: that lot loses 2 % at the stop-loss.
    const moved = signal('BUY', 'EURUSD', { volume: 1, risk_percent: 1, entry_price: 1.0991, stop_loss: 1.0981 });
    const run = await scenario('max-risk', [moved.id]);
    expect(reportsOf(moved.id)).toEqual([
      { status: 'REJECTED', retcode: null, message: 'the signal risks 2% of equity at its stop-loss, above MaxRiskPercent 1%' },
    ]);
    expect(run.sends).toEqual([]);
  }, 60_000);

  it('CLOSE_BUY closes the BUY positions of the symbol with the EA\'s magic only; nothing to close is REJECTED 10036', async () => {
    const closeBuy = signal('CLOSE_BUY', 'EURUSD');
    const closeNone = signal('CLOSE_SELL', 'GBPUSD');
    const run = await scenario('close', [closeBuy.id, closeNone.id]);
    expect(run.positions.map((p) => [p.symbol, p.side, p.volume, p.magic])).toEqual([
      ['EURUSD', 'BUY', 0.3, 12345],
      ['EURUSD', 'SELL', 0.4, 777],
      ['XAUUSD', 'BUY', 0.5, 777],
    ]);
    const [report] = reportsOf(closeBuy.id);
    expect(report).toMatchObject({ status: 'EXECUTED', volume: 0.3, price: 1.1, retcode: 10009 });
    expect(report!.order_ticket).toBeGreaterThan(0);
    expect(report!.message).toBe('closed 2 BUY position(s) on EURUSD (10009 TRADE_RETCODE_DONE: request completed)');
    expect(reportsOf(closeNone.id)).toEqual([{ status: 'REJECTED', retcode: 10036, message: 'no open SELL position on GBPUSD opened by this EA (magic 777)' }]);
  }, 60_000);

  it('crash after the order filled, before anything else: the restart finds the deal by magic + tag and reports EXECUTED; one order', async () => {
    const buy = signal('BUY', 'EURUSD', { volume: 0.1 });
    const run = await scenario('crash-after-send', [buy.id]);
    expect(run.out).toContain('crash after-send');
    const beforeRestart = run.out.slice(0, run.out.indexOf('restart'));
    expect(beforeRestart).toContain(`journal ${buy.id} sending`);
    expect(run.sends).toHaveLength(1);
    expect(run.positions).toHaveLength(1);
    const reports = reportsOf(buy.id);
    expect(reports).toHaveLength(1);
    expect(reports[0]).toMatchObject({ status: 'EXECUTED', order_ticket: run.positions[0]!.ticket, price: 1.1001, volume: 0.1, retcode: 10009 });
    expect(reports[0]!.message).toContain('order found in the terminal\'s history after a restart');
    expect(finalOf(buy.id).status).toBe('EXECUTED');
    expect(run.journal.get(buy.id)).toBe('reported');
    // The signal was redelivered to the restarted EA (DELIVERED, unreported) and not executed again.
    expect(run.prints).toContain('recovered after a restart: EXECUTED');
  }, 60_000);

  it('crash after "sending" was journaled, before the order left: UNKNOWN (outcome unknown) after the grace period, never sent', async () => {
    const buy = signal('BUY', 'EURUSD', { volume: 0.1 });
    const run = await scenario('crash-before-send', [buy.id]);
    expect(run.out).toContain('crash before-send');
    expect(run.out.filter((l) => l.startsWith('FAIL'))).toEqual([]);
    expect(run.sends).toEqual([]);
    expect(run.positions).toEqual([]);
    const reports = reportsOf(buy.id);
    expect(reports).toHaveLength(1);
    expect(reports[0]).toMatchObject({ status: 'UNKNOWN', retcode: null });
    expect(reports[0]!.message).toContain('outcome unknown');
    expect(reports[0]!.message).toContain('the order was not sent again');
    expect(reports[0]!.message).toContain(`comment ${tagOf(buy.id)}`);
  }, 60_000);

  it('crash between the backend\'s acknowledgement and the "reported" record: the same report again, no order', async () => {
    const buy = signal('BUY', 'EURUSD', { volume: 0.1 });
    const run = await scenario('crash-before-reported', [buy.id]);
    expect(run.sends).toHaveLength(1);
    const reports = reportsOf(buy.id);
    expect(reports).toHaveLength(2);
    expect(reports[1]).toEqual(reports[0]);
    expect(finalOf(buy.id).status).toBe('EXECUTED');
    expect(run.journal.get(buy.id)).toBe('reported');
  }, 60_000);

  it('a report the backend could not take is kept in the journal and resent after a restart', async () => {
    const buy = signal('BUY', 'EURUSD', { volume: 0.1 });
    fake.failReports.set(buy.id, 3); // the first run's one tick: three attempts
    const run = await scenario('report-kept', [buy.id]);
    expect(run.sends).toHaveLength(1);
    const reports = reportsOf(buy.id);
    expect(reports).toHaveLength(4);
    expect(new Set(reports.map((r) => JSON.stringify(r))).size).toBe(1);
    expect(finalOf(buy.id).status).toBe('EXECUTED');
    expect(run.journal.get(buy.id)).toBe('reported');
  }, 60_000);

  it('a lost journal: the redelivered signal is found in the terminal by its tag, not sent again', async () => {
    const buy = signal('BUY', 'EURUSD', { volume: 0.1 });
    fake.failReports.set(buy.id, 3); // the first run's one tick: three attempts
    const run = await scenario('lost-journal', [buy.id]);
    expect(run.sends).toHaveLength(1);
    const last = reportsOf(buy.id).at(-1)!;
    expect(last).toMatchObject({ status: 'EXECUTED', order_ticket: run.positions[0]!.ticket });
    expect(last.message).toContain('already in the terminal: not sent again');
  }, 60_000);

  it('a restart with another MagicNumber (another, empty journal) still finds the order by its tag: not sent again', async () => {
    const buy = signal('BUY', 'EURUSD', { volume: 0.1 });
    fake.failReports.set(buy.id, 3); // the first run's one tick: three attempts
    const run = await scenario('magic-changed', [buy.id]);
    expect(run.sends).toHaveLength(1);
    const last = reportsOf(buy.id).at(-1)!;
    expect(last).toMatchObject({ status: 'EXECUTED', order_ticket: run.positions[0]!.ticket });
    expect(last.message).toContain('already in the terminal: not sent again');
  }, 60_000);

  it('a trade server timeout (10012) is not taken for a refusal: settled from history after the grace period, never re-sent', async () => {
    const buy = signal('BUY', 'EURUSD', { volume: 0.1 });
    const run = await scenario('uncertain', [buy.id]);
    expect(run.sends).toEqual([]);
    const reports = reportsOf(buy.id);
    expect(reports).toHaveLength(1);
    expect(reports[0]).toMatchObject({ status: 'UNKNOWN', retcode: null });
    expect(reports[0]!.message).toMatch(/^outcome unknown: the trade server answered 10012 TRADE_RETCODE_TIMEOUT: request canceled by timeout; no order with magic 777/);
    expect(run.prints).toContain('outcome uncertain (10012 TRADE_RETCODE_TIMEOUT');
  }, 60_000);

  it('a signal past its expires_at (by the backend\'s server_time) is REJECTED, never executed; CLOSE_* too', async () => {
    const past = new Date(Date.now() - 60_000).toISOString();
    const buy = signal('BUY', 'EURUSD', { volume: 0.1, expires_at: past });
    const close = signal('CLOSE_BUY', 'EURUSD', { expires_at: past });
    const fresh = signal('BUY', 'EURUSD', { volume: 0.1, expires_at: new Date(Date.now() + 3_600_000).toISOString() });
    const run = await scenario('expired', [buy.id, close.id, fresh.id]);
    expect(run.out.filter((l) => l.startsWith('FAIL'))).toEqual([]);
    expect(run.sends).toHaveLength(1);
    expect(run.sends[0]!.comment).toBe(tagOf(fresh.id));
    for (const s of [buy, close]) {
      const [report] = reportsOf(s.id);
      expect(report).toMatchObject({ status: 'REJECTED' });
      expect(report!.message).toMatch(/^the signal expired at .* UTC before it was executed/);
    }
    expect(finalOf(fresh.id).status).toBe('EXECUTED');
    expect(run.positions.map((p) => p.comment).sort()).toEqual(['rubi:earlier', tagOf(fresh.id)].sort());
  }, 60_000);

  it('an uncertain order (10031) is not settled UNKNOWN while the terminal is disconnected: the fill is found once connected', async () => {
    const buy = signal('BUY', 'EURUSD', { volume: 0.1 });
    const run = await scenario('uncertain-offline', [buy.id]);
    expect(run.out.filter((l) => l.startsWith('FAIL'))).toEqual([]);
    expect(run.sends).toEqual([]);
    const reports = reportsOf(buy.id);
    expect(reports).toHaveLength(1);
    expect(reports[0]).toMatchObject({ status: 'EXECUTED', order_ticket: run.positions[0]!.ticket });
  }, 60_000);

  it('a close answered 10012 that did close the position: not reported while disconnected, then EXECUTED; the close is not sent again', async () => {
    const close = signal('CLOSE_BUY', 'EURUSD');
    const run = await scenario('close-uncertain-closed', [close.id]);
    expect(run.out.filter((l) => l.startsWith('FAIL'))).toEqual([]);
    expect(run.out.filter((l) => l.startsWith('close '))).toHaveLength(1);
    // Nothing reached the backend before the terminal was connected again.
    expect(fake.reports.filter((r) => r.id === close.id)).toHaveLength(1);
    expect(run.out.indexOf('note connected')).toBeGreaterThan(0);
    const reports = reportsOf(close.id);
    expect(reports[0]).toMatchObject({ status: 'EXECUTED', volume: 0.1, price: 1.1, retcode: 10009 });
    expect(reports[0]!.order_ticket).toBeGreaterThan(0);
    expect(reports[0]!.message).toMatch(/^closed 1 BUY position\(s\) on EURUSD, found in the terminal after the trade server answered 10012 TRADE_RETCODE_TIMEOUT/);
    expect(run.prints).toContain('outcome uncertain (10012 TRADE_RETCODE_TIMEOUT');
    expect(run.positions).toEqual([]);
    expect(finalOf(close.id).status).toBe('EXECUTED');
  }, 60_000);

  it('a close answered 10031 that did not reach the trade server: UNKNOWN (outcome unknown) after the grace period, not sent again', async () => {
    const close = signal('CLOSE_BUY', 'EURUSD');
    const run = await scenario('close-uncertain-open', [close.id]);
    expect(run.out.filter((l) => l.startsWith('FAIL'))).toEqual([]);
    expect(run.out.filter((l) => l.startsWith('close '))).toHaveLength(1);
    expect(run.positions).toHaveLength(1);
    const reports = reportsOf(close.id);
    expect(reports).toHaveLength(1);
    expect(reports[0]).toMatchObject({ status: 'UNKNOWN', retcode: null });
    expect(reports[0]!.message).toMatch(/^outcome unknown: the trade server answered 10031 TRADE_RETCODE_CONNECTION: no connection with the trade server; position \d+ is still open/);
    expect(reports[0]!.message).toContain('the close was not sent again');
    expect(run.prints).toContain('outcome uncertain (10031 TRADE_RETCODE_CONNECTION');
  }, 60_000);

  it('crash after a CLOSE was journaled, the position then closed by its stop loss: after the restart not EXECUTED (REJECTED, closed by its stop loss)', async () => {
    const close = signal('CLOSE_BUY', 'EURUSD');
    const run = await scenario('close-crash-sl', [close.id]);
    expect(run.out).toContain('crash before-close');
    expect(run.out.filter((l) => l.startsWith('FAIL'))).toEqual([]);
    const beforeRestart = run.out.slice(0, run.out.indexOf('restart'));
    expect(beforeRestart).toContain(`journal ${close.id} sending`);
    expect(run.out.filter((l) => l.startsWith('close '))).toEqual([]);
    const reports = reportsOf(close.id);
    expect(reports).toHaveLength(1);
    expect(reports[0]).toMatchObject({ status: 'REJECTED', retcode: null });
    expect(reports[0]!.message).toMatch(/^position \d+ was closed by its stop loss before the signal was executed: this EA closed nothing/);
    expect(run.journal.get(close.id)).toBe('reported');
  }, 60_000);

  it('crash after a CLOSE reached the trade server, before its outcome was written: EXECUTED by the recorded ticket, nothing closed again', async () => {
    const close = signal('CLOSE_BUY', 'EURUSD');
    const run = await scenario('close-crash-closed', [close.id]);
    expect(run.out).toContain('crash before-close');
    expect(run.out.filter((l) => l.startsWith('FAIL'))).toEqual([]);
    expect(run.out.filter((l) => l.startsWith('close '))).toEqual([]);
    expect(run.positions.map((p) => p.magic)).toEqual([12345]);
    const reports = reportsOf(close.id);
    expect(reports).toHaveLength(1);
    expect(reports[0]).toMatchObject({ status: 'EXECUTED', volume: 0.1, price: 1.1, retcode: 10009 });
    expect(reports[0]!.message).toBe('closed 1 BUY position(s) on EURUSD, found in the terminal after a restart: not closed again');
  }, 60_000);

  it('a CLOSE "sending" record without tickets (an earlier version) is settled as before', async () => {
    const close = signal('CLOSE_BUY', 'EURUSD');
    const run = await scenario('close-legacy-record', [close.id]);
    expect(run.out.filter((l) => l.startsWith('FAIL'))).toEqual([]);
    const reports = reportsOf(close.id);
    expect(reports).toHaveLength(1);
    expect(reports[0]).toMatchObject({ status: 'EXECUTED', volume: 0.1, retcode: 10009 });
    expect(reports[0]!.message).toContain("closing deal(s) found in the terminal's history after a restart");
    expect(run.journal.get(close.id)).toBe('reported');
  }, 60_000);

  it.each([
    ['10 minutes fast', 600],
    ['10 minutes slow', -600],
  ])('a computer clock %s: connect is refused once for its timestamp, resent under the same id with the backend\'s clock; everything after verifies', async (_name, skew) => {
    fake.serverClock = 1_763_720_100; // the sim's true UTC
    const run = await scenario('clock-skew', [String(skew)]);
    expect(fake.log[0]).toMatchObject({ path: '/connect', verified: false });
    expect(fake.log[1]).toMatchObject({ path: '/connect', id: fake.log[0]!.id, verified: true });
    expect(fake.log.slice(1).every((r) => r.verified)).toBe(true);
    expect(fake.connects).toHaveLength(1);
    expect(fake.pings).toBeGreaterThanOrEqual(3);
    expect(fake.disconnects).toHaveLength(1);
    expect(run.out).toContain(`clock ${-skew}`);
    expect(run.out).toContain('counters 0 0 0');
    expect(run.prints).toContain(`this computer's clock is 600 s ${skew > 0 ? 'ahead of' : 'behind'} the backend's`);
  }, 60_000);

  it('a session the backend no longer knows (404 on ping) is reopened', async () => {
    fake.failPings = 1;
    await scenario('session-gone');
    expect(fake.connects).toHaveLength(2);
    expect(fake.pings).toBeGreaterThanOrEqual(3);
    expect(fake.disconnects).toHaveLength(1);
  }, 60_000);
});
