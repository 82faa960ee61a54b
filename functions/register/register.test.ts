import { asOwner } from '@rubi/db';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { countRows, createEdgeHarness, type EdgeHarness, type TestUser } from '../../tests/support/edge-harness.ts';
import {
  accountEaRequest,
  closedTrade,
  issueProvisioningToken,
  postJson,
  provisionAccount,
  registerBody,
  type ProvisionedAccount,
} from '../../tests/support/provisioning.ts';
import { accountAction, accountRow } from '../../tests/support/vps-fixtures.ts';
import { createTradesApp } from '../trades/app.ts';
import { createRegisterApp } from './app.ts';

let h: EdgeHarness;
let app: ReturnType<typeof createRegisterApp>;
let trades: ReturnType<typeof createTradesApp>;
let alice: TestUser;
/** Every secret the tests handled (tokens, api secrets, investor passwords): none may leak. */
const secrets: string[] = [];
/** Every error body the apps answered. */
const errorBodies: string[] = [];

interface RegisterBody {
  external_account_id: string;
  api_secret: string;
  status: string;
  account_header: string;
  signature_header: string;
  poll_interval_seconds: number;
  max_trades_per_batch: number;
  registered_at: string;
  server_time: string;
}
interface ErrorBody {
  error: { code: string; message: string; details?: { path: string }[] };
}

beforeAll(async () => {
  h = await createEdgeHarness();
  app = createRegisterApp(h.deps);
  trades = createTradesApp(h.deps);
  alice = await h.createUser('register-alice@example.com');
});
afterAll(() => h.close());

async function provision(opts: Parameters<typeof provisionAccount>[2] = {}): Promise<ProvisionedAccount> {
  const account = await provisionAccount(h, alice, opts);
  secrets.push(account.password, account.token);
  return account;
}

/** POST /register; error bodies are kept for the leak check. */
async function register(body: unknown): Promise<{ status: number; json: unknown; headers: Headers }> {
  const res = await postJson(app, '/register', body);
  const text = await res.text();
  if (res.status >= 400) errorBodies.push(text);
  const json = JSON.parse(text) as unknown;
  if (res.status === 200) secrets.push((json as RegisterBody).api_secret);
  return { status: res.status, json, headers: res.headers };
}

async function secretsRow(accountId: string) {
  const [row] = await h.db.query<{
    provisioning_token_hash: string | null;
    provisioning_token_expires_at: Date | null;
    api_secret_ciphertext: string | null;
    api_secret_key_id: string | null;
  }>(
    asOwner(),
    'select provisioning_token_hash, provisioning_token_expires_at, api_secret_ciphertext, api_secret_key_id from private.account_secrets where account_id = $1',
    [accountId],
  );
  return row;
}

const tradesAs = (externalId: string, secret: string, body: unknown = { trades: [] }) =>
  accountEaRequest(h, trades, 'POST', '/trades', { externalId, secret }, body);

describe('register', () => {
  it('issues an api secret, spends the token and connects the account', async () => {
    const account = await provision();
    const res = await register(registerBody(account, { terminal_build: 4410 }));
    expect(res.status).toBe(200);
    expect(res.headers.get('cache-control')).toBe('no-store');
    const body = res.json as RegisterBody;
    expect(body).toMatchObject({
      external_account_id: account.externalId,
      status: 'connected',
      account_header: 'X-Account-Id',
      signature_header: 'X-Trade-Signature',
      poll_interval_seconds: 60,
      max_trades_per_batch: 500,
      server_time: h.clock.now.toISOString(),
    });
    expect(body.api_secret).toMatch(/^whsec_[A-Za-z0-9+/]+=*$/);

    const row = await accountRow(h, account.id);
    expect(row).toMatchObject({ status: 'connected', terminal_build: 4410 });
    // When the user registered the account on the dashboard: where the EA's backfill starts.
    expect(row?.created_at).toBeInstanceOf(Date);
    expect(body.registered_at).toBe((row?.created_at as Date).toISOString());
    expect(row?.connected_at).toBeInstanceOf(Date);
    expect(row?.last_seen_at).toBeInstanceOf(Date);
    const stored = await secretsRow(account.id);
    expect(stored).toMatchObject({ provisioning_token_hash: null, provisioning_token_expires_at: null });
    expect(stored?.api_secret_ciphertext).toBeTruthy();
    expect(stored?.api_secret_ciphertext).not.toContain(body.api_secret);
    // Sealed to this account's id: it opens with it, and not with another id.
    if (!stored?.api_secret_ciphertext || !stored.api_secret_key_id) throw new Error('no sealed secret');
    expect(await h.deps.secretBox.open(stored.api_secret_ciphertext, stored.api_secret_key_id, account.id)).toBe(body.api_secret);
    await expect(h.deps.secretBox.open(stored.api_secret_ciphertext, stored.api_secret_key_id, crypto.randomUUID())).rejects.toThrow();

    // The secret signs trades requests.
    expect((await tradesAs(account.externalId, body.api_secret)).status).toBe(200);

    // The token is spent: the same request again is refused, and changes nothing.
    const again = await register(registerBody(account));
    expect(again.status).toBe(401);
    expect((await secretsRow(account.id))?.api_secret_ciphertext).toBe(stored.api_secret_ciphertext);
    expect((await tradesAs(account.externalId, body.api_secret)).status).toBe(200);
  });

  it('refuses an expired token and writes nothing', async () => {
    const account = await provision({ ttlSeconds: -1 });
    const before = await secretsRow(account.id);
    const res = await register(registerBody(account));
    expect(res.status).toBe(401);
    expect(await secretsRow(account.id)).toEqual(before);
    expect(await accountRow(h, account.id)).toMatchObject({ status: 'provisioning', terminal_build: null, last_seen_at: null });
  });

  it('gives the same 401 for a wrong login, server, platform or token and an unknown or deleted account', async () => {
    const account = await provision({ platform: 'MT5' });
    const deleted = await provision();
    await accountAction(h, alice, deleted.id, 'delete');
    const attempts = [
      registerBody(account, { login: account.login + 1 }),
      registerBody(account, { server: 'Other-Server' }),
      registerBody(account, { platform: 'MT4' }),
      registerBody(account, { provisioning_token: `${account.token.slice(0, -2)}AA` }),
      registerBody(account, { external_account_id: crypto.randomUUID() }),
      registerBody(deleted),
    ];
    const bodies: unknown[] = [];
    for (const attempt of attempts) {
      const res = await register(attempt);
      expect(res.status).toBe(401);
      bodies.push(res.json);
    }
    // Nothing tells the caller which part failed, or whether the account exists.
    expect(new Set(bodies.map((b) => JSON.stringify(b))).size).toBe(1);
    expect((bodies[0] as ErrorBody).error).toEqual({ code: 'unauthorized', message: 'invalid or expired provisioning token' });
    // The operator's log knows: the request's line names the refusal.
    const reasons = h.logs
      .map((l) => JSON.parse(l) as { msg: string; fn: string; status: number; auth_refusal?: string })
      .filter((l) => l.msg === 'request' && l.fn === 'register' && l.status === 401)
      .map((l) => l.auth_refusal);
    expect(reasons).toEqual(
      expect.arrayContaining(['identity_mismatch', 'token_mismatch', 'unknown_account']),
    );
    // None of the failures spent the token: the right request still works. The server name is
    // compared without regard to case (the terminal reports the broker's spelling).
    expect(await secretsRow(account.id)).toMatchObject({ api_secret_ciphertext: null });
    const ok = await register(registerBody(account, { server: account.server.toUpperCase() }));
    expect(ok.status).toBe(200);
  });

  it('rejects bad input with 400 naming the fields, and writes nothing', async () => {
    const account = await provision();
    const before = await secretsRow(account.id);
    const res = await register(
      registerBody(account, { external_account_id: 'not-a-uuid', login: -3, platform: 'MT6', terminal_build: 1.5, provisioning_token: 'short', extra: 1 }),
    );
    expect(res.status).toBe(400);
    const paths = (res.json as ErrorBody).error.details?.map((d) => d.path) ?? [];
    expect(paths).toEqual(
      expect.arrayContaining(['body.external_account_id', 'body.login', 'body.platform', 'body.terminal_build', 'body.provisioning_token', 'body']),
    );
    const missing = await register({ external_account_id: account.externalId });
    expect(missing.status).toBe(400);
    expect((missing.json as ErrorBody).error.details?.map((d) => d.path)).toEqual(
      expect.arrayContaining(['body.login', 'body.server', 'body.platform', 'body.terminal_build', 'body.provisioning_token']),
    );
    expect((await register('{"external_account_id":')).status).toBe(400);
    expect(await secretsRow(account.id)).toEqual(before);
    expect(await accountRow(h, account.id)).toMatchObject({ status: 'provisioning', last_seen_at: null });
  });

  it('rotates the secret when a re-provision issues a fresh token', async () => {
    const account = await provision();
    const first = await register(registerBody(account));
    expect(first.status).toBe(200);
    const oldSecret = (first.json as RegisterBody).api_secret;

    // A new launch package (the terminal is restarted elsewhere): a new token.
    const fresh = await issueProvisioningToken(h, account.id);
    secrets.push(fresh);
    // The spent token stays spent.
    expect((await register(registerBody(account))).status).toBe(401);
    const second = await register(registerBody(account, { provisioning_token: fresh }));
    expect(second.status).toBe(200);
    const newSecret = (second.json as RegisterBody).api_secret;
    expect(newSecret).not.toBe(oldSecret);
    expect((second.json as RegisterBody).status).toBe('connected');

    const before = await countRows(h, 'public.closed_trades', 'account_id = $1', [account.id]);
    const stale = await tradesAs(account.externalId, oldSecret, { trades: [closedTrade(1)] });
    expect(stale.status).toBe(401);
    errorBodies.push(await stale.text());
    expect(await countRows(h, 'public.closed_trades', 'account_id = $1', [account.id])).toBe(before);
    expect((await tradesAs(account.externalId, newSecret, { trades: [closedTrade(1)] })).status).toBe(200);
  });

  it('a token issued again before the EA registered replaces the earlier one', async () => {
    const account = await provision();
    const replacement = await issueProvisioningToken(h, account.id);
    secrets.push(replacement);
    expect((await register(registerBody(account))).status).toBe(401);
    expect((await register(registerBody(account, { provisioning_token: replacement }))).status).toBe(200);
  });

  it('connects a silent account again, but leaves a paused one paused', async () => {
    const silent = await provision();
    await h.db.query(asOwner(), `update public.trading_accounts set status = 'disconnected' where id = $1`, [silent.id]);
    const res = await register(registerBody(silent));
    expect(res.status).toBe(200);
    expect((res.json as RegisterBody).status).toBe('connected');

    const paused = await provision();
    await accountAction(h, alice, paused.id, 'pause');
    const pausedRes = await register(registerBody(paused));
    expect(pausedRes.status).toBe(200);
    expect((pausedRes.json as RegisterBody).status).toBe('disconnected');
    expect(await accountRow(h, paused.id)).toMatchObject({ status: 'disconnected', paused_at: expect.any(Date) });
  });

  it('lets exactly one of two simultaneous registrations with one token through', async () => {
    const account = await provision();
    const results = await Promise.all([register(registerBody(account)), register(registerBody(account))]);
    expect(results.map((r) => r.status).sort()).toEqual([200, 401]);
    const winner = results.find((r) => r.status === 200)?.json as RegisterBody;
    expect((await tradesAs(account.externalId, winner.api_secret)).status).toBe(200);
  });
});

describe('openapi', () => {
  it('documents the route', async () => {
    const res = await app.request('/register/openapi.json');
    expect(res.status).toBe(200);
    const doc = (await res.json()) as { paths: Record<string, Record<string, unknown>> };
    expect(Object.keys(doc.paths['/register'] ?? {})).toEqual(['post']);
  });
});

describe('secrets', () => {
  it('never puts a token, an api secret or an investor password in a log line or an error body', async () => {
    expect(secrets.length).toBeGreaterThan(15);
    expect(errorBodies.length).toBeGreaterThan(5);
    const logs = h.logs.join('\n');
    const errors = errorBodies.join('\n');
    const messages = await h.db.query<{ payload: string }>(asOwner(), `select coalesce(payload::text, '') as payload from realtime.messages`);
    const realtime = messages.map((m) => m.payload).join('\n');
    for (const secret of secrets) {
      expect(logs).not.toContain(secret);
      expect(errors).not.toContain(secret);
      expect(realtime).not.toContain(secret);
    }
    expect(realtime).not.toMatch(/provisioning_token|api_secret|investor_password|ciphertext/);
    // The scan covered the request lines' operator fields (request-log.ts), refusals included.
    const lines = h.logs.map((l) => JSON.parse(l) as Record<string, unknown>).filter((l) => l.msg === 'request' && l.fn === 'register');
    expect(lines.some((l) => l.principal === 'provisioning_token' && l.external_account_id && l.auth_refusal)).toBe(true);
    expect(lines.some((l) => l.principal === 'account_ea' && l.account_id && l.user_id)).toBe(true);
  });
});
