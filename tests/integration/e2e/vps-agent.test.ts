import { createHash, randomBytes } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { asOwner } from '@rubi/db';
import { SignedHttp } from '@rubi/ea-sim';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { decodeText } from '../../../vps-agent/src/ini.ts';
import { parseEaConfig } from '../../../vps-agent/src/ea-config.ts';
import { isAlive } from '../../../vps-agent/src/process.ts';
import {
  aliveLaunched,
  allLaunched,
  captureLogger,
  cue,
  killLaunched,
  startAgent,
  tempDir,
  testEnv,
  waitFor,
  type CapturedLog,
  type TestAgent,
} from '../../../vps-agent/test/support/harness.ts';
import { userFetch } from './ea-client.ts';
import type { E2eUser } from './support/auth.ts';
import { E2E_SUPABASE_URL, startE2eStack, type E2eStack } from './support/e2e-stack.ts';

/**
 * The VPS agent against the real `accounts` and `vps` functions served by Deno on the integration
 * PostgreSQL 15: a user registers trading accounts on the dashboard API, agents (in process, the
 * same code `rubi-vps-agent run` runs) claim, provision and supervise them with the fake
 * terminal (vps-agent/test/fixtures/fake-terminal.mjs, run through WINE_COMMAND=node), and the
 * database is checked at every step. Realtime is not served here: the agents poll, which is
 * what they fall back to anyway.
 */

const FUNCTIONS = ['accounts', 'vps', 'register', 'trades'] as const;
const POLL_SECONDS = 1;

interface TradingAccountBody {
  id: string;
  external_account_id?: string;
  status: string;
  error_code: string | null;
  error_message: string | null;
  terminal_state: string | null;
  credentials_rejected?: boolean;
}

interface AccountRow {
  id: string;
  external_account_id: string;
  status: string;
  vps_host_id: string | null;
  terminal_state: string | null;
  error_code: string | null;
  error_message: string | null;
  login: string;
}

describe('the VPS agent end to end: Deno-served functions on PostgreSQL 15', () => {
  let stack: E2eStack;
  let user: E2eUser;
  let brokerId: string;
  const agents: TestAgent[] = [];
  const dirs: { path: string; cleanup(): void }[] = [];
  const passwords: string[] = [];
  /** Tokens and api secrets the EA side saw: none may appear in a log either. */
  const secrets: string[] = [];
  const agentLogs: CapturedLog[] = [];
  const hostNames: string[] = [];
  let loginSeq = 70_000_000 + Math.floor(Math.random() * 1_000_000) * 10;

  const account = async (id: string) =>
    (
      await stack.db.query<AccountRow>(
        asOwner(),
        `select id, external_account_id, status, vps_host_id, terminal_state, error_code, error_message, login::text
         from public.trading_accounts where id = $1`,
        [id],
      )
    )[0];

  async function createHost(capacity: number): Promise<{ id: string; key: string; name: string }> {
    const name = `e2e-agent-${randomBytes(4).toString('hex')}`;
    const key = `vpsk_${randomBytes(24).toString('base64url')}`;
    const [row] = await stack.db.query<{ id: string }>(
      asOwner(),
      'insert into private.vps_hosts (name, key_hash, capacity) values ($1, $2, $3) returning id',
      [name, createHash('sha256').update(key).digest('hex'), capacity],
    );
    hostNames.push(name);
    return { id: row!.id, key, name };
  }

  function base(): string {
    const d = tempDir('rubi-e2e-agent-');
    dirs.push(d);
    return join(d.path, 'terminals');
  }

  async function runAgent(key: string, terminalsBase: string, extra: Record<string, string> = {}): Promise<TestAgent> {
    const backendUrl = `http://127.0.0.1:${stack.deno.functions.vps!.port}`;
    const log = captureLogger();
    agentLogs.push(log);
    const a = await startAgent(testEnv(backendUrl, key, terminalsBase, { POLL_INTERVAL_SECONDS: String(POLL_SECONDS), ...extra }), { log });
    agents.push(a);
    return a;
  }

  async function stopAgent(a: TestAgent): Promise<void> {
    await a.agent.shutdown('SIGTERM');
    agents.splice(agents.indexOf(a), 1);
  }

  async function register(opts: { platform?: 'MT4' | 'MT5'; password?: string; server?: string; cues?: string; terminalsBase?: string[] } = {}) {
    const login = ++loginSeq;
    for (const b of opts.terminalsBase ?? []) if (opts.cues) cue(b, login, opts.cues);
    const password = opts.password ?? `Inv-${randomBytes(9).toString('base64url')}`;
    passwords.push(password);
    const res = await userFetch<TradingAccountBody>(stack.deno.url('/accounts/trading-accounts'), user.token, 'POST', {
      broker_id: brokerId,
      platform: opts.platform ?? 'MT5',
      login,
      server: opts.server ?? 'ICMarketsSC-Demo',
      investor_password: password,
    });
    expect({ status: res.status, body: res.body }).toMatchObject({ status: 201 });
    return { id: res.body.id, login, password };
  }

  beforeAll(async () => {
    stack = await startE2eStack(FUNCTIONS);
    user = await stack.auth.createUser(stack.db, `vps-agent-${crypto.randomUUID()}@e2e.invalid`);
    const [broker] = await stack.db.query<{ id: string }>(asOwner(), `select id from public.brokers where name = 'IC Markets'`);
    brokerId = broker!.id;
    // Claims take the oldest pending accounts of anyone: leftovers of other integration files
    // (this database lives for the whole run) must not be launched by these agents.
    await stack.db.query(asOwner(), `delete from public.trading_accounts where status = 'pending_vps_setup'`);
  });

  afterEach(async () => {
    for (const a of [...agents]) await stopAgent(a);
    for (const d of dirs) killLaunched(join(d.path, 'terminals'));
    // Accounts left by a test must not be claimed by the next one's agents.
    await stack.db.query(asOwner(), `delete from public.trading_accounts where user_id = $1`, [user.id]);
  });

  afterAll(async () => {
    for (const d of dirs.splice(0)) {
      killLaunched(join(d.path, 'terminals'));
      d.cleanup();
    }
    if (stack) {
      await stack.db.query(asOwner(), `delete from public.trading_accounts where user_id = $1`, [user.id]);
      await stack.db.query(asOwner(), `delete from private.vps_hosts where name = any($1)`, [hostNames]);
      await stack.close();
    }
  });

  it('claims a registered account within one poll interval, builds the folder exactly, and the account becomes connected when the EA reports', async () => {
    const host = await createHost(2);
    const terminals = base();
    const a = await runAgent(host.key, terminals);
    const acc = await register({ cues: 'ok,ea-registered', terminalsBase: [terminals] });

    const registeredAt = Date.now();
    await waitFor('claimed', async () => (await account(acc.id))?.status !== 'pending_vps_setup', 10_000);
    const claimMs = Date.now() - registeredAt;
    expect(claimMs).toBeLessThanOrEqual(POLL_SECONDS * 1000 + 1000);

    const row = (await account(acc.id))!;
    expect(row.vps_host_id).toBe(host.id);
    const folder = join(terminals, `MT5-${row.external_account_id}`);
    const terminal = await waitFor('terminal', () => a.agent.terminals.get(acc.id));
    expect(terminal.record.folder).toBe(folder);

    // The EA config carries the one-time token whose hash the database holds, and the URLs of
    // register and trades on this project.
    const ea = parseEaConfig(readFileSync(join(folder, 'MQL5', 'Files', 'rendr_ea_config.ini'), 'latin1'));
    expect(ea).toMatchObject({
      external_account_id: row.external_account_id,
      register_url: `${E2E_SUPABASE_URL}/functions/v1/register`,
      trades_url: `${E2E_SUPABASE_URL}/functions/v1/trades`,
    });
    const [secret] = await stack.db.query<{ provisioning_token_hash: string }>(
      asOwner(),
      'select provisioning_token_hash from private.account_secrets where account_id = $1',
      [acc.id],
    );
    expect(createHash('sha256').update(ea.provisioning_token).digest('hex')).toBe(secret!.provisioning_token_hash);
    const common = decodeText(readFileSync(join(folder, 'config', 'common.ini'))).text;
    expect(common).toContain(`WebRequestUrl=${E2E_SUPABASE_URL};https://existing.example.com`);

    // The decrypted investor password reached the terminal (its first start had it) and left the
    // start-up file after the login.
    await waitFor('connected', async () => (await account(acc.id))?.status === 'connected', 15_000);
    const launch = JSON.parse(readFileSync(join(folder, 'fake-terminal-launches.jsonl'), 'utf8').split('\n')[0]!) as { had_password: boolean; login: string };
    expect(launch).toMatchObject({ had_password: true, login: String(acc.login) });
    const startup = decodeText(readFileSync(join(folder, 'config', 'rubi-startup.ini'))).text;
    expect(startup).toContain(`Login=${acc.login}`);
    expect(startup).not.toContain(acc.password);
    expect((await account(acc.id))?.terminal_state).toBe('running');

    // The user sees it connected, and nothing secret.
    const listed = await userFetch<{ accounts: TradingAccountBody[] }>(stack.deno.url('/accounts/trading-accounts'), user.token, 'GET');
    expect(listed.status).toBe(200);
    expect(listed.body.accounts.find((x) => x.id === acc.id)).toMatchObject({ status: 'connected', error_code: null });
    expect(JSON.stringify(listed.body)).not.toContain(acc.password);
  });

  it('the EA registers with the token the agent wrote and reports trades: the account is connected, and the agent sees it', async () => {
    const host = await createHost(1);
    const terminals = base();
    const a = await runAgent(host.key, terminals);
    const acc = await register({ platform: 'MT4' });
    const terminal = await waitFor('terminal', () => {
      const t = a.agent.terminals.get(acc.id);
      return t?.record.password_removed ? t : undefined;
    });
    expect((await account(acc.id))?.status).toBe('provisioning');
    expect(terminal.record.state).toBe('running');

    // The EA side (what the MQL4 EA does): read rendr_ea_config.ini, register, sign trades.
    const ea = parseEaConfig(readFileSync(join(terminal.record.folder, 'MQL4', 'Files', 'rendr_ea_config.ini'), 'latin1'));
    const registerPath = new URL(ea.register_url).pathname.replace(/^\/functions\/v1/, '');
    const registered = await fetch(stack.deno.url(registerPath), {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        external_account_id: ea.external_account_id,
        login: acc.login,
        server: 'ICMarketsSC-Demo',
        platform: 'MT4',
        terminal_build: 1420,
        provisioning_token: ea.provisioning_token,
      }),
    });
    const reg = (await registered.json()) as { api_secret: string; status: string };
    expect({ status: registered.status, body: reg }).toMatchObject({ status: 200, body: { status: 'connected' } });
    secrets.push(reg.api_secret, ea.provisioning_token);

    const body = JSON.stringify({
      trades: [
        {
          ticket: 900001,
          symbol: 'EURUSD',
          type: 'BUY',
          lots: 0.5,
          open_time: '2026-11-20T10:00:00Z',
          close_time: '2026-11-20T11:00:00Z',
          open_price: 1.08,
          close_price: 1.081,
          profit: 50,
        },
      ],
    });
    const tradesPath = new URL(ea.trades_url).pathname.replace(/^\/functions\/v1/, '');
    const traded = await fetch(stack.deno.url(tradesPath), {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...new SignedHttp({ header: 'x-account-id', id: ea.external_account_id, secret: reg.api_secret }).sign(body) },
      body,
    });
    expect({ status: traded.status, body: await traded.json() }).toMatchObject({ status: 200, body: { accepted: [900001], duplicates: [] } });

    // The agent's next pass learns the account is connected from GET /vps/accounts.
    await a.agent.requestReconcile('test');
    await a.agent.idle();
    expect(terminal.record.state).toBe('connected');
    expect(await account(acc.id)).toMatchObject({ status: 'connected', terminal_state: 'running' });
  });

  it('a wrong investor password ends in error E_AUTH with the message shown to the user, is not relaunched until the password changes; a deleted account is torn down', async () => {
    const host = await createHost(3);
    const terminals = base();
    const a = await runAgent(host.key, terminals);
    const wrong = await register({ password: `wrong-${randomBytes(6).toString('hex')}` });
    const doomed = await register({ platform: 'MT4' });

    await waitFor('error', async () => (await account(wrong.id))?.status === 'error', 15_000);
    const row = (await account(wrong.id))!;
    expect(row).toMatchObject({ error_code: 'E_AUTH', vps_host_id: null, terminal_state: 'stopped' });
    expect(row.error_message).toBe(
      `The trade server ICMarketsSC-Demo rejected login ${wrong.login}: check the login and the investor password. Terminal log: "'${wrong.login}': authorization on ICMarketsSC-Demo failed (Invalid account)"`,
    );
    const listed = await userFetch<{ accounts: TradingAccountBody[] }>(stack.deno.url('/accounts/trading-accounts'), user.token, 'GET');
    expect(listed.body.accounts.find((x) => x.id === wrong.id)).toMatchObject({
      status: 'error',
      error_code: 'E_AUTH',
      error_message: row.error_message,
      credentials_rejected: true,
      next_retry_at: null,
    });
    const notes = await stack.db.query<{ kind: string; body: string }>(asOwner(), 'select kind, body from public.notifications where account_id = $1', [wrong.id]);
    expect(notes).toEqual([{ kind: 'account_credentials_rejected', body: expect.stringContaining('(E_AUTH)') }]);
    await waitFor('forgotten locally', () => !a.agent.terminals.has(wrong.id));
    expect(existsSync(join(terminals, `MT5-${row.external_account_id}`))).toBe(false);

    // Not relaunched with the refused password (the user's retry is refused too); a new password
    // relaunches it at once.
    const retry = await userFetch<{ error: { message: string } }>(stack.deno.url(`/accounts/trading-accounts/${wrong.id}/retry`), user.token, 'POST');
    expect(retry.status).toBe(409);
    expect(retry.body.error.message).toMatch(/update the password/);
    const fixed = `Inv-${randomBytes(9).toString('base64url')}`;
    passwords.push(fixed);
    const changed = await userFetch<TradingAccountBody>(stack.deno.url(`/accounts/trading-accounts/${wrong.id}/password`), user.token, 'PUT', {
      investor_password: fixed,
    });
    expect(changed).toMatchObject({ status: 200, body: { status: 'pending_vps_setup', credentials_rejected: false, error_code: null } });
    await waitFor('relaunched with the new password', () => a.agent.terminals.get(wrong.id)?.record.password_removed === true, 15_000);
    expect(await account(wrong.id)).toMatchObject({ status: 'provisioning', vps_host_id: host.id, error_code: null });

    // Delete on the dashboard: the agent stops the terminal, removes the folder, reports stopped,
    // and the account is gone.
    const t = await waitFor('doomed running', () => {
      const x = a.agent.terminals.get(doomed.id);
      return x?.record.password_removed ? x : undefined;
    });
    const pid = t.record.pid!;
    const del = await userFetch<{ deleted: boolean; teardown_pending: boolean }>(stack.deno.url(`/accounts/trading-accounts/${doomed.id}`), user.token, 'DELETE');
    expect(del.body).toMatchObject({ deleted: true, teardown_pending: true });
    await waitFor('removed', async () => (await account(doomed.id)) === undefined, 10_000);
    expect(isAlive(pid)).toBe(false);
    expect(existsSync(t.record.folder)).toBe(false);
    // The backend deletes the row while answering the agent's `stopped` report; the agent forgets
    // the terminal once that answer arrives, a moment later.
    await waitFor('forgotten after teardown', () => !a.agent.terminals.has(doomed.id));
  });

  it('two agents with capacities 3 and 5 and 10 pending accounts: 8 run, none twice; a restarted agent adopts; a silent host\'s accounts move to the other', async () => {
    const hostA = await createHost(3);
    const hostB = await createHost(5);
    const baseA = base();
    const baseB = base();
    const accounts = [];
    for (let i = 0; i < 10; i++) accounts.push(await register({ platform: i % 2 ? 'MT4' : 'MT5' }));
    const ids = accounts.map((x) => x.id);

    const agentA = await runAgent(hostA.key, baseA, { CAPACITY: '3' });
    let agentB = await runAgent(hostB.key, baseB, { CAPACITY: '5' });
    await waitFor('8 terminals', () => aliveLaunched(baseA).length + aliveLaunched(baseB).length === 8, 20_000);
    const held = async () =>
      stack.db.query<{ vps_host_id: string | null; n: number }>(
        asOwner(),
        `select vps_host_id, count(*)::int as n from public.trading_accounts where id = any($1) group by 1 order by 2`,
        [ids],
      );
    expect(await held()).toEqual([
      { vps_host_id: null, n: 2 },
      { vps_host_id: hostA.id, n: 3 },
      { vps_host_id: hostB.id, n: 5 },
    ]);
    const foldersA = new Set(allLaunched(baseA).map((l) => l.folder));
    const foldersB = new Set(allLaunched(baseB).map((l) => l.folder));
    expect(foldersA.size).toBe(3);
    expect(foldersB.size).toBe(5);
    expect([...foldersA].filter((f) => foldersB.has(f))).toEqual([]); // none twice
    expect(allLaunched(baseA).length + allLaunched(baseB).length).toBe(8); // one process each

    // B restarts with room for everything: it adopts its 5 (no duplicate), then claims the 2 left.
    const pidsB = aliveLaunched(baseB).map((l) => l.pid).sort();
    await stopAgent(agentB);
    agentB = await runAgent(hostB.key, baseB, { CAPACITY: '10' });
    await waitFor('B runs 7', () => aliveLaunched(baseB).length === 7, 20_000);
    expect(pidsB.every((p) => aliveLaunched(baseB).some((l) => l.pid === p))).toBe(true);
    expect(agentB.log.entries().filter((e) => e.msg === 'adopted a running terminal')).toHaveLength(5);

    // A goes silent (its host dies: terminals and heartbeat gone). Once its leases expire, the
    // cron job requeues its accounts and B takes them.
    await stopAgent(agentA);
    killLaunched(baseA);
    await stack.db.query(asOwner(), `update public.trading_accounts set lease_expires_at = now() - interval '1 second' where vps_host_id = $1`, [hostA.id]);
    const [requeued] = await stack.db.query<{ n: number }>(asOwner(), 'select private.reclaim_expired_leases() as n');
    expect(requeued!.n).toBe(3);
    await waitFor('B runs all 10', () => aliveLaunched(baseB).length === 10, 20_000);
    expect(await held()).toEqual([{ vps_host_id: hostB.id, n: 10 }]);
    expect(new Set(allLaunched(baseB).map((l) => l.folder)).size).toBe(10);
    expect(allLaunched(baseB)).toHaveLength(10); // each launched once on B
  });

  it('no investor password appears in any agent log line or function log', () => {
    const agentText = agentLogs.map((l) => l.text()).join('');
    expect(agentLogs.length).toBeGreaterThanOrEqual(5);
    expect(agentText).toContain('terminal logged in');
    for (const p of [...passwords, ...secrets]) expect(agentText).not.toContain(p);
    const functionLogs = stack.deno.logs.map((l) => l.line).join('\n');
    expect(functionLogs.length).toBeGreaterThan(0);
    for (const p of [...passwords, ...secrets]) expect(functionLogs).not.toContain(p);
  });
});
