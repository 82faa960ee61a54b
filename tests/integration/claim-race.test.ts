import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { asOwner, asService, createPostgresDb, type PostgresDb } from '@rubi/db';
import { databaseUrl } from './support/context.ts';

// Three VPS hosts race, each over its own connection pool, to claim 1,000 pending accounts through
// private.claim_accounts (FOR UPDATE SKIP LOCKED). Every account must be claimed exactly once and
// no host may exceed its capacity.
const ACCOUNTS = 1000;
const HOSTS = [
  { name: 'race-host-a', capacity: 400 },
  { name: 'race-host-b', capacity: 400 },
  { name: 'race-host-c', capacity: 400 },
];
const SERVER = 'ClaimRace-Server';

let owner: PostgresDb;
let hostIds: string[] = [];

beforeAll(async () => {
  owner = createPostgresDb(databaseUrl(), { max: 2 });
  await owner.transaction(asOwner(), async (tx) => {
    await tx.query(`insert into auth.users (id, aud, role, email) values ('00000000-0000-4000-8000-00000000c1a1', 'authenticated', 'authenticated', 'race@example.com')`);
    const [broker] = await tx.query<{ id: string }>(
      `insert into public.brokers (name, platforms, rebate_per_lot) values ('Race Broker', array['MT5'], 1) returning id`,
    );
    await tx.query(
      `insert into public.trading_accounts (user_id, broker_id, platform, login, server, created_at)
       select '00000000-0000-4000-8000-00000000c1a1', $1, 'MT5', g, $2, now() - make_interval(secs => $3 - g)
       from generate_series(1, $3) g`,
      [broker?.id, SERVER, ACCOUNTS],
    );
    hostIds = [];
    for (const host of HOSTS) {
      const [row] = await tx.query<{ id: string }>(
        `insert into private.vps_hosts (name, key_hash, capacity) values ($1, encode(extensions.digest($1, 'sha256'), 'hex'), $2) returning id`,
        [host.name, host.capacity],
      );
      if (row) hostIds.push(row.id);
    }
  });
});

afterAll(async () => {
  // Leave the shared database as we found it: other files assume no foreign pending accounts.
  await owner.transaction(asOwner(), async (tx) => {
    await tx.query(`delete from auth.users where id = '00000000-0000-4000-8000-00000000c1a1'`);
    await tx.query(`delete from public.brokers where name = 'Race Broker'`);
    await tx.query(`delete from private.vps_hosts where name like 'race-host-%'`);
    await tx.query(`delete from realtime.messages where topic = 'user:00000000-0000-4000-8000-00000000c1a1'`);
  });
  await owner.close();
});

async function claimUntilEmpty(db: PostgresDb, hostId: string): Promise<string[]> {
  const claimed: string[] = [];
  for (;;) {
    const rows = await db.query<{ id: string }>(asService(), `select id from private.claim_accounts($1, $2)`, [hostId, 7]);
    if (rows.length === 0) return claimed;
    claimed.push(...rows.map((r) => r.id));
  }
}

describe('claiming accounts concurrently', () => {
  it('gives every account to exactly one host and respects capacity', async () => {
    const claimers = hostIds.map(() => createPostgresDb(databaseUrl(), { max: 1 }));
    try {
      const results = await Promise.all(hostIds.map((hostId, i) => claimUntilEmpty(claimers[i] as PostgresDb, hostId)));
      const all = results.flat();
      expect(new Set(all).size).toBe(all.length);
      expect(all).toHaveLength(ACCOUNTS);
      results.forEach((claimed, i) => expect(claimed.length).toBeLessThanOrEqual(HOSTS[i]?.capacity ?? 0));
      // Interleaving really happened: more than one host took work.
      expect(results.filter((claimed) => claimed.length > 0).length).toBeGreaterThan(1);

      const rows = await owner.query<{ vps_host_id: string; n: number; status: string }>(
        asOwner(),
        `select vps_host_id, status, count(*)::int as n from public.trading_accounts where server = $1 group by 1, 2`,
        [SERVER],
      );
      expect(rows.every((r) => r.status === 'provisioning')).toBe(true);
      const perHost = new Map(rows.map((r) => [r.vps_host_id, r.n]));
      hostIds.forEach((hostId, i) => expect(perHost.get(hostId) ?? 0).toBe(results[i]?.length));
    } finally {
      await Promise.all(claimers.map((c) => c.close()));
    }
  });
});
