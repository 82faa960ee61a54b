import { asOwner } from '@rubi/db';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createEdgeHarness, userRequest, type EdgeHarness, type TestUser } from '../../tests/support/edge-harness.ts';
import { accountEaRequest, closedTrade, markVerified, provisionAccount, registerEa, type AccountEaCredential, type ProvisionedAccount } from '../../tests/support/provisioning.ts';
import { createTradesApp } from '../trades/app.ts';
import { createAccountsApp } from './app.ts';

// PUT /trading-accounts/{id}/cashback-settings (issue #17): the payout currency and the trade filters
// of an account, visible in the account answer and applied by POST /trades before accrual.

let h: EdgeHarness;
let accounts: ReturnType<typeof createAccountsApp>;
let trades: ReturnType<typeof createTradesApp>;
let alice: TestUser;
let bob: TestUser;
let account: ProvisionedAccount;
let ea: AccountEaCredential;

interface Settings {
  payout_currency: string | null;
  excluded_magics: number[];
  excluded_symbols: string[];
}
interface AccountBody {
  id: string;
  cashback_settings: Settings;
  figures: { currency: string };
}
interface ErrorBody {
  error: { code: string; details?: { path: string; message: string }[] };
}

const put = (user: TestUser, id: string, body: unknown) => userRequest(accounts, 'PUT', `/accounts/trading-accounts/${id}/cashback-settings`, user.token, body);

beforeAll(async () => {
  h = await createEdgeHarness();
  accounts = createAccountsApp(h.deps);
  trades = createTradesApp(h.deps);
  alice = await h.createUser('settings-alice@example.com');
  bob = await h.createUser('settings-bob@example.com');
  account = await provisionAccount(h, alice);
  ea = await registerEa(h, account);
  await markVerified(h, account.id);
});
afterAll(() => h.close());

describe('cashback settings', () => {
  it('starts with the broker currency and no filters', async () => {
    const res = await userRequest(accounts, 'GET', `/accounts/trading-accounts/${account.id}`, alice.token);
    const body = (await res.json()) as AccountBody;
    expect(body.cashback_settings).toEqual({ payout_currency: null, excluded_magics: [], excluded_symbols: [] });
  });

  it('sets filters (symbols upper-cased) and shows them in the account answer', async () => {
    const res = await put(alice, account.id, { payout_currency: null, excluded_magics: [777, 9001], excluded_symbols: ['xau%', 'BTCUSD'] });
    expect(res.status).toBe(200);
    const body = (await res.json()) as AccountBody;
    expect(body.cashback_settings).toEqual({ payout_currency: null, excluded_magics: [777, 9001], excluded_symbols: ['XAU%', 'BTCUSD'] });
  });

  it('applies the filters before accrual: excluded trades are stored with cashback 0, withheld as filtered', async () => {
    const res = await accountEaRequest(h, trades, 'POST', '/trades', ea, {
      trades: [closedTrade(1, { magic: 777, lots: 1 }), closedTrade(2, { symbol: 'XAUUSDm', lots: 1 }), closedTrade(3, { lots: 1 })],
    });
    expect(res.status).toBe(200);
    const rows = await h.db.query<{ ticket: string; cashback_amount: string; cashback_withheld: string | null }>(
      asOwner(),
      'select ticket, cashback_amount, cashback_withheld from public.closed_trades where account_id = $1 order by ticket',
      [account.id],
    );
    expect(rows.map((r) => [Number(r.ticket), Number(r.cashback_amount) > 0, r.cashback_withheld])).toEqual([
      [1, false, 'filtered'],
      [2, false, 'filtered'],
      [3, true, null],
    ]);
  });

  it('refuses a payout currency change while cashback in another currency is unsettled (409), nothing written', async () => {
    const res = await put(alice, account.id, { payout_currency: 'JPY', excluded_magics: [], excluded_symbols: [] });
    expect(res.status).toBe(409);
    const [row] = await h.db.query<{ payout_currency: string | null; n: number }>(
      asOwner(),
      'select payout_currency, cardinality(excluded_magics) as n from public.trading_accounts where id = $1',
      [account.id],
    );
    expect(row).toEqual({ payout_currency: null, n: 2 });
  });

  it('accepts the broker currency named explicitly (no change of currency)', async () => {
    const [broker] = await h.db.query<{ currency: string }>(
      asOwner(),
      'select b.currency from public.trading_accounts a join public.brokers b on b.id = a.broker_id where a.id = $1',
      [account.id],
    );
    const res = await put(alice, account.id, { payout_currency: broker?.currency, excluded_magics: [777], excluded_symbols: [] });
    expect(res.status).toBe(200);
    expect(((await res.json()) as AccountBody).figures.currency).toBe(broker?.currency);
  });

  it('answers 400 naming each bad field', async () => {
    const res = await put(alice, account.id, { payout_currency: 'usd', excluded_magics: [1.5], excluded_symbols: ['EUR USD'] });
    expect(res.status).toBe(400);
    const paths = ((await res.json()) as ErrorBody).error.details?.map((d) => d.path) ?? [];
    expect(paths).toEqual(expect.arrayContaining(['body.payout_currency', 'body.excluded_magics.0', 'body.excluded_symbols.0']));
  });

  it('says what a magic number must be, whether it is a fraction or not a number', async () => {
    const res = await put(alice, account.id, { payout_currency: null, excluded_magics: [1.5, 'abc'], excluded_symbols: [] });
    expect(res.status).toBe(400);
    const details = ((await res.json()) as ErrorBody).error.details ?? [];
    expect(details.map((d) => [d.path, d.message])).toEqual([
      ['body.excluded_magics.0', 'a magic number: a whole number'],
      ['body.excluded_magics.1', 'a magic number: a whole number'],
    ]);
  });

  it("answers 404 for another user's account", async () => {
    const res = await put(bob, account.id, { payout_currency: null, excluded_magics: [], excluded_symbols: [] });
    expect(res.status).toBe(404);
  });
});
