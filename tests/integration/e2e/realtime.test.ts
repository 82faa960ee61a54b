import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createClient, type RealtimeChannel, type SupabaseClient } from '@supabase/supabase-js';
import { importJWK, SignJWT, type JWK } from 'jose';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '../../../scripts/lib/free-port.ts';
import { startNpmStart, type NpmStart } from './support/npm-start.ts';

/**
 * Realtime in the embedded default, as a dashboard uses it: `npm start`, the real supabase-js over
 * Node's WebSocket, private channels authorised by the RLS policies on realtime.messages.
 */

const PUBLISHABLE_KEY = 'local-publishable-key';
let port: number;
let url: string;
let dataDir: string;
let server: NpmStart;
const clients: SupabaseClient[] = [];

/** npm start on this file's port and data folder (the restart test starts it again on both). */
async function startServer(): Promise<void> {
  server = await startNpmStart({ port, args: ['--data-dir', dataDir], timeoutMs: 180_000 });
}

function client(accessToken?: () => Promise<string>): SupabaseClient {
  const c = createClient(url, PUBLISHABLE_KEY, {
    auth: { persistSession: false, autoRefreshToken: false },
    realtime: { reconnectAfterMs: () => 250 },
    ...(accessToken ? { accessToken } : {}),
  });
  clients.push(c);
  return c;
}

async function signUp(label: string): Promise<{ supabase: SupabaseClient; userId: string; token: string }> {
  const supabase = client();
  const { data, error } = await supabase.auth.signUp({ email: `${label}-${Date.now()}@example.com`, password: 'realtime password 1' });
  if (error || !data.session || !data.user) throw new Error(`sign-up failed: ${error?.message}`);
  return { supabase, userId: data.user.id, token: data.session.access_token };
}

interface Received {
  type: string;
  event: string;
  payload: Record<string, unknown> & { record?: Record<string, unknown> };
}

function collect(channel: RealtimeChannel, event: string): Received[] {
  const got: Received[] = [];
  channel.on('broadcast', { event }, (msg) => got.push(msg as Received));
  return got;
}

function subscribe(channel: RealtimeChannel): Promise<{ status: string; error: Error | undefined }> {
  return new Promise((resolve) => channel.subscribe((status, error) => resolve({ status, error })));
}

async function until<T>(what: string, probe: () => T | undefined | false, timeoutMs = 10_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = probe();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

async function mint(sub: string, expiresInSeconds: number): Promise<string> {
  const stored = JSON.parse(await readFile(join(dataDir, 'local-secrets.json'), 'utf8')) as { private_jwk: JWK; public_jwk: { kid: string } };
  const key = (await importJWK(stored.private_jwk, 'ES256')) as CryptoKey;
  const now = Math.floor(Date.now() / 1000);
  return new SignJWT({ role: 'authenticated', aud: 'authenticated' })
    .setProtectedHeader({ alg: 'ES256', kid: stored.public_jwk.kid, typ: 'JWT' })
    .setSubject(sub)
    .setIssuedAt(now - 120)
    .setExpirationTime(now + expiresInSeconds)
    .sign(key);
}

let login = 82_000_000;
async function registerAccount(token: string): Promise<string> {
  const response = await fetch(`${url}/functions/v1/accounts/brokers`, { headers: { authorization: `Bearer ${token}` } });
  const broker = ((await response.json()) as { brokers: { id: string; platforms: string[] }[] }).brokers.find((b) => b.platforms.includes('MT5'))!;
  const created = await fetch(`${url}/functions/v1/accounts/trading-accounts`, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    body: JSON.stringify({ broker_id: broker.id, platform: 'MT5', login: ++login, server: 'Realtime-E2E', investor_password: 'investor pw 1' }),
  });
  expect(created.status).toBe(201);
  return ((await created.json()) as { id: string }).id;
}

async function pause(token: string, id: string): Promise<void> {
  const response = await fetch(`${url}/functions/v1/accounts/trading-accounts/${id}/pause`, { method: 'POST', headers: { authorization: `Bearer ${token}` } });
  expect(response.status).toBe(200);
}

beforeAll(async () => {
  port = await freePort();
  url = `http://127.0.0.1:${port}`;
  dataDir = await mkdtemp(join(tmpdir(), 'rubi-realtime-e2e-'));
  await startServer();
}, 200_000);

afterEach(async () => {
  for (const c of clients.splice(0)) {
    await c.removeAllChannels().catch(() => undefined);
  }
});

afterAll(async () => {
  await server?.stop('SIGKILL');
  if (dataDir) await rm(dataDir, { recursive: true, force: true });
});

describe('Realtime against npm start', () => {
  it('announces the WebSocket in the banner', () => {
    expect(server.output()).toContain(`Realtime     ws://127.0.0.1:${port}/realtime/v1/websocket`);
  });

  it('the owner receives its account on user:<id>; another user is refused by the RLS policy', async () => {
    const a = await signUp('owner');
    const b = await signUp('other');
    const mine = a.supabase.channel(`user:${a.userId}`, { config: { private: true } });
    const got = collect(mine, 'trading_accounts');
    expect(await subscribe(mine)).toEqual({ status: 'SUBSCRIBED', error: undefined });

    const theirs = b.supabase.channel(`user:${a.userId}`, { config: { private: true } });
    const leaked = collect(theirs, 'trading_accounts');
    const refused = await subscribe(theirs);
    expect(refused.status).toBe('CHANNEL_ERROR');
    expect(refused.error?.message).toBe(`Unauthorized: You do not have permissions to read from this Channel topic: user:${a.userId}`);

    const id = await registerAccount(a.token);
    const inserted = await until('the INSERT', () => got.find((m) => m.payload.operation === 'INSERT'));
    expect(inserted).toMatchObject({ type: 'broadcast', event: 'trading_accounts', payload: { table: 'trading_accounts', record: { id, status: 'pending_vps_setup' } } });

    await pause(a.token, id);
    const updated = await until('the status change', () => got.find((m) => m.payload.operation === 'UPDATE'));
    expect(updated.payload.record).toMatchObject({ id, status: 'disconnected' });
    expect(leaked).toEqual([]);
  });

  it('only a VPS host hears the private doorbell (token from POST /vps/realtime-token), and client broadcasts are acknowledged', async () => {
    const a = await signUp('door');
    // A host, as `npm run vps-host -- create` makes one, and the token its agent fetches.
    const stored = JSON.parse(await readFile(join(dataDir, 'local-secrets.json'), 'utf8')) as { service_role_key: string };
    const created = await fetch(`${url}/_local/vps-hosts`, {
      method: 'POST',
      headers: { authorization: `Bearer ${stored.service_role_key}`, 'content-type': 'application/json' },
      body: JSON.stringify({ name: `door-${Date.now()}` }),
    });
    expect(created.status).toBe(201);
    const { api_key: hostKey } = (await created.json()) as { api_key: string };
    const minted = await fetch(`${url}/functions/v1/vps/realtime-token`, { method: 'POST', headers: { 'x-vps-api-key': hostKey } });
    expect(minted.status).toBe(200);
    const { access_token: hostToken } = (await minted.json()) as { access_token: string };
    const host = client(async () => hostToken);
    await host.realtime.setAuth();
    const agent = host.channel('vps:doorbell', { config: { private: true } });
    const rings = collect(agent, 'account_pending');
    expect((await subscribe(agent)).status).toBe('SUBSCRIBED');
    // The publishable key (anon) and a signed-in user cannot join it; a public channel of that name hears nothing.
    expect((await subscribe(client().channel('vps:doorbell', { config: { private: true } }))).status).toBe('CHANNEL_ERROR');
    expect((await subscribe(a.supabase.channel('vps:doorbell', { config: { private: true } }))).status).toBe('CHANNEL_ERROR');
    const outsider = client().channel('vps:doorbell');
    const overheard = collect(outsider, 'account_pending');
    expect((await subscribe(outsider)).status).toBe('SUBSCRIBED');
    await registerAccount(a.token);
    expect(await until('the doorbell', () => rings[0])).toMatchObject({ type: 'broadcast', event: 'account_pending', payload: {} });
    // Nobody rings it from outside: a broadcast on the public channel of that name reaches no host.
    await outsider.send({ type: 'broadcast', event: 'account_pending', payload: {} });
    await new Promise((r) => setTimeout(r, 300));
    expect(rings).toHaveLength(1);
    expect(overheard).toEqual([]);

    const topic = `room-${Date.now()}`;
    const sender = client().channel(topic, { config: { broadcast: { ack: true } } });
    const listener = client().channel(topic);
    const heard = collect(listener, 'hello');
    expect((await subscribe(sender)).status).toBe('SUBSCRIBED');
    expect((await subscribe(listener)).status).toBe('SUBSCRIBED');
    expect(await sender.send({ type: 'broadcast', event: 'hello', payload: { n: 1 } })).toBe('ok');
    expect(await until('the broadcast', () => heard[0])).toMatchObject({ event: 'hello', payload: { n: 1 } });
  });

  it('refuses an expired token and closes the channel when a token expires', async () => {
    const a = await signUp('expiry');
    const expired = await mint(a.userId, -60);
    const stale = client(async () => expired);
    await stale.realtime.setAuth();
    const refused = await subscribe(stale.channel(`user:${a.userId}`, { config: { private: true } }));
    expect(refused.status).toBe('CHANNEL_ERROR');
    expect(refused.error?.message).toMatch(/^InvalidJWTToken: Token has expired \d+ seconds ago$/);

    const shortLived = await mint(a.userId, 2);
    const brief = client(async () => shortLived);
    await brief.realtime.setAuth();
    const channel = brief.channel(`user:${a.userId}`, { config: { private: true } });
    const statuses: string[] = [];
    channel.subscribe((status) => statuses.push(status));
    await until('SUBSCRIBED', () => statuses.includes('SUBSCRIBED'));
    await until('CLOSED at expiry', () => statuses.includes('CLOSED'), 6000);
  });

  it('nothing arrives after removeChannel', async () => {
    const a = await signUp('removed');
    const channel = a.supabase.channel(`user:${a.userId}`, { config: { private: true } });
    const got = collect(channel, 'trading_accounts');
    expect((await subscribe(channel)).status).toBe('SUBSCRIBED');
    expect(await a.supabase.removeChannel(channel)).toBe('ok');
    await new Promise((r) => setTimeout(r, 200));
    await registerAccount(a.token);
    await new Promise((r) => setTimeout(r, 750));
    expect(got).toEqual([]);
  });

  it('rejoins after the server restarts and delivers again', async () => {
    const a = await signUp('restart');
    const channel = a.supabase.channel(`user:${a.userId}`, { config: { private: true } });
    const got = collect(channel, 'trading_accounts');
    const statuses: string[] = [];
    channel.subscribe((status) => statuses.push(status));
    await until('SUBSCRIBED', () => statuses.includes('SUBSCRIBED'));

    await server.stop('SIGTERM');
    await startServer();
    await until('the rejoin', () => statuses.filter((s) => s === 'SUBSCRIBED').length >= 2, 30_000);
    await registerAccount(a.token);
    await until('a message after the rejoin', () => got.find((m) => m.payload.operation === 'INSERT'));
  }, 120_000);
});
