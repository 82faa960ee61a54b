import { asOwner } from '@rubi/db';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { countRows, createEdgeHarness, userRequest, type EdgeHarness, type TestUser } from '../../tests/support/edge-harness.ts';
import { createAccountsApp } from './app.ts';

let h: EdgeHarness;
let app: ReturnType<typeof createAccountsApp>;
let alice: TestUser;
let bob: TestUser;
let brokerId: string;
let mt4OnlyBrokerId: string;

interface AccountBody {
  id: string;
  external_account_id: string;
  status: string;
  paused: boolean;
  attempts: number;
  server: string;
  ownership: { verified_at: string | null; code: string | null; instruction: string | null };
  figures: { trades: number; lots: number; cashback_accrued: number; cashback_settled: number };
}

const PASSWORD = 'investor-Pa55-SENTINEL';
const register = (user: TestUser, login: number, extra: Record<string, unknown> = {}) =>
  userRequest(app, 'POST', '/accounts/trading-accounts', user.token, {
    broker_id: brokerId,
    platform: 'MT5',
    login,
    server: 'ICMarketsSC-Live07',
    investor_password: PASSWORD,
    ...extra,
  });

beforeAll(async () => {
  h = await createEdgeHarness();
  app = createAccountsApp(h.deps);
  alice = await h.createUser('alice@example.com');
  bob = await h.createUser('bob@example.com');
  const [broker] = await h.db.query<{ id: string }>(asOwner(), `select id from public.brokers where name = 'IC Markets'`);
  brokerId = broker?.id ?? '';
  const [mt4] = await h.db.query<{ id: string }>(
    asOwner(),
    `insert into public.brokers (name, platforms, rebate_per_lot) values ('Only Four', array['MT4'], 1) returning id`,
  );
  mt4OnlyBrokerId = mt4?.id ?? '';
});
afterAll(() => h.close());

describe('trading accounts', () => {
  it('registers an account with its password encrypted and bound to the account, and returns no secret', async () => {
    const res = await register(alice, 51234567);
    expect(res.status).toBe(201);
    const text = await res.text();
    expect(text).not.toContain(PASSWORD);
    const account = JSON.parse(text) as AccountBody;
    expect(account).toMatchObject({ status: 'pending_vps_setup', paused: false, figures: { trades: 0, cashback_accrued: 0 } });
    const [secret] = await h.db.query<{ investor_password_ciphertext: string; encryption_key_id: string }>(
      asOwner(),
      'select investor_password_ciphertext, encryption_key_id from private.account_secrets where account_id = $1',
      [account.id],
    );
    expect(secret?.investor_password_ciphertext).not.toContain(PASSWORD);
    expect(await h.deps.secretBox.open(secret?.investor_password_ciphertext ?? '', secret?.encryption_key_id ?? '', account.id)).toBe(PASSWORD);
    await expect(h.deps.secretBox.open(secret?.investor_password_ciphertext ?? '', secret?.encryption_key_id ?? '', crypto.randomUUID())).rejects.toThrow();
    // The doorbell rang, with no data in it.
    const [ring] = await h.db.query<{ payload: unknown }>(asOwner(), `select payload from realtime.messages where topic = 'vps:doorbell' order by inserted_at desc limit 1`);
    expect(ring?.payload).toEqual({});
  });

  it('refuses a login the user already registered on that server, whatever its case and spacing (409)', async () => {
    expect((await register(alice, 60000001, { server: 'Probe-Live01' })).status).toBe(201);
    for (const server of ['Probe-Live01', 'probe-live01', ' PROBE-LIVE01 ', 'probe-live01\t']) {
      const res = await register(alice, 60000001, { server });
      expect(res.status, server).toBe(409);
      expect(((await res.json()) as { error: { message: string } }).error.message).toMatch(/you already registered login 60000001/);
    }
    expect(await countRows(h, 'public.trading_accounts', 'login = 60000001')).toBe(1);
    expect((await register(alice, 60000001, { server: 'Probe-Live02' })).status).toBe(201);
  });

  it("answers a registration the same whatever other users registered: 201, unverified, with the user's own ownership code", async () => {
    const first = await register(alice, 60000002, { server: 'Probe-Live01' });
    // Bob registers the same real account (another spelling): nothing tells him Alice did.
    const second = await register(bob, 60000002, { server: ' probe-live01 ' });
    const fresh = await register(bob, 60000003, { server: 'Probe-Live01' });
    expect([first.status, second.status, fresh.status]).toEqual([201, 201, 201]);
    const [a, b, c] = (await Promise.all([first.json(), second.json(), fresh.json()])) as AccountBody[];
    const shape = (x: unknown): unknown =>
      x !== null && typeof x === 'object' ? Object.fromEntries(Object.entries(x).map(([k, v]) => [k, shape(v)])) : typeof x;
    expect(shape(b)).toEqual(shape(c));
    expect(shape(a)).toEqual(shape(c));
    expect(b?.server).toBe('probe-live01');
    for (const account of [a, b, c]) {
      expect(account?.status).toBe('pending_vps_setup');
      expect(account?.ownership.verified_at).toBeNull();
      expect(account?.ownership.code).toMatch(/^RUBI-[0-9A-HJKMNP-TV-Z]{8}$/);
      expect(account?.ownership.instruction).toContain(account?.ownership.code ?? 'none');
    }
    expect(a?.ownership.code).not.toBe(b?.ownership.code);
    // Only its owner reads the code.
    const asBob = await userRequest(app, 'GET', `/accounts/trading-accounts/${a?.id ?? ''}`, bob.token);
    expect(asBob.status).toBe(404);

    // Once verified, the account shows when, and no code any more.
    await h.db.query(asOwner(), 'update public.trading_accounts set verified_at = now() where id = $1', [a?.id]);
    const read = (await (await userRequest(app, 'GET', `/accounts/trading-accounts/${a?.id ?? ''}`, alice.token)).json()) as AccountBody;
    expect(read.ownership).toEqual({ verified_at: expect.any(String), code: null, instruction: null });
    const listed = (await (await userRequest(app, 'GET', '/accounts/trading-accounts', bob.token)).json()) as { accounts: AccountBody[] };
    expect(listed.accounts.find((x) => x.id === b?.id)?.ownership.code).toBe(b?.ownership.code);
  });

  it('rejects bad input naming the fields and writes nothing', async () => {
    const before = await countRows(h, 'public.trading_accounts');
    const res = await userRequest(app, 'POST', '/accounts/trading-accounts', alice.token, {
      broker_id: 'x',
      platform: 'MT6',
      login: -1,
      server: '',
      investor_password: '',
    });
    expect(res.status).toBe(400);
    const paths = ((await res.json()) as { error: { details: { path: string }[] } }).error.details.map((d) => d.path);
    expect(paths).toEqual(expect.arrayContaining(['body.broker_id', 'body.platform', 'body.login', 'body.server', 'body.investor_password']));
    const wrongPlatform = await register(alice, 70000001, { broker_id: mt4OnlyBrokerId });
    expect(wrongPlatform.status).toBe(400);
    expect(((await wrongPlatform.json()) as { error: { details: { path: string }[] } }).error.details[0]?.path).toBe('body.broker_id');
    expect(await countRows(h, 'public.trading_accounts')).toBe(before);
    expect(await countRows(h, 'private.account_secrets')).toBe(before);
  });

  it('lists accounts with their figures: trades, lots, cashback accrued and settled', async () => {
    const account = (await (await register(alice, 80000001)).json()) as AccountBody;
    // Fixture trades, written as the owner with the accrual private.ingest_trades gives (the broker's terms).
    await h.db.query(
      asOwner(),
      `insert into public.closed_trades (account_id, user_id, ticket, symbol, type, lots, open_time, close_time, open_price, close_price,
                                         cashback_rate, cashback_amount, currency)
       select $1, $2, t.ticket, 'EURUSD', t.type, t.lots, t.open_time, t.close_time, 1.1, t.close_price,
              b.rebate_per_lot, round(t.lots * b.rebate_per_lot, 4), b.currency
       from public.trading_accounts a join public.brokers b on b.id = a.broker_id,
            (values (1, 'BUY', 2, now() - interval '3 days', now() - interval '2 days', 1.2),
                    (2, 'SELL', 0.5, now() - interval '1 hour', now(), 1.0)) as t (ticket, type, lots, open_time, close_time, close_price)
       where a.id = $1`,
      [account.id, alice.id],
    );
    await h.db.query(asOwner(), `select private.settle_cashback((now() at time zone 'utc')::date - 1)`);
    const list = (await (await userRequest(app, 'GET', '/accounts/trading-accounts', alice.token)).json()) as { accounts: AccountBody[] };
    const listed = list.accounts.find((a) => a.id === account.id);
    // IC Markets rebates 3.50 per lot: 2.5 lots accrue 8.75, of which the 2 lots closed before today are settled (7.00).
    expect(listed?.figures).toEqual({ trades: 2, lots: 2.5, cashback_accrued: 8.75, cashback_settled: 7, currency: 'USD' });
    const bobs = (await (await userRequest(app, 'GET', '/accounts/trading-accounts', bob.token)).json()) as { accounts: AccountBody[] };
    expect(bobs.accounts.map((a) => a.id)).not.toContain(account.id);
  });

  it('serves the cashback ledger of an account, newest day first, to its owner only', async () => {
    const account = (await (await register(alice, 80000002)).json()) as AccountBody;
    await h.db.query(
      asOwner(),
      `insert into public.closed_trades (account_id, user_id, ticket, symbol, type, lots, open_time, close_time, open_price, close_price,
                                         cashback_rate, cashback_amount, currency)
       select $1, $2, t.ticket, 'EURUSD', 'BUY', t.lots, t.open_time, t.close_time, 1.1, 1.2,
              b.rebate_per_lot, round(t.lots * b.rebate_per_lot, 4), b.currency
       from public.trading_accounts a join public.brokers b on b.id = a.broker_id,
            (values (1, 1, now() - interval '4 days', now() - interval '3 days'),
                    (2, 2, now() - interval '2 days', now() - interval '1 day 1 hour')) as t (ticket, lots, open_time, close_time)
       where a.id = $1`,
      [account.id, alice.id],
    );
    const today = `(now() at time zone 'utc')::date`;
    await h.db.query(asOwner(), `select private.settle_cashback(${today} - 2)`);
    await h.db.query(asOwner(), `select private.settle_cashback(${today} - 1)`);
    const [days] = await h.db.query<{ d2: string; d1: string }>(asOwner(), `select to_char(${today} - 2, 'YYYY-MM-DD') as d2, to_char(${today} - 1, 'YYYY-MM-DD') as d1`);
    const path = `/accounts/trading-accounts/${account.id}/ledger`;
    const res = await userRequest(app, 'GET', path, alice.token);
    expect(res.status).toBe(200);
    const ledger = (await res.json()) as { account_id: string; entries: { settlement_day: string; trades: number; lots: number; amount: number; currency: string }[] };
    expect(ledger.account_id).toBe(account.id);
    expect(ledger.entries.map(({ settlement_day, trades, lots, amount, currency }) => ({ settlement_day, trades, lots, amount, currency }))).toEqual([
      { settlement_day: days?.d1, trades: 1, lots: 2, amount: 7, currency: 'USD' },
      { settlement_day: days?.d2, trades: 1, lots: 1, amount: 3.5, currency: 'USD' },
    ]);
    expect((ledger as unknown as { next_cursor: string | null }).next_cursor).toBeNull();
    const page1 = (await (await userRequest(app, 'GET', `${path}?limit=1`, alice.token)).json()) as typeof ledger & { next_cursor: string };
    expect(page1.entries.map((e) => e.settlement_day)).toEqual([days?.d1]);
    const page2 = (await (await userRequest(app, 'GET', `${path}?limit=1&cursor=${page1.next_cursor}`, alice.token)).json()) as typeof ledger & {
      next_cursor: string | null;
    };
    expect(page2.entries.map((e) => e.settlement_day)).toEqual([days?.d2]);
    expect(page2.next_cursor).toBeNull();

    expect((await userRequest(app, 'GET', path, bob.token)).status).toBe(404);
    expect((await userRequest(app, 'GET', path, null)).status).toBe(401);
    const bad = await userRequest(app, 'GET', `${path}?limit=0`, alice.token);
    expect(bad.status).toBe(400);
    expect(((await bad.json()) as { error: { details: { path: string }[] } }).error.details.map((d) => d.path)).toEqual(['query.limit']);
    const forged = await userRequest(app, 'GET', `${path}?cursor=not-a-cursor`, alice.token);
    expect(forged.status).toBe(400);
    expect(((await forged.json()) as { error: { details: { path: string }[] } }).error.details.map((d) => d.path)).toEqual(['query.cursor']);
  });

  it('pauses, resumes, retries and deletes, following the state machine', async () => {
    const account = (await (await register(alice, 90000001)).json()) as AccountBody;
    const path = `/accounts/trading-accounts/${account.id}`;
    const paused = (await (await userRequest(app, 'POST', `${path}/pause`, alice.token)).json()) as AccountBody;
    expect(paused).toMatchObject({ status: 'disconnected', paused: true });
    const resumed = (await (await userRequest(app, 'POST', `${path}/resume`, alice.token)).json()) as AccountBody;
    expect(resumed).toMatchObject({ status: 'pending_vps_setup', paused: false });
    const notInError = await userRequest(app, 'POST', `${path}/retry`, alice.token);
    expect(notInError.status).toBe(409);
    await h.db.query(asOwner(), `update public.trading_accounts set status = 'provisioning' where id = $1`, [account.id]);
    await h.db.query(asOwner(), `update public.trading_accounts set status = 'error', error_code = 'E_AUTH', error_message = 'bad password' where id = $1`, [
      account.id,
    ]);
    const retried = (await (await userRequest(app, 'POST', `${path}/retry`, alice.token)).json()) as AccountBody;
    expect(retried).toMatchObject({ status: 'pending_vps_setup', attempts: 0 });
    expect((await userRequest(app, 'POST', `${path}/explode`, alice.token)).status).toBe(400);
    const deleted = await userRequest(app, 'DELETE', path, alice.token);
    expect(await deleted.json()).toEqual({ id: account.id, deleted: true, teardown_pending: false });
    expect(await countRows(h, 'public.trading_accounts', 'id = $1', [account.id])).toBe(0);
    expect((await userRequest(app, 'GET', path, alice.token)).status).toBe(404);
  });

  it("cannot read, change or delete another user's account", async () => {
    const account = (await (await register(alice, 91000001)).json()) as AccountBody;
    const path = `/accounts/trading-accounts/${account.id}`;
    expect((await userRequest(app, 'GET', path, bob.token)).status).toBe(404);
    expect((await userRequest(app, 'POST', `${path}/pause`, bob.token)).status).toBe(404);
    expect((await userRequest(app, 'DELETE', path, bob.token)).status).toBe(404);
    expect(await countRows(h, 'public.trading_accounts', 'id = $1 and paused_at is null and deleted_at is null', [account.id])).toBe(1);
  });

  it('requires a user token on every route', async () => {
    for (const [method, path] of [
      ['GET', '/accounts/trading-accounts'],
      ['POST', '/accounts/trading-accounts'],
      ['GET', '/accounts/brokers'],
    ] as const) {
      expect((await userRequest(app, method, path, null, method === 'POST' ? {} : undefined)).status).toBe(401);
    }
    const expired = await h.tokenFor(alice.id, { expiresInSeconds: -300 });
    expect((await userRequest(app, 'GET', '/accounts/trading-accounts', expired)).status).toBe(401);
  });

  it('lists active brokers with their rebate', async () => {
    await h.db.query(asOwner(), `insert into public.brokers (name, platforms, rebate_per_lot, active) values ('Gone Broker', array['MT5'], 9, false)`);
    const { brokers } = (await (await userRequest(app, 'GET', '/accounts/brokers', alice.token)).json()) as { brokers: { name: string; rebate_per_lot: number }[] };
    expect(brokers.find((b) => b.name === 'IC Markets')?.rebate_per_lot).toBe(3.5);
    expect(brokers.map((b) => b.name)).not.toContain('Gone Broker');
  });

  it('never logs or returns the investor password', () => {
    expect(h.logs.join('\n')).not.toContain(PASSWORD);
  });
});
