import { randomUUID } from 'node:crypto';
import { sha256Hex } from '@rubi/crypto';
import { asOwner } from '@rubi/db';
import { SignedHttp } from '@rubi/ea-sim';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { E2eUser } from './support/auth.ts';
import { startE2eStack, type E2eStack } from './support/e2e-stack.ts';

// The cashback flow over HTTP against the real functions under Deno and PostgreSQL 15: a user
// registers an account, a scripted VPS host claims it and fetches its launch package, the EA
// registers with the one-time token and reports trades (signed with the reference Standard
// Webhooks library), settlement runs twice, and the user reads the figures.

const PASSWORD = 'Investor-E2E-Sentinel-42';
const HOST_KEY = `vps_e2e_${randomUUID()}`;
let stack: E2eStack;
let user: E2eUser;
let accountId = '';
let externalId = '';
let token = '';
let apiSecret = '';
let ownershipCode = '';

async function json<T>(res: Response): Promise<{ status: number; body: T }> {
  return { status: res.status, body: (await res.json()) as T };
}
const userCall = <T>(path: string, method: string, body?: unknown) =>
  fetch(stack.deno.url(path), {
    method,
    headers: { authorization: `Bearer ${user.token}`, 'content-type': 'application/json' },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  }).then((r) => json<T>(r));
const hostCall = <T>(path: string, method: string, body?: unknown) =>
  fetch(stack.deno.url(path), {
    method,
    headers: { 'x-vps-api-key': HOST_KEY, 'content-type': 'application/json' },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  }).then((r) => json<T>(r));

function signedTrades(trades: unknown[], opts: { id?: string; timestamp?: number; sendBody?: string; secret?: string; ownershipCodes?: string[] } = {}) {
  const body = JSON.stringify(opts.ownershipCodes ? { trades, ownership_codes: opts.ownershipCodes } : { trades });
  const id = opts.id ?? `msg_${randomUUID()}`;
  const timestamp = opts.timestamp ?? Math.floor(Date.now() / 1000);
  const signed = new SignedHttp({ header: 'x-account-id', id: externalId, secret: opts.secret ?? apiSecret }).sign(body, id, timestamp);
  return fetch(stack.deno.url('/trades'), {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...signed },
    body: opts.sendBody ?? body,
  }).then((r) => json<{ accepted: number[]; duplicates: number[]; cashback_accrued: number; ownership: string }>(r));
}

const trade = (ticket: number, lots: number) => ({
  ticket,
  symbol: 'EURUSD',
  type: 'BUY',
  lots,
  open_time: new Date(Date.now() - 3 * 3600_000).toISOString(),
  close_time: new Date(Date.now() - 2 * 3600_000).toISOString(),
  open_price: 1.1,
  close_price: 1.105,
  commission: -7,
  swap: 0,
  profit: 50,
});

beforeAll(async () => {
  stack = await startE2eStack(['accounts', 'vps', 'register', 'trades']);
  user = await stack.auth.createUser(stack.db, `cashback-${randomUUID()}@example.com`);
  await stack.db.query(asOwner(), `insert into private.vps_hosts (name, key_hash, capacity) values ($1, $2, 5)`, [
    `e2e-${randomUUID()}`,
    await sha256Hex(HOST_KEY),
  ]);
}, 120_000);
afterAll(async () => {
  await stack?.db.query(asOwner(), 'delete from auth.users where id = $1', [user.id]).catch(() => undefined);
  await stack?.db.query(asOwner(), `delete from private.vps_hosts where key_hash = $1`, [await sha256Hex(HOST_KEY)]).catch(() => undefined);
  await stack?.close();
});

describe('the cashback flow over HTTP', () => {
  it('a user registers a trading account', async () => {
    const brokers = await userCall<{ brokers: { id: string; name: string }[] }>('/accounts/brokers', 'GET');
    const broker = brokers.body.brokers.find((b) => b.name === 'IC Markets');
    const res = await userCall<{ id: string; external_account_id: string; status: string; ownership: { code: string | null } }>('/accounts/trading-accounts', 'POST', {
      broker_id: broker?.id,
      platform: 'MT5',
      login: 40000000 + Math.floor(Math.random() * 1_000_000),
      server: 'ICMarketsSC-Live07',
      investor_password: PASSWORD,
    });
    expect(res.status).toBe(201);
    expect(res.body.status).toBe('pending_vps_setup');
    expect(res.body.ownership.code).toMatch(/^RUBI-[0-9A-HJKMNP-TV-Z]{8}$/);
    ownershipCode = res.body.ownership.code ?? '';
    accountId = res.body.id;
    externalId = res.body.external_account_id;
  });

  it('a VPS host claims it and fetches its launch package', async () => {
    const claim = await hostCall<{ accounts: { account_id: string }[] }>('/vps/claim', 'POST', { max: 5 });
    expect(claim.status).toBe(200);
    expect(claim.body.accounts.map((a) => a.account_id)).toContain(accountId);
    const pkg = await hostCall<{ investor_password: string; provisioning_token: string; register_url: string }>(
      `/vps/accounts/${accountId}/launch-package`,
      'POST',
    );
    expect(pkg.status).toBe(200);
    expect(pkg.body.investor_password).toBe(PASSWORD);
    expect(pkg.body.register_url).toBe(`${stack.supabaseUrl}/functions/v1/register`);
    token = pkg.body.provisioning_token;
  });

  it('the EA registers with the one-time token, which is then spent', async () => {
    const [account] = await stack.db.query<{ login: number; server: string }>(asOwner(), 'select login, server from public.trading_accounts where id = $1', [accountId]);
    const body = { external_account_id: externalId, login: Number(account?.login), server: account?.server, platform: 'MT5', terminal_build: 4755, provisioning_token: token };
    const res = await fetch(stack.deno.url('/register'), { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) }).then((r) =>
      json<{ api_secret: string; status: string }>(r),
    );
    expect(res.status).toBe(200);
    expect(res.body.api_secret).toMatch(/^whsec_/);
    expect(res.body.status).toBe('connected');
    apiSecret = res.body.api_secret;
    const again = await fetch(stack.deno.url('/register'), { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
    expect(again.status).toBe(401);
  });

  it('the user proves the account is theirs: the EA reports the code it found in a pending order', async () => {
    const before = await signedTrades([]);
    expect(before.body.ownership).toBe('unverified');
    const proven = await signedTrades([], { ownershipCodes: [ownershipCode] });
    expect(proven.status).toBe(200);
    expect(proven.body.ownership).toBe('verified');
  });

  it('the EA reports trades once: a resend is all duplicates and accrues nothing more', async () => {
    const batch = [trade(9001, 1.5), trade(9002, 0.5)];
    const first = await signedTrades(batch);
    expect(first.status).toBe(200);
    expect(first.body.accepted).toEqual([9001, 9002]);
    expect(first.body.cashback_accrued).toBe(7); // 2 lots x 3.50
    const resend = await signedTrades(batch);
    expect(resend.body).toMatchObject({ accepted: [], duplicates: [9001, 9002], cashback_accrued: 0 });
    const [sum] = await stack.db.query<{ amount: string }>(asOwner(), 'select sum(cashback_amount) as amount from public.closed_trades where account_id = $1', [accountId]);
    expect(Number(sum?.amount)).toBe(7);
  });

  it('a tampered body, a replayed id and a stale timestamp are 401 and write nothing', async () => {
    const count = async () =>
      (await stack.db.query<{ n: number }>(asOwner(), 'select count(*)::int as n from public.closed_trades where account_id = $1', [accountId]))[0]?.n;
    const before = await count();
    expect((await signedTrades([trade(9100, 1)], { sendBody: JSON.stringify({ trades: [trade(9100, 100)] }) })).status).toBe(401);
    const ok = await signedTrades([trade(9101, 1)], { id: 'msg_e2e_replay' });
    expect(ok.status).toBe(200);
    expect((await signedTrades([trade(9102, 1)], { id: 'msg_e2e_replay' })).status).toBe(401);
    expect((await signedTrades([trade(9103, 1)], { timestamp: Math.floor(Date.now() / 1000) - 400 })).status).toBe(401);
    expect(await count()).toBe((before ?? 0) + 1);
  });

  it('settlement runs twice, idempotently, and the user reads the figures', async () => {
    const [first] = await stack.db.query<{ n: number }>(asOwner(), `select private.settle_cashback((now() at time zone 'utc')::date) as n`);
    const [second] = await stack.db.query<{ n: number }>(asOwner(), `select private.settle_cashback((now() at time zone 'utc')::date) as n`);
    expect(first?.n).toBeGreaterThanOrEqual(3); // settlement covers every account in the database
    expect(second?.n).toBe(0);
    const account = await userCall<{ status: string; figures: Record<string, number | string> }>(`/accounts/trading-accounts/${accountId}`, 'GET');
    expect(account.body.status).toBe('connected');
    expect(account.body.figures).toEqual({ trades: 3, lots: 3, cashback_accrued: 10.5, cashback_settled: 10.5, currency: 'USD' });
    const trades = await userCall<{ trades: { ticket: number }[] }>(`/trades?account_id=${accountId}`, 'GET');
    expect(trades.body.trades.map((t) => t.ticket).sort()).toEqual([9001, 9002, 9101]);
  });

  it('no password, token or api secret appears in any function output', () => {
    expect(token).not.toBe('');
    for (const { fn, line } of stack.deno.logs) {
      for (const secret of [PASSWORD, token, apiSecret, apiSecret.slice('whsec_'.length), HOST_KEY]) {
        expect(line.includes(secret), `${fn}: ${line.slice(0, 160)}`).toBe(false);
      }
    }
  });
});
