import { asOwner, asUser } from '@rubi/db';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { countRows, createEdgeHarness, signHeaders, userRequest, type EdgeHarness, type TestUser } from '../../tests/support/edge-harness.ts';
import {
  accountEaRequest,
  closedTrade,
  markVerified,
  ownershipCode,
  provisionAccount,
  rebatePerLot,
  registerEa,
  type AccountEaCredential,
  type ProvisionedAccount,
} from '../../tests/support/provisioning.ts';
import { accountAction, accountRow } from '../../tests/support/vps-fixtures.ts';
import { createTradesApp } from './app.ts';

let h: EdgeHarness;
let app: ReturnType<typeof createTradesApp>;
let alice: TestUser;
let bob: TestUser;
let aliceAccount: ProvisionedAccount;
let aliceEa: AccountEaCredential;
let bobAccount: ProvisionedAccount;
let bobEa: AccountEaCredential;
/** Every secret the tests handled: none may leak. */
const secrets: string[] = [];
/** Every error body the app answered. */
const errorBodies: string[] = [];

interface ReportBody {
  accepted: number[];
  duplicates: number[];
  cashback_accrued: number;
  ownership: 'verified' | 'unverified' | 'owned_elsewhere';
  server_time: string;
}
interface TradeBody {
  account_id: string;
  ticket: number;
  symbol: string;
  type: string;
  lots: number;
  open_time: string;
  close_time: string;
  open_price: number;
  close_price: number;
  commission: number;
  swap: number;
  profit: number;
  magic: number | null;
  comment: string | null;
  cashback_rate: number;
  cashback_amount: number;
  cashback_withheld: string | null;
  currency: string;
  settled_on: string | null;
  created_at: string;
}
interface ListBody {
  trades: TradeBody[];
  next_cursor: string | null;
}
interface ErrorBody {
  error: { code: string; message: string; details?: { path: string; message: string }[] };
}

/** A provisioned account with its EA registered; verified unless `opts.verified` is false. */
async function setUp(
  user: TestUser,
  opts: { verified?: boolean; login?: number; server?: string } = {},
): Promise<{ account: ProvisionedAccount; ea: AccountEaCredential }> {
  const account = await provisionAccount(h, user, { login: opts.login, server: opts.server });
  const ea = await registerEa(h, account);
  if (opts.verified !== false) await markVerified(h, account.id);
  secrets.push(account.password, account.token, ea.secret);
  return { account, ea };
}

/** Reads a response as JSON, keeping error bodies for the leak check. */
async function read<T>(res: Response): Promise<{ status: number; body: T }> {
  const text = await res.text();
  if (res.status >= 400) errorBodies.push(text);
  return { status: res.status, body: JSON.parse(text) as T };
}

const report = async (ea: AccountEaCredential, trades: unknown[], opts: Parameters<typeof accountEaRequest>[6] = {}) =>
  read<ReportBody>(await accountEaRequest(h, app, 'POST', '/trades', ea, { trades }, opts));

const reportWith = async (ea: AccountEaCredential, trades: unknown[], ownershipCodes: string[]) =>
  read<ReportBody>(await accountEaRequest(h, app, 'POST', '/trades', ea, { trades, ownership_codes: ownershipCodes }));

const list = async (user: TestUser, query = '') => read<ListBody>(await userRequest(app, 'GET', `/trades${query}`, user.token));

const cashbackSum = async (accountId: string): Promise<number> => {
  const [row] = await h.db.query<{ total: string }>(
    asOwner(),
    'select coalesce(sum(cashback_amount), 0)::text as total from public.closed_trades where account_id = $1',
    [accountId],
  );
  return Number(row?.total);
};

beforeAll(async () => {
  h = await createEdgeHarness();
  app = createTradesApp(h.deps);
  alice = await h.createUser('trades-alice@example.com');
  bob = await h.createUser('trades-bob@example.com');
  ({ account: aliceAccount, ea: aliceEa } = await setUp(alice));
  ({ account: bobAccount, ea: bobEa } = await setUp(bob));
});
afterAll(() => h.close());

describe('POST /trades', () => {
  it('stores a batch with the cashback of the broker rebate per lot', async () => {
    const rate = await rebatePerLot(h, aliceAccount.id);
    expect(rate).toBeGreaterThan(0);
    const batch = [closedTrade(101, { lots: 0.5 }), closedTrade(102, { lots: 1.25, type: 'SELL', symbol: 'XAUUSD', magic: null, comment: null }), closedTrade(103, { lots: 2 })];
    const { status, body } = await report(aliceEa, batch);
    expect(status).toBe(200);
    expect(body.accepted).toEqual([101, 102, 103]);
    expect(body.duplicates).toEqual([]);
    expect(body.cashback_accrued).toBeCloseTo(3.75 * rate, 6);
    expect(body.server_time).toBe(h.clock.now.toISOString());

    const rows = await h.db.query<{ ticket: number; user_id: string; cashback_amount: string; cashback_rate: string; lots: string; magic: number | null }>(
      asOwner(),
      'select ticket, user_id, cashback_amount, cashback_rate, lots, magic from public.closed_trades where account_id = $1 order by ticket',
      [aliceAccount.id],
    );
    expect(rows.map((r) => [r.ticket, r.user_id, Number(r.lots), Number(r.cashback_rate), Number(r.cashback_amount), r.magic])).toEqual([
      [101, alice.id, 0.5, rate, 0.5 * rate, 20261121],
      [102, alice.id, 1.25, rate, 1.25 * rate, null],
      [103, alice.id, 2, rate, 2 * rate, 20261121],
    ]);
  });

  it('accepts the symbols brokers really use (suffixes, spaces, slashes), refusing only control characters', async () => {
    const names = ['EURUSD!', 'US30 Cash', 'BTC/USD', 'GER40.cash', 'XAUUSD+', '#AAPL', 'EURUSD.m'];
    const { status, body } = await report(aliceEa, names.map((symbol, i) => closedTrade(601 + i, { symbol })));
    expect(status).toBe(200);
    expect(body.accepted).toEqual(names.map((_, i) => 601 + i));
    const rows = await h.db.query<{ symbol: string }>(asOwner(), 'select symbol from public.closed_trades where account_id = $1 and ticket between 601 and 607 order by ticket', [
      aliceAccount.id,
    ]);
    expect(rows.map((r) => r.symbol)).toEqual(names);
    const control = await report(aliceEa, [closedTrade(620, { symbol: 'EUR\tUSD' })]);
    expect(control.status).toBe(400);
    expect((control.body as unknown as ErrorBody).error.details?.map((d) => d.path)).toEqual(['body.trades.0.symbol']);
  });

  it('lists a resent batch as duplicates without accruing cashback twice', async () => {
    const batch = [closedTrade(201, { lots: 1 }), closedTrade(202, { lots: 0.1 })];
    const first = await report(aliceEa, batch);
    expect(first.body.accepted).toEqual([201, 202]);
    const rowsBefore = await countRows(h, 'public.closed_trades', 'account_id = $1', [aliceAccount.id]);
    const cashbackBefore = await cashbackSum(aliceAccount.id);

    // The EA lost the response and sends the same batch again (a new request id, as it must).
    const again = await report(aliceEa, batch);
    expect(again.status).toBe(200);
    expect(again.body).toMatchObject({ accepted: [], duplicates: [201, 202], cashback_accrued: 0 });
    expect(await countRows(h, 'public.closed_trades', 'account_id = $1', [aliceAccount.id])).toBe(rowsBefore);
    expect(await cashbackSum(aliceAccount.id)).toBe(cashbackBefore);

    // A mixed batch: only the new ticket is stored; a changed duplicate is not rewritten.
    const mixed = await report(aliceEa, [closedTrade(203, { lots: 0.3 }), closedTrade(201, { lots: 50, profit: 1e6 })]);
    expect(mixed.body.accepted).toEqual([203]);
    expect(mixed.body.duplicates).toEqual([201]);
    const [kept] = await h.db.query<{ lots: string }>(asOwner(), 'select lots from public.closed_trades where account_id = $1 and ticket = 201', [
      aliceAccount.id,
    ]);
    expect(Number(kept?.lots)).toBe(1);
  });

  it('rejects a tampered body, a replayed id, a stale or future timestamp, a wrong secret and missing headers with 401, writing nothing', async () => {
    const before = await countRows(h, 'public.closed_trades');
    const seenBefore = await accountRow(h, aliceAccount.id);
    const batch = [closedTrade(301)];
    const now = Math.floor(h.clock.now.getTime() / 1000);
    const attempts = [
      accountEaRequest(h, app, 'POST', '/trades', aliceEa, { trades: batch }, { rawBody: JSON.stringify({ trades: [closedTrade(301, { lots: 99 })] }) }),
      accountEaRequest(h, app, 'POST', '/trades', aliceEa, { trades: batch }, { timestamp: now - 301 }),
      accountEaRequest(h, app, 'POST', '/trades', aliceEa, { trades: batch }, { timestamp: now + 301 }),
      accountEaRequest(h, app, 'POST', '/trades', { externalId: aliceEa.externalId, secret: bobEa.secret }, { trades: batch }),
      accountEaRequest(h, app, 'POST', '/trades', { externalId: crypto.randomUUID(), secret: aliceEa.secret }, { trades: batch }),
      app.request('/trades', { method: 'POST', headers: { 'content-type': 'application/json', 'x-account-id': aliceEa.externalId }, body: JSON.stringify({ trades: batch }) }),
      app.request('/trades', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ trades: batch }) }),
    ];
    for (const attempt of attempts) expect((await read(await attempt)).status).toBe(401);
    expect(await countRows(h, 'public.closed_trades')).toBe(before);
    expect((await accountRow(h, aliceAccount.id))?.last_seen_at).toEqual(seenBefore?.last_seen_at);

    const ok = await report(aliceEa, batch, { id: 'trades-replay-1' });
    expect(ok.status).toBe(200);
    const replay = await report(aliceEa, [closedTrade(302)], { id: 'trades-replay-1' });
    expect(replay.status).toBe(401);
    expect((replay.body as unknown as ErrorBody).error.message).toMatch(/replay/);
    expect(await countRows(h, 'public.closed_trades', 'account_id = $1 and ticket = 302', [aliceAccount.id])).toBe(0);
  });

  it("keeps each EA to its own account", async () => {
    // Bob's EA, with its own id and secret, reaches only Bob's account.
    const { body } = await report(bobEa, [closedTrade(101, { lots: 1 })]);
    expect(body.accepted).toEqual([101]);
    expect(await countRows(h, 'public.closed_trades', 'account_id = $1 and ticket = 101', [bobAccount.id])).toBe(1);
    const [aliceTrade] = await h.db.query<{ lots: string; user_id: string }>(
      asOwner(),
      'select lots, user_id from public.closed_trades where account_id = $1 and ticket = 101',
      [aliceAccount.id],
    );
    expect(aliceTrade).toEqual({ lots: '0.5', user_id: alice.id });
    // Alice's account id with Bob's secret does not verify.
    expect((await report({ externalId: aliceEa.externalId, secret: bobEa.secret }, [closedTrade(401)])).status).toBe(401);
    // And in the database, Bob's EA principal cannot write Alice's trades or touch her account.
    const bobPrincipal = asUser(bob.id, { ea_account_id: bobAccount.id });
    await expect(
      h.db.query(
        bobPrincipal,
        `insert into public.closed_trades (account_id, user_id, ticket, symbol, type, lots, open_time, close_time, open_price, close_price)
         values ($1, $2, 402, 'EURUSD', 'BUY', 1, now() - interval '1 hour', now(), 1.1, 1.2)`,
        [aliceAccount.id, bob.id],
      ),
    ).rejects.toMatchObject({ code: '42501' });
    // Nor through private.ingest_trades (the only writer of closed trades) naming Alice's account.
    await expect(
      h.db.query(bobPrincipal, 'select * from private.ingest_trades($1, $2, $3::jsonb)', [bob.id, aliceAccount.id, JSON.stringify([closedTrade(403)])]),
    ).rejects.toMatchObject({ code: '42501' });
    await expect(h.db.query(bobPrincipal, 'select private.touch_account($1)', [aliceAccount.id])).rejects.toMatchObject({ code: '42501' });
    expect(await countRows(h, 'public.closed_trades', 'ticket in (401, 402, 403)')).toBe(0);
  });

  it('rejects bad batches with 400 naming the fields, writing nothing', async () => {
    const before = await countRows(h, 'public.closed_trades');
    const tooMany = Array.from({ length: 501 }, (_, i) => closedTrade(10_000 + i, { comment: null, magic: null }));
    const over = await report(aliceEa, tooMany);
    expect(over.status).toBe(400);
    expect((over.body as unknown as ErrorBody).error.details).toEqual([
      { path: 'body.trades', message: 'at most 500 trades per batch: send the rest in the next request' },
    ]);
    // Exactly the limit is fine (and fits the body limit).
    const full = await report(aliceEa, tooMany.slice(0, 500));
    expect(full.status).toBe(200);
    expect(full.body.accepted).toHaveLength(500);
    const afterFull = await countRows(h, 'public.closed_trades');
    expect(afterFull).toBe(before + 500);

    const duplicate = await report(aliceEa, [closedTrade(501), closedTrade(502), closedTrade(501)]);
    expect(duplicate.status).toBe(400);
    expect((duplicate.body as unknown as ErrorBody).error.details).toEqual([{ path: 'body.trades.2.ticket', message: 'duplicate ticket 501 (also at trades.0)' }]);

    const open = new Date(Date.now() - 3600_000).toISOString();
    const bad = await report(aliceEa, [
      closedTrade(503, { open_time: open, close_time: new Date(Date.now() - 7200_000).toISOString() }),
      closedTrade(504, { lots: 0, type: 'HOLD', open_price: -1, ticket: 504 }),
      closedTrade(505, { symbol: '', close_time: 'yesterday', extra: true, comment: 'a\u0000b' }),
    ]);
    expect(bad.status).toBe(400);
    const paths = (bad.body as unknown as ErrorBody).error.details?.map((d) => d.path);
    expect(paths).toEqual(
      expect.arrayContaining([
        'body.trades.0.close_time',
        'body.trades.1.lots',
        'body.trades.1.type',
        'body.trades.1.open_price',
        'body.trades.2.symbol',
        'body.trades.2.close_time',
        'body.trades.2.comment',
        'body.trades.2',
      ]),
    );
    expect((await report(aliceEa, 'nope' as unknown as unknown[])).status).toBe(400);
    // Malformed JSON, correctly signed: a 400, not a 500.
    const text = '{"trades": [';
    const headers = { 'content-type': 'application/json', 'x-account-id': aliceEa.externalId, ...(await signHeaders(aliceEa.secret, text, Math.floor(h.clock.now.getTime() / 1000))) };
    expect((await read(await app.request('/trades', { method: 'POST', headers, body: text }))).status).toBe(400);
    expect(await countRows(h, 'public.closed_trades')).toBe(afterFull);
  });

  it('brings a silent (disconnected) account back to connected, but not a paused one', async () => {
    const { account, ea } = await setUp(alice);
    await h.db.query(
      asOwner(),
      `update public.trading_accounts set last_seen_at = now() - interval '2 hours', connected_at = now() - interval '2 hours' where id = $1`,
      [account.id],
    );
    await h.db.query(asOwner(), 'select private.disconnect_silent_accounts()');
    expect(await accountRow(h, account.id)).toMatchObject({ status: 'disconnected' });

    // An empty batch is enough: the EA is alive.
    const { status, body } = await report(ea, []);
    expect(status).toBe(200);
    expect(body).toMatchObject({ accepted: [], duplicates: [], cashback_accrued: 0 });
    const row = await accountRow(h, account.id);
    expect(row?.status).toBe('connected');
    expect((row?.last_seen_at as Date).getTime()).toBeGreaterThan(Date.now() - 60_000);

    await accountAction(h, alice, account.id, 'pause');
    const paused = await report(ea, [closedTrade(1)]);
    expect(paused.body.accepted).toEqual([1]);
    expect(await accountRow(h, account.id)).toMatchObject({ status: 'disconnected', paused_at: expect.any(Date) });
  });

  it('refuses the EA of a deleted account', async () => {
    const { account, ea } = await setUp(alice);
    await accountAction(h, alice, account.id, 'delete');
    expect((await report(ea, [closedTrade(1)])).status).toBe(401);
  });
});

describe('POST /trades: ownership and the accrual rule', () => {
  let seq = 7_000_000;
  const withheld = async (accountId: string) =>
    h.db.query<{ ticket: number; cashback_amount: string; cashback_withheld: string | null }>(
      asOwner(),
      'select ticket, cashback_amount, cashback_withheld from public.closed_trades where account_id = $1 order by ticket',
      [accountId],
    );
  const notices = async (userId: string, kind: string) =>
    h.db.query<{ title: string; body: string }>(asOwner(), 'select title, body from public.notifications where user_id = $1 and kind = $2', [userId, kind]);

  it('records the trades of an unverified registration with their cashback withheld, and accrues them once when it is proven', async () => {
    const owner = await h.createUser('trades-prover@example.com');
    const { account, ea } = await setUp(owner, { verified: false });
    const code = await ownershipCode(h, account.id);
    expect(code).toMatch(/^RUBI-[0-9A-HJKMNP-TV-Z]{8}$/);
    const rate = await rebatePerLot(h, account.id);

    const before = await report(ea, [closedTrade(1, { lots: 1 }), closedTrade(2, { lots: 2 })]);
    expect(before.status).toBe(200);
    expect(before.body).toMatchObject({ accepted: [1, 2], cashback_accrued: 0, ownership: 'unverified' });
    // A code that is not this registration's proves nothing.
    const wrong = await reportWith(ea, [], ['RUBI-00000000']);
    expect(wrong.body.ownership).toBe('unverified');
    expect((await withheld(account.id)).map((t) => [t.ticket, Number(t.cashback_amount), t.cashback_withheld])).toEqual([
      [1, 0, 'unverified'],
      [2, 0, 'unverified'],
    ]);

    const proven = await read<ReportBody>(
      await accountEaRequest(h, app, 'POST', '/trades', ea, { trades: [closedTrade(3, { lots: 1 })], ownership_codes: ['RUBI-00000000', code] }),
    );
    expect(proven.status).toBe(200);
    // The batch that brings the proof accrues; the withheld trades accrue too (not in this answer).
    expect(proven.body).toMatchObject({ accepted: [3], ownership: 'verified' });
    expect(proven.body.cashback_accrued).toBeCloseTo(rate, 6);
    expect((await withheld(account.id)).map((t) => [t.ticket, Number(t.cashback_amount), t.cashback_withheld])).toEqual([
      [1, rate, null],
      [2, 2 * rate, null],
      [3, rate, null],
    ]);
    expect((await accountRow(h, account.id))?.verified_at).toEqual(expect.any(Date));
    expect(await notices(owner.id, 'account_verified')).toHaveLength(1);

    // Once: the same proof again (a resent request, a restarted EA) changes nothing.
    const again = await read<ReportBody>(await accountEaRequest(h, app, 'POST', '/trades', ea, { trades: [], ownership_codes: [code] }));
    expect(again.body).toMatchObject({ ownership: 'verified', cashback_accrued: 0 });
    expect(await cashbackSum(account.id)).toBeCloseTo(4 * rate, 6);
    expect(await notices(owner.id, 'account_verified')).toHaveLength(1);

    const listed = await list(owner, `?account_id=${account.id}`);
    expect(listed.body.trades.every((t) => t.cashback_withheld === null)).toBe(true);
  });

  it('lets the real owner prove a login a squatter registered first (any case, any spacing): the squatter earns nothing', async () => {
    const squatter = await h.createUser('trades-squatter@example.com');
    const realOwner = await h.createUser('trades-real-owner@example.com');
    const login = ++seq;
    const squat = await setUp(squatter, { verified: false, login, server: 'Probe-Live01' });
    expect((await report(squat.ea, [closedTrade(1)])).body).toMatchObject({ ownership: 'unverified', cashback_accrued: 0 });

    const real = await setUp(realOwner, { verified: false, login, server: '  PROBE-live01 ' });
    expect((await accountRow(h, real.account.id))?.server).toBe('PROBE-live01');
    const code = await ownershipCode(h, real.account.id);
    // The squatter cannot use the real owner's code (it is not theirs), nor their own (they cannot trade).
    expect((await reportWith(squat.ea, [], [code])).body.ownership).toBe('unverified');
    const proven = await read<ReportBody>(await accountEaRequest(h, app, 'POST', '/trades', real.ea, { trades: [closedTrade(1)], ownership_codes: [code] }));
    expect(proven.body.ownership).toBe('verified');
    expect(proven.body.cashback_accrued).toBeGreaterThan(0);

    // The squatter's registration: error E_OWNED_ELSEWHERE, no automatic retry, withheld trades final, owner told.
    expect(await accountRow(h, squat.account.id)).toMatchObject({ status: 'error', error_code: 'E_OWNED_ELSEWHERE', next_retry_at: null, verified_at: null });
    expect((await withheld(squat.account.id)).map((t) => t.cashback_withheld)).toEqual(['owned_elsewhere']);
    expect(await notices(squatter.id, 'account_error')).toEqual([expect.objectContaining({ title: `Account ${login} belongs to someone else` })]);
    // Its EA, still reporting, earns nothing, even with its own code.
    const squatCode = await ownershipCode(h, squat.account.id);
    const after = await read<ReportBody>(
      await accountEaRequest(h, app, 'POST', '/trades', squat.ea, { trades: [closedTrade(2)], ownership_codes: [squatCode] }),
    );
    expect(after.body).toMatchObject({ accepted: [2], cashback_accrued: 0, ownership: 'owned_elsewhere' });
    expect((await withheld(squat.account.id)).map((t) => t.cashback_withheld)).toEqual(['owned_elsewhere', 'owned_elsewhere']);
    expect(await countRows(h, 'public.trading_accounts', 'login = $1 and verified_at is not null', [login])).toBe(1);
  });

  it('accrues nothing for a paused account, nor later for trades that closed while it was paused', async () => {
    const owner = await h.createUser('trades-pauser@example.com');
    const { account, ea } = await setUp(owner);
    await accountAction(h, owner, account.id, 'pause');
    const paused = await report(ea, [closedTrade(1, {}, 0.01)]);
    expect(paused.body).toMatchObject({ accepted: [1], cashback_accrued: 0, ownership: 'verified' });
    await accountAction(h, owner, account.id, 'resume');
    // An earlier pause, from 3 hours ago to 1 hour ago (the EA reports late, after the resume).
    await h.db.query(
      asOwner(),
      `insert into private.account_pauses (account_id, paused_at, resumed_at) values ($1, now() - interval '3 hours', now() - interval '1 hour')`,
      [account.id],
    );
    const late = await report(ea, [closedTrade(2, {}, 2), closedTrade(3, {}, 0.5)]);
    expect(late.body.accepted).toEqual([2, 3]);
    const rate = await rebatePerLot(h, account.id);
    expect(late.body.cashback_accrued).toBeCloseTo(0.5 * rate, 6);
    expect((await withheld(account.id)).map((t) => [t.ticket, t.cashback_withheld])).toEqual([
      [1, 'paused'],
      [2, 'paused'],
      [3, null],
    ]);
    const listed = await list(owner, `?account_id=${account.id}`);
    // Most recently closed first.
    expect(listed.body.trades.map((t) => [t.ticket, t.cashback_withheld])).toEqual([
      [1, 'paused'],
      [3, null],
      [2, 'paused'],
    ]);
  });

  it('refuses malformed ownership codes with a 400 naming them, and stores nothing', async () => {
    const { account, ea } = await setUp(alice, { verified: false });
    const code = await ownershipCode(h, account.id);
    for (const [codes, path] of [
      [['rubi-7kq2x9md'], 'body.ownership_codes.0'],
      [['RUBI-7KQ2X9MI'], 'body.ownership_codes.0'],
      [[code, code], 'body.ownership_codes'],
      [Array.from({ length: 11 }, (_, i) => `RUBI-0000000${i % 10}`), 'body.ownership_codes'],
      ['RUBI-7KQ2X9MD', 'body.ownership_codes'],
    ] as const) {
      const res = await read<ErrorBody>(await accountEaRequest(h, app, 'POST', '/trades', ea, { trades: [closedTrade(9)], ownership_codes: codes }));
      expect(res.status).toBe(400);
      expect(res.body.error.details?.map((d) => d.path)).toContain(path);
    }
    expect(await countRows(h, 'public.closed_trades', 'account_id = $1', [account.id])).toBe(0);
    expect((await accountRow(h, account.id))?.verified_at).toBeNull();
  });
});

describe('GET /trades', () => {
  let owner: TestUser;
  let first: ProvisionedAccount;
  let second: ProvisionedAccount;

  beforeAll(async () => {
    owner = await h.createUser('trades-lister@example.com');
    const a = await setUp(owner);
    const b = await setUp(owner);
    first = a.account;
    second = b.account;
    // 5 trades on the first account (hours ago: 1..5), 2 on the second (1.5 and 3.5 hours ago).
    await report(a.ea, [1, 2, 3, 4, 5].map((n) => closedTrade(n, { symbol: n % 2 ? 'EURUSD' : 'GBPUSD', lots: n / 10 }, n)));
    await report(b.ea, [closedTrade(7, {}, 1.5), closedTrade(8, { symbol: 'GBPUSD' }, 3.5)]);
  });

  it('lists the owner\'s trades, most recently closed first, with numbers and ISO times', async () => {
    const { status, body } = await list(owner);
    expect(status).toBe(200);
    expect(body.trades.map((t) => t.ticket)).toEqual([1, 7, 2, 3, 8, 4, 5]);
    expect(body.next_cursor).toBeNull();
    const t = body.trades.find((x) => x.ticket === 3 && x.account_id === first.id);
    const rate = await rebatePerLot(h, first.id);
    expect(t).toMatchObject({
      symbol: 'EURUSD',
      type: 'BUY',
      lots: 0.3,
      open_price: 1.0812,
      close_price: 1.0834,
      commission: -3.5,
      swap: -0.12,
      profit: 110,
      magic: 20261121,
      comment: 'rubi',
      cashback_rate: rate,
      currency: (await h.db.query<{ currency: string }>(asOwner(), 'select b.currency from public.brokers b join public.trading_accounts a on a.broker_id = b.id where a.id = $1', [first.id]))[0]?.currency,
      settled_on: null,
    });
    expect(t?.cashback_amount).toBeCloseTo(0.3 * rate, 6);
    expect(t?.close_time).toMatch(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/);
  });

  it('filters by account, symbol and close time', async () => {
    expect((await list(owner, `?account_id=${second.id}`)).body.trades.map((t) => t.ticket)).toEqual([7, 8]);
    expect((await list(owner, '?symbol=GBPUSD')).body.trades.map((t) => t.ticket)).toEqual([2, 8, 4]);
    const from = new Date(Date.now() - 3.75 * 3600_000).toISOString();
    const to = new Date(Date.now() - 1.75 * 3600_000).toISOString();
    const window = await list(owner, `?from=${encodeURIComponent(from)}&to=${encodeURIComponent(to)}`);
    expect(window.body.trades.map((t) => t.ticket)).toEqual([2, 3, 8]);
    const bad = await list(owner, `?from=${encodeURIComponent(to)}&to=${encodeURIComponent(from)}&account_id=nope&limit=0`);
    expect(bad.status).toBe(400);
    expect((bad.body as unknown as ErrorBody).error.details?.map((d) => d.path)).toEqual(expect.arrayContaining(['query.account_id', 'query.limit']));
    const reversed = await list(owner, `?from=${encodeURIComponent(to)}&to=${encodeURIComponent(from)}`);
    expect(reversed.status).toBe(400);
    expect((reversed.body as unknown as ErrorBody).error.details?.map((d) => d.path)).toEqual(['query.to']);
  });

  it('pages with a keyset cursor', async () => {
    const seen: number[] = [];
    let cursor: string | null = null;
    let pages = 0;
    do {
      const { status, body }: { status: number; body: ListBody } = await list(owner, `?limit=3${cursor ? `&cursor=${cursor}` : ''}`);
      expect(status).toBe(200);
      seen.push(...body.trades.map((t) => t.ticket));
      cursor = body.next_cursor;
      pages++;
    } while (cursor && pages < 10);
    expect(pages).toBe(3);
    expect(seen).toEqual([1, 7, 2, 3, 8, 4, 5]);
    expect((await list(owner, '?cursor=garbage')).status).toBe(400);
  });

  it('shows settlement days once settled', async () => {
    await h.db.query(asOwner(), 'select private.settle_cashback((now() at time zone \'utc\')::date)');
    const { body } = await list(owner, `?account_id=${first.id}&limit=1`);
    expect(body.trades[0]?.settled_on).toBe(new Date().toISOString().slice(0, 10));
  });

  it("never shows another user's trades", async () => {
    const bobs = await list(bob);
    expect(bobs.body.trades.every((t) => t.account_id === bobAccount.id)).toBe(true);
    expect((await list(bob, `?account_id=${first.id}`)).body.trades).toEqual([]);
    expect((await list(alice, `?account_id=${bobAccount.id}`)).body.trades).toEqual([]);
  });

  it('requires a signed-in user (an EA signature is not enough)', async () => {
    expect((await read(await userRequest(app, 'GET', '/trades', null))).status).toBe(401);
    expect((await read(await accountEaRequest(h, app, 'GET', '/trades', aliceEa))).status).toBe(401);
  });
});

describe('openapi', () => {
  it('documents both routes', async () => {
    const res = await app.request('/trades/openapi.json');
    expect(res.status).toBe(200);
    const doc = (await res.json()) as { paths: Record<string, Record<string, unknown>> };
    expect(Object.keys(doc.paths['/trades'] ?? {}).sort()).toEqual(['get', 'post']);
  });
});

describe('secrets', () => {
  it('never puts an api secret, a provisioning token or an investor password in a log line, an error body or a Realtime message', async () => {
    expect(secrets.length).toBeGreaterThan(10);
    expect(errorBodies.length).toBeGreaterThan(10);
    const logs = h.logs.join('\n');
    const errors = errorBodies.join('\n');
    const messages = await h.db.query<{ payload: string }>(asOwner(), `select coalesce(payload::text, '') as payload from realtime.messages`);
    expect(messages.length).toBeGreaterThan(0);
    const realtime = messages.map((m) => m.payload).join('\n');
    for (const secret of secrets) {
      expect(logs).not.toContain(secret);
      expect(errors).not.toContain(secret);
      expect(realtime).not.toContain(secret);
    }
    // The scan covered the request lines' operator fields (request-log.ts), refused signatures included.
    const lines = h.logs.map((l) => JSON.parse(l) as Record<string, unknown>).filter((l) => l.msg === 'request' && l.fn === 'trades');
    expect(lines.some((l) => l.principal === 'account_ea' && l.account_id && l.external_account_id && l.status === 200)).toBe(true);
    expect(lines.some((l) => l.principal === 'account_ea' && l.status === 401 && l.auth_refusal)).toBe(true);
  });
});
