import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createClient, type RealtimeChannel, type SupabaseClient } from '@supabase/supabase-js';
import { sha256Hex } from '@rubi/crypto';
import { asOwner } from '@rubi/db';
import { importJWK, SignJWT, type JWK } from 'jose';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createLocalServer, type LocalServer } from '../src/index.ts';
import { serveOnNode, type NodeServing } from './support/serve-node.ts';

// The embedded Realtime against the real supabase-js (Node's global WebSocket), the server on a
// real port with the `ws` package doing what Deno.upgradeWebSocket does under `npm start`.

const PUBLISHABLE_KEY = 'local-publishable-key';
let dataDir: string;
let server: LocalServer;
let serving: NodeServing;
let signingKey: CryptoKey;
let kid: string;
const clients: SupabaseClient[] = [];

interface Received {
  type: string;
  event: string;
  payload: Record<string, unknown>;
  meta?: { id?: string };
}

function client(options: { vsn?: '1.0.0' | '2.0.0'; accessToken?: () => Promise<string> } = {}): SupabaseClient {
  const c = createClient(serving.url, PUBLISHABLE_KEY, {
    auth: { persistSession: false, autoRefreshToken: false },
    realtime: { ...(options.vsn ? { vsn: options.vsn } : {}), reconnectAfterMs: () => 200, heartbeatIntervalMs: 5000 },
    ...(options.accessToken ? { accessToken: options.accessToken } : {}),
  });
  clients.push(c);
  return c;
}

async function signUp(email: string): Promise<{ client: SupabaseClient; userId: string; token: string }> {
  const c = client();
  const { data, error } = await c.auth.signUp({ email, password: 'realtime password 1' });
  if (error || !data.session || !data.user) throw new Error(`sign-up failed: ${error?.message}`);
  return { client: c, userId: data.user.id, token: data.session.access_token };
}

async function mint(claims: Record<string, unknown>, expiresInSeconds: number): Promise<string> {
  const now = Math.floor(Date.now() / 1000);
  return new SignJWT({ role: 'authenticated', aud: 'authenticated', ...claims })
    .setProtectedHeader({ alg: 'ES256', kid, typ: 'JWT' })
    .setIssuedAt(now - 60)
    .setExpirationTime(now + expiresInSeconds)
    .sign(signingKey);
}

/** Subscribes and resolves with the first terminal status (and its error). */
function subscribe(channel: RealtimeChannel): Promise<{ status: string; error: Error | undefined }> {
  return new Promise((resolve) => channel.subscribe((status, error) => resolve({ status, error })));
}

function collect(channel: RealtimeChannel, event: string): Received[] {
  const got: Received[] = [];
  channel.on('broadcast', { event }, (msg) => got.push(msg as Received));
  return got;
}

async function until<T>(what: string, probe: () => T | undefined | false, timeoutMs = 5000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = probe();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

async function registerAccount(token: string, login: number): Promise<{ id: string; status: string }> {
  const brokers = (await (await fetch(`${serving.url}/functions/v1/accounts/brokers`, { headers: { authorization: `Bearer ${token}` } })).json()) as {
    brokers: { id: string; platforms: string[] }[];
  };
  const broker = brokers.brokers.find((b) => b.platforms.includes('MT5'))!;
  const response = await fetch(`${serving.url}/functions/v1/accounts/trading-accounts`, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    body: JSON.stringify({ broker_id: broker.id, platform: 'MT5', login, server: 'Realtime-Test', investor_password: 'investor pw 1' }),
  });
  expect(response.status).toBe(201);
  return (await response.json()) as { id: string; status: string };
}

async function accountAction(token: string, id: string, action: 'pause' | 'resume'): Promise<void> {
  const response = await fetch(`${serving.url}/functions/v1/accounts/trading-accounts/${id}/${action}`, { method: 'POST', headers: { authorization: `Bearer ${token}` } });
  expect(response.status).toBe(200);
}

beforeAll(async () => {
  dataDir = await mkdtemp(join(tmpdir(), 'rubi-realtime-'));
  server = await createLocalServer({ dataDir, publicUrl: 'http://127.0.0.1:54321', cron: false, logSink: () => {} });
  serving = await serveOnNode(server);
  const stored = JSON.parse(await readFile(join(dataDir, 'local-secrets.json'), 'utf8')) as { private_jwk: JWK; public_jwk: { kid: string } };
  signingKey = (await importJWK(stored.private_jwk, 'ES256')) as CryptoKey;
  kid = stored.public_jwk.kid;
}, 120_000);

afterEach(async () => {
  for (const c of clients.splice(0)) {
    await c.removeAllChannels();
    c.realtime.disconnect();
  }
});

afterAll(async () => {
  await serving?.close();
  await server?.close();
  if (dataDir) await rm(dataDir, { recursive: true, force: true });
});

describe('Realtime with supabase-js', () => {
  it("delivers an account's changes to its owner's private topic, and refuses another user", async () => {
    const alice = await signUp(`alice-${Date.now()}@example.com`);
    const bob = await signUp(`bob-${Date.now()}@example.com`);

    const mine = alice.client.channel(`user:${alice.userId}`, { config: { private: true } });
    const got = collect(mine, 'trading_accounts');
    expect(await subscribe(mine)).toEqual({ status: 'SUBSCRIBED', error: undefined });

    const account = await registerAccount(alice.token, 81_000_001);
    const inserted = await until('the INSERT broadcast', () => got[0]);
    expect(inserted).toMatchObject({ type: 'broadcast', event: 'trading_accounts', payload: { operation: 'INSERT', table: 'trading_accounts', schema: 'public' } });
    expect(inserted.payload.record).toMatchObject({ id: account.id, status: 'pending_vps_setup', user_id: alice.userId });
    expect(inserted.meta?.id).toMatch(/^[0-9a-f-]{36}$/);

    await accountAction(alice.token, account.id, 'pause');
    const updated = await until('the UPDATE broadcast', () => got.find((m) => m.payload.operation === 'UPDATE'));
    expect(updated.payload.record).toMatchObject({ id: account.id, status: 'disconnected' });
    expect(updated.payload.old_record).toMatchObject({ status: 'pending_vps_setup' });

    // Bob on Alice's topic: the RLS policy says no.
    const theirs = bob.client.channel(`user:${alice.userId}`, { config: { private: true } });
    const bobGot = collect(theirs, 'trading_accounts');
    const refused = await subscribe(theirs);
    expect(refused.status).toBe('CHANNEL_ERROR');
    expect(refused.error?.message).toBe(`Unauthorized: You do not have permissions to read from this Channel topic: user:${alice.userId}`);
    await bob.client.removeChannel(theirs);

    // No session at all (the publishable key: anon) is refused as well.
    const anonymous = client().channel(`user:${alice.userId}`, { config: { private: true } });
    expect((await subscribe(anonymous)).error?.message).toMatch(/^Unauthorized: /);

    await accountAction(alice.token, account.id, 'resume');
    await until('the resume broadcast', () => got.filter((m) => m.payload.operation === 'UPDATE').length === 2);
    expect(bobGot).toEqual([]);
  });

  it('lets only a VPS host hear the private doorbell, with the token POST /vps/realtime-token mints; private messages stay off public topics', async () => {
    const alice = await signUp(`door-${Date.now()}@example.com`);
    // A host and its token, as the agent gets it.
    const hostKey = `vps_${crypto.randomUUID()}`;
    await server.db.query(asOwner(), 'insert into private.vps_hosts (name, key_hash, capacity) values ($1, $2, 1)', [
      `doorbell-${Date.now()}`,
      await sha256Hex(hostKey),
    ]);
    const minted = await fetch(`${serving.url}/functions/v1/vps/realtime-token`, { method: 'POST', headers: { 'x-vps-api-key': hostKey } });
    expect(minted.status).toBe(200);
    const { access_token: hostToken } = (await minted.json()) as { access_token: string };
    const host = client({ accessToken: async () => hostToken });
    await host.realtime.setAuth();
    const agent = host.channel('vps:doorbell', { config: { private: true } });
    const rings = collect(agent, 'account_pending');
    expect((await subscribe(agent)).status).toBe('SUBSCRIBED');
    // The host token is good for the doorbell only.
    const hostSnoop = await subscribe(host.channel(`user:${alice.userId}`, { config: { private: true } }));
    expect(hostSnoop.error?.message).toMatch(/^Unauthorized: /);
    // The publishable key and a user cannot join it.
    expect((await subscribe(client().channel('vps:doorbell', { config: { private: true } }))).error?.message).toMatch(/^Unauthorized: /);
    expect((await subscribe(alice.client.channel('vps:doorbell', { config: { private: true } }))).error?.message).toMatch(/^Unauthorized: /);
    // Joined publicly, the topic carries nothing: the rings are private messages.
    const publicAgent = client().channel('vps:doorbell', { config: { private: false } });
    const publicRings = collect(publicAgent, 'account_pending');
    expect((await subscribe(publicAgent)).status).toBe('SUBSCRIBED');
    // The same topic name joined publicly does not see the private messages of that topic.
    const snoop = client().channel(`user:${alice.userId}`);
    const snooped = collect(snoop, 'trading_accounts');
    expect((await subscribe(snoop)).status).toBe('SUBSCRIBED');

    await registerAccount(alice.token, 81_000_101);
    const ring = await until('the doorbell', () => rings[0]);
    expect(ring).toMatchObject({ type: 'broadcast', event: 'account_pending', payload: {} });
    // Nobody can ring it from a public channel either: a client broadcast there reaches no host.
    expect(await publicAgent.send({ type: 'broadcast', event: 'account_pending', payload: {} })).toBe('ok');
    await new Promise((r) => setTimeout(r, 200));
    expect(rings).toHaveLength(1);
    expect(publicRings).toEqual([]);
    expect(snooped).toEqual([]);
  });

  it('relays client broadcasts with ack on a public channel, over both protocol versions', async () => {
    for (const vsn of ['2.0.0', '1.0.0'] as const) {
      const topic = `room-${vsn}-${Date.now()}`;
      const sender = client({ vsn }).channel(topic, { config: { broadcast: { ack: true, self: false } } });
      const listener = client({ vsn }).channel(topic);
      const heard = collect(listener, 'cursor');
      const echoed = collect(sender, 'cursor');
      expect((await subscribe(sender)).status).toBe('SUBSCRIBED');
      expect((await subscribe(listener)).status).toBe('SUBSCRIBED');
      expect(await sender.send({ type: 'broadcast', event: 'cursor', payload: { x: 1, name: 'ünïcødé ✓' } })).toBe('ok');
      const message = await until(`the broadcast (${vsn})`, () => heard[0]);
      expect(message).toMatchObject({ type: 'broadcast', event: 'cursor', payload: { x: 1, name: 'ünïcødé ✓' } });
      expect(echoed).toEqual([]); // self: false
    }
  });

  it('tracks presence on a public channel', async () => {
    const topic = `lobby-${Date.now()}`;
    const a = client().channel(topic, { config: { presence: { key: 'a' } } });
    const b = client().channel(topic, { config: { presence: { key: 'b' } } });
    a.on('presence', { event: 'sync' }, () => {});
    b.on('presence', { event: 'sync' }, () => {});
    expect((await subscribe(a)).status).toBe('SUBSCRIBED');
    expect((await subscribe(b)).status).toBe('SUBSCRIBED');
    expect(await a.track({ online: 'a' })).toBe('ok');
    expect(await b.track({ online: 'b' })).toBe('ok');
    await until('both presences on a', () => Object.keys(a.presenceState()).sort().join() === 'a,b');
    expect(a.presenceState().b?.[0]).toMatchObject({ online: 'b' });
    await b.untrack();
    await until('b gone on a', () => Object.keys(a.presenceState()).join() === 'a');
  });

  it('sends nothing after removeChannel, and forgets the membership', async () => {
    const alice = await signUp(`gone-${Date.now()}@example.com`);
    const channel = alice.client.channel(`user:${alice.userId}`, { config: { private: true } });
    const got = collect(channel, 'trading_accounts');
    expect((await subscribe(channel)).status).toBe('SUBSCRIBED');
    const before = server.realtime.stats().members;
    expect(await alice.client.removeChannel(channel)).toBe('ok');
    // phoenix resolves the leave at once; the server forgets the member when the phx_leave arrives.
    await until('the leave', () => server.realtime.stats().members === before - 1);

    await registerAccount(alice.token, 81_000_201);
    await new Promise((r) => setTimeout(r, 300));
    expect(got).toEqual([]);
  });

  it('refuses an expired token, and closes a channel when its token expires', async () => {
    const alice = await signUp(`exp-${Date.now()}@example.com`);
    const expired = await mint({ sub: alice.userId }, -30);
    const staleClient = client({ accessToken: async () => expired });
    // As Supabase's docs say for private channels: the token first, then subscribe (a join sent
    // before the token is known goes with the publishable key).
    await staleClient.realtime.setAuth();
    const stale = staleClient.channel(`user:${alice.userId}`, { config: { private: true } });
    const refused = await subscribe(stale);
    expect(refused.status).toBe('CHANNEL_ERROR');
    expect(refused.error?.message).toMatch(/^InvalidJWTToken: Token has expired \d+ seconds ago$/);

    const shortLived = await mint({ sub: alice.userId }, 2);
    const c = client({ accessToken: async () => shortLived });
    await c.realtime.setAuth();
    const channel = c.channel(`user:${alice.userId}`, { config: { private: true } });
    const system: unknown[] = [];
    channel.on('system', {}, (m) => system.push(m));
    const statuses: string[] = [];
    channel.subscribe((status) => statuses.push(status));
    await until('SUBSCRIBED', () => statuses.includes('SUBSCRIBED'));
    await until('CLOSED on expiry', () => statuses.includes('CLOSED'), 5000);
    expect(system[0]).toMatchObject({ status: 'error', extension: 'system', channel: `user:${alice.userId}` });
    expect((system[0] as { message: string }).message).toMatch(/^Token has expired \d+ seconds ago$/);
  });

  it("re-authorises on access_token refresh and closes the channel when the new token may not read", async () => {
    const alice = await signUp(`refresh-${Date.now()}@example.com`);
    const bob = await signUp(`refresh-b-${Date.now()}@example.com`);
    let token = alice.token;
    const c = client({ accessToken: async () => token });
    await c.realtime.setAuth();
    const channel = c.channel(`user:${alice.userId}`, { config: { private: true } });
    const statuses: string[] = [];
    channel.subscribe((status) => statuses.push(status));
    await until('SUBSCRIBED', () => statuses.includes('SUBSCRIBED'));

    // A fresh token of the same user: still allowed.
    token = await mint({ sub: alice.userId }, 3600);
    await c.realtime.setAuth();
    await new Promise((r) => setTimeout(r, 200));
    expect(statuses).toEqual(['SUBSCRIBED']);

    // Someone else's token on the same socket: the join is revoked.
    token = bob.token;
    await c.realtime.setAuth();
    await until('CLOSED on revocation', () => statuses.includes('CLOSED'));
  });

  it('rejoins after the server drops the socket, and delivers again', async () => {
    const alice = await signUp(`drop-${Date.now()}@example.com`);
    const channel = alice.client.channel(`user:${alice.userId}`, { config: { private: true } });
    const got = collect(channel, 'trading_accounts');
    const statuses: string[] = [];
    channel.subscribe((status) => statuses.push(status));
    await until('SUBSCRIBED', () => statuses.includes('SUBSCRIBED'));

    server.realtime.dropAll();
    await until('the rejoin', () => statuses.filter((s) => s === 'SUBSCRIBED').length === 2 || (channel.state === 'joined' && server.realtime.stats().members > 0), 10_000);
    await registerAccount(alice.token, 81_000_301);
    await until('a broadcast after the rejoin', () => got[0]);
  });

  it('leaves no authorisation probes behind in realtime.messages', async () => {
    const [{ n }] = (await server.db.query<{ n: number }>(asOwner(), `select count(*)::int as n from realtime.messages where payload is null`)) as [{ n: number }];
    expect(n).toBe(0);
  });
});
