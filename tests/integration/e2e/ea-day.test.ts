import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { asOwner } from '@rubi/db';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { repoRoot } from '../support/paths.ts';
import { EaClient, userFetch, type EaResponse } from './ea-client.ts';
import type { E2eUser } from './support/auth.ts';
import { startE2eStack, type E2eStack } from './support/e2e-stack.ts';

/**
 * A connector EA's whole day, over HTTP, against the real functions served by Deno
 * (functions/<name>/index.ts, unchanged) on the integration PostgreSQL 15 with pg_cron. The EA
 * signs with the reference `standardwebhooks` library. Steps run in order and share state.
 */

const FUNCTIONS = ['keys', 'connect', 'ping', 'signals', 'positions', 'accounts'] as const;

/** The order/position ticket the EA's broker assigns to the executed signal. */
const TICKET = 7_000_000_000 + Math.floor(Math.random() * 1_000_000);

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

const EURUSD = {
  symbol: 'EURUSD',
  tick_size: 0.00001,
  tick_value: 1,
  contract_size: 100000,
  volume_min: 0.01,
  volume_max: 100,
  volume_step: 0.01,
  digits: 5,
};
const XAUUSD = {
  symbol: 'XAUUSD',
  tick_size: 0.01,
  tick_value: 1,
  contract_size: 100,
  volume_min: 0.01,
  volume_max: 50,
  volume_step: 0.01,
  digits: 2,
};

interface ErrorBody {
  error: { code: string; message: string; details?: { path: string; message: string }[] };
}
interface ConnectBody {
  session_id: string;
  resumed: boolean;
  server_time: string;
  ping_interval_seconds: number;
  risk: { max_open_positions: number; max_risk_percent: number };
}
interface SignalBody {
  id: string;
  session_id: string;
  status: string;
  volume: number | null;
  client_signal_id: string | null;
  order_ticket: number | null;
  delivered_at: string | null;
  completed_at: string | null;
}
interface PositionsUpdateBody {
  open: number;
  closed: number;
  tickets_closed: number[];
}
interface PositionBody {
  session_id: string;
  ticket: number;
  status: 'open' | 'closed';
  closed_at: string | null;
}
interface PingBody {
  server_time: string;
  session_status: 'active';
  pending_signals: number;
  ping_interval_seconds: number;
}

function expectStatus(res: { status: number; body: unknown }, status: number): void {
  // The body in the message makes a failing step say why.
  expect({ status: res.status, body: res.body }).toMatchObject({ status });
}

function expectUnauthorized(res: EaResponse, message: RegExp): void {
  expectStatus(res, 401);
  const body = res.body as ErrorBody;
  expect(body.error.code).toBe('unauthorized');
  expect(body.error.message).toMatch(message);
  expect(res.headers.get('x-request-id')).toBeTruthy();
}

describe('an EA day over HTTP: Deno-served functions on PostgreSQL 15', () => {
  let stack: E2eStack;
  let user: E2eUser;
  let ea: EaClient;
  let sessionId: string;
  let signalId: string;
  const tokens: string[] = [];
  const eaSecrets: string[] = [];
  const lockfileExistedBefore = existsSync(join(repoRoot, 'deno.lock'));
  const accountNumber = 50_000_000 + Math.floor(Math.random() * 1_000_000);
  const server = 'RubiBroker-Demo';

  const session = async (id: string) => {
    const [row] = await stack.db.query<{ status: string; balance: string; equity: string; last_ping_at: Date }>(
      asOwner(),
      'select status, balance::text, equity::text, last_ping_at from public.mt5_sessions where id = $1',
      [id],
    );
    return row;
  };

  const pingBody = (id: string, balance = 10_000, equity = 10_000) => ({
    session_id: id,
    balance,
    equity,
    margin: 0,
    margin_free: equity,
    margin_level: null,
    profit: equity - balance,
  });

  beforeAll(async () => {
    const started = performance.now();
    stack = await startE2eStack(FUNCTIONS);
    const startup = Object.values(stack.deno.functions)
      .map((f) => `${f.name} ${f.startupMs} ms`)
      .join(', ');
    console.log(`[e2e] Deno functions up in ${Math.round(performance.now() - started)} ms (${startup})`);
    user = await stack.auth.createUser(stack.db, `trader-${crypto.randomUUID()}@e2e.invalid`);
    tokens.push(user.token);
  });

  afterAll(async () => {
    if (brokenAt !== undefined && stack) {
      // What the functions said, to debug the broken step without rerunning.
      const tail = stack.deno.logs.slice(-60).map((l) => `  ${l.fn} [${l.stream}] ${l.line}`);
      console.error(`[e2e] step "${brokenAt}" failed; last Deno output lines:\n${tail.join('\n')}`);
    }
    await stack?.close();
  });

  // The day is one story: once a step fails, the later ones would only fail in its wake, so they
  // are skipped and the report names the step that broke. The log audit at the end always runs.
  let brokenAt: string | undefined;
  const ALWAYS = /no Deno output line|deno\.lock/;
  beforeEach((ctx) => {
    if (brokenAt !== undefined && !ALWAYS.test(ctx.task.name)) ctx.skip(`skipped: the earlier step "${brokenAt}" failed`);
    ctx.onTestFailed(() => {
      brokenAt ??= ctx.task.name;
    });
  });

  it('serves every function under Deno, each with its OpenAPI document', async () => {
    for (const name of FUNCTIONS) {
      const res = await fetch(stack.deno.url(`/${name}/openapi.json`));
      expect(res.status).toBe(200);
      const doc = (await res.json()) as { openapi: string; servers: { url: string }[] };
      expect(doc.openapi).toBe('3.1.0');
      expect(doc.servers[0]?.url).toBe(`${stack.supabaseUrl}/functions/v1`);
    }
  });

  it('the user creates an EA key on the dashboard (POST /keys): the secret is shown once', async () => {
    const created = await userFetch<{ id: string; name: string; scopes: string[]; secret: string }>(
      stack.deno.url('/keys'),
      user.token,
      'POST',
      { name: 'e2e terminal' },
    );
    expectStatus(created, 201);
    expect(created.body.id).toMatch(UUID);
    expect(created.body.secret).toMatch(/^whsec_[A-Za-z0-9+/]+=*$/);
    expect(created.body.scopes.sort()).toEqual(['connect', 'ping', 'positions', 'signals']);
    eaSecrets.push(created.body.secret);
    ea = new EaClient((path) => stack.deno.url(path), { keyId: created.body.id, secret: created.body.secret });

    const listed = await userFetch<{ keys: Record<string, unknown>[] }>(stack.deno.url('/keys'), user.token, 'GET');
    expectStatus(listed, 200);
    expect(listed.body.keys.map((k) => k.id)).toEqual([created.body.id]);
    expect(JSON.stringify(listed.body)).not.toContain('whsec_');

    const noToken = await fetch(stack.deno.url('/keys'));
    expect(noToken.status).toBe(401);
  });

  it('the EA connects (POST /connect) with its account and symbol specs', async () => {
    const res = await ea.post<ConnectBody>('/connect', {
      account_number: accountNumber,
      broker: 'Rubi Broker Ltd',
      server,
      currency: 'USD',
      leverage: 500,
      balance: 10_000,
      equity: 10_000,
      margin: 0,
      margin_free: 10_000,
      ea_version: '1.0.0',
      terminal_build: 4755,
      symbols: [EURUSD, XAUUSD],
    });
    expectStatus(res, 200);
    expect(res.body.session_id).toMatch(UUID);
    expect(res.body.resumed).toBe(false);
    expect(res.body.ping_interval_seconds).toBeGreaterThanOrEqual(5);
    expect(res.body.risk).toEqual({ max_open_positions: expect.any(Number), max_risk_percent: expect.any(Number) });
    expect(Math.abs(Date.parse(res.body.server_time) - Date.now())).toBeLessThan(60_000);
    sessionId = res.body.session_id;

    const specs = await stack.db.query<{ symbol: string; contract_size: string; digits: number }>(
      asOwner(),
      'select symbol, contract_size::text, digits from public.symbol_specs where session_id = $1 order by symbol',
      [sessionId],
    );
    expect(specs).toEqual([
      { symbol: 'EURUSD', contract_size: '100000', digits: 5 },
      { symbol: 'XAUUSD', contract_size: '100', digits: 2 },
    ]);
    expect((await session(sessionId))?.status).toBe('active');
  });

  it('a reconnect of the same terminal resumes its session', async () => {
    const res = await ea.post<ConnectBody>('/connect', {
      account_number: accountNumber,
      broker: 'Rubi Broker Ltd',
      server,
      currency: 'USD',
      leverage: 500,
      balance: 10_000,
      equity: 10_000,
      symbols: [EURUSD],
    });
    expectStatus(res, 200);
    expect(res.body).toMatchObject({ session_id: sessionId, resumed: true });
  });

  it('the EA pings (POST /ping): active, nothing pending, a snapshot is stored', async () => {
    const res = await ea.post<PingBody>('/ping', pingBody(sessionId, 10_000, 10_012.5));
    expectStatus(res, 200);
    expect(res.body).toMatchObject({ session_status: 'active', pending_signals: 0 });
    expect(res.body.ping_interval_seconds).toBeGreaterThanOrEqual(5);

    // The request id ties the response to the function's one log line for it.
    const requestId = res.headers.get('x-request-id');
    expect(requestId).toBeTruthy();
    const line = await stack.deno.waitForLog((l) => l.fn === 'ping' && l.line.includes(`"request_id":"${requestId}"`));
    expect(line, 'the ping function logged the request').toBeDefined();
    expect(JSON.parse(line?.line ?? '{}')).toMatchObject({
      level: 'info',
      msg: 'request',
      fn: 'ping',
      status: 200,
      route: '/ping',
      principal: 'ea_key',
      ea_key_id: ea.credential.keyId,
      user_id: user.id,
      session_id: sessionId,
    });

    const [snapshot] = await stack.db.query<{ n: number; equity: string }>(
      asOwner(),
      `select count(*)::int as n, max(equity)::text as equity from public.account_snapshots where session_id = $1`,
      [sessionId],
    );
    expect(snapshot).toEqual({ n: 1, equity: '10012.5' });
    expect((await session(sessionId))?.equity).toBe('10012.5');
  });

  it('the user creates a risk-sized signal (POST /signals): the server computes the lots', async () => {
    const res = await userFetch<SignalBody>(stack.deno.url('/signals'), user.token, 'POST', {
      session_id: sessionId,
      type: 'BUY',
      symbol: 'EURUSD',
      entry_price: 1.1,
      stop_loss: 1.095,
      take_profit: 1.11,
      risk_percent: 1,
      timeframe: 'H1',
      confidence: 80,
      client_signal_id: `e2e-${crypto.randomUUID()}`,
      ttl_seconds: 3600,
    });
    expectStatus(res, 201);
    // 1 % of the session's equity (10 012.5) is 100.125 at risk; the stop is 0.005 = 500 ticks of
    // 0.00001 worth 1 each, so a lot loses 500: 0.20025 lots, floored to the 0.01 step = 0.20.
    expect(res.body).toMatchObject({
      session_id: sessionId,
      type: 'BUY',
      symbol: 'EURUSD',
      volume: 0.2,
      risk_percent: 1,
      status: 'PENDING',
      source: 'dashboard',
      order_ticket: null,
      delivered_at: null,
    });
    expect(res.body.id).toMatch(UUID);
    signalId = res.body.id;

    // A retry with the same client_signal_id returns the same signal (200, not a second one).
    const again = await userFetch<SignalBody>(stack.deno.url('/signals'), user.token, 'POST', {
      session_id: sessionId,
      type: 'BUY',
      symbol: 'EURUSD',
      entry_price: 1.1,
      stop_loss: 1.095,
      take_profit: 1.11,
      risk_percent: 1,
      timeframe: 'H1',
      confidence: 80,
      client_signal_id: res.body.client_signal_id,
      ttl_seconds: 3600,
    });
    expectStatus(again, 200);
    expect(again.body.id).toBe(signalId);
  });

  it('the next ping says one signal waits', async () => {
    const res = await ea.post<PingBody>('/ping', pingBody(sessionId, 10_000, 10_012.5));
    expectStatus(res, 200);
    expect(res.body.pending_signals).toBe(1);
  });

  it('the EA fetches its work (GET /signals/pending?session_id=): the signal is DELIVERED', async () => {
    const res = await ea.get<{ signals: SignalBody[]; server_time: string }>(`/signals/pending?session_id=${sessionId}`);
    expectStatus(res, 200);
    expect(res.body.signals).toHaveLength(1);
    expect(res.body.signals[0]).toMatchObject({ id: signalId, status: 'DELIVERED', volume: 0.2, stop_loss: 1.095, take_profit: 1.11 });
    expect(res.body.signals[0]?.delivered_at).toEqual(expect.any(String));

    // Delivered but not reported: a second fetch hands it out again (the EA dedupes by id).
    const again = await ea.get<{ signals: SignalBody[] }>(`/signals/pending?session_id=${sessionId}`);
    expectStatus(again, 200);
    expect(again.body.signals.map((g) => g.id)).toEqual([signalId]);
  });

  it('the EA reports the order (POST /signals/{id}/status EXECUTED with ticket and price)', async () => {
    const report = {
      status: 'EXECUTED',
      order_ticket: TICKET,
      price: 1.10002,
      volume: 0.2,
      retcode: 10009,
      message: 'done',
      executed_at: new Date().toISOString(),
    };
    const res = await ea.post<SignalBody>(`/signals/${signalId}/status`, report);
    expectStatus(res, 200);
    expect(res.body).toMatchObject({ id: signalId, status: 'EXECUTED', order_ticket: TICKET });
    expect(res.body.completed_at).toEqual(expect.any(String));

    const orders = await stack.db.query<{ result: string; ticket: string; price: string; volume: string; retcode: number }>(
      asOwner(),
      'select result, ticket::text, price::text, volume::text, retcode from public.trading_orders where signal_id = $1',
      [signalId],
    );
    expect(orders).toEqual([{ result: 'EXECUTED', ticket: String(TICKET), price: '1.10002', volume: '0.2', retcode: 10009 }]);

    const ping = await ea.post<PingBody>('/ping', pingBody(sessionId, 10_000, 10_012.5));
    expectStatus(ping, 200);
    expect(ping.body.pending_signals).toBe(0);

    const seen = await userFetch<SignalBody>(stack.deno.url(`/signals/${signalId}`), user.token, 'GET');
    expectStatus(seen, 200);
    expect(seen.body).toMatchObject({ status: 'EXECUTED', order_ticket: TICKET });
  });

  it('the EA pushes its open positions (POST /positions/update) with the new position', async () => {
    const res = await ea.post<PositionsUpdateBody>('/positions/update', {
      session_id: sessionId,
      positions: [
        {
          ticket: TICKET,
          symbol: 'EURUSD',
          type: 'BUY',
          volume: 0.2,
          open_price: 1.10002,
          current_price: 1.1011,
          stop_loss: 1.095,
          take_profit: 1.11,
          profit: 21.6,
          swap: 0,
          commission: -1.4,
          magic: 20261121,
          comment: 'rubi e2e',
          opened_at: new Date(Date.now() - 60_000).toISOString(),
        },
      ],
    });
    expectStatus(res, 200);
    expect(res.body).toEqual({ open: 1, closed: 0, tickets_closed: [] });

    const listed = await userFetch<{ positions: PositionBody[] }>(stack.deno.url('/positions'), user.token, 'GET');
    expectStatus(listed, 200);
    expect(listed.body.positions).toHaveLength(1);
    expect(listed.body.positions[0]).toMatchObject({
      session_id: sessionId,
      ticket: TICKET,
      type: 'BUY',
      volume: 0.2,
      open_price: 1.10002,
      profit: 21.6,
      status: 'open',
      closed_at: null,
    });
  });

  it('the next push without that ticket closes the position', async () => {
    const res = await ea.post<PositionsUpdateBody>('/positions/update', { session_id: sessionId, positions: [] });
    expectStatus(res, 200);
    expect(res.body).toEqual({ open: 0, closed: 1, tickets_closed: [TICKET] });

    const open = await userFetch<{ positions: PositionBody[] }>(stack.deno.url('/positions'), user.token, 'GET');
    expectStatus(open, 200);
    expect(open.body.positions).toEqual([]);
    const closed = await userFetch<{ positions: PositionBody[] }>(stack.deno.url('/positions?status=closed'), user.token, 'GET');
    expectStatus(closed, 200);
    expect(closed.body.positions).toHaveLength(1);
    expect(closed.body.positions[0]).toMatchObject({ ticket: TICKET, status: 'closed', closed_at: expect.any(String) });
  });

  it('the user reads the statistics (GET /accounts/stats)', async () => {
    const res = await userFetch<unknown>(stack.deno.url('/accounts/stats'), user.token, 'GET');
    expectStatus(res, 200);
    expect(res.body).toEqual({
      signals: { total: 1, pending: 0, delivered: 0, executed: 1, rejected: 0, failed: 0, unknown: 0, expired: 0, cancelled: 0 },
      sessions: { total: 1, active: 1, stale: 0 },
      positions: { open: 0 },
    });
  });

  it('a replayed request (same X-Trade-Id, byte for byte) is rejected with 401', async () => {
    const first = await ea.post<PingBody>('/ping', pingBody(sessionId, 10_000, 10_020));
    expectStatus(first, 200);
    const replay = await ea.send(first.sent);
    expectUnauthorized(replay, /replay/i);
  });

  it('a tampered body is rejected with 401 and changes nothing', async () => {
    const before = await session(sessionId);
    const signed = pingBody(sessionId, 10_000, 10_030);
    const res = await ea.post('/ping', signed, { sendBody: JSON.stringify({ ...signed, equity: 99_999 }) });
    expectUnauthorized(res, /signature/i);
    expect((await session(sessionId))?.equity).toBe(before?.equity);
  });

  it('a stale timestamp (or one from the future) is rejected with 401', async () => {
    const now = Math.floor(Date.now() / 1000);
    expectUnauthorized(await ea.post('/ping', pingBody(sessionId), { timestamp: now - 301 - 30 }), /old/);
    expectUnauthorized(await ea.post('/ping', pingBody(sessionId), { timestamp: now + 301 + 30 }), /future/);
    // A signature made with another key's secret is no better.
    const forged = new EaClient((path) => stack.deno.url(path), {
      keyId: ea.credential.keyId,
      secret: `whsec_${Buffer.from(crypto.getRandomValues(new Uint8Array(32))).toString('base64')}`,
    });
    expectUnauthorized(await forged.post('/ping', pingBody(sessionId)), /signature/i);
  });

  it("pg_cron's stale sweep marks a silent session stale; a ping over HTTP revives it", async () => {
    const second = await ea.post<ConnectBody>('/connect', {
      account_number: accountNumber + 1,
      broker: 'Rubi Broker Ltd',
      server,
      currency: 'EUR',
      leverage: 100,
      balance: 5_000,
      equity: 5_000,
    });
    expectStatus(second, 200);
    const silentId = second.body.session_id;
    expect(silentId).not.toBe(sessionId);

    await stack.db.query(asOwner(), `update public.mt5_sessions set last_ping_at = now() - interval '2 hours' where id = $1`, [silentId]);
    // Run exactly what the scheduled job runs, so this breaks if the job's command changes.
    const [job] = await stack.db.query<{ command: string; schedule: string; active: boolean }>(
      asOwner(),
      `select command, schedule, active from cron.job where jobname = 'rubi-sweep-stale-sessions'`,
    );
    expect(job, 'the rubi-sweep-stale-sessions job is scheduled').toBeDefined();
    expect(job?.active).toBe(true);
    await stack.db.query(asOwner(), job?.command ?? 'select 1');

    expect((await session(silentId))?.status).toBe('stale');
    expect((await session(sessionId))?.status, 'the session that pings stays active').toBe('active');

    const revived = await ea.post<PingBody>('/ping', pingBody(silentId, 5_000, 5_000));
    expectStatus(revived, 200);
    expect(revived.body.session_status).toBe('active');
    expect((await session(silentId))?.status).toBe('active');

    const closed = await ea.post('/connect/disconnect', { session_id: silentId });
    expectStatus(closed, 200);
  });

  it('the EA disconnects (POST /connect/disconnect) with its counters; a later ping is a conflict', async () => {
    const res = await ea.post<{ session_id: string; status: string; disconnected_at: string }>('/connect/disconnect', {
      session_id: sessionId,
      signals_sent: 0,
      signals_received: 1,
      orders_executed: 1,
      errors: 0,
    });
    expectStatus(res, 200);
    expect(res.body).toMatchObject({ session_id: sessionId, status: 'disconnected' });
    expect(Math.abs(Date.parse(res.body.disconnected_at) - Date.now())).toBeLessThan(60_000);
    expect((await session(sessionId))?.status).toBe('disconnected');

    const late = await ea.post<ErrorBody>('/ping', pingBody(sessionId));
    expectStatus(late, 409);
    expect(late.body.error.code).toBe('conflict');

    // The dashboard's account info: the closed session, its counters, its history and symbols.
    const [snapshots] = await stack.db.query<{ n: number }>(
      asOwner(),
      'select count(*)::int as n from public.account_snapshots where session_id = $1',
      [sessionId],
    );
    const detail = await userFetch<{
      session: { id: string; status: string; counters: Record<string, number>; open_positions: number; pending_signals: number };
      history: { total: number; points: unknown[] };
      symbols: { symbol: string }[];
    }>(stack.deno.url(`/accounts/sessions/${sessionId}`), user.token, 'GET');
    expectStatus(detail, 200);
    expect(detail.body.session).toMatchObject({
      id: sessionId,
      status: 'disconnected',
      counters: { signals_sent: 0, signals_received: 1, orders_executed: 1, errors: 0 },
      open_positions: 0,
      pending_signals: 0,
    });
    expect(detail.body.history.total).toBe(snapshots?.n);
    expect(detail.body.history.points).toHaveLength(snapshots?.n ?? -1);
    expect(detail.body.symbols.map((x) => x.symbol)).toEqual(['EURUSD', 'XAUUSD']);
  });

  it('no Deno output line carries an EA secret, a bearer token or the encryption key', () => {
    const { logs } = stack.deno;
    expect(logs.length).toBeGreaterThan(0);
    for (const name of FUNCTIONS) {
      expect(logs.some((l) => l.fn === name && l.line.includes('"msg":"request"')), `${name} logged requests`).toBe(true);
    }
    const keyMaterial = stack.secrets.encryptionKey.slice(stack.secrets.encryptionKey.indexOf(':') + 1);
    const forbidden = [
      ...eaSecrets,
      ...eaSecrets.map((s) => s.slice('whsec_'.length)),
      ...tokens,
      stack.secrets.encryptionKey,
      keyMaterial,
    ];
    expect(eaSecrets.length).toBeGreaterThan(0);
    for (const { fn, stream, line } of logs) {
      const where = `${fn} ${stream}: ${line.slice(0, 200)}`;
      expect(line, where).not.toContain('whsec_');
      expect(line, where).not.toMatch(/bearer\s+\S/i);
      expect(line, where).not.toMatch(/eyJ[\w-]+\.[\w-]+\./); // any JWT
      for (const value of forbidden) expect(line.includes(value), `${where} leaks a secret`).toBe(false);
    }
  });

  it('leaves no deno.lock in the repository', () => {
    if (!lockfileExistedBefore) expect(existsSync(join(repoRoot, 'deno.lock'))).toBe(false);
  });
});
