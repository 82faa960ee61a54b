import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createClient } from '@supabase/supabase-js';
import WebSocket from 'ws';
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
    // Node 20 has no global WebSocket; supabase-js needs a transport even if Realtime is unused.
    realtime: { transport: WebSocket as never },
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

  it('runs the scheduled jobs in process and records their runs', async () => {
    const run = await server.cron.runByName('rubi-sweep-stale-sessions');
    expect(run.status).toBe('succeeded');
    const [logged] = await server.db.query<{ n: number }>(asOwner(), `select count(*)::int as n from cron.job_run_details where status = 'succeeded'`);
    expect(logged?.n).toBeGreaterThan(0);
    expect(await server.cron.start()).toBe(9);
    server.cron.stop();
  });

  it('keeps data and keys across a restart and applies no migration twice', async () => {
    await server.close();
    server = await createLocalServer({ dataDir, publicUrl: URL_BASE, cron: false, logSink: () => {} });
    expect(server.applied).toEqual([]);
    const signIn = await clientFor(server).auth.signInWithPassword({ email: 'trader@example.com', password: 'correct horse' });
    expect(signIn.error).toBeNull();
  });
});
