import { sha256Hex } from '@rubi/crypto';
import fc from 'fast-check';
import { asOwner } from '@rubi/db';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { countRows, createEdgeHarness, TEST_SUPABASE_URL, type EdgeHarness, type TestUser } from '../../tests/support/edge-harness.ts';
import {
  accountAction,
  accountRow,
  createVpsHost,
  registerTradingAccount,
  revokeVpsHost,
  vpsRequest,
  type TestTradingAccount,
  type TestVpsHost,
} from '../../tests/support/vps-fixtures.ts';
import { createVpsApp } from './app.ts';

let h: EdgeHarness;
let app: ReturnType<typeof createVpsApp>;
let alice: TestUser;
let bob: TestUser;
let hostA: TestVpsHost;
let hostB: TestVpsHost;
let revoked: TestVpsHost;
/** Every investor password and provisioning token the tests saw: none may leak. */
const secrets: string[] = [];

interface ErrorBody {
  error: { code: string; message: string; details?: { path: string }[] };
}
interface LaunchPackageBody {
  account_id: string;
  external_account_id: string;
  platform: string;
  login: number;
  server: string;
  broker: string;
  investor_password: string;
  provisioning_token: string;
  token_expires_at: string;
  register_url: string;
  trades_url: string;
}
interface AccountStateBody {
  account_id: string;
  status: string;
  terminal_state: string | null;
  error_code: string | null;
  error_message: string | null;
  attempts: number;
  next_retry_at: string | null;
  held: boolean;
  removed: boolean;
}

async function register(user: TestUser, opts: Parameters<typeof registerTradingAccount>[2] = {}): Promise<TestTradingAccount> {
  const account = await registerTradingAccount(h, user, opts);
  secrets.push(account.password);
  return account;
}

/**
 * An account registered by `user` and held by `host` (what a claim does), so tests other than
 * the claim tests never depend on the order of the pending queue.
 */
async function heldBy(host: TestVpsHost, user: TestUser = alice, opts: Parameters<typeof registerTradingAccount>[2] = {}): Promise<TestTradingAccount> {
  const account = await register(user, opts);
  await h.db.query(
    asOwner(),
    `update public.trading_accounts set status = 'provisioning', vps_host_id = $2, lease_expires_at = now() + interval '3 minutes' where id = $1`,
    [account.id, host.id],
  );
  return account;
}

const detailPaths = async (res: Response): Promise<string[]> => ((await res.json()) as ErrorBody).error.details?.map((d) => d.path) ?? [];

async function tokenHash(accountId: string): Promise<{ hash: string | null; expires: Date | null }> {
  const [row] = await h.db.query<{ provisioning_token_hash: string | null; provisioning_token_expires_at: Date | null }>(
    asOwner(),
    'select provisioning_token_hash, provisioning_token_expires_at from private.account_secrets where account_id = $1',
    [accountId],
  );
  return { hash: row?.provisioning_token_hash ?? null, expires: row?.provisioning_token_expires_at ?? null };
}

async function launchPackage(host: TestVpsHost, accountId: string): Promise<Response> {
  const res = await vpsRequest(app, 'POST', `/vps/accounts/${accountId}/launch-package`, host.key);
  if (res.status === 200) {
    const body = (await res.clone().json()) as LaunchPackageBody;
    secrets.push(body.provisioning_token);
  }
  return res;
}

const report = (host: TestVpsHost, accountId: string, body: unknown) => vpsRequest(app, 'POST', `/vps/accounts/${accountId}/state`, host.key, body);

beforeAll(async () => {
  h = await createEdgeHarness();
  app = createVpsApp(h.deps);
  alice = await h.createUser('alice@example.com');
  bob = await h.createUser('bob@example.com');
  hostA = await createVpsHost(h, 'host-a', 10);
  hostB = await createVpsHost(h, 'host-b', 10);
  revoked = await createVpsHost(h, 'host-revoked', 10);
  await revokeVpsHost(h, revoked);
});
afterAll(() => h.close());

describe('vps: host authentication', () => {
  const routes = (accountId: string): [string, string, unknown][] => [
    ['POST', '/vps/heartbeat', { version: '1.0.0', capacity: 3, terminals: [] }],
    ['POST', '/vps/claim', { max: 5 }],
    ['POST', `/vps/accounts/${accountId}/launch-package`, undefined],
    ['POST', `/vps/accounts/${accountId}/state`, { state: 'running' }],
    ['GET', '/vps/teardown', undefined],
    ['GET', '/vps/accounts', undefined],
  ];

  it('refuses a missing, malformed, unknown or revoked key with 401 on every route, and changes nothing', async () => {
    const account = await heldBy(revoked);
    const pending = await register(alice);
    for (const [method, path, body] of routes(account.id)) {
      for (const key of [null, 'short', `vps_${'x'.repeat(40)}`, revoked.key]) {
        const res = await vpsRequest(app, method, path, key, body);
        expect(res.status, `${method} ${path} with key ${String(key).slice(0, 8)}`).toBe(401);
        expect(((await res.json()) as ErrorBody).error.code).toBe('unauthorized');
      }
    }
    expect(await countRows(h, 'private.vps_hosts', 'last_heartbeat_at is not null')).toBe(0);
    expect(await tokenHash(account.id)).toEqual({ hash: null, expires: null });
    expect(await accountRow(h, account.id)).toMatchObject({ status: 'provisioning', terminal_state: null });
    expect(await accountRow(h, pending.id)).toMatchObject({ status: 'pending_vps_setup', vps_host_id: null });
    // Leave nothing pending for the claim tests.
    await accountAction(h, alice, pending.id, 'delete');
  });
});

describe('POST /vps/heartbeat', () => {
  it('records the host, renews its leases and the states of its terminals, and names terminals it does not hold', async () => {
    const mine = await heldBy(hostA);
    const theirs = await heldBy(hostB);
    await h.db.query(asOwner(), `update public.trading_accounts set lease_expires_at = now() - interval '1 minute' where id = $1`, [mine.id]);
    const res = await vpsRequest(app, 'POST', '/vps/heartbeat', hostA.key, {
      version: '1.4.2',
      capacity: 7,
      terminals: [
        { account_id: mine.id, state: 'running', pid: 4242 },
        { account_id: theirs.id, state: 'running' },
      ],
    });
    expect(res.status).toBe(200);
    const body = (await res.json()) as { leases_renewed: number; server_time: string; lease_seconds: number; not_held: string[] };
    expect(body.lease_seconds).toBe(180);
    expect(body.leases_renewed).toBeGreaterThanOrEqual(1);
    expect(body.not_held).toEqual([theirs.id]);
    expect(new Date(body.server_time).getTime()).toBe(h.clock.now.getTime());
    const [host] = await h.db.query<{ version: string; capacity: number; beat: boolean }>(
      asOwner(),
      `select version, capacity, last_heartbeat_at > now() - interval '1 minute' as beat from private.vps_hosts where id = $1`,
      [hostA.id],
    );
    expect(host).toEqual({ version: '1.4.2', capacity: 7, beat: true });
    const [leased] = await h.db.query<{ terminal_state: string; leased: boolean }>(
      asOwner(),
      `select terminal_state, lease_expires_at > now() + interval '170 seconds' as leased from public.trading_accounts where id = $1`,
      [mine.id],
    );
    expect(leased).toEqual({ terminal_state: 'running', leased: true });
    expect(await accountRow(h, theirs.id)).toMatchObject({ terminal_state: null, vps_host_id: hostB.id });
  });

  it('rejects bad input naming the fields, and writes nothing', async () => {
    const mine = await heldBy(hostB);
    const before = await h.db.query(asOwner(), 'select version, capacity, last_heartbeat_at from private.vps_hosts where id = $1', [hostB.id]);
    const bad = await vpsRequest(app, 'POST', '/vps/heartbeat', hostB.key, {
      version: '',
      capacity: -1,
      terminals: [{ account_id: 'nope', state: 'dancing' }],
    });
    expect(bad.status).toBe(400);
    expect(await detailPaths(bad)).toEqual(
      expect.arrayContaining(['body.version', 'body.capacity', 'body.terminals.0.account_id', 'body.terminals.0.state']),
    );
    const dup = await vpsRequest(app, 'POST', '/vps/heartbeat', hostB.key, {
      version: '1',
      capacity: 1,
      terminals: [
        { account_id: mine.id, state: 'running' },
        { account_id: mine.id, state: 'stopped' },
      ],
    });
    expect(dup.status).toBe(400);
    expect(await detailPaths(dup)).toContain('body.terminals');
    const extra = await vpsRequest(app, 'POST', '/vps/heartbeat', hostB.key, { version: '1', capacity: 1, terminals: [], secret: 'x' });
    expect(extra.status).toBe(400);
    const notJson = await app.request('/vps/heartbeat', {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-vps-api-key': hostB.key },
      body: '{"version":',
    });
    expect(notJson.status).toBe(400);
    expect(await h.db.query(asOwner(), 'select version, capacity, last_heartbeat_at from private.vps_hosts where id = $1', [hostB.id])).toEqual(before);
    expect(await accountRow(h, mine.id)).toMatchObject({ terminal_state: null });
  });
});

describe('POST /vps/claim', () => {
  it('claims the oldest pending accounts up to the free capacity, then nothing', async () => {
    const small = await createVpsHost(h, 'host-small', 2);
    const other = await createVpsHost(h, 'host-other', 5);
    const first = await register(alice, { platform: 'MT4', server: 'Claim-Live' });
    const second = await register(bob, { platform: 'MT5', server: 'Claim-Live' });
    const third = await register(alice, { platform: 'MT5', server: 'Claim-Live' });
    await h.db.query(asOwner(), `update public.trading_accounts set created_at = created_at - make_interval(secs => $2) where id = $1`, [first.id, 30]);
    await h.db.query(asOwner(), `update public.trading_accounts set created_at = created_at - make_interval(secs => $2) where id = $1`, [second.id, 20]);

    const res = await vpsRequest(app, 'POST', '/vps/claim', small.key, { max: 50 });
    expect(res.status).toBe(200);
    const text = await res.text();
    expect(text).not.toContain(first.password);
    const { accounts } = JSON.parse(text) as { accounts: Record<string, unknown>[] };
    const [broker] = await h.db.query<{ name: string }>(
      asOwner(),
      'select b.name from public.brokers b join public.trading_accounts a on a.broker_id = b.id where a.id = $1',
      [first.id],
    );
    expect(accounts).toEqual([
      { account_id: first.id, external_account_id: first.externalId, platform: 'MT4', login: first.login, server: 'Claim-Live', broker: broker?.name },
      { account_id: second.id, external_account_id: second.externalId, platform: 'MT5', login: second.login, server: 'Claim-Live', broker: expect.any(String) },
    ]);
    expect(await countRows(h, 'public.trading_accounts', "vps_host_id = $1 and status = 'provisioning' and lease_expires_at > now()", [small.id])).toBe(2);

    const full = await vpsRequest(app, 'POST', '/vps/claim', small.key, { max: 1 });
    expect(full.status).toBe(200);
    expect(await full.json()).toEqual({ accounts: [] });
    expect(await accountRow(h, third.id)).toMatchObject({ status: 'pending_vps_setup', vps_host_id: null });

    const rest = (await (await vpsRequest(app, 'POST', '/vps/claim', other.key, { max: 1 })).json()) as { accounts: { account_id: string }[] };
    expect(rest.accounts.map((a) => a.account_id)).toEqual([third.id]);
    expect(await (await vpsRequest(app, 'POST', '/vps/claim', other.key, { max: 5 })).json()).toEqual({ accounts: [] });
  });

  it('rejects bad input naming the fields, and claims nothing', async () => {
    const pending = await register(alice, { server: 'Claim-Bad' });
    for (const body of [
      { max: 0 },
      { max: 51 },
      { max: 1.5 },
      { max: 'all' },
      {},
      { max: 1, host: 'x' },
      { max: 1, platforms: [] },
      { max: 1, platforms: ['MT6'] },
      { max: 1, platforms: ['MT5', 'MT5'] },
      { max: 1, platforms: 'MT5' },
    ]) {
      const res = await vpsRequest(app, 'POST', '/vps/claim', hostA.key, body);
      expect(res.status, JSON.stringify(body)).toBe(400);
      expect((await detailPaths(res)).some((p) => p.startsWith('body')), JSON.stringify(body)).toBe(true);
    }
    expect(await accountRow(h, pending.id)).toMatchObject({ status: 'pending_vps_setup', vps_host_id: null });
    await accountAction(h, alice, pending.id, 'delete');
  });

  it('claims only the platforms the host names: an MT4 account waits for an MT4 host', async () => {
    const mt5Only = await createVpsHost(h, 'host-mt5-only', 5);
    const mt4Host = await createVpsHost(h, 'host-mt4', 5);
    const mt4 = await register(alice, { platform: 'MT4', server: 'Claim-Platform' });
    const mt5 = await register(bob, { platform: 'MT5', server: 'Claim-Platform' });
    await h.db.query(asOwner(), `update public.trading_accounts set created_at = created_at - interval '1 minute' where id = $1`, [mt4.id]);
    const first = (await (await vpsRequest(app, 'POST', '/vps/claim', mt5Only.key, { max: 5, platforms: ['MT5'] })).json()) as { accounts: { account_id: string }[] };
    expect(first.accounts.map((a) => a.account_id)).toEqual([mt5.id]);
    expect(await accountRow(h, mt4.id)).toMatchObject({ status: 'pending_vps_setup', vps_host_id: null });
    const second = (await (await vpsRequest(app, 'POST', '/vps/claim', mt4Host.key, { max: 5, platforms: ['MT4', 'MT5'] })).json()) as { accounts: { account_id: string }[] };
    expect(second.accounts.map((a) => a.account_id)).toEqual([mt4.id]);
  });
});

describe('POST /vps/accounts/{id}/launch-package', () => {
  it('returns the decrypted password and a fresh token whose hash alone is stored; a second package rotates it', async () => {
    const account = await heldBy(hostA, alice, { platform: 'MT4', password: 'S3cret-Inv3stor!' });
    const res = await launchPackage(hostA, account.id);
    expect(res.status).toBe(200);
    expect(res.headers.get('cache-control')).toBe('no-store');
    const pkg = (await res.json()) as LaunchPackageBody;
    expect(pkg).toMatchObject({
      account_id: account.id,
      external_account_id: account.externalId,
      platform: 'MT4',
      login: account.login,
      server: account.server,
      investor_password: 'S3cret-Inv3stor!',
      register_url: `${TEST_SUPABASE_URL}/functions/v1/register`,
      trades_url: `${TEST_SUPABASE_URL}/functions/v1/trades`,
    });
    expect(pkg.provisioning_token).toMatch(/^[A-Za-z0-9_-]{43}$/);
    const stored = await tokenHash(account.id);
    expect(stored.hash).toBe(await sha256Hex(pkg.provisioning_token));
    expect(stored.expires?.toISOString()).toBe(pkg.token_expires_at);
    expect(new Date(pkg.token_expires_at).getTime() - Date.now()).toBeGreaterThan(86_000_000);

    const again = (await (await launchPackage(hostA, account.id)).json()) as LaunchPackageBody;
    expect(again.provisioning_token).not.toBe(pkg.provisioning_token);
    expect(again.investor_password).toBe('S3cret-Inv3stor!');
    expect((await tokenHash(account.id)).hash).toBe(await sha256Hex(again.provisioning_token));
  });

  it('serves a connected account too', async () => {
    const account = await heldBy(hostA);
    expect((await report(hostA, account.id, { state: 'connected' })).status).toBe(200);
    const res = await launchPackage(hostA, account.id);
    expect(res.status).toBe(200);
    expect(((await res.json()) as LaunchPackageBody).investor_password).toBe(account.password);
  });

  it("answers 404 for another host's account, a pending account and an unknown id, and stores no token", async () => {
    const theirs = await heldBy(hostB);
    const pending = await register(bob, { server: 'Launch-Pending' });
    for (const id of [theirs.id, pending.id, crypto.randomUUID()]) {
      const res = await launchPackage(hostA, id);
      expect(res.status).toBe(404);
      const text = await res.text();
      expect(text).not.toContain(theirs.password);
      expect(JSON.parse(text)).toMatchObject({ error: { code: 'not_found' } });
    }
    expect(await tokenHash(theirs.id)).toEqual({ hash: null, expires: null });
    expect(await tokenHash(pending.id)).toEqual({ hash: null, expires: null });
    await accountAction(h, bob, pending.id, 'delete');
  });

  it('answers 409 for a paused or deleted account it holds, without the password', async () => {
    const paused = await heldBy(hostA);
    const deleted = await heldBy(hostA);
    await accountAction(h, alice, paused.id, 'pause');
    await accountAction(h, alice, deleted.id, 'delete');
    for (const [account, word] of [
      [paused, 'paused'],
      [deleted, 'deleted'],
    ] as const) {
      const res = await launchPackage(hostA, account.id);
      expect(res.status).toBe(409);
      const text = await res.text();
      expect(text).not.toContain(account.password);
      expect((JSON.parse(text) as ErrorBody).error.message).toContain(word);
      expect(await tokenHash(account.id)).toEqual({ hash: null, expires: null });
    }
  });

  it('rejects a malformed id with 400 naming it', async () => {
    const res = await launchPackage(hostA, 'not-a-uuid');
    expect(res.status).toBe(400);
    expect(await detailPaths(res)).toEqual(['path.id']);
  });
});

describe('POST /vps/accounts/{id}/state', () => {
  it('records launching and running, renewing the lease', async () => {
    const account = await heldBy(hostA);
    await h.db.query(asOwner(), `update public.trading_accounts set lease_expires_at = now() - interval '1 minute' where id = $1`, [account.id]);
    const launching = await report(hostA, account.id, { state: 'launching' });
    expect(launching.status).toBe(200);
    expect(await launching.json()).toMatchObject({ account_id: account.id, status: 'provisioning', terminal_state: 'launching', held: true, removed: false });
    const running = (await (await report(hostA, account.id, { state: 'running' })).json()) as AccountStateBody;
    expect(running).toMatchObject({ status: 'provisioning', terminal_state: 'running', held: true });
    // A report that is not an error is an ordinary request line.
    const lines = h.logs.map((l) => JSON.parse(l) as Record<string, unknown>).filter((l) => l.account_id === account.id && l.route === '/vps/accounts/{id}/state');
    expect(lines.map((l) => l.level)).toEqual(['info', 'info']);
    expect(await countRows(h, 'public.trading_accounts', `id = $1 and lease_expires_at > now() + interval '170 seconds'`, [account.id])).toBe(1);
  });

  it('moves the account to connected when the terminal logged in', async () => {
    const account = await heldBy(hostA);
    const res = await report(hostA, account.id, { state: 'connected' });
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({ status: 'connected', terminal_state: 'running', error_code: null, held: true });
    expect(await accountRow(h, account.id)).toMatchObject({ status: 'connected', vps_host_id: hostA.id });
  });

  it('moves the account to error with code and message, counts the attempt, releases it and notifies the owner', async () => {
    const account = await heldBy(hostA, bob);
    const res = await report(hostA, account.id, { state: 'error', error_code: 'E_LOGIN_TIMEOUT', error_message: 'No connection to the trade server' });
    expect(res.status).toBe(200);
    const body = (await res.json()) as AccountStateBody;
    expect(body).toMatchObject({
      status: 'error',
      error_code: 'E_LOGIN_TIMEOUT',
      error_message: 'No connection to the trade server',
      attempts: 1,
      held: false,
      removed: false,
    });
    expect(body.next_retry_at).not.toBeNull();
    expect(await accountRow(h, account.id)).toMatchObject({ status: 'error', vps_host_id: null, lease_expires_at: null, attempts: 1 });
    const notes = await h.db.query<{ user_id: string; kind: string; body: string }>(
      asOwner(),
      'select user_id, kind, body from public.notifications where account_id = $1',
      [account.id],
    );
    expect(notes).toHaveLength(1);
    expect(notes[0]).toMatchObject({ user_id: bob.id, kind: 'account_error' });
    expect(notes[0]?.body).toContain('No connection to the trade server (E_LOGIN_TIMEOUT)');
    // Released: the host can no longer act on it.
    expect((await report(hostA, account.id, { state: 'running' })).status).toBe(404);
    expect((await launchPackage(hostA, account.id)).status).toBe(404);
    // One log line for the report: the request's, at warn, with the agent's code and the account's status.
    const about = h.logs.map((l) => JSON.parse(l) as Record<string, unknown>).filter((l) => l.account_id === account.id && l.reported_error_code !== undefined);
    expect(about).toEqual([
      expect.objectContaining({ level: 'warn', msg: 'request', fn: 'vps', route: '/vps/accounts/{id}/state', vps_host_id: hostA.id, reported_error_code: 'E_LOGIN_TIMEOUT', account_status: 'error' }),
    ]);
    expect(h.logs.filter((l) => l.includes('E_LOGIN_TIMEOUT') && l.includes(account.id))).toHaveLength(1);
  });

  it('E_AUTH: no automatic retry, the failed credential remembered, the owner told to update the password', async () => {
    const account = await heldBy(hostA, bob);
    const res = await report(hostA, account.id, { state: 'error', error_code: 'E_AUTH', error_message: 'Invalid account: authorization failed' });
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({ status: 'error', error_code: 'E_AUTH', attempts: 1, next_retry_at: null, held: false });
    const [row] = await h.db.query<{ credentials_rejected: boolean; refused: boolean }>(
      asOwner(),
      `select a.credentials_rejected_at is not null as credentials_rejected, private.credentials_refused(a.id) as refused
       from public.trading_accounts a where a.id = $1`,
      [account.id],
    );
    expect(row).toEqual({ credentials_rejected: true, refused: true });
    const notes = await h.db.query<{ kind: string; body: string }>(asOwner(), 'select kind, body from public.notifications where account_id = $1', [account.id]);
    expect(notes).toEqual([{ kind: 'account_credentials_rejected', body: expect.stringContaining('update the investor password') }]);
  });

  it('rejects bad input naming the fields, and changes nothing', async () => {
    const account = await heldBy(hostA);
    const cases: [unknown, string[]][] = [
      [{ state: 'exploded' }, ['body.state']],
      [{ state: 'error' }, ['body.error_code']],
      [{ state: 'error', error_code: 'auth failed' }, ['body.error_code']],
      [{ state: 'running', error_code: 'E_AUTH', error_message: 'x' }, ['body.error_code', 'body.error_message']],
      [{ state: 'error', error_code: 'E_AUTH', error_message: 'x'.repeat(1001) }, ['body.error_message']],
      [{}, ['body.state']],
    ];
    for (const [body, paths] of cases) {
      const res = await report(hostA, account.id, body);
      expect(res.status, JSON.stringify(body).slice(0, 80)).toBe(400);
      expect(await detailPaths(res)).toEqual(expect.arrayContaining(paths));
    }
    expect((await report(hostA, 'not-a-uuid', { state: 'running' })).status).toBe(400);
    expect(await accountRow(h, account.id)).toMatchObject({ status: 'provisioning', terminal_state: null, attempts: 0, error_code: null });
    expect(await countRows(h, 'public.notifications', 'account_id = $1', [account.id])).toBe(0);
  });

  it("answers 404 when a host reports on another host's account, and changes nothing", async () => {
    const account = await heldBy(hostA);
    for (const body of [{ state: 'error', error_code: 'E_AUTH', error_message: 'hijack' }, { state: 'stopped' }, { state: 'connected' }]) {
      const res = await report(hostB, account.id, body);
      expect(res.status).toBe(404);
    }
    expect((await report(hostA, crypto.randomUUID(), { state: 'running' })).status).toBe(404);
    expect(await accountRow(h, account.id)).toMatchObject({ status: 'provisioning', vps_host_id: hostA.id, terminal_state: null, attempts: 0 });
    expect(await countRows(h, 'public.notifications', 'account_id = $1', [account.id])).toBe(0);
  });
});

describe('teardown: GET /vps/teardown, stopped, GET /vps/accounts', () => {
  it('lists paused and deleted accounts; stopped releases the paused one and removes the deleted one', async () => {
    const host = await createVpsHost(h, 'host-teardown', 5);
    const keep = await heldBy(host, alice, { platform: 'MT4' });
    const paused = await heldBy(host, alice);
    const deleted = await heldBy(host, bob);
    await accountAction(h, alice, paused.id, 'pause');
    await accountAction(h, bob, deleted.id, 'delete');
    expect(await accountRow(h, deleted.id)).toMatchObject({ vps_host_id: host.id });

    const list = await vpsRequest(app, 'GET', '/vps/teardown', host.key);
    expect(list.status).toBe(200);
    expect(await list.json()).toEqual({
      accounts: [
        { account_id: paused.id, external_account_id: paused.externalId, platform: 'MT5', reason: 'paused' },
        { account_id: deleted.id, external_account_id: deleted.externalId, platform: 'MT5', reason: 'deleted' },
      ],
    });
    expect(await (await vpsRequest(app, 'GET', '/vps/teardown', hostB.key)).json()).toMatchObject({
      accounts: expect.not.arrayContaining([expect.objectContaining({ account_id: paused.id })]),
    });

    const held = await vpsRequest(app, 'GET', '/vps/accounts', host.key);
    expect(held.status).toBe(200);
    const heldText = await held.text();
    for (const a of [keep, paused, deleted]) expect(heldText).not.toContain(a.password);
    const heldBody = JSON.parse(heldText) as { accounts: Record<string, unknown>[] };
    expect(heldBody.accounts.map((a) => [a.account_id, a.teardown])).toEqual([
      [keep.id, null],
      [paused.id, 'paused'],
      [deleted.id, 'deleted'],
    ]);
    expect(heldBody.accounts[0]).toMatchObject({
      external_account_id: keep.externalId,
      platform: 'MT4',
      login: keep.login,
      server: keep.server,
      status: 'provisioning',
      terminal_state: null,
      broker: expect.any(String),
      lease_expires_at: expect.any(String),
    });
    const otherHeld = (await (await vpsRequest(app, 'GET', '/vps/accounts', hostB.key)).json()) as { accounts: { account_id: string }[] };
    expect(otherHeld.accounts.map((a) => a.account_id)).not.toEqual(expect.arrayContaining([keep.id]));

    // Another host cannot stop them.
    expect((await report(hostB, paused.id, { state: 'stopped' })).status).toBe(404);
    expect((await report(hostB, deleted.id, { state: 'stopped' })).status).toBe(404);
    expect(await accountRow(h, deleted.id)).toMatchObject({ vps_host_id: host.id });

    const stoppedPaused = (await (await report(host, paused.id, { state: 'stopped' })).json()) as AccountStateBody;
    expect(stoppedPaused).toMatchObject({ status: 'disconnected', terminal_state: 'stopped', held: false, removed: false });
    expect(await accountRow(h, paused.id)).toMatchObject({ vps_host_id: null, status: 'disconnected', paused_at: expect.any(Date) });

    const stoppedDeleted = (await (await report(host, deleted.id, { state: 'stopped' })).json()) as AccountStateBody;
    expect(stoppedDeleted).toMatchObject({ account_id: deleted.id, held: false, removed: true });
    expect(await accountRow(h, deleted.id)).toBeUndefined();
    expect(await countRows(h, 'private.account_secrets', 'account_id = $1', [deleted.id])).toBe(0);

    const stoppedKeep = (await (await report(host, keep.id, { state: 'stopped' })).json()) as AccountStateBody;
    expect(stoppedKeep).toMatchObject({ status: 'provisioning', terminal_state: 'stopped', held: true, removed: false });

    expect(await (await vpsRequest(app, 'GET', '/vps/teardown', host.key)).json()).toEqual({ accounts: [] });
    const after = (await (await vpsRequest(app, 'GET', '/vps/accounts', host.key)).json()) as { accounts: { account_id: string }[] };
    expect(after.accounts.map((a) => a.account_id)).toEqual([keep.id]);
  });

  it('a paused account that errors stays paused and held until its terminal is stopped', async () => {
    const account = await heldBy(hostA);
    await accountAction(h, alice, account.id, 'pause');
    const res = await report(hostA, account.id, { state: 'error', error_code: 'E_CRASH_LOOP' });
    expect(await res.json()).toMatchObject({ status: 'disconnected', terminal_state: 'crashed', held: true, attempts: 0 });
    expect(await countRows(h, 'public.notifications', 'account_id = $1', [account.id])).toBe(0);
  });
});

describe('vps under random and malformed bodies', () => {
  it('never answers 5xx and changes nothing when it rejects', async () => {
    const host = await createVpsHost(h, 'host-fuzz', 5);
    const account = await heldBy(host);
    const snapshot = async () => [
      await h.db.query(asOwner(), 'select version, capacity, last_heartbeat_at from private.vps_hosts where id = $1', [host.id]),
      await h.db.query(asOwner(), 'select status, terminal_state, error_code, error_message, attempts, vps_host_id from public.trading_accounts where id = $1', [
        account.id,
      ]),
      await countRows(h, 'public.notifications'),
      await countRows(h, 'public.trading_accounts', 'vps_host_id is not null'),
    ];
    const hostile = fc.oneof(
      fc.anything(),
      fc.string(),
      fc.double(),
      fc.constantFrom(null, -1, 0, 51, 1e308, '', ' ', 'NaN', '\u0000', "'; drop table x; --", 'E_\u0000', account.id),
    );
    const samples: [string, Record<string, unknown>][] = [
      ['/vps/heartbeat', { version: '1.0.0', capacity: 3, terminals: [{ account_id: account.id, state: 'running' }] }],
      ['/vps/claim', { max: 1 }],
      [`/vps/accounts/${account.id}/state`, { state: 'error', error_code: 'E_AUTH', error_message: 'x' }],
    ];
    for (const [path, sample] of samples) {
      const bodies = fc.oneof(
        fc
          .record(Object.fromEntries(Object.keys(sample).map((k) => [k, fc.oneof(hostile, fc.constant(sample[k]))])), { requiredKeys: [] })
          .map((o) => JSON.stringify(o)),
        fc.json(),
        fc.string(),
        fc.constantFrom('', '{', '[]', 'null', '\u0000'),
      );
      await fc.assert(
        fc.asyncProperty(bodies, async (text) => {
          const before = await snapshot();
          const res = await app.request(path, { method: 'POST', headers: { 'content-type': 'application/json', 'x-vps-api-key': host.key }, body: text });
          expect(res.status, `${path} answered ${res.status} to ${text.slice(0, 200)}`).toBeLessThan(500);
          if (res.status >= 400) {
            expect(((await res.json()) as ErrorBody).error.code).toBeTypeOf('string');
            expect(await snapshot(), `${path} changed state while rejecting ${text.slice(0, 200)}`).toEqual(before);
          }
        }),
        {
          numRuns: 40,
          examples: [
            [JSON.stringify({ ...sample, version: '\u0000', error_message: 'bad\u0000byte' })],
            [JSON.stringify({ ...sample, terminals: [{ account_id: account.id, state: 'running', pid: 2 ** 40 }] })],
          ],
        },
      );
    }
  });

  it('serves its OpenAPI document', async () => {
    const doc = (await (await app.request('/vps/openapi.json')).json()) as { openapi: string; paths: Record<string, unknown> };
    expect(doc.openapi).toBe('3.1.0');
    expect(Object.keys(doc.paths).sort()).toEqual([
      '/vps/accounts',
      '/vps/accounts/{id}/launch-package',
      '/vps/accounts/{id}/state',
      '/vps/claim',
      '/vps/health',
      '/vps/heartbeat',
      '/vps/realtime-token',
      '/vps/teardown',
    ]);
  });
});

describe('secrets', () => {
  it('never puts an investor password or a provisioning token in a log line or a Realtime message', async () => {
    expect(secrets.length).toBeGreaterThan(10);
    const logs = h.logs.join('\n');
    expect(logs.length).toBeGreaterThan(0);
    const messages = await h.db.query<{ payload: string }>(asOwner(), 'select coalesce(payload::text, \'\') as payload from realtime.messages');
    expect(messages.length).toBeGreaterThan(0);
    const realtime = messages.map((m) => m.payload).join('\n');
    for (const secret of [...secrets, hostA.key, hostB.key, revoked.key]) {
      expect(logs).not.toContain(secret);
      expect(realtime).not.toContain(secret);
    }
    // Nor their hash or ciphertext, in Realtime (secrets rows are never broadcast).
    expect(realtime).not.toMatch(/provisioning_token|investor_password|ciphertext/);
    // The scan covered the request lines' operator fields (request-log.ts), refused keys included.
    const lines = h.logs.map((l) => JSON.parse(l) as Record<string, unknown>).filter((l) => l.msg === 'request' && l.fn === 'vps');
    expect(lines.some((l) => l.principal === 'vps_host' && l.vps_host_id === hostA.id && l.account_id)).toBe(true);
    expect(lines.some((l) => l.status === 401 && l.principal === 'vps_host' && l.auth_refusal === 'unknown_credential')).toBe(true);
    expect(lines.some((l) => l.reported_error_code === 'E_LOGIN_TIMEOUT')).toBe(true);
  });
});
