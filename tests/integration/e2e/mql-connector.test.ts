import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer, request as httpRequest, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { z } from 'zod';
import type { Signal } from '@rubi/contracts/signals.ts';
import type { CreatedEaKey } from '@rubi/contracts/keys.ts';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildHostProgram } from '../../../mql/host/build.ts';
import { Backend, type Dashboard } from '../../../scripts/demo/backend.ts';
import { startNpmStart, type NpmStart } from './support/npm-start.ts';

/**
 * The RubiStudioConnector EA end to end: its MQL logic (mql/Include/Rubi/Connector.mqh) compiled on
 * the host (mql/host/tests/connector_e2e.cpp), WebRequest over real HTTP, the simulated terminal as
 * MetaTrader, against the real functions served by `npm start -- --in-memory`. The story the EA
 * simulator's demo plays: connect, ping, a risk-sized BUY (1% of 10 000 with a 20-pip stop on EURUSD
 * = 0.5 lots), the report with retcode 10009, positions on the dashboard; then the terminal dies
 * between the order and its report and restarts: the order is found in history, never sent twice;
 * an order that never left before a crash ends UNKNOWN "outcome unknown"; CLOSE_BUY; disconnect.
 *
 * Between the EA and the backend sits a recording proxy: every request the EA made is checked
 * (the numeric retcode is in the report body, which the dashboard API does not return).
 */

let server: NpmStart | undefined;
let backend: Backend;
let dash: Dashboard;
let key: z.infer<typeof CreatedEaKey>;
let exe = '';
let work = '';
let files = '';
let stateFile = '';
let proxy: Server;
let proxyUrl = '';
let sessionId = '';
const seen: { method: string; path: string; body: string; status: number }[] = [];

beforeAll(async () => {
  // Build the EA while the backend starts; settled both, so afterAll stops the backend whichever failed.
  const [built, started] = await Promise.allSettled([buildHostProgram('connector_e2e', 'MQL5'), startNpmStart({ args: ['--in-memory', '--quiet'], timeoutMs: 120_000 })]);
  if (started.status === 'fulfilled') server = started.value;
  if (built.status === 'rejected') throw built.reason;
  if (started.status === 'rejected') throw started.reason;
  exe = built.value;
  const port = started.value.port;
  backend = new Backend(started.value.url);
  dash = await backend.signUp(`connector-${Date.now()}@example.com`, 'connector password 123');
  key = await dash.createEaKey('RubiStudioConnector e2e');
  work = await mkdtemp(join(tmpdir(), 'rubi-mql-connector-'));
  files = join(work, 'MQL5', 'Files');
  stateFile = join(work, 'trade-server.state');

  // The recording proxy: forwards every request unchanged (the signature covers the body only).
  proxy = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      const upstream = httpRequest({ host: '127.0.0.1', port, method: req.method, path: `/functions/v1${req.url}`, headers: { ...req.headers, host: `127.0.0.1:${port}` } }, (up) => {
        const out: Buffer[] = [];
        up.on('data', (c: Buffer) => out.push(c));
        up.on('end', () => {
          seen.push({ method: req.method ?? '', path: req.url ?? '', body: body.toString('utf8'), status: up.statusCode ?? 0 });
          res.writeHead(up.statusCode ?? 502, up.headers);
          res.end(Buffer.concat(out));
        });
      });
      upstream.on('error', () => {
        res.writeHead(502);
        res.end();
      });
      upstream.end(body);
    });
  });
  await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', resolve));
  proxyUrl = `http://127.0.0.1:${(proxy.address() as AddressInfo).port}`;
}, 300_000);

afterAll(async () => {
  for (const ea of eas) if (ea.child.exitCode === null) ea.child.kill('SIGKILL');
  await new Promise<void>((resolve) => (proxy ? proxy.close(() => resolve()) : resolve()));
  await server?.stop();
  if (work) await rm(work, { recursive: true, force: true });
});

async function until<T>(what: string, probe: () => Promise<T | undefined | false>, timeoutMs = 15_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value) return value;
    const dead = eas.find((e) => e.child.exitCode !== null && e.child.exitCode !== 3 && e.child.exitCode !== 0);
    if (dead) throw new Error(`the EA exited with ${dead.child.exitCode} while waiting for ${what}\n${dead.out}`);
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}\n${eas.map((e) => e.out).join('\n---\n')}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

interface Ea {
  child: ChildProcess;
  out: string;
  exit: Promise<number | null>;
}
const eas: Ea[] = [];

/** Starts the EA (a terminal start): same Files folder and trade server state every time. */
function startEa(args: string[] = []): Ea {
  const child = spawn(exe, ['--url', proxyUrl, '--key-id', key.id, '--state', stateFile, '--stop-file', join(work, 'stop'), '--interval-ms', '200', '--max-seconds', '50', ...args], {
    env: { ...process.env, MQL_FILES_DIR: files, RUBI_EA_SECRET: key.secret, MQL_PRINT_STDERR: '1' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const ea: Ea = { child, out: '', exit: new Promise((resolve) => child.once('exit', (code) => resolve(code))) };
  child.stdout?.on('data', (d: Buffer) => (ea.out += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (ea.out += d.toString()));
  eas.push(ea);
  return ea;
}

const tagOf = (id: string) => `rubi:${id.replace(/-/g, '').slice(0, 20)}`;
const reportsOf = (id: string) => seen.filter((s) => s.method === 'POST' && s.path === `/signals/${id}/status`).map((s) => ({ ...(JSON.parse(s.body) as Record<string, unknown>), http: s.status }));
const signalNow = (id: string) => dash.signal(id);
async function settled(id: string): Promise<Signal> {
  return until(`signal ${id} to be reported`, async () => {
    const s = await signalNow(id);
    return s.status !== 'PENDING' && s.status !== 'DELIVERED' ? s : undefined;
  });
}

describe('RubiStudioConnector (host-compiled MQL) against the real functions', () => {
  let first: Ea;
  let buy: Signal;
  let gold: Signal;
  let goldTicket = 0;
  let lost: Signal;

  it('connects with the account and the EURUSD/XAUUSD specs, pings, pushes its (empty) positions', async () => {
    first = startEa(['--crash-after-send', 'XAUUSD:BUY']);
    await until('the EA to start', async () => /started ([0-9a-f-]{36})/.exec(first.out));
    sessionId = /started ([0-9a-f-]{36})/.exec(first.out)![1]!;
    const connect = JSON.parse(seen.find((s) => s.path === '/connect')!.body) as { account_number: number; symbols: { symbol: string }[]; balance: number };
    expect(connect).toMatchObject({ account_number: 51234567, balance: 10000 });
    expect(connect.symbols.map((s) => s.symbol)).toEqual(['EURUSD', 'XAUUSD']);
    await until('a ping', async () => seen.some((s) => s.path === '/ping' && s.status === 200));
    const session = (await dash.sessions()).sessions.find((s) => s.id === sessionId)!;
    expect(session).toMatchObject({ status: 'active', account_number: 51234567, ea_version: '1.0.0', balance: 10000, equity: 10000 });
    expect(seen.find((s) => s.path === '/positions/update')).toBeDefined();
  });

  it('executes a risk-sized BUY once: the server sizes 0.5 lots, the EA reports EXECUTED with the ticket and retcode 10009, the dashboard sees the position', async () => {
    buy = await dash.createSignal({ session_id: sessionId, type: 'BUY', symbol: 'EURUSD', entry_price: 1.0851, stop_loss: 1.0831, take_profit: 1.0891, risk_percent: 1 });
    expect(buy.volume).toBe(0.5);
    const done = await settled(buy.id);
    expect(done.status).toBe('EXECUTED');
    expect(done.status_message).toBe('10009 TRADE_RETCODE_DONE: request completed');
    const [report, ...more] = reportsOf(buy.id);
    expect(more).toEqual([]);
    expect(report).toMatchObject({ status: 'EXECUTED', order_ticket: done.order_ticket, price: 1.0851, volume: 0.5, retcode: 10009, http: 200 });
    expect(first.out).toContain(`order EURUSD BUY 0.5 ${done.order_ticket} ${tagOf(buy.id)}`);
    const positions = await until('the position on the dashboard', async () => {
      const list = (await dash.positions({ session_id: sessionId })).positions;
      return list.length === 1 ? list : undefined;
    });
    expect(positions[0]).toMatchObject({ ticket: done.order_ticket, symbol: 'EURUSD', type: 'BUY', volume: 0.5, open_price: 1.0851, stop_loss: 1.0831, take_profit: 1.0891, magic: 20261121, comment: tagOf(buy.id) });
  });

  it('the terminal dies between the order and its report; restarted, the EA finds the deal in history and reports EXECUTED: one order, one position', async () => {
    gold = await dash.createSignal({ session_id: sessionId, type: 'BUY', symbol: 'XAUUSD', volume: 0.1, stop_loss: 2640 });
    expect(await first.exit).toBe(3);
    expect(first.out).toContain(`crash after-send ${tagOf(gold.id)}`);
    goldTicket = Number(new RegExp(`order XAUUSD BUY 0.1 (\\d+) ${tagOf(gold.id)}`).exec(first.out)![1]);
    expect(reportsOf(gold.id)).toEqual([]);
    expect((await signalNow(gold.id)).status).toBe('DELIVERED');

    const second = startEa(['--crash-before-send', 'EURUSD:SELL']);
    const done = await settled(gold.id);
    expect(done).toMatchObject({ status: 'EXECUTED', order_ticket: goldTicket });
    expect(done.status_message).toContain("order found in the terminal's history after a restart");
    expect(reportsOf(gold.id)).toHaveLength(1);
    expect(reportsOf(gold.id)[0]).toMatchObject({ status: 'EXECUTED', order_ticket: goldTicket, volume: 0.1, price: 2650.3, retcode: 10009 });
    expect(second.out).toMatch(/started /);
    expect(second.out).not.toContain('order XAUUSD');
    // The restarted EA resumed the same session and pushed both positions.
    expect(/started ([0-9a-f-]{36})/.exec(second.out)![1]).toBe(sessionId);
    await until('both positions on the dashboard', async () => (await dash.positions({ session_id: sessionId })).positions.length === 2);

    // This run dies after journaling "sending" for the next order, before it reaches the trade server.
    lost = await dash.createSignal({ session_id: sessionId, type: 'SELL', symbol: 'EURUSD', volume: 0.1 });
    expect(await second.exit).toBe(3);
    expect(second.out).toContain(`crash before-send ${tagOf(lost.id)}`);
    expect(second.out).not.toContain('order EURUSD SELL');
  });

  it('restarted again: the order that never left is UNKNOWN "outcome unknown" and not sent; CLOSE_BUY closes; the EA disconnects with its counters', async () => {
    const third = startEa();
    const unknown = await settled(lost.id);
    expect(unknown.status).toBe('UNKNOWN');
    expect(unknown.status_message).toContain('outcome unknown');
    expect(unknown.status_message).toContain('the order was not sent again');
    expect(reportsOf(lost.id)).toEqual([expect.objectContaining({ status: 'UNKNOWN', retcode: null, http: 200 })]);

    const close = await dash.createSignal({ session_id: sessionId, type: 'CLOSE_BUY', symbol: 'EURUSD' });
    const closed = await settled(close.id);
    expect(closed.status).toBe('EXECUTED');
    expect(reportsOf(close.id)[0]).toMatchObject({ status: 'EXECUTED', volume: 0.5, price: 1.085, retcode: 10009 });
    const open = await until('the EURUSD position closed on the dashboard', async () => {
      const list = (await dash.positions({ session_id: sessionId })).positions;
      return list.length === 1 ? list : undefined;
    });
    expect(open[0]).toMatchObject({ ticket: goldTicket, symbol: 'XAUUSD', comment: tagOf(gold.id) });

    await writeFile(join(work, 'stop'), '');
    expect(await third.exit).toBe(0);
    expect(third.out).not.toMatch(/^order /m);
    // The simulated trade server: exactly one XAUUSD position for the crashed signal, three deals
    // (BUY EURUSD in, BUY XAUUSD in, EURUSD out): no second order, nothing for the lost signal.
    expect(third.out.match(/^final position .*$/gm)).toEqual([`final position ${goldTicket} XAUUSD BUY 0.1 20261121 ${tagOf(gold.id)}`]);
    expect(third.out).toContain('final deals 3');
    const session = (await dash.sessions()).sessions.find((s) => s.id === sessionId)!;
    expect(session.status).toBe('disconnected');
    expect(session.counters).toMatchObject({ signals_received: 1, orders_executed: 1, errors: 1 });
    const disconnect = seen.filter((s) => s.path === '/connect/disconnect');
    expect(disconnect).toHaveLength(1);

    // Every signal reported exactly once, and the backend holds each outcome once.
    for (const s of [buy, gold, lost, close]) expect(reportsOf(s.id).filter((r) => r.http === 200)).toHaveLength(1);
    const statuses = await Promise.all([buy, gold, lost, close].map(async (s) => (await signalNow(s.id)).status));
    expect(statuses).toEqual(['EXECUTED', 'EXECUTED', 'UNKNOWN', 'EXECUTED']);
  });
});
