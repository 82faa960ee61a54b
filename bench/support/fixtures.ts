import { randomUUID } from 'node:crypto';
import { sha256Hex } from '@rubi/crypto';
import { asOwner } from '@rubi/db';
import { SignedHttp } from '@rubi/ea-sim';
import type { E2eStack } from '../../tests/integration/e2e/support/e2e-stack.ts';

/**
 * What the benchmarks load the functions with, arranged over the real API the way
 * tests/integration/e2e/ea-day.test.ts and provisioning-day.test.ts do it: a user, connector EAs
 * (one EA key and one session each) and provisioned accounts (registered, claimed by a VPS host,
 * EA registered with its one-time token).
 */

/** A connector EA: its key, its signer and its open session. */
export interface Terminal {
  keyId: string;
  signer: SignedHttp;
  sessionId: string;
}

/** A provisioned EA: the account it reports for and a signer holding its api secret. */
export interface ProvisionedAccount {
  accountId: string;
  externalId: string;
  signer: SignedHttp;
}

async function call<T>(res: Promise<Response>, what: string, expected: number): Promise<T> {
  const response = await res;
  const text = await response.text();
  if (response.status !== expected) throw new Error(`${what}: expected ${expected}, got ${response.status} ${text.slice(0, 500)}`);
  return JSON.parse(text) as T;
}

/**
 * `count` connector EAs of one user, each with its own key and a session opened by POST /connect.
 * `urlOf` maps a function path (`/keys`, `/connect`) to its URL: `stack.deno.url` for the e2e
 * stack, `${url}/functions/v1${path}` for `npm start`.
 */
export async function connectTerminals(urlOf: (path: string) => string, userToken: string, count: number): Promise<Terminal[]> {
  const terminals: Terminal[] = [];
  const firstAccount = 60_000_000 + Math.floor(Math.random() * 1_000_000);
  for (let i = 0; i < count; i += 1) {
    const key = await call<{ id: string; secret: string }>(
      fetch(urlOf('/keys'), {
        method: 'POST',
        headers: { authorization: `Bearer ${userToken}`, 'content-type': 'application/json' },
        body: JSON.stringify({ name: `bench terminal ${i}` }),
      }),
      'POST /keys',
      201,
    );
    const signer = new SignedHttp({ header: 'x-ea-key-id', id: key.id, secret: key.secret });
    const body = JSON.stringify({
      account_number: firstAccount + i,
      broker: 'Rubi Broker Ltd',
      server: 'RubiBroker-Bench',
      currency: 'USD',
      leverage: 500,
      balance: 10_000,
      equity: 10_000,
      margin: 0,
      margin_free: 10_000,
      ea_version: '1.0.0',
      terminal_build: 4755,
      symbols: [
        { symbol: 'EURUSD', tick_size: 0.00001, tick_value: 1, contract_size: 100000, volume_min: 0.01, volume_max: 100, volume_step: 0.01, digits: 5 },
      ],
    });
    const session = await call<{ session_id: string }>(
      fetch(urlOf('/connect'), { method: 'POST', headers: { ...signer.sign(body), 'content-type': 'application/json' }, body }),
      'POST /connect',
      200,
    );
    terminals.push({ keyId: key.id, signer, sessionId: session.session_id });
  }
  return terminals;
}

/**
 * `count` trading accounts of one user taken through provisioning: registered on the dashboard,
 * proven theirs, claimed by a VPS host (inserted as the operator would), launch package fetched, EA registered.
 * Returns the accounts and a cleanup for the host row.
 */
export async function provisionAccounts(
  stack: E2eStack,
  userToken: string,
  count: number,
): Promise<{ accounts: ProvisionedAccount[]; removeHost: () => Promise<void> }> {
  const hostKey = `vps_bench_${randomUUID()}`;
  const hostKeyHash = await sha256Hex(hostKey);
  await stack.db.query(asOwner(), 'insert into private.vps_hosts (name, key_hash, capacity) values ($1, $2, $3)', [
    `bench-${randomUUID()}`,
    hostKeyHash,
    count,
  ]);
  const removeHost = async (): Promise<void> => {
    await stack.db.query(asOwner(), 'delete from private.vps_hosts where key_hash = $1', [hostKeyHash]);
  };
  const user = (path: string, method: string, body?: unknown) =>
    fetch(stack.deno.url(path), {
      method,
      headers: { authorization: `Bearer ${userToken}`, 'content-type': 'application/json' },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
  const host = (path: string, body?: unknown) =>
    fetch(stack.deno.url(path), {
      method: 'POST',
      headers: { 'x-vps-api-key': hostKey, 'content-type': 'application/json' },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });

  const { brokers } = await call<{ brokers: { id: string; name: string }[] }>(user('/accounts/brokers', 'GET'), 'GET /accounts/brokers', 200);
  const broker = brokers.find((b) => b.name === 'IC Markets') ?? brokers[0];
  if (!broker) throw new Error('no broker seeded');

  const registered: { id: string; externalId: string; login: number }[] = [];
  const firstLogin = 40_000_000 + Math.floor(Math.random() * 1_000_000);
  for (let i = 0; i < count; i += 1) {
    const login = firstLogin + i;
    const account = await call<{ id: string; external_account_id: string }>(
      user('/accounts/trading-accounts', 'POST', {
        broker_id: broker.id,
        platform: 'MT5',
        login,
        server: 'ICMarketsSC-Live07',
        investor_password: `Bench-Investor-${i}`,
      }),
      'POST /accounts/trading-accounts',
      201,
    );
    registered.push({ id: account.id, externalId: account.external_account_id, login });
  }
  // Each trader proved the account theirs (ownership codes, 16_account_identity.sql): the measured
  // ingest accrues, as it does for every account that earns.
  await stack.db.query(asOwner(), 'update public.trading_accounts set verified_at = now() where id = any($1::uuid[])', [
    registered.map((a) => a.id),
  ]);

  // The host is this user's alone: it must not claim another phase's accounts that went back to
  // the queue (the minute's lease sweep requeues the accounts of a host removed earlier in the run).
  await stack.db.query(
    asOwner(),
    'update private.vps_hosts h set dedicated_user_id = a.user_id from public.trading_accounts a where h.key_hash = $1 and a.id = $2',
    [hostKeyHash, registered[0]?.id],
  );
  const claimed = new Set<string>();
  while (claimed.size < registered.length) {
    const { accounts } = await call<{ accounts: { account_id: string }[] }>(
      host('/vps/claim', { max: Math.min(50, registered.length - claimed.size) }),
      'POST /vps/claim',
      200,
    );
    if (accounts.length === 0) throw new Error(`POST /vps/claim: only ${claimed.size} of ${registered.length} accounts claimed`);
    for (const a of accounts) claimed.add(a.account_id);
  }

  const accounts: ProvisionedAccount[] = [];
  for (const account of registered) {
    const pkg = await call<{ provisioning_token: string }>(
      host(`/vps/accounts/${account.id}/launch-package`),
      'POST /vps/accounts/{id}/launch-package',
      200,
    );
    const { api_secret } = await call<{ api_secret: string }>(
      fetch(stack.deno.url('/register'), {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({
          external_account_id: account.externalId,
          login: account.login,
          server: 'ICMarketsSC-Live07',
          platform: 'MT5',
          terminal_build: 4755,
          provisioning_token: pkg.provisioning_token,
        }),
      }),
      'POST /register',
      200,
    );
    accounts.push({
      accountId: account.id,
      externalId: account.externalId,
      signer: new SignedHttp({ header: 'x-account-id', id: account.externalId, secret: api_secret }),
    });
  }
  return { accounts, removeHost };
}

/** Round-robin over `items`: consecutive requests go to different terminals/accounts. */
export function roundRobin<T>(items: readonly T[]): () => T {
  if (items.length === 0) throw new Error('roundRobin: no items');
  let next = 0;
  return () => {
    const item = items[next % items.length] as T;
    next += 1;
    return item;
  };
}
