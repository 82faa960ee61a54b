import { asOwner } from '@rubi/db';
import type { AccountHealth } from '@rubi/contracts/trading-accounts.ts';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createEdgeHarness, userRequest, type EdgeHarness, type TestUser } from '../../tests/support/edge-harness.ts';
import { accountEaRequest, closedTrade, markVerified, provisionAccount, registerEa, type AccountEaCredential, type ProvisionedAccount } from '../../tests/support/provisioning.ts';
import { registerTradingAccount } from '../../tests/support/vps-fixtures.ts';
import { createTradesApp } from '../trades/app.ts';
import { accountHealth, type HealthInput } from './account-health.ts';
import { createAccountsApp } from './app.ts';

// The `health` object of a trading account (issue #16): the rule as a pure function, then through
// the API with the EA's reports (POST /trades) and the lifecycle.

const NOW = new Date('2026-11-30T12:00:00Z');
const ago = (s: number) => new Date(NOW.getTime() - s * 1000);
const running: HealthInput = {
  status: 'connected',
  paused_at: null,
  error_code: null,
  error_message: null,
  error_at: null,
  credentials_rejected_at: null,
  terminal_state: 'running',
  hosted: true,
  connected_at: ago(3600),
  last_seen_at: ago(30),
  broker_connected: true,
  broker_connected_changed_at: ago(3000),
  broker_reported_at: ago(30),
  history_backfill_complete: true,
  history_synced_until: ago(40),
  now: NOW,
  silent_after_seconds: 600,
};
const health = (over: Partial<HealthInput>) => accountHealth({ ...running, ...over });

describe('the health rule', () => {
  it('running, connected, heard from, history synchronised: healthy', () => {
    expect(health({})).toEqual({
      status: 'healthy',
      reason: null,
      terminal: { state: 'running', hosted: true },
      broker_connection: { connected: true, since: ago(3000).toISOString(), reported_at: ago(30).toISOString() },
      last_heard_from: { at: ago(30).toISOString(), within_threshold: true, silent_after_seconds: 600 },
      history_synchronised: { synchronised: true, until: ago(40).toISOString() },
      last_error: null,
    });
  });

  it('an older EA (no broker or history report) is healthy while it reports', () => {
    const h = health({ broker_connected: null, broker_connected_changed_at: null, broker_reported_at: null, history_backfill_complete: null, history_synced_until: null });
    expect(h).toMatchObject({ status: 'healthy', broker_connection: { connected: null, since: null, reported_at: null }, history_synchronised: { synchronised: null, until: null } });
  });

  it.each<[string, Partial<HealthInput>, string, string | null]>([
    ['queued, never run', { status: 'pending_vps_setup', terminal_state: null, hosted: false, connected_at: null, last_seen_at: null }, 'not_started', 'queued'],
    ['being provisioned', { status: 'provisioning', terminal_state: 'launching', connected_at: null, last_seen_at: null }, 'not_started', 'provisioning'],
    ['queued again after it ran', { status: 'pending_vps_setup', terminal_state: null, hosted: false }, 'down', 'restarting'],
    ['queued again after an error', { status: 'pending_vps_setup', connected_at: null, error_code: 'E_LAUNCH' }, 'down', 'restarting'],
    ['paused (whatever else)', { paused_at: ago(10), status: 'error', error_code: 'E_LAUNCH' }, 'paused', 'paused'],
    ['in error', { status: 'error', error_code: 'E_LAUNCH', hosted: false }, 'down', 'error'],
    ['disconnected by the silence sweep', { status: 'disconnected', last_seen_at: ago(700) }, 'down', 'ea_silent'],
    ['silent, not swept yet', { last_seen_at: ago(601) }, 'down', 'ea_silent'],
    ['never heard from though connected', { last_seen_at: null }, 'down', 'ea_silent'],
    ['terminal crashed', { terminal_state: 'crashed' }, 'down', 'terminal_crashed'],
    ['terminal stopped', { terminal_state: 'stopped' }, 'down', 'terminal_stopped'],
    ['broker disconnected', { broker_connected: false }, 'down', 'broker_disconnected'],
    ['terminal relaunching', { terminal_state: 'launching' }, 'degraded', 'terminal_launching'],
    ['history still syncing', { history_backfill_complete: false, history_synced_until: null }, 'degraded', 'history_syncing'],
    ['at the threshold exactly', { last_seen_at: ago(600) }, 'healthy', null],
  ])('%s: %s', (_name, over, status, reason) => {
    expect(health(over)).toMatchObject({ status, reason });
  });

  it('the last error: code, message, when, and whether the password was refused', () => {
    expect(health({ status: 'error', error_code: 'E_AUTH', error_message: 'invalid account', error_at: ago(5), credentials_rejected_at: ago(5) }).last_error).toEqual({
      code: 'E_AUTH',
      message: 'invalid account',
      at: ago(5).toISOString(),
      credentials_rejected: true,
    });
  });

  it('since is null while the connection was never reported', () => {
    expect(health({ broker_connected: null, broker_connected_changed_at: ago(5) }).broker_connection.since).toBeNull();
  });
});

let h: EdgeHarness;
let accounts: ReturnType<typeof createAccountsApp>;
let trades: ReturnType<typeof createTradesApp>;
let alice: TestUser;
let bob: TestUser;
let account: ProvisionedAccount;
let ea: AccountEaCredential;

beforeAll(async () => {
  h = await createEdgeHarness();
  accounts = createAccountsApp(h.deps);
  trades = createTradesApp(h.deps);
  alice = await h.createUser('health-alice@example.com');
  bob = await h.createUser('health-bob@example.com');
  account = await provisionAccount(h, alice, { login: 71000001 });
  ea = await registerEa(h, account);
  await markVerified(h, account.id);
});
afterAll(() => h.close());

const healthOf = async (id: string, user: TestUser = alice): Promise<AccountHealth> => {
  const res = await userRequest(accounts, 'GET', `/accounts/trading-accounts/${id}`, user.token);
  expect(res.status).toBe(200);
  return ((await res.json()) as { health: AccountHealth }).health;
};
const report = async (body: Record<string, unknown>) => {
  const res = await accountEaRequest(h, trades, 'POST', '/trades', ea, { trades: [], ...body });
  return { status: res.status, body: (await res.json()) as { error?: { details?: { path: string }[] } } };
};
const owner = (sql: string, params: unknown[] = []) => h.db.query(asOwner(), sql, params);

describe('health through the API', () => {
  it('a queued account is not started; one being provisioned too', async () => {
    const queued = await registerTradingAccount(h, alice, { login: 71000002 });
    expect(await healthOf(queued.id)).toMatchObject({
      status: 'not_started',
      reason: 'queued',
      terminal: { state: null, hosted: false },
      last_heard_from: { at: null, within_threshold: false, silent_after_seconds: 600 },
      last_error: null,
    });
    await owner(`update public.trading_accounts set status = 'provisioning' where id = $1`, [queued.id]);
    expect(await healthOf(queued.id)).toMatchObject({ status: 'not_started', reason: 'provisioning' });
  });

  it('running and connected, backfill under way: degraded until the EA says the history is synchronised', async () => {
    await owner(`update public.trading_accounts set terminal_state = 'running' where id = $1`, [account.id]);
    expect((await report({ broker_connected: true, backfill_complete: false })).status).toBe(200);
    const syncing = await healthOf(account.id);
    expect(syncing).toMatchObject({
      status: 'degraded',
      reason: 'history_syncing',
      terminal: { state: 'running' },
      broker_connection: { connected: true },
      last_heard_from: { within_threshold: true },
      history_synchronised: { synchronised: false, until: null },
    });
    expect(syncing.broker_connection.since).not.toBeNull();
    const until = new Date(Date.now() - 60_000).toISOString();
    expect((await report({ trades: [closedTrade(1)], broker_connected: true, history_synced_until: until, backfill_complete: true })).status).toBe(200);
    const synced = await healthOf(account.id);
    expect(synced).toMatchObject({ status: 'healthy', reason: null, history_synchronised: { synchronised: true, until } });
    expect(synced.broker_connection.since).toBe(syncing.broker_connection.since);
  });

  it('broker disconnected: down, since when the EA first said so', async () => {
    await owner(`update public.trading_accounts set broker_connected_changed_at = now() - interval '1 hour' where id = $1`, [account.id]);
    expect((await report({ broker_connected: false })).status).toBe(200);
    const down = await healthOf(account.id);
    expect(down).toMatchObject({ status: 'down', reason: 'broker_disconnected', broker_connection: { connected: false } });
    expect(Date.now() - Date.parse(down.broker_connection.since ?? '')).toBeLessThan(60_000);
    expect(down.history_synchronised).toMatchObject({ synchronised: true });
    expect((await report({ broker_connected: true })).status).toBe(200);
    expect(await healthOf(account.id)).toMatchObject({ status: 'healthy' });
  });

  it('an older EA (no report) keeps what was reported', async () => {
    expect((await report({})).status).toBe(200);
    expect(await healthOf(account.id)).toMatchObject({ status: 'healthy', broker_connection: { connected: true }, history_synchronised: { synchronised: true } });
  });

  it('silent past the threshold: down (ea_silent), also before the sweep marks it disconnected', async () => {
    await owner(`update public.trading_accounts set last_seen_at = now() - interval '11 minutes' where id = $1`, [account.id]);
    expect(await healthOf(account.id)).toMatchObject({ status: 'down', reason: 'ea_silent', last_heard_from: { within_threshold: false } });
    await owner(`update public.trading_accounts set status = 'disconnected' where id = $1`, [account.id]);
    expect(await healthOf(account.id)).toMatchObject({ status: 'down', reason: 'ea_silent' });
    expect((await report({ broker_connected: true })).status).toBe(200);
    expect(await healthOf(account.id)).toMatchObject({ status: 'healthy', last_heard_from: { within_threshold: true } });
  });

  it('in error with a code: down, the last error with when', async () => {
    await owner(`update public.trading_accounts set status = 'error', error_code = 'E_LAUNCH', error_message = 'terminal exited with code 3' where id = $1`, [account.id]);
    const down = await healthOf(account.id);
    expect(down).toMatchObject({
      status: 'down',
      reason: 'error',
      terminal: { hosted: false },
      last_error: { code: 'E_LAUNCH', message: 'terminal exited with code 3', credentials_rejected: false },
    });
    expect(Date.now() - Date.parse(down.last_error?.at ?? '')).toBeLessThan(60_000);
    // Queued again by the retry: still down (restarting), the error kept until it is launched.
    await owner(`update public.trading_accounts set status = 'pending_vps_setup' where id = $1`, [account.id]);
    expect(await healthOf(account.id)).toMatchObject({ status: 'down', reason: 'restarting', last_error: { code: 'E_LAUNCH' } });
  });

  it('the list carries the health of every account', async () => {
    const res = await userRequest(accounts, 'GET', '/accounts/trading-accounts', alice.token);
    const body = (await res.json()) as { accounts: { id: string; health: AccountHealth }[] };
    expect(body.accounts.length).toBeGreaterThanOrEqual(2);
    for (const a of body.accounts) expect(a.health.status).toMatch(/^(healthy|degraded|down|not_started|paused)$/);
  });

  it("another user's account is not found (404); without a token 401", async () => {
    expect((await userRequest(accounts, 'GET', `/accounts/trading-accounts/${account.id}`, bob.token)).status).toBe(404);
    expect((await userRequest(accounts, 'GET', `/accounts/trading-accounts/${account.id}`, null)).status).toBe(401);
    expect((await userRequest(accounts, 'GET', '/accounts/trading-accounts', null)).status).toBe(401);
  });
});

describe('the report in POST /trades', () => {
  let other: ProvisionedAccount;
  let otherEa: AccountEaCredential;
  beforeAll(async () => {
    other = await provisionAccount(h, alice, { login: 71000003 });
    otherEa = await registerEa(h, other);
  });
  const send = async (body: Record<string, unknown>) => {
    const res = await accountEaRequest(h, trades, 'POST', '/trades', otherEa, { trades: [], ...body });
    return { status: res.status, body: (await res.json()) as { error?: { details?: { path: string }[] } } };
  };
  const stored = async () =>
    (
      await owner(
        `select broker_connected, history_backfill_complete, history_synced_until, last_seen_at from public.trading_accounts where id = $1`,
        [other.id],
      )
    )[0] as { broker_connected: boolean | null; history_backfill_complete: boolean | null; history_synced_until: Date | null; last_seen_at: Date };

  it.each<[string, Record<string, unknown>, string]>([
    ['broker_connected not a boolean', { broker_connected: 'yes' }, 'body.broker_connected'],
    ['backfill_complete not a boolean', { backfill_complete: 1 }, 'body.backfill_complete'],
    ['history_synced_until not a timestamp', { history_synced_until: 'yesterday' }, 'body.history_synced_until'],
  ])('%s: 400 naming it, nothing written', async (_name, body, path) => {
    const before = await stored();
    const res = await send({ trades: [closedTrade(9)], ...body });
    expect(res.status).toBe(400);
    expect(res.body.error?.details?.map((d) => d.path)).toContain(path);
    expect(await stored()).toEqual(before);
  });

  it('a history_synced_until later than the server clock: 400 naming it, nothing written', async () => {
    const before = await stored();
    const res = await send({ trades: [closedTrade(9)], history_synced_until: new Date(Date.now() + 3600_000).toISOString(), backfill_complete: true });
    expect(res.status).toBe(400);
    expect(res.body.error?.details?.map((d) => d.path)).toEqual(['body.history_synced_until']);
    expect(await stored()).toEqual(before);
    expect((await owner(`select count(*)::int as n from public.closed_trades where account_id = $1`, [other.id]))[0]).toEqual({ n: 0 });
  });

  it('the fields are stored', async () => {
    expect((await send({ broker_connected: false, backfill_complete: false })).status).toBe(200);
    expect(await stored()).toMatchObject({ broker_connected: false, history_backfill_complete: false, history_synced_until: null });
  });
});
