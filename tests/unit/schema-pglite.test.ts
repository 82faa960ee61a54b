import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { asAnon, asOwner, asService, asUser, isPgError, type Principal } from '@rubi/db';
import { applyPlatformAndMigrations, findRepoRoot, listMigrationFiles, type PgliteDb } from '@rubi/db/pglite';
import { createMigratedPglite } from '../support/pglite-schema.ts';
import {
  seedUserWorld,
  USER_DELETABLE,
  USER_OWNED_TABLES,
  USER_WRITABLE_COLUMN,
  WRITTEN_BY_FUNCTIONS_ONLY,
  type UserWorld,
} from '../support/schema-fixtures.ts';

// The PGlite tier: the same migrations as production, on real Postgres semantics in process.
let db: PgliteDb;
let applied: string[];
let alice: UserWorld;
let bob: UserWorld;

beforeAll(async () => {
  ({ db, applied } = await createMigratedPglite());
  alice = await seedUserWorld(db, 'alice@example.com', 1001);
  bob = await seedUserWorld(db, 'bob@example.com', 2002);
});
afterAll(async () => {
  await db.close();
});

async function expectPgError(promise: Promise<unknown>, code: string): Promise<void> {
  const error = await promise.then(
    () => null,
    (e: unknown) => e,
  );
  expect(isPgError(error), `expected SQLSTATE ${code}, got ${String(error)}`).toBe(true);
  if (isPgError(error)) expect(error.code).toBe(code);
}

/** Runs `sql` as an admitted EA: what the gates leave behind (role rubi_ea, the owner's claims plus the EA's). */
async function asEa<T>(userId: string, claims: Record<string, unknown>, sql: string, params: unknown[] = []): Promise<T[]> {
  return db.transaction(asOwner(), async (tx) => {
    await tx.query(`select set_config('role', 'rubi_ea', true), set_config('request.jwt.claims', $1, true)`, [
      JSON.stringify({ aud: 'authenticated', role: 'authenticated', sub: userId, ...claims }),
    ]);
    return tx.query<T>(sql, params);
  });
}

describe('migrations on PGlite', () => {
  it('applies the platform SQL, every migration and the seed', async () => {
    const migrations = await listMigrationFiles(await findRepoRoot(import.meta.url));
    expect(migrations.length).toBeGreaterThan(0);
    expect(applied.filter((f) => f.startsWith('migrations/'))).toHaveLength(migrations.length);
    expect(applied).toContain('seed.sql');
    const brokers = await db.query(asOwner(), 'select name from public.brokers');
    expect(brokers.length).toBeGreaterThanOrEqual(3);
  });

  it('is idempotent: a second run applies nothing', async () => {
    const again = await applyPlatformAndMigrations(db.pglite, { rootDir: await findRepoRoot(import.meta.url), seed: true });
    expect(again.applied).toEqual([]);
  });

  it('schedules every job in the cron stand-in', async () => {
    const jobs = await db.query<{ jobname: string; command: string }>(asOwner(), 'select jobname, command from cron.job order by jobname');
    expect(jobs.map((j) => j.jobname)).toEqual([
      'rubi-cleanup-cron-history',
      'rubi-cleanup-rate-limits',
      'rubi-cleanup-seen-request-ids',
      'rubi-disconnect-silent-accounts',
      'rubi-expire-signals',
      'rubi-maintain-snapshot-partitions',
      'rubi-reclaim-expired-leases',
      'rubi-retry-errored-accounts',
      'rubi-settle-cashback',
      'rubi-sweep-stale-sessions',
    ]);
    for (const job of jobs) expect(job.command).toMatch(/^select private\.[a-z_]+\(\)$/);
  });

  it('enables RLS on every table in public', async () => {
    const offenders = await db.query(
      asOwner(),
      `select c.relname from pg_class c join pg_namespace n on n.oid = c.relnamespace
       where n.nspname = 'public' and c.relkind in ('r', 'p') and not c.relrowsecurity`,
    );
    expect(offenders).toEqual([]);
  });
});

describe('row-level security on PGlite', () => {
  it.each(USER_OWNED_TABLES)('%s: a user sees their own rows and none of another user', async (table) => {
    const count = async (userId: string, owner: string): Promise<number> => {
      const [row] = await db.query<{ n: number }>(
        asUser(userId),
        `select count(*)::int as n from public.${table} where user_id = $1`,
        [owner],
      );
      return row?.n ?? -1;
    };
    expect(await count(alice.userId, alice.userId)).toBeGreaterThan(0);
    expect(await count(alice.userId, bob.userId)).toBe(0);
    expect(await count(bob.userId, alice.userId)).toBe(0);
    const [anon] = await db.query<{ n: number }>(asAnon(), `select count(*)::int as n from public.${table}`);
    expect(anon?.n).toBe(0);
  });

  it.each(USER_OWNED_TABLES)("%s: a user cannot update or delete another user's rows", async (table) => {
    const update = (column: string) =>
      db.query(asUser(alice.userId), `update public.${table} set ${column} = ${column} where user_id = $1 returning 1`, [bob.userId]);
    const remove = () => db.query(asUser(alice.userId), `delete from public.${table} where user_id = $1 returning 1`, [bob.userId]);
    // No table lets a user change who owns a row: refused outright, whoever owns the rows.
    await expectPgError(update('user_id'), '42501');
    if (WRITTEN_BY_FUNCTIONS_ONLY.has(table)) {
      // No client holds UPDATE or DELETE on these at all.
      await expectPgError(remove(), '42501');
    } else {
      // The one column a user may write, on their own rows only (RLS).
      const column = USER_WRITABLE_COLUMN[table];
      if (column === undefined) throw new Error(`no user-writable column listed for ${table}`);
      expect(await update(column)).toEqual([]);
      if (USER_DELETABLE.has(table)) expect(await remove()).toEqual([]);
      else await expectPgError(remove(), '42501');
    }
    const [still] = await db.query<{ n: number }>(asOwner(), `select count(*)::int as n from public.${table} where user_id = $1`, [
      bob.userId,
    ]);
    expect(still?.n).toBeGreaterThan(0);
  });

  it("rejects a signal aimed at another user's session", async () => {
    await expectPgError(
      db.query(asUser(alice.userId), `insert into public.trading_signals (user_id, session_id, type, symbol, volume) values ($1, $2, 'BUY', 'EURUSD', 1)`, [
        alice.userId,
        bob.sessionId,
      ]),
      '42501',
    );
  });

  it('lets no API role insert closed trades directly', async () => {
    const insertTrade = (principal: Principal, ticket: number) =>
      db.query(
        principal,
        `insert into public.closed_trades (account_id, user_id, ticket, symbol, type, lots, open_time, close_time, open_price, close_price)
         values ($1, $2, $3, 'EURUSD', 'SELL', 1, now(), now(), 1.2, 1.1)`,
        [alice.accountId, alice.userId, ticket],
      );
    await expectPgError(insertTrade(asUser(alice.userId), 9001), '42501');
    await expectPgError(insertTrade(asUser(alice.userId, { ea_account_id: alice.accountId }), 9002), '42501');
    await expectPgError(insertTrade(asAnon(), 9003), '42501');
    await expectPgError(insertTrade(asService(), 9004), '42501');
  });

  it('lets the account EA report closed trades through private.ingest_trades, only for its own account', async () => {
    const trades = (ticket: number) =>
      JSON.stringify([
        { ticket, symbol: 'EURUSD', type: 'SELL', lots: 1.5, open_time: '2026-11-01T10:00:00Z', close_time: '2026-11-01T11:00:00Z', open_price: 1.2, close_price: 1.1 },
      ]);
    // A dashboard user runs as authenticated, the account's EA as the gate leaves it (rubi_ea).
    const ingest = (claims: Record<string, unknown>, accountId: string, ticket: number) => {
      const sql = 'select * from private.ingest_trades($1, $2, $3::jsonb)';
      const params = [alice.userId, accountId, trades(ticket)];
      return 'ea_account_id' in claims
        ? asEa<{ accepted: number[]; cashback_accrued: string }>(alice.userId, claims, sql, params)
        : db.query<{ accepted: number[]; cashback_accrued: string }>(asUser(alice.userId, claims), sql, params);
    };
    // Cashback accrues only for a proven owner (16_account_identity.sql): Alice proved hers.
    await db.query(asOwner(), 'update public.trading_accounts set verified_at = now() where id = $1', [alice.accountId]);
    // A dashboard user (no EA claim), and the EA naming another account (its own owner's or not).
    await expectPgError(ingest({}, alice.accountId, 9011), '42501');
    await expectPgError(ingest({ ea_account_id: alice.accountId }, bob.accountId, 9012), '42501');
    await expectPgError(ingest({ ea_account_id: bob.accountId }, bob.accountId, 9013), '42501');
    const [result] = await ingest({ ea_account_id: alice.accountId }, alice.accountId, 9014);
    expect(result?.accepted).toEqual([9014]);
    const [trade] = await db.query<{ cashback_amount: string; cashback_rate: string; user_id: string }>(
      asOwner(),
      `select cashback_amount, cashback_rate, user_id from public.closed_trades where account_id = $1 and ticket = 9014`,
      [alice.accountId],
    );
    expect(trade?.user_id).toBe(alice.userId);
    expect(Number(trade?.cashback_rate)).toBeGreaterThan(0);
    expect(Number(trade?.cashback_amount)).toBeCloseTo(1.5 * Number(trade?.cashback_rate), 4);
    expect(Number(result?.cashback_accrued)).toBe(Number(trade?.cashback_amount));
    const tickets = await db.query<{ ticket: number }>(asOwner(), `select ticket from public.closed_trades where ticket between 9011 and 9014`);
    expect(tickets.map((t) => Number(t.ticket))).toEqual([9014]);
  });

  it('keeps secrets and infrastructure out of reach of API roles', async () => {
    for (const table of ['private.account_secrets', 'private.ea_key_secrets', 'private.vps_hosts', 'private.seen_request_ids']) {
      await expectPgError(db.query(asUser(alice.userId), `select * from ${table}`), '42501');
      await expectPgError(db.query(asAnon(), `select * from ${table}`), '42501');
    }
    await expectPgError(db.query(asUser(alice.userId), `select * from private.claim_accounts(gen_random_uuid(), 1)`), '42501');
  });
});

describe('state machines on PGlite', () => {
  it('raises on an illegal signal transition and lets the EA deliver', async () => {
    await expectPgError(
      db.query(asOwner(), `update public.trading_signals set status = 'EXECUTED' where id = $1`, [alice.signalId]),
      '23514',
    );
    await expectPgError(
      db.query(asUser(alice.userId), `update public.trading_signals set status = 'DELIVERED' where id = $1`, [alice.signalId]),
      '42501',
    );
    const [delivered] = await asEa<{ status: string; delivered_at: Date | null }>(
      alice.userId,
      { ea_key_id: alice.keyId },
      `update public.trading_signals set status = 'DELIVERED' where id = $1 returning status, delivered_at`,
      [alice.signalId],
    );
    expect(delivered?.status).toBe('DELIVERED');
    expect(delivered?.delivered_at).toBeInstanceOf(Date);
  });

  it('broadcasts owner changes to the private user topic without secrets', async () => {
    const rows = await db.query<{ topic: string; event: string; private: boolean; payload: Record<string, unknown> }>(
      asOwner(),
      `select topic, event, private, payload from realtime.messages where topic = $1`,
      [`user:${alice.userId}`],
    );
    expect(rows.length).toBeGreaterThan(0);
    expect(new Set(rows.map((r) => r.event))).toContain('trading_signals');
    for (const row of rows) {
      expect(row.private).toBe(true);
      expect(JSON.stringify(row.payload)).not.toContain('ciphertext');
    }
    const doorbell = await db.query<{ payload: unknown; private: boolean }>(
      asOwner(),
      `select payload, private from realtime.messages where topic = 'vps:doorbell'`,
    );
    expect(doorbell.length).toBeGreaterThanOrEqual(2);
    for (const ring of doorbell) {
      expect(ring.payload).toEqual({});
      // Private: only VPS hosts may listen (policy "vps hosts receive the doorbell").
      expect(ring.private).toBe(true);
    }
  });
});
