import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { asOwner } from '@rubi/db';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { repoRoot } from '../support/paths.ts';
import { EaClient, userFetch, type EaResponse } from './ea-client.ts';
import type { E2eUser } from './support/auth.ts';
import { startE2eStack, type E2eStack } from './support/e2e-stack.ts';

/**
 * A connector EA's whole day, over HTTP, against the real functions served by Deno
 * (functions/<name>/index.ts, unchanged) on the integration PostgreSQL 15 with pg_cron. The EA
 * signs with the reference `standardwebhooks` library. Steps run in order and share state.
 */

const FUNCTIONS = ['keys', 'connect', 'ping'] as const;

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
    await stack?.close();
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
    const line = stack.deno.logs.find((l) => l.fn === 'ping' && l.line.includes(`"request_id":"${requestId}"`));
    expect(line, 'the ping function logged the request').toBeDefined();
    expect(JSON.parse(line?.line ?? '{}')).toMatchObject({
      level: 'info',
      msg: 'request',
      fn: 'ping',
      status: 200,
      actor: { kind: 'ea_key', keyId: ea.credential.keyId, userId: user.id },
    });

    const [snapshot] = await stack.db.query<{ n: number; equity: string }>(
      asOwner(),
      `select count(*)::int as n, max(equity)::text as equity from public.account_snapshots where session_id = $1`,
      [sessionId],
    );
    expect(snapshot).toEqual({ n: 1, equity: '10012.5' });
    expect((await session(sessionId))?.equity).toBe('10012.5');
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
      signals_received: 0,
      orders_executed: 0,
      errors: 0,
    });
    expectStatus(res, 200);
    expect(res.body).toMatchObject({ session_id: sessionId, status: 'disconnected' });
    expect(Math.abs(Date.parse(res.body.disconnected_at) - Date.now())).toBeLessThan(60_000);
    expect((await session(sessionId))?.status).toBe('disconnected');

    const late = await ea.post<ErrorBody>('/ping', pingBody(sessionId));
    expectStatus(late, 409);
    expect(late.body.error.code).toBe('conflict');
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
