// The request log (packages/edge/src/request-log.ts): every function's one line per request carries
// what an operator filters on, for every kind of principal and for errors, and never a secret; the
// queries in the README's "Reading the logs" run against these very lines (jq) or name only fields
// they have (the Logs Explorer's SQL).
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { asOwner, asService } from '@rubi/db';
import { createFunctionApp, PRINCIPAL_KINDS, redact, routePattern } from '@rubi/edge';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createAccountsApp } from '../../functions/accounts/app.ts';
import { createKeysApp } from '../../functions/keys/app.ts';
import { createPingApp } from '../../functions/ping/app.ts';
import { createRegisterApp } from '../../functions/register/app.ts';
import { createSignalsApp } from '../../functions/signals/app.ts';
import { createTradesApp } from '../../functions/trades/app.ts';
import { createVpsApp } from '../../functions/vps/app.ts';
import { createEaCredential } from '../support/ea-credentials.ts';
import { createEdgeHarness, eaRequest, userRequest, type EaCredential, type EdgeHarness, type TestUser } from '../support/edge-harness.ts';
import { accountEaRequest, postJson, provisionAccount, registerBody, type AccountEaCredential, type ProvisionedAccount } from '../support/provisioning.ts';
import { openSession } from '../support/terminal.ts';
import { createVpsHost, vpsRequest, type TestVpsHost } from '../support/vps-fixtures.ts';

type Line = Record<string, unknown>;

/** Every field a request line may have (README, "Reading the logs"): anything else would be a leak. */
const REQUEST_LINE_FIELDS = [
  'level', 'time', 'msg', 'fn', 'route', 'method', 'status', 'latency_ms', 'request_id', 'principal',
  'user_id', 'ea_key_id', 'account_id', 'external_account_id', 'session_id', 'signal_id', 'vps_host_id',
  'error_code', 'sqlstate', 'auth_refusal', 'failure', 'reported_error_code', 'account_status', 'client_ip',
];

let h: EdgeHarness;
let alice: TestUser;
let aliceKey: EaCredential;
let sessionId: string;
let host: TestVpsHost;
let account: ProvisionedAccount;
let accountEa: AccountEaCredential;
/** Secrets the scenario used: none may be in any line. */
const secrets: string[] = [];
/** The request line of each step, by name. */
const step: Record<string, Line> = {};

const requestLines = (): Line[] => h.logs.map((l) => JSON.parse(l) as Line).filter((l) => l.msg === 'request');
function lineOf(res: Response): Line {
  const id = res.headers.get('x-request-id');
  const found = requestLines().filter((l) => l.request_id === id);
  expect(found, `one request line for ${id}`).toHaveLength(1);
  return found[0] as Line;
}
async function record(name: string, res: Response | Promise<Response>, status: number): Promise<Line> {
  const r = await res;
  expect(r.status, `${name}: ${await r.clone().text()}`).toBe(status);
  step[name] = lineOf(r);
  return step[name];
}
const ip = (addr: string) => ({ extraHeaders: { 'x-forwarded-for': addr } });

beforeAll(async () => {
  h = await createEdgeHarness();
  const keys = createKeysApp(h.deps);
  const ping = createPingApp(h.deps);
  const accounts = createAccountsApp(h.deps);
  const signals = createSignalsApp(h.deps);
  const register = createRegisterApp(h.deps);
  const trades = createTradesApp(h.deps);
  const vps = createVpsApp(h.deps);
  alice = await h.createUser('alice@example.com');
  secrets.push(alice.token);
  aliceKey = await createEaCredential(h, alice);
  secrets.push(aliceKey.secret);
  sessionId = await openSession(h, aliceKey, 7001);
  // Three failed signatures per key, then 429.
  await h.db.query(asOwner(), `update private.settings set value = $1 where key = 'rate_limit_ea_auth_failure_credential_burst'`, [3]);

  // user
  await record('user', userRequest(keys, 'GET', '/keys', alice.token), 200);
  await record('user session', userRequest(accounts, 'GET', `/accounts/sessions/${sessionId}`, alice.token), 200);
  await record('user bad token', userRequest(keys, 'GET', '/keys', `${alice.token.slice(0, -4)}AAAA`), 401);
  await record('user invalid body', userRequest(keys, 'POST', '/keys', alice.token, { name: '' }), 400);
  // ea_key: a ping, a wrong signature until the failure bucket answers 429, an unknown key, a stale timestamp
  await record('ea_key', eaRequest(h, ping, 'POST', '/ping', aliceKey, { session_id: sessionId, balance: 1, equity: 1 }), 200);
  await record(
    'ea_key old timestamp',
    eaRequest(h, signals, 'GET', `/signals/pending?session_id=${sessionId}`, aliceKey, undefined, { timestamp: Math.floor(Date.now() / 1000) - 3600 }),
    401,
  );
  const wrong = { keyId: aliceKey.keyId, secret: `whsec_${Buffer.from('w'.repeat(32)).toString('base64')}` };
  secrets.push(wrong.secret);
  await record('ea_key wrong signature', eaRequest(h, ping, 'POST', '/ping', wrong, { session_id: sessionId }, ip('192.0.2.7')), 401);
  await record('ea_key wrong signature 2', eaRequest(h, ping, 'POST', '/ping', wrong, { session_id: sessionId }, ip('192.0.2.7')), 401);
  await record('ea_key rate limited', eaRequest(h, ping, 'POST', '/ping', wrong, { session_id: sessionId }, ip('192.0.2.7')), 429);
  await record('ea_key unknown', eaRequest(h, ping, 'POST', '/ping', { ...wrong, keyId: crypto.randomUUID() }, {}, ip('198.51.100.9')), 401);
  // a key revoked while its credential is cached: the gate refuses it in SQL (28000)
  const revokedKey = await createEaCredential(h, alice);
  secrets.push(revokedKey.secret);
  await eaRequest(h, ping, 'POST', '/ping', revokedKey, { session_id: sessionId, balance: 1, equity: 1 });
  expect((await userRequest(keys, 'POST', `/keys/${revokedKey.keyId}/revoke`, alice.token)).status).toBe(200);
  await record('ea_key revoked', eaRequest(h, ping, 'POST', '/ping', revokedKey, { session_id: sessionId, balance: 1, equity: 1 }), 401);
  // provisioning_token → account_ea
  account = await provisionAccount(h, alice);
  secrets.push(account.token, account.password);
  await record('provisioning_token refused', postJson(register, '/register', registerBody(account, { provisioning_token: `guess-${'x'.repeat(40)}` })), 401);
  const registerRes = await postJson(register, '/register', registerBody(account));
  expect(registerRes.status).toBe(200);
  const registered = (await registerRes.clone().json()) as { api_secret: string };
  accountEa = { externalId: account.externalId, secret: registered.api_secret };
  secrets.push(accountEa.secret);
  step['provisioning_token'] = lineOf(registerRes);
  await record('account_ea', accountEaRequest(h, trades, 'POST', '/trades', accountEa, { trades: [] }), 200);
  await record(
    'account_ea wrong secret',
    accountEaRequest(h, trades, 'POST', '/trades', { externalId: account.externalId, secret: `whsec_${Buffer.from('o'.repeat(32)).toString('base64')}` }, { trades: [] }, ip('203.0.113.5')),
    401,
  );
  // vps_host: the agent reports the account in error; a wrong host key
  host = await createVpsHost(h, 'logs-1');
  secrets.push(host.key);
  await h.db.query(
    asOwner(),
    `update public.trading_accounts set vps_host_id = $2, lease_expires_at = now() + interval '3 minutes' where id = $1`,
    [account.id, host.id],
  );
  await record(
    'vps_host',
    vpsRequest(vps, 'POST', `/vps/accounts/${account.id}/state`, host.key, {
      state: 'error',
      error_code: 'E_LOGIN_TIMEOUT',
      error_message: 'No connection to the trade server',
    }),
    200,
  );
  await record('vps_host unknown key', vpsRequest(vps, 'GET', '/vps/accounts', `vps_${'z'.repeat(40)}`), 401);
  // anonymous
  await record('anonymous', Promise.resolve(keys.request('/keys/health')), 200);
  await record('no route', Promise.resolve(keys.request('/keys/nowhere/at/all')), 404);
});
afterAll(() => h.close());

describe('the request line', () => {
  it('names the principal and its ids, for every kind', () => {
    expect(step['user']).toMatchObject({ fn: 'keys', route: '/keys', method: 'GET', status: 200, principal: 'user', user_id: alice.id });
    expect(step['user session']).toMatchObject({ fn: 'accounts', route: '/accounts/sessions/{id}', principal: 'user', user_id: alice.id, session_id: sessionId });
    expect(step['ea_key']).toMatchObject({
      fn: 'ping',
      route: '/ping',
      method: 'POST',
      status: 200,
      principal: 'ea_key',
      user_id: alice.id,
      ea_key_id: aliceKey.keyId,
      session_id: sessionId,
    });
    expect(step['provisioning_token']).toMatchObject({ fn: 'register', route: '/register', status: 200, principal: 'account_ea', account_id: account.id, external_account_id: account.externalId });
    expect(step['provisioning_token refused']).toMatchObject({ principal: 'provisioning_token', external_account_id: account.externalId, auth_refusal: 'token_mismatch' });
    expect(step['account_ea']).toMatchObject({
      fn: 'trades',
      route: '/trades',
      principal: 'account_ea',
      user_id: alice.id,
      account_id: account.id,
      external_account_id: account.externalId,
    });
    expect(step['vps_host']).toMatchObject({
      fn: 'vps',
      route: '/vps/accounts/{id}/state',
      principal: 'vps_host',
      vps_host_id: host.id,
      account_id: account.id,
      external_account_id: account.externalId,
      reported_error_code: 'E_LOGIN_TIMEOUT',
      account_status: 'error',
    });
    expect(step['anonymous']).toMatchObject({ fn: 'keys', route: '/keys/health', principal: 'anonymous', status: 200 });
    expect(step['anonymous']).not.toHaveProperty('user_id');
    for (const line of Object.values(step)) {
      expect(PRINCIPAL_KINDS).toContain(line.principal);
      expect(typeof line.latency_ms).toBe('number');
      expect(line.request_id).toMatch(/^req_/);
    }
  });

  it('names the error code, the SQLSTATE and why a credential was refused', () => {
    expect(step['user bad token']).toMatchObject({ status: 401, principal: 'user', error_code: 'unauthorized', auth_refusal: 'invalid_token' });
    expect(step['user bad token']).not.toHaveProperty('user_id');
    expect(step['user invalid body']).toMatchObject({ status: 400, principal: 'user', user_id: alice.id, error_code: 'invalid_request' });
    expect(step['ea_key wrong signature']).toMatchObject({
      status: 401,
      principal: 'ea_key',
      ea_key_id: aliceKey.keyId,
      error_code: 'unauthorized',
      auth_refusal: 'invalid_signature',
      client_ip: '192.0.2.7',
    });
    expect(step['ea_key wrong signature']).not.toHaveProperty('user_id');
    expect(step['ea_key rate limited']).toMatchObject({ status: 429, principal: 'ea_key', ea_key_id: aliceKey.keyId, error_code: 'rate_limited', auth_refusal: 'invalid_signature' });
    expect(step['ea_key unknown']).toMatchObject({ status: 401, principal: 'ea_key', auth_refusal: 'unknown_credential', client_ip: '198.51.100.9' });
    expect(step['ea_key old timestamp']).toMatchObject({ fn: 'signals', route: '/signals/pending', status: 401, auth_refusal: 'timestamp_too_old' });
    expect(step['ea_key revoked']).toMatchObject({ status: 401, principal: 'ea_key', error_code: 'unauthorized', sqlstate: '28000' });
    expect(step['account_ea wrong secret']).toMatchObject({ status: 401, principal: 'account_ea', external_account_id: account.externalId, auth_refusal: 'invalid_signature' });
    expect(step['vps_host unknown key']).toMatchObject({ status: 401, principal: 'vps_host', auth_refusal: 'unknown_credential', error_code: 'unauthorized' });
    expect(step['no route']).toMatchObject({ status: 404, error_code: 'not_found', principal: 'anonymous' });
    expect(step['no route']).not.toHaveProperty('route');
  });

  it('works the same for any function built with createFunctionApp (an operator route, a database error)', async () => {
    const probe = createFunctionApp('probe', h.deps);
    probe.get('/sessions/:id', (c) => {
      c.set('actor', { kind: 'operator' });
      return c.json({ ok: true }, 200);
    });
    probe.get('/boom', async (c) => {
      await c.get('deps').db.query(asService(), 'select 1 / 0');
      return c.json({ ok: true }, 200);
    });
    const id = crypto.randomUUID();
    const ok = await probe.request(`/probe/sessions/${id}`);
    expect(lineOf(ok)).toMatchObject({ fn: 'probe', route: '/probe/sessions/{id}', principal: 'operator', session_id: id, status: 200 });
    const boom = await probe.request('/probe/boom');
    expect(boom.status).toBe(400);
    expect(lineOf(boom)).toMatchObject({ fn: 'probe', route: '/probe/boom', status: 400, error_code: 'invalid_request', sqlstate: '22012' });
    expect(routePattern('/signals/:id/status')).toBe('/signals/{id}/status');
  });

  it('has only the documented fields, none of them redacted, and no secret anywhere', () => {
    // The secrets, and the secrets without their prefix (what an HMAC is keyed with).
    for (const secret of [...secrets]) if (secret.startsWith('whsec_')) secrets.push(secret.slice('whsec_'.length));
    expect(secrets.length).toBeGreaterThan(10);
    for (const line of requestLines()) {
      for (const key of Object.keys(line)) expect(REQUEST_LINE_FIELDS, `field ${key}`).toContain(key);
      expect(JSON.stringify(line)).not.toContain('[redacted]');
    }
    // The field names an operator filters on are not mistaken for secrets by the redaction...
    expect(Object.values(redact(Object.fromEntries(REQUEST_LINE_FIELDS.map((f) => [f, 'v']))) as object)).not.toContain('[redacted]');
    // ...and the scan covers every line, the new fields included.
    const all = h.logs.join('\n');
    for (const secret of secrets) expect(all).not.toContain(secret);
    expect(all).not.toMatch(/whsec_|Bearer /);
  });
});

// ---- The README's queries, against these lines ----

interface ReadmeQuery {
  name: string;
  lang: 'sh' | 'sql';
  text: string;
}

function readmeQueries(): ReadmeQuery[] {
  const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');
  const start = readme.indexOf('\n## Reading the logs\n');
  expect(start, 'README has a "Reading the logs" section').toBeGreaterThan(0);
  const section = readme.slice(start, readme.indexOf('\n## ', start + 5));
  return [...section.matchAll(/<!-- logs-query: ([\w-]+) -->\n```(sh|sql)\n([\s\S]*?)```/g)].map((m) => ({
    name: m[1] as string,
    lang: m[2] as 'sh' | 'sql',
    text: m[3] as string,
  }));
}

const hasJq = spawnSync('jq', ['--version']).status === 0;

describe('README "Reading the logs"', () => {
  it('has a jq and an SQL query for each question', () => {
    const queries = readmeQueries();
    const names = [...new Set(queries.map((q) => q.name))];
    expect(names).toEqual(expect.arrayContaining(['account', 'signatures', 'rate-limited', 'slowest', 'request']));
    for (const name of names) expect(queries.filter((q) => q.name === name).map((q) => q.lang).sort()).toEqual(['sh', 'sql']);
  });

  it('SQL: reads function_logs and extracts only fields the request line has', () => {
    for (const q of readmeQueries().filter((x) => x.lang === 'sql')) {
      expect(q.text, q.name).toMatch(/from logs\s+where source = 'function_logs'/);
      const fields = [...q.text.matchAll(/JSONExtract\w+\(event_message, '(\w+)'\)/g)].map((m) => m[1]);
      for (const field of fields) expect(REQUEST_LINE_FIELDS, `${q.name}: ${field}`).toContain(field);
      expect(q.text.split('(').length, `${q.name}: balanced parentheses`).toBe(q.text.split(')').length);
    }
  });

  // jq is installed by .ci/run; a machine without it skips this one locally.
  it.skipIf(!hasJq && !process.env.CI)('jq: every query runs as written and answers its question', () => {
    const dir = mkdtempSync(join(tmpdir(), 'rubi-logs-'));
    try {
      // What `npm start` prints: a banner, then the lines.
      writeFileSync(join(dir, 'functions.log'), ['', '  Rubi MT Bridge (local)', ...h.logs].join('\n') + '\n');
      const run = (name: string, env: Record<string, string> = {}): unknown[] => {
        const q = readmeQueries().find((x) => x.name === name && x.lang === 'sh');
        if (!q) throw new Error(`no jq query ${name}`);
        const res = spawnSync('bash', ['-euo', 'pipefail', '-c', q.text], { cwd: dir, env: { ...process.env, ...env }, encoding: 'utf8' });
        expect(res.stderr, `${name}: stderr`).toBe('');
        expect(res.status, name).toBe(0);
        const out = res.stdout.trim();
        // -c prints one value per line; -n prints one (pretty) array.
        return out.startsWith('[') ? (JSON.parse(out) as unknown[]) : out.split('\n').filter(Boolean).map((l) => JSON.parse(l) as unknown);
      };

      const about = run('account', { ACCOUNT_ID: account.id }) as Line[];
      expect(about.map((l) => l.fn)).toEqual(expect.arrayContaining(['register', 'trades', 'vps']));
      expect(about.find((l) => l.fn === 'vps')).toMatchObject({ route: '/vps/accounts/{id}/state', reported_error_code: 'E_LOGIN_TIMEOUT', account_status: 'error' });
      const byExternal = run('account', { ACCOUNT_ID: account.externalId }) as Line[];
      expect(byExternal.length).toBeGreaterThanOrEqual(about.length - 1);
      expect(byExternal.some((l) => l.auth_refusal === 'invalid_signature')).toBe(true);

      const signatures = run('signatures') as Line[];
      expect(signatures[0]).toMatchObject({ credential: aliceKey.keyId, principal: 'ea_key', client_ip: '192.0.2.7', auth_refusal: 'invalid_signature', refused: 3, rate_limited: 1 });
      expect(signatures).toEqual(
        expect.arrayContaining([
          expect.objectContaining({ credential: account.externalId, principal: 'account_ea', client_ip: '203.0.113.5', auth_refusal: 'invalid_signature', refused: 1 }),
          expect.objectContaining({ principal: 'ea_key', client_ip: '198.51.100.9', auth_refusal: 'unknown_credential' }),
        ]),
      );
      expect(signatures.every((s) => s.principal === 'ea_key' || s.principal === 'account_ea')).toBe(true);

      const limited = run('rate-limited') as Line[];
      expect(limited).toEqual([{ fn: 'ping', route: '/ping', principal: 'ea_key', id: aliceKey.keyId, client_ip: '192.0.2.7', requests: 1 }]);

      const slowest = run('slowest') as Line[];
      expect(slowest.length).toBeGreaterThan(8);
      for (const r of slowest) {
        expect(r.route).toMatch(/^\/[a-z]/);
        expect(r.route).not.toMatch(/[0-9a-f]{8}-/);
        expect(Number(r.p50_ms)).toBeLessThanOrEqual(Number(r.p95_ms));
        expect(Number(r.p95_ms)).toBeLessThanOrEqual(Number(r.max_ms));
      }
      const p95 = slowest.map((r) => Number(r.p95_ms));
      expect(p95).toEqual([...p95].sort((a, b) => b - a));
      expect(slowest.find((r) => r.route === '/ping')).toMatchObject({ fn: 'ping', method: 'POST' });

      const vpsLine = step['vps_host'] as Line;
      const one = run('request', { REQUEST_ID: String(vpsLine.request_id) }) as Line[];
      expect(one.map((l) => l.msg)).toEqual(['request']);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
