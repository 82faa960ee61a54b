import { randomToken, sha256Hex } from '@rubi/crypto';
import { asOwner, asUser, type Enums } from '@rubi/db';
import type { EdgeHarness, FetchApp, TestUser } from './edge-harness.ts';

// Fixtures for the cashback flow's VPS side: hosts with known keys, and trading accounts
// registered the way the accounts function registers them (the investor password sealed with the
// account's own id as associated data).

export interface TestVpsHost {
  id: string;
  name: string;
  /** The X-VPS-API-Key; only its SHA-256 is in the database. */
  key: string;
}

/** Inserts a VPS host (as the database owner, like the admin script) with a random key. */
export async function createVpsHost(h: EdgeHarness, name: string, capacity = 5): Promise<TestVpsHost> {
  const key = `vps_${randomToken(32)}`;
  const [row] = await h.db.query<{ id: string }>(
    asOwner(),
    'insert into private.vps_hosts (name, key_hash, capacity) values ($1, $2, $3) returning id',
    [name, await sha256Hex(key), capacity],
  );
  if (!row) throw new Error('vps host insert returned no row');
  return { id: row.id, name, key };
}

export async function revokeVpsHost(h: EdgeHarness, host: TestVpsHost): Promise<void> {
  await h.db.query(asOwner(), 'update private.vps_hosts set revoked_at = now() where id = $1', [host.id]);
}

export interface TestTradingAccount {
  /** trading_accounts.id: the `account_id` of the vps API. */
  id: string;
  externalId: string;
  login: number;
  server: string;
  platform: Enums<'platform'>;
  password: string;
}

let loginSeq = 880_000;

/** An active broker offering `platform` (the seed's, or one created for the tests). */
export async function brokerFor(h: EdgeHarness, platform: Enums<'platform'> = 'MT5'): Promise<string> {
  const [row] = await h.db.query<{ id: string }>(
    asOwner(),
    'select id from public.brokers where active and $1 = any (platforms) order by name limit 1',
    [platform],
  );
  if (row) return row.id;
  const [created] = await h.db.query<{ id: string }>(
    asOwner(),
    `insert into public.brokers (name, platforms, rebate_per_lot) values ('Test VPS Broker', array['MT4','MT5'], 3) returning id`,
  );
  if (!created) throw new Error('broker insert returned no row');
  return created.id;
}

/**
 * Registers a trading account for `user` through private.register_trading_account, as the user
 * (so RLS and the function's checks apply), with the password sealed by the harness's secret box.
 */
export async function registerTradingAccount(
  h: EdgeHarness,
  user: TestUser,
  opts: { platform?: Enums<'platform'>; login?: number; server?: string; password?: string } = {},
): Promise<TestTradingAccount> {
  const platform = opts.platform ?? 'MT5';
  const login = opts.login ?? ++loginSeq;
  const server = opts.server ?? 'VpsTest-Live';
  const password = opts.password ?? `inv-${randomToken(12)}`;
  const brokerId = await brokerFor(h, platform);
  const id = crypto.randomUUID();
  const sealed = await h.deps.secretBox.seal(password, id);
  const [row] = await h.db.query<{ id: string; external_account_id: string }>(
    asUser(user.id),
    'select id, external_account_id from private.register_trading_account($1, $2, $3, $4, $5, $6, $7)',
    [brokerId, platform, login, server, sealed.ciphertext, sealed.keyId, id],
  );
  if (!row) throw new Error('register_trading_account returned no row');
  return { id: row.id, externalId: row.external_account_id, login, server, platform, password };
}

/** A request from a VPS agent (`key` null: no key header at all). */
export function vpsRequest(app: FetchApp, method: string, path: string, key: string | null, body?: unknown): Promise<Response> {
  const headers: Record<string, string> = { 'content-type': 'application/json' };
  if (key !== null) headers['x-vps-api-key'] = key;
  return Promise.resolve(app.request(path, { method, headers, ...(body === undefined ? {} : { body: JSON.stringify(body) }) }));
}

/** A user's own account action (pause, resume, retry, delete), as private.account_action does it. */
export async function accountAction(h: EdgeHarness, user: TestUser, accountId: string, action: 'pause' | 'resume' | 'retry' | 'delete'): Promise<void> {
  await h.db.query(asUser(user.id), 'select private.account_action($1, $2)', [accountId, action]);
}

/** The account row as the database owner sees it (undefined once removed). */
export async function accountRow(h: EdgeHarness, id: string): Promise<Record<string, unknown> | undefined> {
  const [row] = await h.db.query(asOwner(), 'select * from public.trading_accounts where id = $1', [id]);
  return row;
}
