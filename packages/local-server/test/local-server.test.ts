import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createClient } from '@supabase/supabase-js';
import { asOwner } from '@rubi/db';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLocalServer, type LocalServer } from '../src/index.ts';

const URL_BASE = 'http://127.0.0.1:54321';
let dataDir: string;
let server: LocalServer;

function clientFor(s: LocalServer) {
  // supabase-js talks to the server's fetch directly: no socket needed in a test.
  return createClient(URL_BASE, 'local-publishable-key', {
    auth: { persistSession: false, autoRefreshToken: false },
    global: { fetch: (input, init) => Promise.resolve(s.fetch(new Request(input, init))) },
  });
}

beforeAll(async () => {
  dataDir = await mkdtemp(join(tmpdir(), 'rubi-local-'));
  server = await createLocalServer({ dataDir, publicUrl: URL_BASE, cron: false, logSink: () => {} });
});
afterAll(async () => {
  await server.close();
  await rm(dataDir, { recursive: true, force: true });
});

describe('local server', () => {
  it('applies the platform SQL, migrations and seed on first start', async () => {
    expect(server.applied).toContain('seed.sql');
    const [brokers] = await server.db.query<{ n: number }>(asOwner(), 'select count(*)::int as n from public.brokers');
    expect(brokers?.n).toBeGreaterThan(0);
  });

  it('supports supabase-js sign-up, sign-in, refresh and getUser, with tokens the functions accept', async () => {
    const supabase = clientFor(server);
    const signUp = await supabase.auth.signUp({ email: 'trader@example.com', password: 'correct horse' });
    expect(signUp.error).toBeNull();
    expect(signUp.data.session?.access_token).toBeTruthy();
    const duplicate = await supabase.auth.signUp({ email: 'trader@example.com', password: 'correct horse' });
    expect(duplicate.error?.message).toMatch(/already registered/);

    const wrong = await supabase.auth.signInWithPassword({ email: 'trader@example.com', password: 'nope nope' });
    expect(wrong.error?.message).toMatch(/Invalid login credentials/);
    const signIn = await supabase.auth.signInWithPassword({ email: 'trader@example.com', password: 'correct horse' });
    expect(signIn.error).toBeNull();
    const session = signIn.data.session;
    if (!session) throw new Error('no session');

    const user = await supabase.auth.getUser(session.access_token);
    expect(user.data.user?.email).toBe('trader@example.com');
    expect(user.data.user?.id).toBe(signIn.data.user?.id);

    const refreshed = await supabase.auth.refreshSession({ refresh_token: session.refresh_token });
    expect(refreshed.error).toBeNull();
    expect(refreshed.data.session?.refresh_token).not.toBe(session.refresh_token);
    const reused = await supabase.auth.refreshSession({ refresh_token: session.refresh_token });
    expect(reused.error).not.toBeNull();

    const res = await server.fetch(
      new Request(`${URL_BASE}/functions/v1/keys`, {
        method: 'POST',
        headers: { authorization: `Bearer ${refreshed.data.session?.access_token}`, 'content-type': 'application/json' },
        body: JSON.stringify({ name: 'from the local server' }),
      }),
    );
    expect(res.status).toBe(201);
    const [stored] = await server.db.query<{ hashed: boolean }>(
      asOwner(),
      `select encrypted_password like '$2%' and encrypted_password not like '%correct%' as hashed from auth.users where email = 'trader@example.com'`,
    );
    expect(stored?.hashed).toBe(true);
  });

  it('answers GET / with its JSON description to a client asking for JSON, and with the dashboard to a browser', async () => {
    const info = await server.fetch(new Request(`${URL_BASE}/`, { headers: { accept: 'application/json' } }));
    expect(info.headers.get('content-type')).toMatch(/^application\/json/);
    expect(await info.json()).toMatchObject({ name: 'Rubi MT Bridge (local)', data_dir: dataDir, docs: `${URL_BASE}/docs` });
    const page = await server.fetch(new Request(`${URL_BASE}/`, { headers: { accept: 'text/html' } }));
    expect(page.status).toBe(200);
    expect(page.headers.get('content-type')).toBe('text/html; charset=utf-8');
    // The SPA fallback never hides the API: unknown function paths still answer as the API does.
    expect((await server.fetch(new Request(`${URL_BASE}/functions/v1/keys`, { headers: { accept: 'text/html' } }))).status).toBe(401);
  });

  it('serves the JWKS, the API reference and each function under /functions/v1', async () => {
    const jwks = (await (await server.fetch(new Request(`${URL_BASE}/auth/v1/.well-known/jwks.json`))).json()) as { keys: { kty: string; alg: string }[] };
    expect(jwks.keys[0]).toMatchObject({ kty: 'EC', alg: 'ES256' });
    const docs = await server.fetch(new Request(`${URL_BASE}/docs`));
    expect(docs.status).toBe(200);
    const html = await docs.text();
    for (const name of server.functionNames) expect(html).toContain(`/functions/v1/${name}/openapi.json`);
    expect((await server.fetch(new Request(`${URL_BASE}/docs/assets/swagger-ui-bundle.js`))).status).toBe(200);
    for (const name of server.functionNames) {
      const spec = await server.fetch(new Request(`${URL_BASE}/functions/v1/${name}/openapi.json`));
      expect(spec.status, name).toBe(200);
    }
    expect((await server.fetch(new Request(`${URL_BASE}/functions/v1/keys`))).status).toBe(401);
  });

  it('answers /health for the process and /functions/v1/<name>/health for each function, without credentials', async () => {
    const own = await server.fetch(new Request(`${URL_BASE}/health`));
    expect(own.status).toBe(200);
    expect(await own.json()).toMatchObject({ status: 'ok', name: 'local-server', database: { reachable: true } });
    for (const name of server.functionNames) {
      const res = await server.fetch(new Request(`${URL_BASE}/functions/v1/${name}/health`));
      expect(res.status, name).toBe(200);
      expect(await res.json()).toMatchObject({ status: 'ok', name, database: { reachable: true } });
    }
  });

  it('runs the scheduled jobs in process and records their runs', async () => {
    const job = await server.cron.find('rubi-sweep-stale-sessions');
    if (!job) throw new Error('no rubi-sweep-stale-sessions job');
    const run = await server.cron.runJob(job);
    expect(run.status).toBe('succeeded');
    const [logged] = await server.db.query<{ n: number }>(asOwner(), `select count(*)::int as n from cron.job_run_details where status = 'succeeded'`);
    expect(logged?.n).toBeGreaterThan(0);
    expect(await server.cron.start()).toBe(10);
    server.cron.stop();
  });

  const operator = (path: string, init: { token?: string; body?: unknown } = {}) =>
    server.fetch(
      new Request(`${URL_BASE}/_local${path}`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...(init.token ? { authorization: `Bearer ${init.token}` } : {}) },
        ...(init.body === undefined ? {} : { body: JSON.stringify(init.body) }),
      }),
    );
  const hostCount = async () => (await server.db.query<{ n: number }>(asOwner(), 'select count(*)::int as n from private.vps_hosts'))[0]?.n;

  it('operator routes refuse anything but the service_role key', async () => {
    const before = await hostCount();
    expect((await operator('/vps-hosts', { body: { name: 'no-key' } })).status).toBe(401);
    const signIn = await clientFor(server).auth.signInWithPassword({ email: 'trader@example.com', password: 'correct horse' });
    const userToken = signIn.data.session?.access_token;
    const asUser = await operator('/vps-hosts', { token: userToken, body: { name: 'user-token' } });
    expect(asUser.status).toBe(401);
    expect(await asUser.json()).toMatchObject({ error: { code: 'unauthorized', message: 'not a service_role key' } });
    const forged = `${server.serviceRoleKey.slice(0, -4)}AAAA`;
    expect((await operator('/cron/rubi-settle-cashback/run', { token: forged })).status).toBe(401);
    expect(await hostCount()).toBe(before);
  });

  it('creates a VPS host whose key the vps function accepts; bad input is a 400 naming the fields', async () => {
    const before = await hostCount();
    const bad = await operator('/vps-hosts', { token: server.serviceRoleKey, body: { name: ' bad name', capacity: -1, extra: 1 } });
    expect(bad.status).toBe(400);
    const details = ((await bad.json()) as { error: { details: { path: string }[] } }).error.details.map((d) => d.path).sort();
    expect(details).toEqual(['body', 'body.capacity', 'body.name']);
    expect(await hostCount()).toBe(before);

    const created = await operator('/vps-hosts', { token: server.serviceRoleKey, body: { name: 'local-host-1', capacity: 2 } });
    expect(created.status).toBe(201);
    const host = (await created.json()) as { id: string; name: string; capacity: number; api_key: string };
    expect(host).toMatchObject({ name: 'local-host-1', capacity: 2 });
    const [stored] = await server.db.query<{ key_hash: string }>(asOwner(), 'select key_hash from private.vps_hosts where id = $1', [host.id]);
    expect(stored?.key_hash).not.toContain(host.api_key);
    const held = await server.fetch(new Request(`${URL_BASE}/functions/v1/vps/accounts`, { headers: { 'x-vps-api-key': host.api_key } }));
    expect(held.status).toBe(200);
    expect(await held.json()).toEqual({ accounts: [] });
    expect((await operator('/vps-hosts', { token: server.serviceRoleKey, body: { name: 'local-host-1' } })).status).toBe(409);
  });

  it('creates a host dedicated to a user; an unknown user or a malformed id is a 400 naming the field', async () => {
    const before = await hostCount();
    for (const dedicated_user_id of ['not-a-uuid', '00000000-0000-4000-8000-00000000dead']) {
      const bad = await operator('/vps-hosts', { token: server.serviceRoleKey, body: { name: 'dedicated-bad', dedicated_user_id } });
      expect(bad.status, dedicated_user_id).toBe(400);
      const details = ((await bad.json()) as { error: { details: { path: string }[] } }).error.details.map((d) => d.path);
      expect(details).toEqual(['body.dedicated_user_id']);
    }
    expect(await hostCount()).toBe(before);

    const signIn = await clientFor(server).auth.signInWithPassword({ email: 'trader@example.com', password: 'correct horse' });
    const userId = signIn.data.user!.id;
    const created = await operator('/vps-hosts', { token: server.serviceRoleKey, body: { name: 'dedicated-1', dedicated_user_id: userId } });
    expect(created.status).toBe(201);
    expect(await created.json()).toMatchObject({ name: 'dedicated-1', dedicated_user_id: userId });
    const [stored] = await server.db.query<{ dedicated_user_id: string }>(asOwner(), `select dedicated_user_id from private.vps_hosts where name = 'dedicated-1'`);
    expect(stored?.dedicated_user_id).toBe(userId);
  });

  it('runs a cron job on demand and records the run like a scheduled one', async () => {
    const res = await operator('/cron/rubi-settle-cashback/run', { token: server.serviceRoleKey });
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({ jobname: 'rubi-settle-cashback', status: 'succeeded' });
    const [logged] = await server.db.query<{ n: number }>(
      asOwner(),
      `select count(*)::int as n from cron.job_run_details d join cron.job j using (jobid) where j.jobname = 'rubi-settle-cashback'`,
    );
    expect(logged?.n).toBe(1);
    expect((await operator('/cron/no-such-job/run', { token: server.serviceRoleKey })).status).toBe(404);
  });

  it('keeps data and keys across a restart and applies no migration twice', async () => {
    const serviceRoleKey = server.serviceRoleKey;
    await server.close();
    server = await createLocalServer({ dataDir, publicUrl: URL_BASE, cron: false, logSink: () => {} });
    expect(server.applied).toEqual([]);
    expect(server.serviceRoleKey).toBe(serviceRoleKey);
    const signIn = await clientFor(server).auth.signInWithPassword({ email: 'trader@example.com', password: 'correct horse' });
    expect(signIn.error).toBeNull();
  });
});
