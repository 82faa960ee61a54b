import { randomToken, sha256Hex } from '@rubi/crypto';
import { asOwner } from '@rubi/db';
import { createRegisterApp } from '../../functions/register/app.ts';
import { signHeaders, type EdgeHarness, type FetchApp, type SignOptions, type TestUser } from './edge-harness.ts';
import { registerTradingAccount, type TestTradingAccount } from './vps-fixtures.ts';

// Fixtures for the EA side of the cashback flow: an account in `provisioning` with a one-time
// provisioning token (what a VPS host's claim and launch package leave behind), registering its
// EA through the real `register` function, and requests signed the way a provisioned EA signs them.

export interface ProvisionedAccount extends TestTradingAccount {
  userId: string;
  /** The current provisioning token (plaintext; only its SHA-256 is in the database). */
  token: string;
}

/** What a registered EA holds: the external account id and the api secret from `register`. */
export interface AccountEaCredential {
  externalId: string;
  secret: string;
}

/**
 * Issues a fresh provisioning token for an account, as private.vps_launch_package does: only its
 * SHA-256 is stored, with an expiry; any earlier token stops working. `ttlSeconds` may be negative
 * (an already expired token).
 */
export async function issueProvisioningToken(h: EdgeHarness, accountId: string, ttlSeconds = 3600): Promise<string> {
  const token = randomToken(32);
  const [row] = await h.db.query<{ account_id: string }>(
    asOwner(),
    `update private.account_secrets
     set provisioning_token_hash = $2, provisioning_token_expires_at = now() + make_interval(secs => $3::int)
     where account_id = $1 returning account_id`,
    [accountId, await sha256Hex(token), ttlSeconds],
  );
  if (!row) throw new Error(`no secrets row for account ${accountId}`);
  return token;
}

/**
 * A trading account registered by `user` (private.register_trading_account, as the user, with the
 * investor password sealed to the account's id), then moved to `provisioning` as a host's claim
 * would, with a provisioning token as its launch package would issue.
 */
export async function provisionAccount(
  h: EdgeHarness,
  user: TestUser,
  opts: Parameters<typeof registerTradingAccount>[2] & { ttlSeconds?: number } = {},
): Promise<ProvisionedAccount> {
  const account = await registerTradingAccount(h, user, opts);
  await h.db.query(asOwner(), `update public.trading_accounts set status = 'provisioning' where id = $1`, [account.id]);
  const token = await issueProvisioningToken(h, account.id, opts.ttlSeconds);
  return { ...account, userId: user.id, token };
}

/** The body an EA sends to `register` for `account`, with `overrides`. */
export function registerBody(account: ProvisionedAccount, overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    external_account_id: account.externalId,
    login: account.login,
    server: account.server,
    platform: account.platform,
    terminal_build: 4755,
    provisioning_token: account.token,
    ...overrides,
  };
}

/** An unsigned JSON POST (register has no signature). */
export function postJson(app: FetchApp, path: string, body: unknown): Promise<Response> {
  return Promise.resolve(
    app.request(path, { method: 'POST', headers: { 'content-type': 'application/json' }, body: typeof body === 'string' ? body : JSON.stringify(body) }),
  );
}

/** Registers the account's EA through the real `register` function and returns its credential. */
export async function registerEa(h: EdgeHarness, account: ProvisionedAccount, overrides: Record<string, unknown> = {}): Promise<AccountEaCredential> {
  const res = await postJson(createRegisterApp(h.deps), '/register', registerBody(account, overrides));
  if (res.status !== 200) throw new Error(`register failed: ${res.status} ${await res.text()}`);
  const body = (await res.json()) as { external_account_id: string; api_secret: string };
  return { externalId: body.external_account_id, secret: body.api_secret };
}

/** A request from a provisioned EA: X-Account-Id + Standard Webhooks headers signed with its api secret. */
export async function accountEaRequest(
  h: EdgeHarness,
  app: FetchApp,
  method: string,
  path: string,
  credential: AccountEaCredential,
  body?: unknown,
  opts: SignOptions = {},
): Promise<Response> {
  const text = body === undefined ? '' : JSON.stringify(body);
  const headers = {
    'content-type': 'application/json',
    'x-account-id': credential.externalId,
    ...(await signHeaders(credential.secret, text, Math.floor(h.clock.now.getTime() / 1000), opts)),
    ...opts.extraHeaders,
  };
  const sent = opts.rawBody ?? text;
  return app.request(path, { method, headers, ...(method === 'GET' ? {} : { body: sent }) });
}

/** A closed trade as an EA reports it: closed an hour after opening, `hoursAgo` hours ago. */
export function closedTrade(ticket: number, overrides: Record<string, unknown> = {}, hoursAgo = 2): Record<string, unknown> {
  const close = new Date(Date.now() - hoursAgo * 3600_000);
  const open = new Date(close.getTime() - 3600_000);
  return {
    ticket,
    symbol: 'EURUSD',
    type: 'BUY',
    lots: 0.5,
    open_time: open.toISOString(),
    close_time: close.toISOString(),
    open_price: 1.0812,
    close_price: 1.0834,
    commission: -3.5,
    swap: -0.12,
    profit: 110,
    magic: 20261121,
    comment: 'rubi',
    ...overrides,
  };
}

/** The broker's rebate per lot for an account (what accrual applies). */
export async function rebatePerLot(h: EdgeHarness, accountId: string): Promise<number> {
  const [row] = await h.db.query<{ rate: string }>(
    asOwner(),
    'select b.rebate_per_lot as rate from public.trading_accounts a join public.brokers b on b.id = a.broker_id where a.id = $1',
    [accountId],
  );
  if (!row) throw new Error(`no account ${accountId}`);
  return Number(row.rate);
}

/** The ownership code of an account, as its owner reads it (the register answer, the accounts API). */
export async function ownershipCode(h: EdgeHarness, accountId: string): Promise<string> {
  const [row] = await h.db.query<{ ownership_code: string }>(asOwner(), 'select ownership_code from public.trading_accounts where id = $1', [accountId]);
  if (!row) throw new Error(`no account ${accountId}`);
  return row.ownership_code;
}

/**
 * Marks an account verified, as the database owner, for tests about something else than the proof
 * of ownership (the proof itself goes through POST /trades `ownership_codes`): cashback accrues only
 * for a verified account.
 */
export async function markVerified(h: EdgeHarness, accountId: string): Promise<void> {
  await h.db.query(asOwner(), 'update public.trading_accounts set verified_at = now() where id = $1 and verified_at is null', [accountId]);
}
