import { generateEncryptionKey, sha256Hex } from '@rubi/crypto';
import { asOwner, asService, createPostgresDb, type PostgresDb } from '@rubi/db';
import { createEdgeDeps, type EdgeDeps } from '@rubi/edge';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createServer, type Server } from 'node:http';
import { createOpsApp } from '../../functions/ops/app.ts';
import { createVpsApp } from '../../functions/vps/app.ts';
import { DENO_RUN_FLAGS, denoBin } from './e2e/support/deno-functions.ts';
import { databaseUrl } from './support/context.ts';
import { repoRoot } from './support/paths.ts';
import { describeRun, run, type RunResult } from './support/run.ts';

// scripts/vps-host.ts, the admin CLI for VPS host keys, run under Deno exactly as
// `npm run vps-host` runs it, against the integration PostgreSQL 15. The key it prints must
// authenticate a real request to the vps function; after `revoke` it must not, and the host's
// accounts lose their leases.

const PREFIX = `script-host-${process.pid}-`;
const USER_ID = '00000000-0000-4000-8000-0000005c1a1f';
const SERVER = 'VpsHostScript-Live';

let owner: PostgresDb;
let deps: EdgeDeps;
let app: ReturnType<typeof createVpsApp>;

function script(args: string[], env: Record<string, string> = {}): Promise<RunResult> {
  return run(denoBin, ['run', ...DENO_RUN_FLAGS, 'scripts/vps-host.ts', ...args], {
    cwd: repoRoot,
    env: { DATABASE_URL: databaseUrl(), NO_COLOR: '1', DENO_NO_UPDATE_CHECK: '1', ...env },
    timeoutMs: 60_000,
  });
}

async function scriptOk(args: string[]): Promise<RunResult> {
  const result = await script(args);
  if (result.code !== 0) throw new Error(`vps-host failed\n${describeRun(result)}`);
  return result;
}

const heartbeat = (key: string) =>
  app.request('/vps/heartbeat', {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-vps-api-key': key },
    body: JSON.stringify({ version: 'script-test', capacity: 4, terminals: [] }),
  });

beforeAll(async () => {
  owner = createPostgresDb(databaseUrl(), { max: 2 });
  deps = await createEdgeDeps(
    {
      SUPABASE_URL: 'http://127.0.0.1:54321',
      SUPABASE_DB_URL: databaseUrl(),
      ENCRYPTION_KEY: generateEncryptionKey('script'),
      LOG_LEVEL: 'silent',
    },
    {},
  );
  app = createVpsApp(deps);
});

afterAll(async () => {
  await owner?.transaction(asOwner(), async (tx) => {
    await tx.query('delete from auth.users where id = $1', [USER_ID]);
    await tx.query(`delete from public.brokers where name = 'VPS Script Broker'`);
    await tx.query('delete from private.vps_hosts where name like $1', [`${PREFIX}%`]);
    await tx.query('delete from private.operator_keys where name like $1', [`${PREFIX}%`]);
    await tx.query('delete from realtime.messages where topic = $1', [`user:${USER_ID}`]);
  });
  await owner?.close();
  await deps?.db.close();
});

describe('scripts/vps-host.ts', () => {
  it('creates a host whose key (printed once, stored hashed) authenticates; lists it; revokes it', async () => {
    const name = `${PREFIX}a`;
    const created = await scriptOk(['create', name, '--capacity', '3']);
    const key = /^\s*VPS_API_KEY=(\S+)$/m.exec(created.stdout)?.[1];
    expect(key, created.stdout).toMatch(/^vps_[A-Za-z0-9_-]{43}$/);
    if (!key) return;

    const [stored] = await owner.query<{ id: string; key_hash: string; capacity: number }>(
      asOwner(),
      'select id, key_hash, capacity from private.vps_hosts where name = $1',
      [name],
    );
    expect(stored).toMatchObject({ key_hash: await sha256Hex(key), capacity: 3 });
    const dump = JSON.stringify(await owner.query(asOwner(), 'select * from private.vps_hosts where name = $1', [name]));
    expect(dump).not.toContain(key);

    // The key works against the real vps function.
    const beat = await heartbeat(key);
    expect(beat.status, await beat.clone().text()).toBe(200);

    // A second host with the same name is refused.
    const dup = await script(['create', name]);
    expect(dup.code).toBe(1);
    expect(dup.stderr).toContain('already exists');
    expect(dup.stdout).not.toMatch(/VPS_API_KEY=/);

    const listed = await scriptOk(['list']);
    const line = listed.stdout.split('\n').find((l) => l.startsWith(`${name} `));
    expect(line).toMatch(/\sactive\s+4\s+0\s+script-test\s+\d{4}-\d\d-\d\dT/);
    expect(listed.stdout).not.toContain(key);

    // An account it holds: revoking ends the lease so the cron sweep requeues it.
    await owner.transaction(asOwner(), async (tx) => {
      await tx.query(`insert into auth.users (id, aud, role, email) values ($1, 'authenticated', 'authenticated', 'script@example.com')`, [USER_ID]);
      const [broker] = await tx.query<{ id: string }>(
        `insert into public.brokers (name, platforms, rebate_per_lot) values ('VPS Script Broker', array['MT5'], 1) returning id`,
      );
      await tx.query(
        `insert into public.trading_accounts (user_id, broker_id, platform, login, server, created_at)
         values ($1, $2, 'MT5', 515151, $3, now() - interval '10 years')`,
        [USER_ID, broker?.id, SERVER],
      );
    });
    const claimed = await owner.query<{ id: string }>(asService(), 'select id from private.claim_accounts($1, 1)', [stored?.id]);
    expect(claimed).toHaveLength(1);
    const json = JSON.parse((await scriptOk(['list', '--json'])).stdout) as { name: string; held: number; revoked_at: string | null }[];
    expect(json.find((h) => h.name === name)).toMatchObject({ held: 1, revoked_at: null });

    const revoked = await scriptOk(['revoke', name]);
    expect(revoked.stdout).toContain('1 account(s)');
    expect((await heartbeat(key)).status).toBe(401);
    const [auth] = await owner.query<{ id: string | null }>(asService(), 'select private.authenticate_vps_host($1) as id', [await sha256Hex(key)]);
    expect(auth?.id).toBeNull();
    const [lease] = await owner.query<{ expired: boolean }>(asOwner(), 'select lease_expires_at <= now() as expired from public.trading_accounts where id = $1', [
      claimed[0]?.id,
    ]);
    expect(lease?.expired).toBe(true);
    await owner.query(asOwner(), 'select private.reclaim_expired_leases()');
    const [requeued] = await owner.query<{ status: string; vps_host_id: string | null }>(
      asOwner(),
      'select status, vps_host_id from public.trading_accounts where id = $1',
      [claimed[0]?.id],
    );
    expect(requeued).toEqual({ status: 'pending_vps_setup', vps_host_id: null });
    // Do not leave a pending account for other files' claims.
    await owner.query(asOwner(), 'delete from public.trading_accounts where id = $1', [claimed[0]?.id]);

    const again = await scriptOk(['revoke', name]);
    expect(again.stdout).toContain('already revoked');
    const finalList = JSON.parse((await scriptOk(['list', '--json'])).stdout) as { name: string; revoked_at: string | null }[];
    expect(finalList.find((h) => h.name === name)?.revoked_at).not.toBeNull();
  });

  it('--json create prints the key once, machine-readably', async () => {
    const out = JSON.parse((await scriptOk(['create', `${PREFIX}b`, '--json'])).stdout) as { id: string; name: string; capacity: number; key: string };
    expect(out).toMatchObject({ name: `${PREFIX}b`, capacity: 5 });
    expect((await heartbeat(out.key)).status).toBe(200);
  });

  it('--dedicated-to (a user id or email) makes a host that only that user\'s accounts go to', async () => {
    const email = `dedicated-${process.pid}@example.test`;
    const [user] = await owner.query<{ id: string }>(
      asOwner(),
      `insert into auth.users (id, aud, role, email) values (gen_random_uuid(), 'authenticated', 'authenticated', $1) returning id`,
      [email],
    );
    try {
      const byEmail = await scriptOk(['create', `${PREFIX}d`, '--dedicated-to', email.toUpperCase()]);
      expect(byEmail.stdout).toContain(`dedicated to ${email}`);
      const byId = JSON.parse((await scriptOk(['create', `${PREFIX}e`, '--dedicated-to', user!.id, '--json'])).stdout) as { dedicated_user_id: string };
      expect(byId.dedicated_user_id).toBe(user!.id);
      const stored = await owner.query<{ name: string; dedicated_user_id: string }>(
        asOwner(),
        'select name, dedicated_user_id from private.vps_hosts where name in ($1, $2) order by name',
        [`${PREFIX}d`, `${PREFIX}e`],
      );
      expect(stored).toEqual([
        { name: `${PREFIX}d`, dedicated_user_id: user!.id },
        { name: `${PREFIX}e`, dedicated_user_id: user!.id },
      ]);
      const listed = JSON.parse((await scriptOk(['list', '--json'])).stdout) as { name: string; dedicated_to: string | null }[];
      expect(listed.find((h) => h.name === `${PREFIX}d`)?.dedicated_to).toBe(email);

      const unknown = await script(['create', `${PREFIX}f`, '--dedicated-to', 'nobody@example.test']);
      expect(unknown.code, describeRun(unknown)).toBe(1);
      expect(unknown.stderr).toContain('--dedicated-to: no user with email nobody@example.test');
      expect(await owner.query(asOwner(), 'select 1 from private.vps_hosts where name = $1', [`${PREFIX}f`])).toHaveLength(0);
    } finally {
      await owner.query(asOwner(), 'delete from auth.users where id = $1', [user!.id]);
    }
  });

  it('explains usage errors and a missing database with a non-zero exit and no stack trace', async () => {
    const cases: [string[], Record<string, string>, number, RegExp][] = [
      [[], {}, 2, /Usage: vps-host/],
      [['bogus'], {}, 2, /unknown command "bogus"/],
      [['create'], {}, 2, /exactly one host name/],
      [['create', 'bad name!'], {}, 2, /host name is/],
      [['create', `${PREFIX}c`, '--capacity', 'lots'], {}, 2, /--capacity must be/],
      [['revoke', `${PREFIX}missing`], {}, 1, /no host named/],
      [['revoke', `${PREFIX}a`, '--dedicated-to', 'x@example.test'], {}, 2, /only apply to create/],
      [['list'], { DATABASE_URL: '', SUPABASE_DB_URL: '' }, 2, /no database: set DATABASE_URL/],
    ];
    for (const [args, env, code, message] of cases) {
      const result = await script(args, env);
      expect(result.code, describeRun(result)).toBe(code);
      expect(result.stderr + result.stdout).toMatch(message);
      expect(result.stderr).not.toMatch(/^\s+at /m);
    }
    expect(await owner.query(asOwner(), 'select 1 from private.vps_hosts where name = $1', [`${PREFIX}c`])).toHaveLength(0);
  });

  it('operator-key create/list/revoke: the key opens the ops routes until revoked; fleet prints the fleet from GET /ops/fleet', async () => {
    const ops = createOpsApp(deps);
    // The ops function over HTTP, for the fleet command (which needs no database).
    const server: Server = createServer((req, res) => {
      const headers = new Headers();
      for (const [k, v] of Object.entries(req.headers)) if (typeof v === 'string') headers.set(k, v);
      void Promise.resolve(ops.fetch(new Request(`http://127.0.0.1${(req.url ?? '/').replace(/^\/functions\/v1/, '')}`, { method: req.method, headers }))).then(async (r) => {
        res.writeHead(r.status, Object.fromEntries(r.headers));
        res.end(Buffer.from(await r.arrayBuffer()));
      });
    });
    await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
    const url = `http://127.0.0.1:${(server.address() as { port: number }).port}/functions/v1`;
    try {
      const name = `${PREFIX}op`;
      const created = await scriptOk(['operator-key', 'create', name]);
      const key = /^\s*RUBI_OPERATOR_KEY=(\S+)$/m.exec(created.stdout)?.[1];
      expect(key, created.stdout).toMatch(/^rubi_op_[A-Za-z0-9_-]{43}$/);
      if (!key) return;
      const dump = JSON.stringify(await owner.query(asOwner(), 'select * from private.operator_keys where name = $1', [name]));
      expect(dump).not.toContain(key);
      expect(dump).toContain(await sha256Hex(key));
      const metrics = await ops.request('/ops/metrics', { headers: { authorization: `Bearer ${key}` } });
      expect(metrics.status).toBe(200);
      expect(await metrics.text()).toMatch(/^# TYPE rubi_cron_job_last_run_success gauge$/m);

      const listed = await scriptOk(['operator-key', 'list']);
      expect(listed.stdout).toMatch(new RegExp(`^${name}\\s+active\\s`, 'm'));
      expect(listed.stdout).not.toContain(key);
      expect((await script(['operator-key', 'create', name])).stderr).toContain('already exists');

      const fleet = await script(['fleet', '--url', url], { RUBI_OPERATOR_KEY: key });
      expect(fleet.code, describeRun(fleet)).toBe(0);
      expect(fleet.stdout).toMatch(/^HOSTS \(\d+\)$/m);
      expect(fleet.stdout).toMatch(/^ACCOUNTS IN ERROR \(\d+\)$/m);
      expect(fleet.stdout).toContain(`${PREFIX}a`);
      const fleetJson = JSON.parse((await scriptOk(['fleet', '--url', url, '--key', key, '--json'])).stdout) as { hosts: { name: string }[] };
      expect(fleetJson.hosts.map((h) => h.name)).toContain(`${PREFIX}a`);

      expect((await scriptOk(['operator-key', 'revoke', name])).stdout).toContain('no longer opens');
      expect((await ops.request('/ops/metrics', { headers: { authorization: `Bearer ${key}` } })).status).toBe(401);
      const refused = await script(['fleet', '--url', url], { RUBI_OPERATOR_KEY: key });
      expect(refused.code).toBe(1);
      expect(refused.stderr).toContain('answered 401: unknown or revoked operator key');
      expect((await scriptOk(['operator-key', 'revoke', name])).stdout).toContain('already revoked');
      expect((await script(['fleet'], { RUBI_FUNCTIONS_URL: '' })).stderr).toContain('pass --url');
    } finally {
      await new Promise((done) => server.close(done));
    }
  });
});
