import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { asOwner, createPostgresDb, isPgError, type PostgresDb } from '@rubi/db';
import { databaseUrl } from './support/context.ts';

// Issue #14 item 3: several private.settle_cashback runs at once (a manual re-run while pg_cron's
// nightly job is still going, a retried job, ...) must neither fail (40P01 deadlock detected) nor
// settle a trade twice. Each round seeds ACCOUNTS x TRADES_PER_ACCOUNT unsettled closed trades over
// DAYS close days (written as the owner, with explicit owner and cashback, as ingest_trades writes
// them), then starts four settlements, STAGGER_MS apart, on four connections: all for the same day,
// or each for a different day. After every round the money must be exact: each trade settled once,
// on a day it was due, the ledger equal to the trades it settled, one notification per ledger row.
//
// The trades close in 2001 (a different ten-day window per round), so settlements of those days
// touch nothing but this file's rows; other files' trades close after 2001.
const USERS = 20;
const ACCOUNTS = 300; // 15 per user, alternating between two brokers (USD and EUR)
const TRADES_PER_ACCOUNT = 200; // 60,000 trades a round
const DAYS = 6;
const SERVER = 'SettleRace-Server';
const USER_PREFIX = '00000000-0000-4000-8000-0000005e7'; // + 3 hex digits
const SETTLERS = 4;
// Run i starts i * STAGGER_MS after the first (a re-run started while the job is still going): the
// later ones then join the earlier ones' scans midway (PostgreSQL synchronizes sequential scans of
// a table larger than a quarter of shared_buffers, as closed_trades is from the second round on).
const STAGGER_MS = 40;
const ROUNDS: { name: string; offsets: number[] }[] = [
  { name: 'same day', offsets: [5, 5, 5, 5] },
  { name: 'mixed days', offsets: [2, 3, 4, 5] },
  { name: 'same day again', offsets: [5, 5, 5, 5] },
  { name: 'mixed days, latest first', offsets: [5, 4, 3, 2] },
];

const userId = (i: number): string => `${USER_PREFIX}${i.toString(16).padStart(3, '0')}`;
const userIds = Array.from({ length: USERS }, (_, i) => userId(i + 1));
const addDays = (day: string, n: number): string => {
  const d = new Date(`${day}T00:00:00Z`);
  d.setUTCDate(d.getUTCDate() + n);
  return d.toISOString().slice(0, 10);
};

let owner: PostgresDb;
let settlers: PostgresDb[] = [];

beforeAll(async () => {
  owner = createPostgresDb(databaseUrl(), { max: 2 });
  await owner.transaction(asOwner(), async (tx) => {
    await tx.query(
      `insert into auth.users (id, aud, role, email)
       select u, 'authenticated', 'authenticated', 'settle-' || right(u::text, 3) || '@example.com' from unnest($1::uuid[]) u`,
      [userIds],
    );
    await tx.query(
      `insert into public.brokers (name, platforms, rebate_per_lot, currency)
       values ('Settle Race USD', array['MT5']::public.platform[], 1.37, 'USD'), ('Settle Race EUR', array['MT5']::public.platform[], 0.85, 'EUR')`,
    );
    await tx.query(
      `insert into public.trading_accounts (user_id, broker_id, platform, login, server)
       select ($1::uuid[])[1 + (g - 1) % $2], b.id, 'MT5', g, $3
       from generate_series(1, $4) g
       join public.brokers b on b.name = case when g % 2 = 0 then 'Settle Race USD' else 'Settle Race EUR' end`,
      [userIds, USERS, SERVER, ACCOUNTS],
    );
  });
  settlers = Array.from({ length: SETTLERS }, (_, i) =>
    createPostgresDb(databaseUrl(), { max: 1, applicationName: `settle-race-${i}` }),
  );
  await Promise.all(settlers.map((s) => s.query(asOwner(), 'select 1'))); // connect before the race
});

afterAll(async () => {
  await Promise.all(settlers.map((s) => s.close()));
  // Leave the shared database as we found it (accounts, trades, ledger and notifications cascade).
  await owner.transaction(asOwner(), async (tx) => {
    await tx.query(`delete from auth.users where id = any($1::uuid[])`, [userIds]);
    await tx.query(`delete from public.brokers where name like 'Settle Race %'`);
    await tx.query(`delete from realtime.messages where topic = any(select 'user:' || u from unnest($1::text[]) u)`, [userIds]);
  });
  await owner.close();
});

/** Seeds one round's trades, closed over DAYS days from `base` (UTC), none settled. */
async function seedRound(round: number, base: string): Promise<number> {
  const [row] = await owner.query<{ n: number }>(
    asOwner(),
    `with ins as (
       insert into public.closed_trades (account_id, user_id, ticket, symbol, type, lots, open_time, close_time,
         open_price, close_price, profit, comment, cashback_rate, cashback_amount, currency)
       select a.id, a.user_id, $1::bigint * 1000000 + g, 'EURUSD', case when g % 2 = 0 then 'BUY' else 'SELL' end,
         x.lots, x.close_time - interval '1 hour', x.close_time, 1.1, 1.1 + g % 7 * 0.001, g % 13 - 6,
         'settle race', b.rebate_per_lot, round(x.lots * b.rebate_per_lot, 4), b.currency
       from public.trading_accounts a
       join public.brokers b on b.id = a.broker_id
       cross join generate_series(1, $2) g
       cross join lateral (select (1 + (g * 7 + a.login) % 250)::numeric / 100 as lots,
         $3::date::timestamp at time zone 'utc' + make_interval(days => g % $4, secs => (g * 337 + a.login) % 86400) as close_time) x
       where a.server = $5
       returning 1
     )
     select count(*)::int as n from ins`,
    [round, TRADES_PER_ACCOUNT, base, DAYS, SERVER],
  );
  return row?.n ?? 0;
}

/** Every check of "settled exactly once", over all of this file's trades so far; each query returns the offending rows. */
async function moneyProblems(days: string[], roundDays: string[]): Promise<Record<string, unknown[]>> {
  const q = (text: string, params: unknown[] = []): Promise<unknown[]> => owner.query(asOwner(), text, params);
  const [unsettled, wrongDay, ledgerMismatch, notificationMismatch] = await Promise.all([
    // Nothing due is left: every trade closed before the end of the latest day a run settled.
    q(
      `select t.id, t.close_time from public.closed_trades t
       where t.user_id = any($1::uuid[]) and t.settled_on is null and t.close_time < ($2::date + 1)::timestamp at time zone 'utc'
       limit 5`,
      [userIds, roundDays.reduce((a, b) => (a > b ? a : b), '1900-01-01')],
    ),
    // Settled on a day some run was asked for, and not before the trade closed.
    q(
      `select t.id, t.close_time, t.settled_on from public.closed_trades t
       where t.user_id = any($1::uuid[]) and t.settled_on is not null
         and (t.settled_on < (t.close_time at time zone 'utc')::date or t.settled_on <> all($2::date[]))
       limit 5`,
      [userIds, days],
    ),
    // The ledger row of each account and day holds exactly the trades settled on it.
    q(
      `with settled as (
         select t.account_id, t.user_id, t.settled_on as day, count(*)::int as trades_count, sum(t.lots) as lots,
                sum(t.cashback_amount) as amount, min(t.currency) as currency
         from public.closed_trades t
         where t.user_id = any($1::uuid[]) and t.settled_on is not null
         group by 1, 2, 3
       ),
       ledger as (
         select l.account_id, l.user_id, l.settlement_day as day, l.trades_count, l.lots, l.amount, l.currency
         from public.cashback_ledger l where l.user_id = any($1::uuid[])
       )
       select s.*, l.* from settled s full join ledger l using (account_id, day)
       where (s.user_id, s.trades_count, s.lots, s.amount, s.currency) is distinct from (l.user_id, l.trades_count, l.lots, l.amount, l.currency)
       limit 5`,
      [userIds],
    ),
    // One cashback_settled notification per ledger row (each row here is written by one run), with its amount.
    q(
      `with told as (
         select n.account_id, substring(n.body from 'settled for (\\d{4}-\\d{2}-\\d{2})\\.$')::date as day,
                count(*)::int as n, min(n.title) as title, max(n.title) as title_max
         from public.notifications n
         where n.user_id = any($1::uuid[]) and n.kind = 'cashback_settled'
         group by 1, 2
       )
       select l.account_id, l.settlement_day, l.amount, t.n, t.title, t.title_max
       from public.cashback_ledger l
       full join told t on t.account_id = l.account_id and t.day = l.settlement_day
       where l.user_id = any($1::uuid[]) or l.id is null
       group by l.account_id, l.settlement_day, l.amount, l.currency, t.n, t.title, t.title_max
       having t.n is distinct from 1
           or t.title is distinct from 'Cashback settled: ' || to_char(l.amount, 'FM999999999990.00') || ' ' || l.currency
       limit 5`,
      [userIds],
    ),
  ]);
  return { unsettled, wrongDay, ledgerMismatch, notificationMismatch };
}

describe('settling cashback concurrently', () => {
  it(
    `four runs at once: no deadlock, every trade settled exactly once (${ROUNDS.length} rounds of ${ACCOUNTS * TRADES_PER_ACCOUNT} trades)`,
    async () => {
      const calledDays: string[] = [];
      let seededTotal = 0;
      let settledTotal = 0;
      const failures: string[] = [];
      for (const [r, round] of ROUNDS.entries()) {
        const base = addDays('2001-01-01', 10 * r);
        const seeded = await seedRound(r + 1, base);
        expect(seeded).toBe(ACCOUNTS * TRADES_PER_ACCOUNT);
        seededTotal += seeded;
        const days = round.offsets.map((o) => addDays(base, o));

        // As after a night's backlog: the planner knows nearly every trade is due, so it seq-scans.
        await owner.query(asOwner(), 'analyze public.closed_trades');

        const startedAt = performance.now();
        const results = await Promise.allSettled(
          days.map(async (day, i) => {
            await sleep(i * STAGGER_MS);
            return (settlers[i] as PostgresDb).query<{ n: number }>(asOwner(), 'select private.settle_cashback($1::date) as n', [day]);
          }),
        );
        const ms = Math.round(performance.now() - startedAt);
        const settled = results.map((res) => (res.status === 'fulfilled' ? Number(res.value[0]?.n) : null));
        const errors = results.flatMap((res) =>
          res.status === 'rejected'
            ? [isPgError(res.reason) ? `${res.reason.code} ${res.reason.message}` : String(res.reason)]
            : [],
        );
        console.log(`[settlement-concurrency] ${round.name} (${days.join(', ')}): settled ${JSON.stringify(settled)} in ${ms} ms; ${errors.length} failed ${JSON.stringify(errors)}`);
        failures.push(...errors.map((e) => `${round.name}: ${e}`));
        settledTotal += settled.reduce<number>((a, n) => a + (n ?? 0), 0);

        // Exactly once, counted by the runs themselves: together they settled what was seeded (a
        // failed run rolls back, and a later round's runs settle what it left, on their own days).
        expect.soft({ round: round.name, errors }).toEqual({ round: round.name, errors: [] });
        const okDays = days.filter((_, i) => settled[i] !== null);
        calledDays.push(...okDays);
        if (errors.length === 0) expect(settledTotal).toBe(seededTotal);
        expect(await moneyProblems(calledDays, okDays)).toEqual({ unsettled: [], wrongDay: [], ledgerMismatch: [], notificationMismatch: [] });
      }
      expect(failures).toEqual([]);
      expect(settledTotal).toBe(seededTotal);
    },
    60_000,
  );
});
