import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { asOwner, createPostgresDb, type PostgresDb, type Queryable } from '@rubi/db';
import { databaseUrl } from './support/context.ts';

// Races on the money path (issue #13, money path review), each made deterministic by holding one
// transaction open while the other runs.
//
// 1. A change of payout currency racing an ingest: the owner changes the
// account's payout currency (private.set_account_cashback_settings: 409 while cashback in another
// currency is unsettled) while its EA's batch is in flight (private.ingest_trades). A settlement
// day's ledger row is in one currency, so the batch must either be priced in the new currency, or
// be stored first and make the change a 409: never accrue in the old currency after the change
// passed its check (the night would then add both currencies into one ledger amount).
//
// The change's transaction is held open after the change, the batch is sent on another connection,
// and the change commits once the batch waits for it.
//
// 2. An exchange rate set while a batch that needs it is in flight: the batch priced its trade
// before the rate was committed (withheld 'no_fx_rate'), private.set_fx_rate accrued the waiting
// trades before the batch committed, so that trade waited for a rate that was already set. Here the
// batch is held (a lock on its account's withheld counter row) after it priced its trade, the rate
// is set, then the batch is let go: the trade must accrue, once, at that rate.
const USER = '00000000-0000-4000-8000-00000c0ace01';
const ACCOUNT = '00000000-0000-4000-8000-00000c0acea1';
const BROKER = 'Currency Race Broker';
// Made-up currency codes: the rate below touches no other file's trades.
const OLD = 'QQA';
const NEW = 'QQB';
const RATE_BASE = 'QQC';
const ACCOUNT2 = '00000000-0000-4000-8000-00000c0acea2';
const BROKER2 = 'Currency Race Broker 2';
// 3. A real trade recorded as paid to another registration of the real account while a batch that
// accrues it is in flight (private.paid_tickets; e.g. the batch of a registration deleted meanwhile).
// The other writer's transaction holds the record uncommitted; the batch, which found no record,
// waits on its key and then must neither fail nor pay the ticket a second time.
const ACCOUNT3 = '00000000-0000-4000-8000-00000c0acea3';
const GONE = '00000000-0000-4000-8000-00000c0acedd';

let owner: PostgresDb;
let changer: PostgresDb;
let ea: PostgresDb;
let blocker: PostgresDb;

const claims = (tx: Queryable, extra: Record<string, unknown> = {}) =>
  tx.query(`select set_config('request.jwt.claims', $1, true)`, [
    JSON.stringify({ sub: USER, role: 'authenticated', aud: 'authenticated', ...extra }),
  ]);

beforeAll(async () => {
  owner = createPostgresDb(databaseUrl(), { max: 1 });
  changer = createPostgresDb(databaseUrl(), { max: 1, applicationName: 'currency-race-changer' });
  ea = createPostgresDb(databaseUrl(), { max: 1, applicationName: 'currency-race-ea' });
  blocker = createPostgresDb(databaseUrl(), { max: 1, applicationName: 'currency-race-blocker' });
  await owner.transaction(asOwner(), async (tx) => {
    await tx.query(`insert into auth.users (id, aud, role, email) values ($1, 'authenticated', 'authenticated', 'currency-race@example.com')`, [USER]);
    await tx.query(`insert into public.brokers (name, platforms, rebate_per_lot, currency) values ($1, array['MT5']::public.platform[], 7, $2)`, [BROKER, OLD]);
    await tx.query(
      `insert into public.trading_accounts (id, user_id, broker_id, platform, login, server, verified_at)
       select $1, $2, b.id, 'MT5', 880001, 'CurrencyRace-Live', now() from public.brokers b where b.name = $3`,
      [ACCOUNT, USER, BROKER],
    );
    await tx.query(`select private.set_fx_rate($1, $2, 1.1, now() - interval '1 minute')`, [OLD, NEW]);
    // Account 2 is paid in NEW by a broker paying in RATE_BASE, which has no rate to NEW yet.
    await tx.query(`insert into public.brokers (name, platforms, rebate_per_lot, currency) values ($1, array['MT5']::public.platform[], 5, $2)`, [BROKER2, RATE_BASE]);
    await tx.query(
      `insert into public.trading_accounts (id, user_id, broker_id, platform, login, server, verified_at, payout_currency)
       select $1, $2, b.id, 'MT5', 880002, 'CurrencyRace-Live', now(), $4 from public.brokers b where b.name = $3`,
      [ACCOUNT2, USER, BROKER2, NEW],
    );
    await tx.query(`insert into private.account_withheld_trades (account_id, reason, trades) values ($1, 'no_fx_rate', 0)`, [ACCOUNT2]);
    await tx.query(
      `insert into public.trading_accounts (id, user_id, broker_id, platform, login, server, verified_at)
       select $1, $2, b.id, 'MT5', 880003, 'CurrencyRace-Live', now() from public.brokers b where b.name = $3`,
      [ACCOUNT3, USER, BROKER],
    );
  });
});

afterAll(async () => {
  await owner.transaction(asOwner(), async (tx) => {
    await tx.query(`delete from auth.users where id = $1`, [USER]);
    await tx.query(`delete from public.brokers where name = any($1::text[])`, [[BROKER, BROKER2]]);
    await tx.query(`delete from public.fx_rates where base = any($1::text[]) and quote = $2`, [[OLD, RATE_BASE], NEW]);
    await tx.query(`delete from realtime.messages where topic = $1`, [`user:${USER}`]);
    await tx.query(`delete from private.paid_tickets where server_key = 'currencyrace-live'`);
  });
  await Promise.all([owner.close(), changer.close(), ea.close(), blocker.close()]);
});

/** Waits until the connection named `app` waits for a lock (at most 5 s). */
async function waitsForLock(app: string): Promise<void> {
  for (let i = 0; i < 200; i++) {
    const [row] = await owner.query<{ waiting: boolean }>(
      asOwner(),
      `select exists (select 1 from pg_stat_activity where application_name = $1 and wait_event_type = 'Lock') as waiting`,
      [app],
    );
    if (row?.waiting) return;
    await sleep(25);
  }
}

const closedTrade = (ticket: number) => {
  const now = Date.now();
  return {
    ticket, symbol: 'EURUSD', type: 'BUY', lots: 1, open_price: 1.1, close_price: 1.2,
    open_time: new Date(now - 7_200_000).toISOString(), close_time: new Date(now - 3_600_000).toISOString(),
  };
};

describe('races on the money path', () => {
  it('a payout currency change never leaves cashback accrued in the old currency after it', async () => {
    let release!: () => void;
    const released = new Promise<void>((resolve) => (release = resolve));
    let changed!: () => void;
    const changeMade = new Promise<void>((resolve) => (changed = resolve));
    const change = changer.transaction(asOwner(), async (tx) => {
      await claims(tx);
      await tx.query(`select private.set_account_cashback_settings($1, $2, '{}', '{}')`, [ACCOUNT, NEW]);
      changed();
      await released; // held open: the batch arrives meanwhile
    });
    await changeMade;
    const trade = closedTrade(1);
    const ingest = ea.transaction(asOwner(), async (tx) => {
      await claims(tx, { ea_account_id: ACCOUNT });
      return tx.query<{ accepted: string[] }>(`select accepted from private.ingest_trades($1, $2, $3::jsonb)`, [USER, ACCOUNT, JSON.stringify([trade])]);
    });
    // The batch waits for the change's lock on the account (whichever statement of it takes one).
    await waitsForLock('currency-race-ea');
    release();
    await change;
    const settled = await Promise.allSettled([ingest]);
    expect(settled[0]?.status).toBe('fulfilled');

    const trades = await owner.query<{ currency: string; cashback_amount: string; cashback_withheld: string | null }>(
      asOwner(),
      `select currency, cashback_amount::text, cashback_withheld::text from public.closed_trades where account_id = $1`,
      [ACCOUNT],
    );
    // Priced in the new payout currency: 7 QQA x 1.1 = 7.7 QQB.
    expect(trades).toEqual([{ currency: NEW, cashback_amount: '7.7000', cashback_withheld: null }]);
  });

  it('a rate set while a batch that needs it is in flight accrues that batch\'s trade too', async () => {
    let release!: () => void;
    const released = new Promise<void>((resolve) => (release = resolve));
    let held!: () => void;
    const holding = new Promise<void>((resolve) => (held = resolve));
    const hold = blocker.transaction(asOwner(), async (tx) => {
      await tx.query(`select 1 from private.account_withheld_trades where account_id = $1 and reason = 'no_fx_rate' for update`, [ACCOUNT2]);
      held();
      await released;
    });
    await holding;
    const ingest = ea.transaction(asOwner(), async (tx) => {
      await claims(tx, { ea_account_id: ACCOUNT2 });
      return tx.query(`select accepted from private.ingest_trades($1, $2, $3::jsonb)`, [USER, ACCOUNT2, JSON.stringify([closedTrade(1)])]);
    });
    await waitsForLock('currency-race-ea'); // priced (no rate), stored, held at its withheld counter
    const rate = changer.query<{ accrued: number }>(asOwner(), `select private.set_fx_rate($1, $2, 2, now() - interval '1 minute') as accrued`, [RATE_BASE, NEW]);
    // The rate either waits for the batch or is set without it; give it the time to do either.
    await Promise.race([rate, sleep(500)]);
    release();
    const results = await Promise.allSettled([hold, ingest, rate]);
    expect(results.map((r) => r.status)).toEqual(['fulfilled', 'fulfilled', 'fulfilled']);

    const trades = await owner.query<{ currency: string; cashback_amount: string; cashback_withheld: string | null; fx_rate: string | null }>(
      asOwner(),
      `select currency, cashback_amount::text, cashback_withheld::text, fx_rate::text from public.closed_trades where account_id = $1`,
      [ACCOUNT2],
    );
    // 5 QQC x 2 = 10 QQB, accrued once.
    expect(trades).toEqual([{ currency: NEW, cashback_amount: '10.0000', cashback_withheld: null, fx_rate: '2' }]);
  });
  it('a ticket recorded for another registration while a batch accrues it is withheld, not paid twice, and the batch does not fail', async () => {
    let release!: () => void;
    const released = new Promise<void>((resolve) => (release = resolve));
    let recorded!: () => void;
    const recording = new Promise<void>((resolve) => (recorded = resolve));
    const other = blocker.transaction(asOwner(), async (tx) => {
      await tx.query(
        `insert into private.paid_tickets (server_key, login, ticket, account_id) values ('currencyrace-live', 880003, 5, $1)`,
        [GONE],
      );
      recorded();
      await released; // held open: the batch arrives meanwhile
    });
    await recording;
    const ingest = ea.transaction(asOwner(), async (tx) => {
      await claims(tx, { ea_account_id: ACCOUNT3 });
      return tx.query<{ accepted: number[]; cashback_accrued: string }>(
        `select accepted, cashback_accrued::text from private.ingest_trades($1, $2, $3::jsonb)`,
        [USER, ACCOUNT3, JSON.stringify([closedTrade(5), closedTrade(6)])],
      );
    });
    // The batch found no record of ticket 5 and waits on its key, held by the other writer.
    await waitsForLock('currency-race-ea');
    release();
    await other;
    const [result] = await ingest;
    expect(result).toEqual({ accepted: [5, 6], cashback_accrued: '7.0000' });
    const trades = await owner.query<{ ticket: string; cashback_amount: string; cashback_withheld: string | null }>(
      asOwner(),
      `select ticket::text, cashback_amount::text, cashback_withheld::text from public.closed_trades where account_id = $1 order by ticket`,
      [ACCOUNT3],
    );
    expect(trades).toEqual([
      { ticket: '5', cashback_amount: '0', cashback_withheld: 'already_paid' },
      { ticket: '6', cashback_amount: '7.0000', cashback_withheld: null },
    ]);
    const paid = await owner.query<{ ticket: string; account_id: string }>(
      asOwner(),
      `select ticket::text, account_id::text from private.paid_tickets where server_key = 'currencyrace-live' and login = 880003 order by ticket`,
    );
    expect(paid).toEqual([{ ticket: '5', account_id: GONE }, { ticket: '6', account_id: ACCOUNT3 }]);
  });
});
