import { asOwner } from '@rubi/db';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { countRows, createEdgeHarness, userRequest, type EdgeHarness, type TestUser } from '../../tests/support/edge-harness.ts';
import { createAccountsApp } from './app.ts';

// PUT /accounts/trading-accounts/{id}/password, and how an account whose password the broker
// refused (E_AUTH) shows in the answers (private.change_investor_password, 060_provisioning.sql).

let h: EdgeHarness;
let app: ReturnType<typeof createAccountsApp>;
let alice: TestUser;
let bob: TestUser;
let brokerId: string;
let hostId: string;

interface AccountBody {
  id: string;
  status: string;
  paused: boolean;
  attempts: number;
  error_code: string | null;
  error_message: string | null;
  credentials_rejected: boolean;
  next_retry_at: string | null;
}

const OLD_PASSWORD = 'old-investor-SENTINEL-1';
const NEW_PASSWORD = 'new-investor-SENTINEL-2';
let nextLogin = 93000001;

async function register(user: TestUser): Promise<AccountBody> {
  const res = await userRequest(app, 'POST', '/accounts/trading-accounts', user.token, {
    broker_id: brokerId,
    platform: 'MT5',
    login: nextLogin++,
    server: 'PasswordTest-Live',
    investor_password: OLD_PASSWORD,
  });
  expect(res.status).toBe(201);
  return (await res.json()) as AccountBody;
}

/** A host claims the account and reports what its terminal logged (as the vps function does). */
async function failLogin(accountId: string, code = 'E_AUTH'): Promise<void> {
  await h.db.query(asOwner(), `update public.trading_accounts set status = 'provisioning', vps_host_id = $2, lease_expires_at = now() + interval '3 minutes' where id = $1`, [
    accountId,
    hostId,
  ]);
  await h.db.query(asOwner(), `select * from private.vps_report_state($1, $2, 'error', $3, 'Invalid account')`, [hostId, accountId, code]);
}

const changePassword = (user: TestUser, id: string, body: unknown) => userRequest(app, 'PUT', `/accounts/trading-accounts/${id}/password`, user.token, body);

async function secret(id: string): Promise<{ investor_password_ciphertext: string; encryption_key_id: string; failed_credential_hash: string | null }> {
  const [row] = await h.db.query<{ investor_password_ciphertext: string; encryption_key_id: string; failed_credential_hash: string | null }>(
    asOwner(),
    'select investor_password_ciphertext, encryption_key_id, failed_credential_hash from private.account_secrets where account_id = $1',
    [id],
  );
  if (!row) throw new Error('no secrets row');
  return row;
}

beforeAll(async () => {
  h = await createEdgeHarness();
  app = createAccountsApp(h.deps);
  alice = await h.createUser('alice-password@example.com');
  bob = await h.createUser('bob-password@example.com');
  const [broker] = await h.db.query<{ id: string }>(asOwner(), `select id from public.brokers where name = 'IC Markets'`);
  brokerId = broker?.id ?? '';
  const [host] = await h.db.query<{ id: string }>(
    asOwner(),
    `insert into private.vps_hosts (name, key_hash, capacity) values ('password-test-host', repeat('c', 64), 10) returning id`,
  );
  hostId = host?.id ?? '';
});
afterAll(() => h.close());

describe('rejected credentials and the password change', () => {
  it('shows an account whose password the broker refused, and refuses to retry it (409) until the password changes', async () => {
    const account = await register(alice);
    expect(account.credentials_rejected).toBe(false);
    await failLogin(account.id);
    const path = `/accounts/trading-accounts/${account.id}`;
    const shown = (await (await userRequest(app, 'GET', path, alice.token)).json()) as AccountBody;
    expect(shown).toMatchObject({ status: 'error', error_code: 'E_AUTH', credentials_rejected: true, next_retry_at: null, attempts: 1 });
    const listed = (await (await userRequest(app, 'GET', '/accounts/trading-accounts', alice.token)).json()) as { accounts: AccountBody[] };
    expect(listed.accounts.find((a) => a.id === account.id)?.credentials_rejected).toBe(true);

    const retry = await userRequest(app, 'POST', `${path}/retry`, alice.token);
    expect(retry.status).toBe(409);
    expect(((await retry.json()) as { error: { message: string } }).error.message).toMatch(/update the password/);
    expect(await countRows(h, 'public.trading_accounts', `id = $1 and status = 'error'`, [account.id])).toBe(1);
  });

  it('a non-credential error keeps its backoff and is not marked', async () => {
    const account = await register(alice);
    await failLogin(account.id, 'E_LOGIN_TIMEOUT');
    const shown = (await (await userRequest(app, 'GET', `/accounts/trading-accounts/${account.id}`, alice.token)).json()) as AccountBody;
    expect(shown).toMatchObject({ status: 'error', error_code: 'E_LOGIN_TIMEOUT', credentials_rejected: false });
    expect(shown.next_retry_at).not.toBeNull();
  });

  it('changes the password: sealed and bound to the account, the rejection cleared, the account queued again', async () => {
    const account = await register(alice);
    await failLogin(account.id);
    const before = await secret(account.id);
    expect(before.failed_credential_hash).toMatch(/^[0-9a-f]{64}$/);

    const res = await changePassword(alice, account.id, { investor_password: NEW_PASSWORD });
    expect(res.status).toBe(200);
    const text = await res.text();
    expect(text).not.toContain(NEW_PASSWORD);
    expect(JSON.parse(text)).toMatchObject({ id: account.id, status: 'pending_vps_setup', attempts: 0, credentials_rejected: false, error_code: null });

    const after = await secret(account.id);
    expect(after.failed_credential_hash).toBeNull();
    expect(after.investor_password_ciphertext).not.toBe(before.investor_password_ciphertext);
    expect(after.investor_password_ciphertext).not.toContain(NEW_PASSWORD);
    expect(await h.deps.secretBox.open(after.investor_password_ciphertext, after.encryption_key_id, account.id)).toBe(NEW_PASSWORD);
    await expect(h.deps.secretBox.open(after.investor_password_ciphertext, after.encryption_key_id, crypto.randomUUID())).rejects.toThrow();
  });

  it('rejects bad input naming the field, and writes nothing', async () => {
    const account = await register(alice);
    await failLogin(account.id);
    const before = await secret(account.id);
    for (const body of [{ investor_password: '' }, { investor_password: 'a'.repeat(129) }, { investor_password: 42 }, {}, { investor_password: 'x', extra: 1 }]) {
      const res = await changePassword(alice, account.id, body);
      expect(res.status, JSON.stringify(body)).toBe(400);
      const details = ((await res.json()) as { error: { details: { path: string }[] } }).error.details.map((d) => d.path);
      expect(details.length).toBeGreaterThan(0);
      if ('extra' in body) continue;
      expect([...new Set(details)]).toEqual(['body.investor_password']);
    }
    expect(await secret(account.id)).toEqual(before);
    expect(await countRows(h, 'public.trading_accounts', `id = $1 and status = 'error' and credentials_rejected_at is not null`, [account.id])).toBe(1);
  });

  it("cannot change another user's password (404), a deleted account's, or without a token (401)", async () => {
    const account = await register(alice);
    await failLogin(account.id);
    const before = await secret(account.id);
    expect((await changePassword(bob, account.id, { investor_password: NEW_PASSWORD })).status).toBe(404);
    expect((await changePassword(bob, crypto.randomUUID(), { investor_password: NEW_PASSWORD })).status).toBe(404);
    expect((await userRequest(app, 'PUT', `/accounts/trading-accounts/${account.id}/password`, null, { investor_password: NEW_PASSWORD })).status).toBe(401);
    expect(await secret(account.id)).toEqual(before);

    const gone = await register(alice);
    expect((await userRequest(app, 'DELETE', `/accounts/trading-accounts/${gone.id}`, alice.token)).status).toBe(200);
    expect((await changePassword(alice, gone.id, { investor_password: NEW_PASSWORD })).status).toBe(404);
  });

  it('a paused account keeps its pause; a running one is taken from its host and queued', async () => {
    const paused = await register(alice);
    await userRequest(app, 'POST', `/accounts/trading-accounts/${paused.id}/pause`, alice.token);
    const res = await changePassword(alice, paused.id, { investor_password: NEW_PASSWORD });
    expect(await res.json()).toMatchObject({ status: 'disconnected', paused: true });

    const running = await register(alice);
    await h.db.query(asOwner(), `update public.trading_accounts set status = 'provisioning', vps_host_id = $2, lease_expires_at = now() + interval '3 minutes' where id = $1`, [
      running.id,
      hostId,
    ]);
    await h.db.query(asOwner(), `update public.trading_accounts set status = 'connected' where id = $1`, [running.id]);
    const changed = await changePassword(alice, running.id, { investor_password: NEW_PASSWORD });
    expect(await changed.json()).toMatchObject({ status: 'pending_vps_setup', attempts: 0 });
    expect(await countRows(h, 'public.trading_accounts', 'id = $1 and vps_host_id is null', [running.id])).toBe(1);
  });

  it('never logs or returns the investor passwords', () => {
    const logs = h.logs.join('\n');
    expect(logs).not.toContain(OLD_PASSWORD);
    expect(logs).not.toContain(NEW_PASSWORD);
  });
});
