import { readFile } from 'node:fs/promises';
import { basename } from 'node:path';
import { createPgliteDb, findRepoRoot, listMigrationFiles, listPlatformSqlFiles, type PgliteDb } from '@rubi/db/pglite';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

// Migration 20261130001200_account_identity (issue #15, items 1, 2 and 4) on a database that already
// has what the case-sensitive unique index let in: one real account registered twice under two
// spellings of its server (by two users, and by one user). The migration must apply, change no
// money already accrued, grandfather the accounts that are the only registration of their real
// account, and leave the shared ones unverified, reported (WARNING with their ids) and their
// owners told.

const MIGRATION = '20261130001200_account_identity.sql';

let db: PgliteDb;
const warnings: string[] = [];

const U1 = '00000000-0000-0000-0099-0000000000a1';
const U2 = '00000000-0000-0000-0099-0000000000a2';
const BROKER = '00000000-0000-0000-0099-0000000000b1';
const ids = {
  aliceShared: '00000000-0000-0000-0099-0000000000c1',
  bobShared: '00000000-0000-0000-0099-0000000000c2',
  aliceOwnTwiceA: '00000000-0000-0000-0099-0000000000c3',
  aliceOwnTwiceB: '00000000-0000-0000-0099-0000000000c4',
  aliceSingle: '00000000-0000-0000-0099-0000000000c5',
  bobPaused: '00000000-0000-0000-0099-0000000000c6',
  deletedTwin: '00000000-0000-0000-0099-0000000000c7',
};

const query = async <T>(sql: string, params: unknown[] = []): Promise<T[]> => (await db.pglite.query<T>(sql, params)).rows;

beforeAll(async () => {
  db = await createPgliteDb();
  const rootDir = await findRepoRoot(import.meta.url);
  for (const file of await listPlatformSqlFiles(rootDir, { includePgliteOnly: true })) {
    await db.pglite.exec(await readFile(file, 'utf8'));
  }
  const migrations = await listMigrationFiles(rootDir);
  const at = migrations.findIndex((f) => basename(f) === MIGRATION);
  expect(at).toBeGreaterThan(0);
  for (const file of migrations.slice(0, at)) {
    await db.pglite.transaction(async (tx) => {
      await tx.exec(await readFile(file, 'utf8'));
    });
  }

  // The state before: duplicates the case-sensitive index allowed, with money accrued on them.
  await db.pglite.exec(`
    insert into auth.users (id, aud, role, email) values
      ('${U1}', 'authenticated', 'authenticated', 'mig-alice@example.test'),
      ('${U2}', 'authenticated', 'authenticated', 'mig-bob@example.test');
    insert into public.brokers (id, name, platforms, rebate_per_lot) values ('${BROKER}', 'Migration Broker', array['MT5'], 2);
    insert into public.trading_accounts (id, user_id, broker_id, platform, login, server, deleted_at) values
      ('${ids.aliceShared}', '${U1}', '${BROKER}', 'MT5', 7000001, 'Probe-Live01', null),
      ('${ids.bobShared}', '${U2}', '${BROKER}', 'MT5', 7000001, 'probe-live01', null),
      ('${ids.aliceOwnTwiceA}', '${U1}', '${BROKER}', 'MT5', 7000002, 'Probe-Live01', null),
      ('${ids.aliceOwnTwiceB}', '${U1}', '${BROKER}', 'MT5', 7000002, 'PROBE-LIVE01', null),
      ('${ids.aliceSingle}', '${U1}', '${BROKER}', 'MT5', 7000003, 'Probe-Live01', null),
      ('${ids.bobPaused}', '${U2}', '${BROKER}', 'MT5', 7000004, 'Probe-Live01', null),
      ('${ids.deletedTwin}', '${U2}', '${BROKER}', 'MT5', 7000003, 'probe-live01', now());
    update public.trading_accounts set paused_at = now() - interval '1 day' where id = '${ids.bobPaused}';
    insert into public.closed_trades (account_id, user_id, ticket, symbol, type, lots, open_time, close_time, open_price, close_price,
                                      cashback_rate, cashback_amount, currency)
    select a.id, a.user_id, 1, 'EURUSD', 'BUY', 1.5, now() - interval '2 hours', now() - interval '1 hour', 1.1, 1.2, 2, 3, 'USD'
    from public.trading_accounts a;
  `);

  const file = migrations[at];
  if (!file) throw new Error('no migration file');
  const sql = await readFile(file, 'utf8');
  await db.pglite.transaction(async (tx) => {
    await tx.exec(sql, { onNotice: (n) => warnings.push(`${n.severity}: ${n.message ?? ''}`) });
  });
  for (const later of migrations.slice(at + 1)) {
    await db.pglite.transaction(async (tx) => {
      await tx.exec(await readFile(later, 'utf8'));
    });
  }
});
afterAll(async () => {
  await db?.close();
});

describe(`migration ${MIGRATION} on a database with duplicate registrations`, () => {
  it('reports every real account registered more than once, with the ids, as a WARNING', () => {
    const reported = warnings.filter((w) => w.startsWith('WARNING') && w.includes('account identity'));
    expect(reported).toHaveLength(2);
    expect(reported.find((w) => w.includes('7000001'))).toContain(`${ids.aliceShared}, ${ids.bobShared}`);
    expect(reported.find((w) => w.includes('7000002'))).toContain(`${ids.aliceOwnTwiceA}, ${ids.aliceOwnTwiceB}`);
  });

  it('merges and drops nothing; leaves the shared registrations unverified and grandfathers the others', async () => {
    const rows = await query<{ id: string; verified: boolean; deleted: boolean }>(
      'select id, verified_at is not null as verified, deleted_at is not null as deleted from public.trading_accounts order by id',
    );
    expect(rows).toEqual([
      { id: ids.aliceShared, verified: false, deleted: false },
      { id: ids.bobShared, verified: false, deleted: false },
      { id: ids.aliceOwnTwiceA, verified: false, deleted: false },
      { id: ids.aliceOwnTwiceB, verified: false, deleted: false },
      { id: ids.aliceSingle, verified: true, deleted: false },
      { id: ids.bobPaused, verified: true, deleted: false },
      { id: ids.deletedTwin, verified: false, deleted: true },
    ]);
  });

  it('changes no money already accrued', async () => {
    const trades = await query<{ n: number; total: string; withheld: number }>(
      'select count(*)::int as n, sum(cashback_amount)::text as total, count(cashback_withheld)::int as withheld from public.closed_trades',
    );
    expect(trades).toEqual([{ n: 7, total: '21', withheld: 0 }]);
  });

  it('tells the owners of the shared registrations to prove them, with their codes', async () => {
    const told = await query<{ account_id: string; user_id: string; body: string; code: string }>(
      `select n.account_id, n.user_id, n.body, a.ownership_code as code from public.notifications n
       join public.trading_accounts a on a.id = n.account_id
       where n.kind = 'account_verification_required' order by n.account_id`,
    );
    expect(told.map((t) => [t.account_id, t.user_id])).toEqual([
      [ids.aliceShared, U1],
      [ids.bobShared, U2],
      [ids.aliceOwnTwiceA, U1],
      [ids.aliceOwnTwiceB, U1],
    ]);
    for (const t of told) expect(t.body).toContain(t.code);
  });

  it('gives every account its own ownership code, and keeps the pauses already in progress', async () => {
    const [codes] = await query<{ n: number; distinct_codes: number; well_formed: number }>(
      `select count(*)::int as n, count(distinct ownership_code)::int as distinct_codes,
              count(*) filter (where ownership_code ~ '^RUBI-[0-9A-HJKMNP-TV-Z]{8}$')::int as well_formed
       from public.trading_accounts`,
    );
    expect(codes).toEqual({ n: 7, distinct_codes: 7, well_formed: 7 });
    const pauses = await query<{ account_id: string; open: boolean }>('select account_id, resumed_at is null as open from private.account_pauses');
    expect(pauses).toEqual([{ account_id: ids.bobPaused, open: true }]);
  });

  it('then allows one verified registration per real account', async () => {
    await query(`update public.trading_accounts set verified_at = now() where id = $1`, [ids.aliceShared]);
    await expect(query(`update public.trading_accounts set verified_at = now() where id = $1`, [ids.bobShared])).rejects.toThrow(
      /trading_accounts_verified_identity_key/,
    );
  });
});
