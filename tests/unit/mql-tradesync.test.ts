import { randomBytes, randomUUID } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { verifySignature } from '@rubi/crypto';
import { RegisterResponse } from '@rubi/contracts/register.ts';
import { ReportTradesRequest } from '@rubi/contracts/trades.ts';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { buildHostProgram, runHostProgram, type MqlPlatform } from '../../mql/host/build.ts';
import { classifyLine } from '../../vps-agent/src/terminal-log.ts';

// Rubi/TradeSync.mqh (the provisioned EA, RubiTradeSync.mq5/.mq4) compiled on the host
// (mql/host/tests/tradesync_test.cpp, a command interpreter) against the simulated terminal and a
// mock backend in this process that validates each batch with the real contract schema and checks
// the signature with the real verifier: deal -> trade mapping, register, backfill in bounded
// batches, a lost response and its resend, a 400 naming a trade (set aside), the watermark across a
// restart, 401s, and where the backfill starts (the account's registered_at unless configured). The same program runs against the real functions in
// tests/integration/e2e/mql-tradesync.test.ts.

/** The contract's `ownership_codes` (issue #15): optional, each RUBI- + 8 Crockford base32, at most 10, unique. */
const OwnershipCodes = z
  .array(z.string().regex(/^RUBI-[0-9A-HJKMNP-TV-Z]{8}$/))
  .max(10)
  .refine((c) => new Set(c).size === c.length, 'duplicate code')
  .optional();

const NOW = 1_763_720_100; // the sim's clock: 2025-11-21T10:15:00Z
const OFFSET = 7200; // trade server = UTC + 2 h
const TOKEN = randomBytes(32).toString('base64url');
const SPENT_TOKEN = 'spent-' + randomBytes(32).toString('base64url');

interface Seen {
  path: string;
  headers: IncomingMessage['headers'];
  body: string;
  verified: boolean;
}

class MockBackend {
  server!: Server;
  base = '';
  secret = `whsec_${randomBytes(32).toString('base64')}`;
  seen: Seen[] = [];
  stored = new Map<string, Set<number>>();
  /** Drop the response of the first non-empty trades request (after storing its trades). */
  loseFirst = true;
  /** Once this ticket is stored, the secret stops verifying (the account was provisioned again). */
  revokeAfterTicket: number | undefined;
  revoked = false;
  /** The register response's registered_at (UTC seconds); undefined: an older backend that omits it. */
  registeredAt: number | undefined = NOW - 90 * 86_400;
  /**
   * The backend's own clock (UTC seconds), in a Date header on every answer: signatures more than
   * 300 s off it are refused as the functions refuse them. Undefined: any timestamp verifies.
   */
  serverClock: number | undefined;
  /**
   * The answer's `ownership` for the codes a request carried (undefined: a backend older than the
   * ownership proof, no field). `olderBackend`: its strict body also refuses `ownership_codes` (400).
   */
  ownershipFor: ((codes: string[] | undefined, account: string) => string) | undefined;
  olderBackend = false;
  /** A backend older than the terminal report (issue #16): its strict body refuses broker_connected. */
  refuseReport = false;

  async start(): Promise<void> {
    this.server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', async () => {
        const body = Buffer.concat(chunks).toString('utf8');
        const h = req.headers;
        const path = req.url ?? '/';
        const verdict = await verifySignature({
          secrets: [this.secret],
          headers: { id: (h['x-trade-id'] as string) ?? null, timestamp: (h['x-trade-timestamp'] as string) ?? null, signature: (h['x-trade-signature'] as string) ?? null },
          body,
          nowSeconds: this.serverClock ?? Number(h['x-trade-timestamp'] ?? 0),
        });
        this.seen.push({ path, headers: h, body, verified: verdict.ok });
        const send = (status: number, payload: unknown) => {
          const date = this.serverClock === undefined ? {} : { date: new Date(this.serverClock * 1000).toUTCString() };
          res.writeHead(status, { 'content-type': 'application/json', ...date });
          res.end(JSON.stringify(payload));
        };
        if (path === '/register') {
          const r = JSON.parse(body) as { provisioning_token: string; external_account_id: string };
          if (r.provisioning_token === SPENT_TOKEN) return send(401, { error: { code: 'unauthorized', message: 'invalid provisioning token' } });
          const answer = {
            external_account_id: r.external_account_id,
            api_secret: this.secret,
            status: 'connected',
            account_header: 'X-Account-Id',
            signature_header: 'X-Trade-Signature',
            poll_interval_seconds: 60,
            max_trades_per_batch: 500,
            ...(this.registeredAt === undefined ? {} : { registered_at: new Date(this.registeredAt * 1000).toISOString() }),
            server_time: new Date(NOW * 1000).toISOString(),
          };
          if (this.registeredAt !== undefined) RegisterResponse.parse(answer); // the mock answers what the contract says
          return send(200, answer);
        }
        if (path !== '/trades') return send(404, { error: { code: 'not_found', message: 'no route' } });
        if (!verdict.ok && (verdict.reason === 'timestamp_too_old' || verdict.reason === 'timestamp_in_future')) {
          const message = `request timestamp is more than 300 s ${verdict.reason === 'timestamp_too_old' ? 'old' : 'in the future'}`;
          return send(401, { error: { code: 'unauthorized', message } });
        }
        if (!verdict.ok || this.revoked) return send(401, { error: { code: 'unauthorized', message: 'invalid signature' } });
        // ownership_codes (issue #15) checked against the contract's rule here, whether or not the
        // contract's schema has the field yet; an older backend's strict schema refuses it
        const { ownership_codes: codes, ...rest } = JSON.parse(body) as { ownership_codes?: unknown };
        if (this.olderBackend && codes !== undefined) {
          return send(400, { error: { code: 'validation_failed', message: 'Invalid request', details: [{ path: 'body', message: 'Unrecognized key: "ownership_codes"' }] } });
        }
        if (this.refuseReport && 'broker_connected' in rest) {
          return send(400, { error: { code: 'validation_failed', message: 'Invalid request', details: [{ path: 'body', message: 'Unrecognized key: "broker_connected"' }] } });
        }
        const codeCheck = OwnershipCodes.safeParse(codes);
        if (!codeCheck.success) {
          const details = codeCheck.error.issues.map((i) => ({ path: ['body', 'ownership_codes', ...i.path].join('.'), message: i.message }));
          return send(400, { error: { code: 'validation_failed', message: 'Invalid request', details } });
        }
        const parsed = ReportTradesRequest.safeParse(rest);
        if (!parsed.success) {
          const details = parsed.error.issues.map((i) => ({ path: ['body', ...i.path].join('.'), message: i.message }));
          return send(400, { error: { code: 'validation_failed', message: 'Invalid request', details } });
        }
        const account = h['x-account-id'] as string;
        const stored = this.stored.get(account) ?? new Set<number>();
        this.stored.set(account, stored);
        const accepted: number[] = [];
        const duplicates: number[] = [];
        let cashback = 0;
        for (const t of parsed.data.trades) {
          if (stored.has(t.ticket)) duplicates.push(t.ticket);
          else {
            stored.add(t.ticket);
            accepted.push(t.ticket);
            cashback += t.lots * 3.5;
          }
          if (t.ticket === this.revokeAfterTicket) this.revoked = true;
        }
        if (this.loseFirst && parsed.data.trades.length > 0) {
          this.loseFirst = false;
          req.socket.destroy(); // stored, but the EA never hears it
          return;
        }
        const ownership = this.ownershipFor === undefined ? {} : { ownership: this.ownershipFor(codeCheck.data, account) };
        send(200, { accepted: accepted.sort((a, b) => a - b), duplicates: duplicates.sort((a, b) => a - b), cashback_accrued: Math.round(cashback * 10000) / 10000, server_time: new Date().toISOString(), ...ownership });
      });
    });
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    this.base = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  trades(): { trades: { ticket: number; lots: number; symbol: string; type: string; open_time: string; close_time: string; close_price: number }[] }[] {
    return this.seen.filter((s) => s.path === '/trades').map((s) => JSON.parse(s.body));
  }

  close(): Promise<void> {
    return new Promise((resolve) => this.server.close(() => resolve()));
  }
}

interface Output {
  lines: string[];
  logs: string[];
  code: number | null;
  stderr: string;
  /** Result lines of a command (e.g. "cycle"), in order. */
  of: (cmd: string) => string[];
  status: (cmd: string, index: number) => Record<string, number>;
  docs: () => Record<string, unknown>[][];
}

async function play(exe: string, files: string, commands: string[]): Promise<Output> {
  const result = await runHostProgram(exe, [], { files, input: commands.map((c) => `${c}\n`).join(''), timeoutMs: 120_000 });
  const lines = result.stdout.split('\n').filter((l) => l !== '');
  const of = (cmd: string) => lines.filter((l) => l.startsWith(`${cmd} `) || l === cmd);
  return {
    lines,
    logs: lines.filter((l) => l.startsWith('log ')).map((l) => l.slice(4)),
    code: result.code,
    stderr: result.stderr,
    of,
    status: (cmd, index) => Object.fromEntries(of(cmd)[index]!.split(' ').slice(1).map((kv) => kv.split('=')).map(([k, v]) => [k, Number(v)])),
    docs: () => {
      const groups: Record<string, unknown>[][] = [];
      let current: Record<string, unknown>[] = [];
      for (const l of lines) {
        if (l.startsWith('doc ')) current.push(JSON.parse(l.slice(4)) as Record<string, unknown>);
        else if (l.startsWith('outbox ') || l.startsWith('aside ')) {
          groups.push(current);
          current = [];
        }
      }
      return groups;
    },
  };
}

const iso = (utc: number) => new Date(utc * 1000).toISOString().replace('.000Z', 'Z');
const tmpDirs: string[] = [];
const sandbox = () => {
  const d = mkdtempSync(join(tmpdir(), 'mql-tradesync-'));
  tmpDirs.push(d);
  return d;
};
afterAll(() => {
  for (const d of tmpDirs) rmSync(d, { recursive: true, force: true });
});

describe('RubiTradeSync: deal -> trade mapping (RubiTradeFromDeals)', () => {
  let exe = '';
  beforeAll(async () => {
    exe = await buildHostProgram('tradesync_test', 'MQL5');
  }, 300_000);

  it('maps hedging, partial closes, netting scale-ins and reversals, MT4 pairs; skips non-trades', async () => {
    const out = await play(exe, sandbox(), [
      // a plain position: IN buy, OUT sell
      'map 0 B,I,0.5,1.1,1000,1,0,0,0,42 S,O,0.5,1.101,2000,2,-3.5,-1.2,50,42',
      // partial closes: 0.3 then 0.7; close price volume-weighted, close time of the last; times shifted by the offset
      'map 3600 B,I,1,1.1,1000,1,-3.5,0,0,42 S,O,0.3,1.102,2000,2,-1.05,0,60,0 S,O,0.7,1.104,3000,3,-2.45,-0.5,280,0',
      // still partly open: what closed so far, and how much is left
      'map 0 B,I,1,1.1,1000,1,0,0,0,42 S,O,0.3,1.102,2000,2,0,0,60,0',
      // netting reversal: sell 1, in/out buy 1.5 (closes 1, opens 0.5 long), out 0.5; negative magic omitted
      'map 0 S,I,1,1.2,1000,1,0,0,0,-5 B,X,1.5,1.19,2000,2,0,0,100,0 S,O,0.5,1.195,3000,3,0,0,-2.5,0',
      // netting scale-in: 0.1 + 0.2 in, 0.3 out; listed out of order
      'map 0 S,O,0.3,1.104,3000,3,0,0,0,1 B,I,0.2,1.103,1500,2,0,0,0,1 B,I,0.1,1.1,1000,1,0,0,0,1',
      // only a closing deal known: no trade
      'map 0 S,O,0.3,1.104,3000,3,0,0,0,1',
      // MT4's pair: one ticket, same second, OUT listed first; a balance row ignored
      'map 0 B,O,0.3,1.104,3000,7,0,0,10,1 S,I,0.3,1.105,3000,7,0,0,0,1 O,I,0,0,3000,8,0,0,1000,0',
      // close by (MT5 OUT_BY)
      'map 0 B,I,0.2,1.1,1000,1,0,0,0,0 S,Y,0.2,1.1005,2000,5,0,0,10,0',
      'path body.trades.12.symbol',
      'path body.trades.3',
      'path body.trades',
      'path body.trades.x',
      'path body.tradesx.1',
    ]);
    expect(out.stderr).toBe('');
    const maps = out.of('map').map((l) => {
      const [, ok, left, json] = /^map (\d) (\S+) (.*)$/.exec(l)!;
      return { ok: ok === '1', left: Number(left), trade: json === '-' ? null : (JSON.parse(json!) as Record<string, unknown>) };
    });
    const base = { ticket: 900, symbol: 'EURUSD', comment: 'opened' };
    expect(maps[0]).toEqual({
      ok: true,
      left: 0,
      trade: { ...base, type: 'BUY', lots: 0.5, open_time: iso(1000), close_time: iso(2000), open_price: 1.1, close_price: 1.101, commission: -3.5, swap: -1.2, profit: 50, magic: 42 },
    });
    expect(maps[1]!.trade).toEqual({
      ...base, type: 'BUY', lots: 1, open_time: iso(1000 - 3600), close_time: iso(3000 - 3600), open_price: 1.1, close_price: 1.1034, commission: -7, swap: -0.5, profit: 340, magic: 42,
    });
    expect(maps[2]).toMatchObject({ ok: true, trade: { lots: 0.3, close_price: 1.102 } });
    expect(maps[2]!.left).toBeCloseTo(0.7, 9);
    expect(maps[3]!.trade).toEqual({
      ...base, type: 'SELL', lots: 1.5, open_time: iso(1000), close_time: iso(3000), open_price: 1.19666667, close_price: 1.19166667, commission: 0, swap: 0, profit: 97.5,
    });
    expect(maps[4]!.trade).toMatchObject({ type: 'BUY', lots: 0.3, open_time: iso(1000), close_time: iso(3000), open_price: 1.102, close_price: 1.104, magic: 1 });
    expect(maps[5]).toEqual({ ok: false, left: 0.3, trade: null });
    expect(maps[6]!.trade).toMatchObject({ type: 'SELL', lots: 0.3, open_price: 1.105, close_price: 1.104, profit: 10, open_time: iso(3000), close_time: iso(3000) });
    expect(maps[7]!.trade).toMatchObject({ type: 'BUY', lots: 0.2, close_price: 1.1005, profit: 10, magic: 0 });
    expect(out.of('path')).toEqual(['path 12', 'path 3', 'path -1', 'path -1', 'path -1']);
  }, 60_000);
});

describe.each(['MQL5', 'MQL4'] as MqlPlatform[])('RubiTradeSync against a mock backend (%s)', (platform) => {
  let exe = '';
  let mock: MockBackend;
  beforeAll(async () => {
    exe = await buildHostProgram('tradesync_test', platform);
    mock = new MockBackend();
    await mock.start();
  }, 300_000);
  afterAll(() => mock.close());

  it('registers, backfills in bounded batches, resends a lost response, sets a refused trade aside, keeps its watermark across a restart, stops on 401', async () => {
    const account = randomUUID();
    const files = sandbox();
    const day = 86_400;
    const t = (ago: number) => NOW - ago;
    mock.revokeAfterTicket = 1010;
    const mt5 = platform === 'MQL5';
    const out = await play(exe, files, [
      `clock ${NOW} ${OFFSET}`,
      'symbol EURUSD 5 0.00001 1.1 1.1001',
      `config ${account} ${mock.base}/register ${mock.base}/trades ${TOKEN}`,
      // history: one trade before the 30-day backfill, five within it (one with a symbol the contract refuses: a control character)
      `trade 1001 EURUSD BUY 0.5 ${t(40 * day)} ${t(40 * day - 600)} 1.1 1.101 -3.5 0 50`,
      `trade 1002 EURUSD SELL 0.2 ${t(3 * day)} ${t(3 * day - 600)} 1.1 1.099 -1.4 -0.3 20 ${mt5 ? 2 : 1}`,
      `trade 1003 EURUSD BUY 0.1 ${t(2 * day)} ${t(2 * day - 600)} 1.1 1.1 -0.7 0 0`,
      `trade 1004 EUR\u0001USD BUY 0.1 ${t(day)} ${t(day - 600)} 1.1 1.1 -0.7 0 0`,
      `trade 1005 EURUSD BUY 1 ${t(day)} ${t(day - 300)} 1.1 1.102 -7 0 200`,
      `trade 1006 EURUSD SELL 0.3 ${t(7200)} ${t(3600)} 1.1 1.1005 -2.1 0 -15`,
      'balance 500',
      'open EURUSD BUY 1', // stays open for now: not a closed trade
      `start 30 2`,
      'sleep 5',
      'cycle', // register, backfill 5 trades: 3 batches of at most 2; the first response is lost and resent; 1004 set aside
      'outbox',
      'aside',
      'quote EURUSD 1.103 1.1031',
      // the open position closes in two parts (MT5: one position, two OUT deals; MT4 closes at once)
      ...(mt5 ? ['close last 0.4', 'sleep 60', 'cycle'] : []),
      'close last 0',
      'sleep 60',
      'cycle',
      // an EA restart: the stored secret, no new register, nothing sent twice
      `start 30 2`,
      'sleep 5',
      'cycle',
      `trade 1010 EURUSD BUY 0.4 ${t(3000)} ${t(-120)} 1.1 1.1 -2.8 0 0`,
      'sleep 60',
      'timer',
      'sleep 60',
      'timer', // the secret stopped verifying: 401, the EA stops
      'sleep 60',
      'timer',
    ]);
    expect(out.stderr).toBe('');
    expect(out.code).toBe(0);

    // register: unsigned, with the terminal's identity and the token; "registered" for the agent
    const registers = mock.seen.filter((s) => s.path === '/register');
    expect(registers).toHaveLength(1);
    expect(JSON.parse(registers[0]!.body)).toEqual({
      external_account_id: account,
      login: 51234567,
      server: 'RubiBroker-Demo',
      platform: mt5 ? 'MT5' : 'MT4',
      terminal_build: 4755,
      provisioning_token: TOKEN,
    });
    const registered = out.logs.find((l) => l.startsWith('registered with the backend'))!;
    expect(registered).toContain(`external account ${account} (status connected)`);
    expect(classifyLine(registered)).toBe('ea_registered');
    expect(out.logs.join('\n')).not.toContain(TOKEN);
    expect(out.logs.join('\n')).not.toContain(mock.secret);

    // every trades request signed, for this account, at most 2 trades
    const trades = mock.seen.filter((s) => s.path === '/trades');
    for (const s of trades) {
      expect(s.headers['x-account-id']).toBe(account);
      expect(s.verified).toBe(true);
    }
    const batches = mock.trades().map((b) => b.trades.map((x) => x.ticket));
    for (const b of batches) expect(b.length).toBeLessThanOrEqual(2);
    // the first cycle of a run sends first (an empty batch: the clock check), then the backfill:
    // oldest close first; the lost response's batch went again (duplicates); 1004 refused then set aside
    expect(batches.slice(0, 5)).toEqual([[], [1002, 1003], [1002, 1003], [1005, 1004], [1005, 1006]]);
    const first = out.status('cycle', 0);
    expect(first).toMatchObject({ outbox: 0, aside: 1, registered: 1, halted: 0, offset: OFFSET, poll: 60, batch: 2 });
    expect(first.scan_from).toBe(NOW + 5 + OFFSET - 30 * day);
    expect(first.wm).toBe(t(3600) + OFFSET);
    expect(out.docs()[1]).toEqual([
      expect.objectContaining({ ticket: '1004', reason: expect.stringMatching(/^body\.trades\.1\.symbol: /), trade: expect.objectContaining({ ticket: 1004, symbol: 'EUR\u0001USD' }) }),
    ]);
    expect(out.logs.some((l) => /^WARN trade 1004 set aside: the backend refused it \(HTTP 400 body\.trades\.1\.symbol/.test(l))).toBe(true);
    expect(out.logs.some((l) => /^WARN POST http:\/\/127\.0\.0\.1:\d+: no response \(error \d+\), attempt 1 of 3, retrying in \d+ ms$/.test(l))).toBe(true);
    const sent = mock.trades().flatMap((b) => b.trades);
    const t1002 = sent.find((x) => x.ticket === 1002)!;
    expect(t1002).toMatchObject({ type: 'SELL', lots: 0.2, open_time: iso(t(3 * day)), close_time: iso(t(3 * day - 600)), close_price: 1.099 });

    // the open position: nothing while open (or partly closed), one trade once fully closed
    const afterOpen = batches.slice(5);
    const ticket = Number(out.of('open')[0]!.split(' ')[1]);
    const positionTrades = mock.trades().flatMap((b) => b.trades).filter((x) => x.ticket === ticket);
    expect(positionTrades.length).toBeGreaterThanOrEqual(1);
    expect(new Set(positionTrades.map((x) => JSON.stringify(x))).size).toBe(1);
    expect(positionTrades[0]).toMatchObject({ symbol: 'EURUSD', type: 'BUY', lots: 1, open_price: 1.1001, close_price: 1.103, profit: 290, magic: 42, comment: 'test' });
    if (mt5) expect(afterOpen[0]).toEqual([]); // a heartbeat while it is only partly closed
    expect(afterOpen[mt5 ? 1 : 0]).toEqual([ticket]);

    // the restart: no second register, nothing re-sent, then 1010 once; then 401 stops it
    expect(out.logs.filter((l) => l.startsWith('registered earlier as external account'))).toHaveLength(1);
    const restart = out.of('cycle').length - 1;
    expect(out.status('cycle', restart)).toMatchObject({ outbox: 0, registered: 1 });
    expect(sent.filter((x) => x.ticket === 1010)).toHaveLength(1);
    expect(sent.filter((x) => x.ticket === 1005).length).toBe(2); // the refused batch, then with 1006
    expect(sent.some((x) => x.ticket === 1001)).toBe(false); // before the backfill start
    const timers = out.of('timer').map((_, i) => out.status('timer', i));
    expect(timers[0]).toMatchObject({ outbox: 0, halted: 0 });
    expect(timers[1]).toMatchObject({ halted: 1 });
    expect(timers[2]!.requests).toBe(timers[1]!.requests);
    const stop = out.logs.find((l) => l.startsWith('ERROR trades refused (HTTP 401)'))!;
    expect(stop).toContain('the VPS agent');
    expect(classifyLine(stop)).toBeNull();

    // the files it keeps
    const state = readFileSync(join(files, 'RubiTradeSync', 'state.ini'), 'utf8');
    expect(state).toContain(`external_account_id=${account}`);
    expect(state).toContain(`api_secret=${mock.secret}`);
    expect(state).toContain(`registered_at=${iso(mock.registeredAt!)}`);
    expect(state).not.toContain(TOKEN);
    expect(readFileSync(join(files, 'RendR_debug.log'), 'utf8')).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ INFO RubiTradeSync MT[45] build 4755 /);
  }, 120_000);

  it.each([
    ['10 minutes fast', 600],
    ['10 minutes slow', -600],
  ])('a computer clock %s: one refused request, then the trades land once with true times; the EA does not stop (issue #14)', async (_name, skew) => {
    mock.loseFirst = false;
    mock.revoked = false;
    mock.revokeAfterTicket = undefined;
    mock.serverClock = NOW + 5; // the backend's clock: right (the sim's UTC after `sleep 5`)
    try {
      const account = randomUUID();
      const closes = [3 * 3600, 2 * 3600, 3600];
      const out = await play(exe, sandbox(), [
        `clock ${NOW} ${OFFSET}`,
        `skew ${skew}`,
        'symbol EURUSD 5 0.00001 1.1 1.1001',
        `config ${account} ${mock.base}/register ${mock.base}/trades ${TOKEN}`,
        ...closes.map((ago, i) => `trade ${3001 + i} EURUSD BUY 0.1 ${NOW - ago - 600} ${NOW - ago} 1.1 1.1 0 0 0`),
        'start 30 0',
        'sleep 5',
        'cycle',
        'sleep 60',
        'timer',
      ]);
      expect(out.stderr).toBe('');
      expect(out.status('cycle', 0)).toMatchObject({ outbox: 0, halted: 0, registered: 1, offset: OFFSET, clock: -skew });
      expect(out.status('timer', 0)).toMatchObject({ outbox: 0, halted: 0 });
      const mine = mock.seen.filter((x) => x.path === '/trades' && x.headers['x-account-id'] === account);
      // the first request is refused for its timestamp; the same id signed again with the backend's clock verifies; every later one too
      expect(mine.map((x) => x.verified)).toEqual(mine.map((_, i) => i !== 0));
      expect(mine[1]!.headers['x-trade-id']).toBe(mine[0]!.headers['x-trade-id']);
      const sent = mine.filter((x) => x.verified).flatMap((x) => (JSON.parse(x.body) as { trades: { ticket: number; open_time: string; close_time: string }[] }).trades);
      expect(sent.map((x) => x.ticket).sort()).toEqual([3001, 3002, 3003]);
      expect([...mock.stored.get(account)!].sort()).toEqual([3001, 3002, 3003]);
      for (const [i, ago] of closes.entries()) expect(sent.find((x) => x.ticket === 3001 + i)).toMatchObject({ open_time: iso(NOW - ago - 600), close_time: iso(NOW - ago) });
      expect(out.logs.some((l) => l.startsWith('ERROR'))).toBe(false);
      expect(out.logs.find((l) => l.includes("this computer's clock is"))).toContain(`600 s ${skew > 0 ? 'ahead of' : 'behind'} the backend's`);
    } finally {
      mock.serverClock = undefined;
    }
  }, 60_000);

  it('a spent token without a stored secret: one clear line, then nothing', async () => {
    mock.loseFirst = false;
    const out = await play(exe, sandbox(), [
      `clock ${NOW} ${OFFSET}`,
      `config ${randomUUID()} ${mock.base}/register ${mock.base}/trades ${SPENT_TOKEN} 2025-11-21T09:00:00.000Z`,
      'start 30 0',
      'cycle',
      'sleep 120',
      'timer',
    ]);
    expect(out.status('cycle', 0)).toMatchObject({ registered: 0, halted: 1, requests: 1 });
    expect(out.status('timer', 0)).toMatchObject({ requests: 1 });
    const line = out.logs.find((l) => l.startsWith('ERROR register refused (HTTP 401)'))!;
    expect(line).toContain('the provisioning token in rendr_ea_config.ini is spent, expired or not this account\'s (it expires at 2025-11-21T09:00:00.000Z)');
    expect(line).toContain('retry the account from the dashboard');
    expect(classifyLine(line)).toBeNull();
    expect(out.logs.join('\n')).not.toContain(SPENT_TOKEN);
  }, 60_000);

  it('a missing config file fails the start with the reason', async () => {
    const out = await play(exe, sandbox(), ['start 30 0']);
    expect(out.of('start')).toEqual(['start 0']);
    expect(out.logs).toContain('ERROR rendr_ea_config.ini not found in the terminal\'s Files folder (the VPS agent writes it): RubiTradeSync cannot start');
  }, 60_000);

  it('queues at most the given number per step, oldest close first, and waits for a moving server clock', async () => {
    mock.loseFirst = false;
    mock.revoked = false;
    mock.revokeAfterTicket = undefined;
    const out = await play(exe, sandbox(), [
      `clock ${NOW} ${OFFSET}`,
      `config ${randomUUID()} ${mock.base}/register ${mock.base}/trades ${TOKEN}`,
      ...[1, 5, 3, 4, 2].map((h, i) => `trade ${2001 + i} EURUSD BUY 0.1 ${NOW - h * 3600 - 60} ${NOW - h * 3600} 1.1 1.1 0 0 0`),
      'start 1 0',
      'collect 3', // the clock has not moved since the start: no UTC offset yet
      'cycle', // registers (still no offset: nothing read, an empty batch sent)
      'sleep 1',
      'collect 3',
      'outbox',
      'collect 0',
      'sleep 60',
      'timer', // sends the 5
      'start 1 0', // a restart: nothing queued again
      'sleep 1',
      'collect 0',
    ]);
    expect(out.of('collect')).toEqual(['collect -1', 'collect 3', 'collect 2', 'collect 0']);
    expect(out.logs).toContain("waiting for the trade server's clock (quotes) to convert trade times to UTC before reading the history");
    expect(out.docs()[0]!.map((d) => d.ticket)).toEqual([2002, 2004, 2003]);
    expect(out.status('cycle', 0)).toMatchObject({ outbox: 0, registered: 1, requests: 2 });
    expect(out.status('timer', 0)).toMatchObject({ outbox: 0, registered: 1, recent: 5 });
  }, 60_000);

  it('backfills from the account\'s registration by default; BackfillDays or BackfillFrom start earlier; an older backend: from registering', async () => {
    mock.loseFirst = false;
    mock.revoked = false;
    mock.revokeAfterTicket = undefined;
    const day = 86_400;
    const REGISTERED = NOW - 2 * day; // the trader registered the account on the dashboard (UTC)
    mock.registeredAt = REGISTERED;
    const history = [
      `trade 3001 EURUSD BUY 0.5 ${REGISTERED - 3600} ${REGISTERED - 600} 1.1 1.101 -3.5 0 50`, // closed before the registration
      `trade 3002 EURUSD SELL 0.2 ${REGISTERED - 600} ${REGISTERED + 600} 1.1 1.099 -1.4 0 20`, // opened before, closed after it
      `trade 3003 EURUSD BUY 0.1 ${NOW - 7200} ${NOW - 3600} 1.1 1.1 -0.7 0 0`,
    ];
    const run = async (start: string, extra: string[] = []) => {
      const account = randomUUID();
      const files = sandbox();
      const out = await play(exe, files, [
        `clock ${NOW} ${OFFSET}`,
        `config ${account} ${mock.base}/register ${mock.base}/trades ${TOKEN}`,
        ...history,
        start,
        ...extra,
        'cycle', // registers; the trade server's offset is not known yet (the clock has not moved)
        'sleep 5',
        'cycle', // the offset is known: the history is read
      ]);
      expect(out.stderr).toBe('');
      expect(out.code).toBe(0);
      const sent = mock.seen
        .filter((x) => x.path === '/trades' && x.headers['x-account-id'] === account)
        .flatMap((x) => (JSON.parse(x.body) as { trades: { ticket: number }[] }).trades.map((t) => t.ticket));
      return { out, sent, state: readFileSync(join(files, 'RubiTradeSync', 'state.ini'), 'utf8') };
    };

    // defaults (BackfillFrom 0, BackfillDays 0): from registered_at, in trade server time
    const byDefault = await run('start 0 0');
    expect(byDefault.out.status('cycle', 0)).toMatchObject({ registered: 1, offset: -1, scan_from: 0 }); // not at register: the offset is unknown
    expect(byDefault.out.status('cycle', 1)).toMatchObject({ registered: 1, offset: OFFSET, scan_from: REGISTERED + OFFSET, outbox: 0 });
    expect(byDefault.sent).toEqual([3002, 3003]); // 3001 closed before the account was registered: never reported
    expect(byDefault.out.logs.find((l) => l.startsWith('registered with the backend'))).toContain(`history from the account's registration, ${iso(REGISTERED)} UTC`);
    expect(byDefault.out.logs).toContain(`history from the account's registration, ${iso(REGISTERED)} UTC (${iso(REGISTERED + OFFSET)} trade server time)`);
    expect(byDefault.state).toContain(`registered_at=${iso(REGISTERED)}\r\n`);
    expect(byDefault.state).toContain(`scan_from=${REGISTERED + OFFSET}\r\n`);

    // BackfillDays: that many days before registering, earlier than the account's registration;
    // before registering, the EA does not read the history (it does not know where it starts)
    const byDays = await run('start 3 0', ['sleep 1', 'collect 0']);
    expect(byDays.out.of('collect')).toEqual(['collect -1']);
    expect(byDays.out.logs).toContain("waiting for the registration to learn where the account's history starts");
    expect(byDays.out.status('cycle', 0)).toMatchObject({ registered: 1, scan_from: NOW + 1 + OFFSET - 3 * day });
    expect(byDays.sent).toEqual([3001, 3002, 3003]);

    // BackfillFrom (trade server time)
    const byFrom = await run(`start 0 0 ${REGISTERED + OFFSET - 3600}`);
    expect(byFrom.out.status('cycle', 0)).toMatchObject({ scan_from: REGISTERED + OFFSET - 3600 });
    expect(byFrom.sent).toEqual([3001, 3002, 3003]);

    // an older backend without registered_at: from the moment of registering (its server_time)
    mock.registeredAt = undefined;
    const older = await run('start 0 0');
    expect(older.out.status('cycle', 1)).toMatchObject({ registered: 1, scan_from: NOW + OFFSET, outbox: 0 });
    expect(older.sent).toEqual([]);
    expect(older.out.logs.some((l) => l.startsWith('WARN register answered without registered_at'))).toBe(true);
    expect(older.state).toContain(`registered_at=${iso(NOW)}\r\n`);
    mock.registeredAt = NOW - 90 * day;
  }, 120_000);

  describe('the terminal report (issue #16): broker_connected, backfill_complete, history_synced_until', () => {
    const day = 86_400;
    type Report = { trades: unknown[]; broker_connected?: boolean; backfill_complete?: boolean; history_synced_until?: string };
    const reportsOf = (account: string) =>
      mock.seen.filter((x) => x.path === '/trades' && x.headers['x-account-id'] === account && x.verified).map((x) => JSON.parse(x.body) as Report);
    const reset = () => {
      mock.loseFirst = false;
      mock.revoked = false;
      mock.revokeAfterTicket = undefined;
      mock.registeredAt = NOW - 2 * day;
      mock.refuseReport = false;
    };
    afterAll(() => {
      mock.registeredAt = NOW - 90 * day;
      mock.refuseReport = false;
    });

    it('reports the broker connection in every request; the backfill is complete on the request that empties the outbox; disconnected: no history read, the empty batch says so', async () => {
      reset();
      const account = randomUUID();
      const out = await play(exe, sandbox(), [
        `clock ${NOW} ${OFFSET}`,
        'symbol EURUSD 5 0.00001 1.1 1.1001',
        `config ${account} ${mock.base}/register ${mock.base}/trades ${TOKEN}`,
        ...[30, 20, 10].map((h, i) => `trade ${3001 + i} EURUSD BUY 0.1 ${NOW - h * 3600 - 60} ${NOW - h * 3600} 1.1 1.1 0 0 0`),
        'start 0 2',
        'sleep 5',
        'cycle', // the first request (before any read): no history state; then the backfill in 2 batches
        'connected 0',
        'sleep 60',
        `trade 3004 EURUSD BUY 0.1 ${NOW - 60} ${NOW} 1.1 1.1 0 0 0`,
        'timer', // not connected: nothing read, an empty batch that says so
        'connected 1',
        'sleep 60',
        'timer', // connected again: 3004 read and sent, synced to the new read
      ]);
      expect(out.stderr).toBe('');
      const reports = reportsOf(account);
      const shape = reports.map((r) => [r.trades.length, r.broker_connected, r.backfill_complete, r.history_synced_until ?? null]);
      const firstRead = out.status('cycle', 0).synced!;
      const secondRead = out.status('timer', 1).synced!;
      expect(firstRead).toBeGreaterThanOrEqual(NOW);
      expect(secondRead).toBeGreaterThan(firstRead);
      expect(shape).toEqual([
        [0, true, undefined, null],
        [2, true, false, null],
        [1, true, true, iso(firstRead)],
        [0, false, true, iso(firstRead)],
        [1, true, true, iso(secondRead)],
      ]);
      expect(out.status('timer', 0)).toMatchObject({ hist: 2, outbox: 0 });
      expect(out.logs).toContain('waiting for the terminal to reach its trade server before reading the history');
    }, 60_000);

    it('a backend older than the report: the trades go without it for the rest of the run', async () => {
      reset();
      mock.refuseReport = true;
      const account = randomUUID();
      const out = await play(exe, sandbox(), [
        `clock ${NOW} ${OFFSET}`,
        'symbol EURUSD 5 0.00001 1.1 1.1001',
        `config ${account} ${mock.base}/register ${mock.base}/trades ${TOKEN}`,
        `trade 3101 EURUSD BUY 0.1 ${NOW - 7200} ${NOW - 3600} 1.1 1.1 0 0 0`,
        'start 0 0',
        'sleep 5',
        'cycle',
      ]);
      expect(out.stderr).toBe('');
      const reports = reportsOf(account);
      // the first (empty) request refused; the next carries the trade, without the report
      expect(reports.map((r) => 'broker_connected' in r)).toEqual([true, false]);
      expect(reports.at(-1)!.trades).toHaveLength(1);
      expect(out.status('cycle', 0)).toMatchObject({ outbox: 0 });
      expect(out.logs.some((l) => l.includes('the backend refused the terminal report'))).toBe(true);
    }, 60_000);
  });

  describe('the ownership proof (issue #15): codes from order comments in ownership_codes', () => {
    const CODE = 'RUBI-7KQ2X9MD';
    const day = 86_400;
    const REGISTERED = NOW - 2 * day;
    const codesOf = (account: string) =>
      mock.seen
        .filter((x) => x.path === '/trades' && x.headers['x-account-id'] === account)
        .map((x) => (JSON.parse(x.body) as { ownership_codes?: string[] }).ownership_codes);
    const reset = () => {
      mock.loseFirst = false;
      mock.revoked = false;
      mock.revokeAfterTicket = undefined;
      mock.registeredAt = REGISTERED;
      // the backend's answer is the registration's state: verified once a request carried its code
      const proven = new Set<string>();
      mock.ownershipFor = (codes, account) => {
        if (codes?.includes(CODE)) proven.add(account);
        return proven.has(account) ? 'verified' : 'unverified';
      };
      mock.olderBackend = false;
    };
    afterAll(() => {
      mock.registeredAt = NOW - 90 * day;
      mock.ownershipFor = undefined;
      mock.olderBackend = false;
    });

    it('extracts RUBI- + 8 Crockford base32 anywhere, case-insensitively, upper-cased, deduplicated; near misses are not codes', async () => {
      const out = await play(exe, sandbox(), [
        `extract ${CODE}`,
        'extract proof:rubi-7kq2x9md(1)',
        'extract RUBI-7KQ2X9M',
        'extract RUBI-7KQ2X9MI',
        'extract RUBI-7KQ2X9MO RUBI-7KQ2X9ML RUBI-7KQ2X9MU',
        `extract x${CODE}Z ${CODE} RUBI-ABCDEFGH`,
        'extract RUBI-RUBI-0123456Z',
      ]);
      expect(out.stderr).toBe('');
      expect(out.of('extract')).toEqual([
        `extract ${CODE}`,
        `extract ${CODE}`,
        'extract -',
        'extract -',
        'extract -',
        `extract ${CODE},RUBI-ABCDEFGH`,
        'extract RUBI-0123456Z',
      ]);
    }, 60_000);

    it('finds a code in a pending order and in a deleted one (history), sends it until verified, then stops reading; verified survives a restart', async () => {
      reset();
      const account = randomUUID();
      const files = sandbox();
      const out = await play(exe, files, [
        `clock ${NOW} ${OFFSET}`,
        'symbol EURUSD 5 0.00001 1.1 1.1001',
        `config ${account} ${mock.base}/register ${mock.base}/trades ${TOKEN}`,
        `horder ${REGISTERED - day} ${REGISTERED - day + 60} RUBI-01DC0DE0`, // before the registration: outside the window
        'start 0 0',
        'cycle', // registers; nothing to prove yet
        'pending RUBI-7KQ2X9M', // near misses
        'pending RUBI-7KQ2X9MI',
        'sleep 60',
        'timer',
        'pending proof rubi-7kq2x9mx', // a code (the wrong one), lower case, embedded in text
        'sleep 60',
        'timer',
        'timer', // the poll interval has not passed: no cycle, no scan
        `pending ${CODE} cashback`,
        'unpend last', // the trader deletes it at once: a history order
        'sleep 60',
        'timer', // verified
        'codes',
        'sleep 60',
        'timer', // no more codes, no more scans
        'start 0 0', // a restart: verified is kept, no scan
        'sleep 60',
        'cycle',
        'codes',
      ]);
      expect(out.stderr).toBe('');
      expect(out.code).toBe(0);
      expect(codesOf(account)).toEqual([undefined, undefined, ['RUBI-7KQ2X9MX'], ['RUBI-7KQ2X9MX', CODE], undefined, undefined]);
      const timers = out.of('timer').map((_, i) => out.status('timer', i));
      expect(out.status('cycle', 0)).toMatchObject({ registered: 1, own: 2, codes: 0, scans: 1 });
      expect(timers.map((t) => [t.own, t.codes, t.scans])).toEqual([
        [2, 0, 2],
        [2, 1, 3],
        [2, 1, 3],
        [1, 0, 4],
        [1, 0, 4],
      ]);
      expect(out.of('codes')).toEqual(['codes verified -', 'codes verified -']);
      expect(out.status('cycle', 1)).toMatchObject({ own: 1, codes: 0, scans: 4 });
      expect(out.logs).toContain("ownership code RUBI-7KQ2X9MX found in an order's comment: sent with the trades until the backend confirms the account's owner");
      expect(out.logs.filter((l) => l.startsWith(`ownership code ${CODE} found`))).toHaveLength(1);
      expect(out.logs.some((l) => l.includes('RUBI-01DC0DE0'))).toBe(false);
      expect(out.logs.filter((l) => l.startsWith('ownership verified'))).toHaveLength(1);
      expect(out.logs.join('\n')).not.toContain(mock.secret);
      const state = readFileSync(join(files, 'RubiTradeSync', 'state.ini'), 'utf8');
      expect(state).toContain('ownership=verified\r\n');
    }, 60_000);

    it('at most 10 codes, the first found; owned_elsewhere is logged and keeps the scan going', async () => {
      reset();
      mock.ownershipFor = () => 'owned_elsewhere';
      const account = randomUUID();
      const many = Array.from({ length: 12 }, (_, i) => `RUBI-${String(i).padStart(8, '0')}`);
      const out = await play(exe, sandbox(), [
        `clock ${NOW} ${OFFSET}`,
        `config ${account} ${mock.base}/register ${mock.base}/trades ${TOKEN}`,
        ...many.map((c) => `pending ${c}`),
        `pending ${many[0]} again`, // the same code twice: sent once
        'start 0 0',
        'cycle',
        'sleep 60',
        'timer',
      ]);
      expect(out.stderr).toBe('');
      expect(codesOf(account)).toEqual([many.slice(0, 10), many.slice(0, 10)]);
      expect(out.status('timer', 0)).toMatchObject({ own: 3, codes: 10, scans: 2 });
      expect(out.logs.filter((l) => l.startsWith('WARN more than 10 ownership codes'))).toHaveLength(1);
      expect(out.logs.filter((l) => l.startsWith('WARN ownership: another registration of this trading account proved it owns it'))).toHaveLength(1);
    }, 60_000);

    it('a backend older than the proof refuses the field: the trades go at once without it, for the rest of the run', async () => {
      reset();
      mock.ownershipFor = undefined;
      mock.olderBackend = true;
      const account = randomUUID();
      const out = await play(exe, sandbox(), [
        `clock ${NOW} ${OFFSET}`,
        `config ${account} ${mock.base}/register ${mock.base}/trades ${TOKEN}`,
        `pending ${CODE}`,
        `trade 4001 EURUSD BUY 0.1 ${NOW - 7200} ${NOW - 3600} 1.1 1.1 0 0 0`,
        'start 0 0',
        'cycle', // the empty first batch (the clock check): refused for the code; no more this step
        'sleep 5',
        'cycle', // the trade, without the code
      ]);
      expect(out.stderr).toBe('');
      expect(codesOf(account)).toEqual([[CODE], undefined]);
      expect([...mock.stored.get(account)!]).toEqual([4001]);
      expect(out.status('cycle', 1)).toMatchObject({ outbox: 0, halted: 0, own: 0 });
      expect(out.logs.filter((l) => l.startsWith('WARN the backend refused ownership_codes'))).toHaveLength(1);
    }, 60_000);
  });
});
