// RubiTradeSync end to end: the host-compiled EA logic (Rubi/TradeSync.mqh, through
// mql/host/tests/tradesync_test.cpp, built for MQL5 and for MQL4) against the real functions of
// `npm start -- --in-memory`. A trader registers a trading account; a VPS host claims it and gets
// its launch package (the token and the register/trades URLs), written into the EA's Files sandbox
// as the agent writes rendr_ea_config.ini. The simulated terminal's history holds yesterday's and
// today's closed trades (trade server time = UTC + 2 h), made before the account was registered: the
// EA runs with BackfillDays = 30 (by default it would start at the account's registration, the
// register response's registered_at, as the second case checks). The EA registers with the token (the
// account turns `connected`), backfills the history in batches of 2; a proxy in front of the
// backend drops the response of the first trades request after the backend stored it, the EA sends
// it again and hears "duplicate"; restarted later (same Files folder), it sends only the trades
// that closed meanwhile, one a position that was open at the first run. The nightly settlement
// (the pg_cron job, run through the operator) settles yesterday's cashback: every figure is
// checked through the dashboard API. Before the first start the trader proves the account is theirs
// (issue #15): a pending order with the dashboard's ownership code as its comment, deleted at once;
// the EA finds it in the order history and sends it with its first request, which answers verified
// (cashback accrues only then), and sends no codes after that.
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { createServer, request as httpRequest, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildHostProgram, runHostProgram, type MqlPlatform } from '../../../mql/host/build.ts';
import { Backend } from '../../../scripts/demo/backend.ts';
import { classifyLine } from '../../../vps-agent/src/terminal-log.ts';
import { startNpmStart, type NpmStart } from './support/npm-start.ts';

const OFFSET = 7200;
const DAY = 86_400;
const REBATE = 3.5; // IC Markets in supabase/seed.sql, USD per lot

let port = 0;
let backendUrl = '';
let server: NpmStart | undefined;
let serviceRoleKey = '';
const exes: Partial<Record<MqlPlatform, string>> = {};
let proxy: Server;
let proxyUrl = '';
const folders: string[] = [];

interface ProxyLog {
  account: string;
  path: string;
  /** X-Trade-Id of the request. */
  id: string;
  tickets: number[];
  status: number | 'dropped';
  response: { accepted?: number[]; duplicates?: number[]; ownership?: string; error?: { message?: string } } | undefined;
  /** The request's ownership_codes, when it sent any. */
  codes?: string[];
  /** The response's Date header. */
  date?: string;
}
const proxied: ProxyLog[] = [];
const dropFirstFor = new Set<string>();

/** Forwards to the backend; for an account in dropFirstFor, the first non-empty trades response is dropped after the backend answered. */
function startProxy(): Promise<void> {
  proxy = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      const headers = { ...req.headers, host: `127.0.0.1:${port}` };
      const upstream = httpRequest({ host: '127.0.0.1', port, method: req.method, path: req.url, headers }, (up) => {
        const upChunks: Buffer[] = [];
        up.on('data', (c: Buffer) => upChunks.push(c));
        up.on('end', () => {
          const upBody = Buffer.concat(upChunks);
          const account = String(req.headers['x-account-id'] ?? '');
          const id = String(req.headers['x-trade-id'] ?? '');
          const date = up.headers.date;
          const isTrades = (req.url ?? '').endsWith('/trades');
          const tickets = isTrades ? ((JSON.parse(body.toString('utf8')) as { trades: { ticket: number }[] }).trades ?? []).map((t) => t.ticket) : [];
          const sentCodes = isTrades ? (JSON.parse(body.toString('utf8')) as { ownership_codes?: string[] }).ownership_codes : undefined;
          const codes = sentCodes ? { codes: sentCodes } : {};
          let response: ProxyLog['response'];
          try {
            response = JSON.parse(upBody.toString('utf8')) as ProxyLog['response'];
          } catch {
            response = undefined;
          }
          if (isTrades && tickets.length > 0 && dropFirstFor.delete(account)) {
            proxied.push({ account, path: req.url ?? '', id, tickets, status: 'dropped', response, date, ...codes });
            req.socket.destroy();
            return;
          }
          proxied.push({ account, path: req.url ?? '', id, tickets, status: up.statusCode ?? 0, response, date, ...codes });
          res.writeHead(up.statusCode ?? 502, up.headers);
          res.end(upBody);
        });
      });
      upstream.on('error', () => {
        res.writeHead(502);
        res.end();
      });
      upstream.end(body);
    });
  });
  return new Promise((resolve) =>
    proxy.listen(0, '127.0.0.1', () => {
      proxyUrl = `http://127.0.0.1:${(proxy.address() as AddressInfo).port}`;
      resolve();
    }),
  );
}

beforeAll(async () => {
  const starting = startNpmStart({ args: ['--in-memory', '--quiet'], timeoutMs: 120_000 });
  // Build both EAs (cached when mql/ did not change) while the backend starts.
  const builds = (async () => {
    exes.MQL5 = await buildHostProgram('tradesync_test', 'MQL5');
    exes.MQL4 = await buildHostProgram('tradesync_test', 'MQL4');
  })();
  server = await starting;
  port = server.port;
  backendUrl = server.url;
  serviceRoleKey = server.serviceRoleKey ?? '';
  expect(serviceRoleKey).not.toBe('');
  await startProxy();
  await builds;
}, 300_000);

afterAll(async () => {
  await new Promise<void>((resolve) => (proxy ? proxy.close(() => resolve()) : resolve()));
  await server?.stop();
  for (const f of folders) await rm(f, { recursive: true, force: true });
}, 60_000);

/** Runs the EA program on `files` with these commands; returns its output lines (fails on a crash). */
async function ea(platform: MqlPlatform, files: string, commands: string[]): Promise<{ lines: string[]; logs: string[]; status: (cmd: string) => Record<string, number> }> {
  const result = await runHostProgram(exes[platform]!, [], { files, input: commands.map((c) => `${c}\n`).join(''), timeoutMs: 60_000 });
  expect(result.stderr).toBe('');
  expect(result.code).toBe(0);
  const lines = result.stdout.split('\n').filter((l) => l !== '');
  return {
    lines,
    logs: lines.filter((l) => l.startsWith('log ')).map((l) => l.slice(4)),
    status: (cmd) => Object.fromEntries(lines.filter((l) => l.startsWith(`${cmd} `)).at(-1)!.split(' ').slice(1).map((kv) => kv.split('=')).map(([k, v]) => [k, Number(v)])),
  };
}

/** A trader with a registered trading account, a VPS host dedicated to them, and the account's launch package. */
async function provisioned(platform: MqlPlatform, tag: string) {
  const backend = new Backend(backendUrl);
  const dashboard = await backend.signUp(`${tag}-${platform}-${Date.now()}@example.com`, 'tradesync password 123');
  const operator = backend.operator(serviceRoleKey);
  const host = await operator.createVpsHost(`${tag}-${platform}-${Date.now()}`, { capacity: 1, dedicatedUserId: dashboard.userId });
  const broker = (await dashboard.brokers()).brokers.find((b) => b.name === 'IC Markets')!;
  expect(broker.rebate_per_lot).toBe(REBATE);
  const login = 40_000_000 + Math.floor(Math.random() * 1_000_000);
  const account = await dashboard.registerTradingAccount({
    broker_id: broker.id,
    platform: platform === 'MQL5' ? 'MT5' : 'MT4',
    login,
    server: 'RubiBroker-Demo',
    investor_password: 'tradesync-investor',
  });
  const vps = async (path: string, body?: unknown) => {
    const res = await fetch(`${backend.functionsUrl}/vps${path}`, {
      method: 'POST',
      headers: { 'x-vps-api-key': host.api_key, 'content-type': 'application/json' },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    expect(res.status, path).toBe(200);
    return (await res.json()) as Record<string, string>;
  };
  await vps('/claim', { max: 1 });
  const pkg = await vps(`/accounts/${account.id}/launch-package`);
  expect(pkg.register_url!.startsWith(backendUrl)).toBe(true);
  return { dashboard, operator, account, login, serverName: 'RubiBroker-Demo', pkg };
}
const viaProxy = (url: string) => url.replace(backendUrl, proxyUrl);

interface Closed {
  ticket: number;
  type: 'BUY' | 'SELL';
  lots: number;
  open: number; // UTC seconds
  close: number;
  parts?: number;
}
const tradeCommand = (t: Closed) => `trade ${t.ticket} EURUSD ${t.type} ${t.lots} ${t.open} ${t.close} 1.1 1.1012 -${(t.lots * 7).toFixed(2)} -0.4 ${(t.lots * 120).toFixed(2)} ${t.parts ?? 1}`;
const round8 = (x: number) => Math.round(x * 1e8) / 1e8;
const iso = (s: number) => new Date(s * 1000).toISOString();

describe.each(['MQL5', 'MQL4'] as MqlPlatform[])('RubiTradeSync (%s) against the real functions', (platform) => {
  it('registers, backfills in bounded batches, survives a lost response, reports new trades after a restart; the nightly settlement settles yesterday', async () => {
    const mt5 = platform === 'MQL5';
    const started = Date.now();
    const { dashboard, operator, account, login, serverName, pkg } = await provisioned(platform, 'tradesync');
    dropFirstFor.add(pkg.external_account_id!);
    // the trader's proof of ownership: the dashboard's code in a pending order's comment (issue #15)
    const code = (await dashboard.tradingAccount(account.id)).ownership.code!;

    // The terminal's history (UTC; the sim books it in trade server time, UTC + 2 h).
    const now = Math.floor(Date.now() / 1000);
    const today = now - (now % DAY);
    const yesterday = today - DAY;
    const sinceMidnight = now - today;
    const todayClose = (back: number) => now - Math.min(back, Math.floor(sinceMidnight / 2));
    const old: Closed = { ticket: 7001, type: 'BUY', lots: 2, open: today - 40 * DAY, close: today - 40 * DAY + 600 }; // before the 30-day backfill
    const yesterdays: Closed[] = [
      { ticket: 7101, type: 'BUY', lots: 0.5, open: yesterday + 9 * 3600, close: yesterday + 10 * 3600 },
      { ticket: 7102, type: 'SELL', lots: 1.2, open: yesterday + 11 * 3600, close: yesterday + 12 * 3600, parts: mt5 ? 2 : 1 }, // MT5: closed in two parts
      { ticket: 7103, type: 'BUY', lots: 0.3, open: yesterday + 20 * 3600, close: yesterday + 23 * 3600 },
    ];
    const todays: Closed[] = mt5 ? [{ ticket: 7201, type: 'SELL', lots: 0.7, open: todayClose(900) - 60, close: todayClose(900) }] : [];
    const later: Closed = { ticket: 7301, type: 'BUY', lots: 0.4, open: now - 60, close: now - 1 };
    const history = [old, ...yesterdays, ...todays].map(tradeCommand);

    const files = await mkdtemp(join(tmpdir(), `rubi-tradesync-${platform}-`));
    folders.push(files);
    const setup = (clock: number) => [`clock ${clock} ${OFFSET}`, `account ${login} ${serverName}`, 'symbol EURUSD 5 0.00001 1.1 1.1001'];

    // ------------------------------------------------------------ first start: register + backfill
    // BackfillDays = 30 (`start 30 2`): yesterday's trades predate the account's registration, which
    // is where a default EA would start
    const first = await ea(platform, files, [
      ...setup(now),
      `config ${pkg.external_account_id} ${viaProxy(pkg.register_url!)} ${viaProxy(pkg.trades_url!)} ${pkg.provisioning_token} ${pkg.token_expires_at}`,
      ...history,
      'open EURUSD BUY 0.6', // open at the first run: not a closed trade yet
      `pending ownership ${code}`, // placed far from the market by the trader, deleted at once
      'unpend last',
      'start 30 2',
      'sleep 5',
      'cycle',
      'outbox',
    ]);
    const registered = first.logs.find((l) => l.startsWith('registered with the backend'))!;
    expect(registered).toContain(`as external account ${pkg.external_account_id} (status connected)`);
    expect(classifyLine(registered)).toBe('ea_registered');
    expect(first.status('cycle')).toMatchObject({ outbox: 0, aside: 0, registered: 1, halted: 0, offset: OFFSET, batch: 2, poll: 60 });
    expect(first.logs.join('\n')).not.toContain(pkg.provisioning_token!);
    const openTicket = Number(first.lines.find((l) => l.startsWith('open '))!.split(' ')[1]);

    const mine = () => proxied.filter((p) => p.account === pkg.external_account_id && p.path.endsWith('/trades'));
    const backfilled = [...yesterdays, ...todays];
    const expectedBatches: number[][] = [];
    for (let i = 0; i < backfilled.length; i += 2) expectedBatches.push(backfilled.slice(i, i + 2).map((t) => t.ticket));
    // the first cycle sends first (an empty batch); then the first batch: stored but its response
    // dropped, sent again under the same X-Trade-Id (refused: the backend committed that id with the
    // trades), so once more under a fresh id, acknowledged as duplicates
    const firstRun = mine();
    expect(firstRun.map((p) => p.tickets)).toEqual([[], expectedBatches[0], expectedBatches[0], ...expectedBatches]);
    expect(firstRun[0]).toMatchObject({ status: 200, response: { accepted: [], duplicates: [] } });
    expect(firstRun[1]).toMatchObject({ status: 'dropped', response: { accepted: expectedBatches[0], duplicates: [] } });
    expect(firstRun[2]).toMatchObject({ id: firstRun[1]!.id, status: 401, response: { error: { message: 'replayed request (X-Trade-Id already used)' } } });
    expect(firstRun[3]!.id).not.toBe(firstRun[1]!.id);
    expect(firstRun[3]).toMatchObject({ status: 200, response: { accepted: [], duplicates: expectedBatches[0] } });
    for (const p of firstRun.slice(4)) expect(p).toMatchObject({ status: 200, response: { accepted: p.tickets, duplicates: [] } });
    // the code went with the first request, which answered verified; none after it
    expect(firstRun[0]).toMatchObject({ codes: [code], response: { ownership: 'verified' } });
    for (const p of firstRun.slice(1)) expect(p.codes).toBeUndefined();
    expect(first.logs.filter((l) => l.startsWith('ownership verified'))).toHaveLength(1);
    expect((await dashboard.tradingAccount(account.id)).ownership.verified_at).not.toBeNull();

    const lotsOf = (ts: Closed[]) => round8(ts.reduce((s, t) => s + t.lots, 0));
    const cashbackOf = (ts: Closed[]) => round8(ts.reduce((s, t) => s + Math.round(t.lots * REBATE * 10000) / 10000, 0));
    let view = await dashboard.tradingAccount(account.id);
    expect(view.status).toBe('connected');
    expect(view.figures).toMatchObject({ trades: backfilled.length, lots: lotsOf(backfilled), cashback_accrued: cashbackOf(backfilled), cashback_settled: 0 });
    const listed = (await dashboard.trades(account.id)).trades;
    const t7102 = listed.find((t) => t.ticket === 7102)!;
    expect(t7102).toMatchObject({ type: 'SELL', lots: 1.2, open_price: 1.1, close_price: 1.1012, commission: -8.4, swap: -0.4, profit: 144, magic: 7, comment: 'rubi e2e' });
    expect(Date.parse(t7102.open_time) / 1000).toBe(yesterday + 11 * 3600);
    expect(Date.parse(t7102.close_time) / 1000).toBe(yesterday + 12 * 3600);
    expect(listed.some((t) => t.ticket === old.ticket)).toBe(false);

    // ------------------------------------------------------------ restart: only what closed meanwhile
    const closedPosition: Closed = { ticket: openTicket, type: 'BUY', lots: 0.6, open: now - 30, close: now - 2 };
    // a later start: the terminal's clocks moved on (message ids derive from them)
    while (Math.floor(Date.now() / 1000) <= now) await new Promise((r) => setTimeout(r, 100));
    const second = await ea(platform, files, [
      ...setup(Math.floor(Date.now() / 1000)),
      ...history,
      tradeCommand(closedPosition),
      tradeCommand(later),
      'start 30 2',
      'sleep 5',
      'cycle',
    ]);
    expect(second.logs.some((l) => l.startsWith('registered with the backend'))).toBe(false);
    expect(second.logs).toContain(`registered earlier as external account ${pkg.external_account_id}: the stored api secret verifies`);
    expect(second.status('cycle')).toMatchObject({ outbox: 0, registered: 1, halted: 0 });
    const newOnes = [closedPosition, later].sort((a, b) => a.close - b.close || a.ticket - b.ticket);
    expect(mine().slice(firstRun.length).map((p) => p.tickets)).toEqual([[], newOnes.map((t) => t.ticket)]);
    expect(mine().slice(firstRun.length).map((p) => p.codes)).toEqual([undefined, undefined]); // verified is kept in state.ini
    const all = [...backfilled, closedPosition, later];
    view = await dashboard.tradingAccount(account.id);
    expect(view.figures).toMatchObject({ trades: all.length, lots: lotsOf(all), cashback_accrued: cashbackOf(all), cashback_settled: 0 });

    // ------------------------------------------------------------ the nightly settlement
    const run = await operator.runCronJob('rubi-settle-cashback');
    expect(run.status).toBe('succeeded');
    view = await dashboard.tradingAccount(account.id);
    expect(view.figures).toMatchObject({ trades: all.length, lots: lotsOf(all), cashback_accrued: cashbackOf(all), cashback_settled: cashbackOf(yesterdays) });
    const ledger = await dashboard.ledger(account.id);
    expect(ledger.entries).toHaveLength(1);
    expect(ledger.entries[0]).toMatchObject({ settlement_day: iso(yesterday).slice(0, 10), trades: yesterdays.length, lots: lotsOf(yesterdays), amount: cashbackOf(yesterdays), currency: 'USD' });
    const settled = (await dashboard.trades(account.id)).trades;
    for (const t of settled) expect(t.settled_on).toBe(yesterdays.some((y) => y.ticket === t.ticket) ? iso(yesterday).slice(0, 10) : null);

    // the EA's own files: the config, the state with the secret, the outbox, the debug log
    const state = await readFile(join(files, 'RubiTradeSync', 'state.ini'), 'utf8');
    expect(state).toContain(`external_account_id=${pkg.external_account_id}`);
    expect(state).toMatch(/^api_secret=whsec_/m);
    expect(await readFile(join(files, 'RendR_debug.log'), 'utf8')).toContain('INFO registered with the backend as external account');
    expect(Date.now() - started).toBeLessThan(30_000);
  }, 120_000);

  it('an EA whose clock is 10 minutes off: one request refused for its timestamp, then every trade lands exactly once, with true times', async () => {
    // MT5 terminal: the computer's clock 10 minutes fast; MT4: 10 minutes slow. The first trades
    // response is lost too, after the backend stored it.
    const skew = platform === 'MQL5' ? 600 : -600;
    const { dashboard, account, login, serverName, pkg } = await provisioned(platform, 'tradesync-skew');
    dropFirstFor.add(pkg.external_account_id!);
    const now = Math.floor(Date.now() / 1000);
    const closed: Closed[] = [
      { ticket: 9101, type: 'BUY', lots: 0.5, open: now - 3 * DAY, close: now - 3 * DAY + 3600 },
      { ticket: 9102, type: 'SELL', lots: 0.2, open: now - DAY, close: now - DAY + 600 },
      { ticket: 9103, type: 'BUY', lots: 0.1, open: now - 7200, close: now - 3600 },
    ];
    const files = await mkdtemp(join(tmpdir(), `rubi-tradesync-skew-${platform}-`));
    folders.push(files);
    const run = await ea(platform, files, [
      `clock ${now} ${OFFSET}`,
      `skew ${skew}`,
      `account ${login} ${serverName}`,
      'symbol EURUSD 5 0.00001 1.1 1.1001',
      `config ${pkg.external_account_id} ${viaProxy(pkg.register_url!)} ${viaProxy(pkg.trades_url!)} ${pkg.provisioning_token} ${pkg.token_expires_at}`,
      ...closed.map(tradeCommand),
      'start 30 2',
      'sleep 5',
      'cycle',
      'sleep 60',
      'timer',
    ]);
    const status = run.status('timer');
    expect(status).toMatchObject({ outbox: 0, aside: 0, registered: 1, halted: 0, offset: OFFSET });
    // the offset learnt from the Date header: the skew back (plus the 5 s the simulated clock slept ahead of the real one)
    expect(Math.abs(status.clock! + skew + 5)).toBeLessThanOrEqual(3);
    expect(run.logs.some((l) => l.startsWith('ERROR'))).toBe(false);
    expect(run.logs.find((l) => l.includes("this computer's clock is"))).toMatch(new RegExp(`clock is \\d+ s ${skew > 0 ? 'ahead of' : 'behind'} the backend's`));

    const mine = proxied.filter((p) => p.account === pkg.external_account_id && p.path.endsWith('/trades'));
    // the first request (the first cycle's empty batch) refused for its timestamp, with the backend's Date; the same id signed again goes through
    expect(mine[0]).toMatchObject({ tickets: [], status: 401, response: { error: { message: `request timestamp is more than 300 s ${skew > 0 ? 'in the future' : 'old'}` } } });
    expect(Number.isFinite(Date.parse(mine[0]!.date ?? ''))).toBe(true);
    expect(mine[1]).toMatchObject({ id: mine[0]!.id, tickets: [], status: 200 });
    expect(mine.slice(1).every((p) => p.status !== 401 || p.response?.error?.message?.startsWith('replayed request'))).toBe(true);
    const accepted = mine.flatMap((p) => (p.status === 'dropped' || p.status === 200 ? (p.response?.accepted ?? []) : []));
    expect(accepted.sort()).toEqual(closed.map((t) => t.ticket).sort());

    const view = await dashboard.tradingAccount(account.id);
    expect(view.status).toBe('connected');
    expect(view.figures).toMatchObject({ trades: closed.length });
    const listed = (await dashboard.trades(account.id)).trades;
    expect(listed.map((t) => t.ticket).sort()).toEqual(closed.map((t) => t.ticket).sort());
    for (const t of closed) {
      const stored = listed.find((x) => x.ticket === t.ticket)!;
      expect(Date.parse(stored.open_time) / 1000).toBe(t.open);
      expect(Date.parse(stored.close_time) / 1000).toBe(t.close);
    }
  }, 120_000);

  it('with default inputs reports no trade closed before the account was registered on the dashboard', async () => {
    const { dashboard, account, login, serverName, pkg } = await provisioned(platform, 'tradesync-default');
    const registered = Math.floor(Date.parse(account.created_at) / 1000);
    // the terminal's clock past the registration, so that a trade can close after it
    while (Math.floor(Date.now() / 1000) <= registered + 1) await new Promise((r) => setTimeout(r, 100));
    const now = Math.floor(Date.now() / 1000);
    const beforeRegistration: Closed[] = [
      { ticket: 8001, type: 'BUY', lots: 1, open: registered - DAY, close: registered - DAY + 3600 }, // yesterday
      { ticket: 8002, type: 'SELL', lots: 0.5, open: registered - 600, close: registered - 1 }, // a second before it
    ];
    const afterRegistration: Closed = { ticket: 8003, type: 'BUY', lots: 0.2, open: registered - 300, close: now - 1 }; // opened before, closed after
    const files = await mkdtemp(join(tmpdir(), `rubi-tradesync-default-${platform}-`));
    folders.push(files);
    const run = await ea(platform, files, [
      `clock ${now} ${OFFSET}`,
      `account ${login} ${serverName}`,
      'symbol EURUSD 5 0.00001 1.1 1.1001',
      `config ${pkg.external_account_id} ${viaProxy(pkg.register_url!)} ${viaProxy(pkg.trades_url!)} ${pkg.provisioning_token} ${pkg.token_expires_at}`,
      ...[...beforeRegistration, afterRegistration].map(tradeCommand),
      'start 0 0', // BackfillDays 0, BackfillFrom 0: the defaults
      'sleep 5',
      'cycle',
    ]);
    // the backfill starts at the register response's registered_at (the account's created_at, to the
    // second), in trade server time
    expect(run.status('cycle')).toMatchObject({ outbox: 0, aside: 0, registered: 1, halted: 0, offset: OFFSET, scan_from: registered + OFFSET });
    expect(run.logs).toContain(`history from the account's registration, ${iso(registered).replace('.000Z', 'Z')} UTC (${iso(registered + OFFSET).replace('.000Z', 'Z')} trade server time)`);
    const sent = proxied.filter((p) => p.account === pkg.external_account_id && p.path.endsWith('/trades')).flatMap((p) => p.tickets);
    expect(sent).toEqual([afterRegistration.ticket]);
    const view = await dashboard.tradingAccount(account.id);
    expect(view.figures).toMatchObject({ trades: 1, lots: afterRegistration.lots });
    expect((await dashboard.trades(account.id)).trades.map((t) => t.ticket)).toEqual([afterRegistration.ticket]);
    const state = await readFile(join(files, 'RubiTradeSync', 'state.ini'), 'utf8');
    expect(state).toContain(`registered_at=${iso(registered).replace('.000Z', 'Z')}\r\n`);

    // the account's health (issue #16) from the EA's report: connected to the broker, the history
    // since registration synchronised up to the EA's read
    expect(view.health).toMatchObject({
      broker_connection: { connected: true },
      history_synchronised: { synchronised: true },
      last_heard_from: { within_threshold: true },
      last_error: null,
    });
    expect(view.health.status === 'healthy' || view.health.reason === 'terminal_launching').toBe(true);
    const until = Date.parse(view.health.history_synchronised.until!) / 1000;
    expect(until).toBeGreaterThanOrEqual(afterRegistration.close);

    // restarted in a terminal that lost its broker: nothing read, the empty batch says so
    while (Math.floor(Date.now() / 1000) <= now + 5) await new Promise((r) => setTimeout(r, 100));
    const later = Math.floor(Date.now() / 1000);
    const offline = await ea(platform, files, [
      `clock ${later} ${OFFSET}`,
      `account ${login} ${serverName}`,
      'symbol EURUSD 5 0.00001 1.1 1.1001',
      'connected 0',
      'start 0 0',
      'sleep 5',
      'cycle',
    ]);
    expect(offline.status('cycle')).toMatchObject({ registered: 1, halted: 0 });
    expect(offline.logs).toContain('waiting for the terminal to reach its trade server before reading the history');
    const down = (await dashboard.tradingAccount(account.id)).health;
    expect(down).toMatchObject({ status: 'down', reason: 'broker_disconnected', broker_connection: { connected: false }, history_synchronised: { synchronised: true } });
  }, 120_000);
});
