import { asOwner, type JwtClaims } from '@rubi/db';
import type { PgliteDb } from '@rubi/db/pglite';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createMigratedPglite } from '../../../tests/support/pglite-schema.ts';
import { authorizeTopic } from '../src/realtime/authorization.ts';

// Private channels are authorised by the RLS policies on realtime.messages, as Supabase Realtime
// does it: probe rows, the role and claims of the token, `realtime.topic`, all rolled back.
let db: PgliteDb;
const alice = '11111111-1111-4111-8111-111111111111';
const bob = '22222222-2222-4222-8222-222222222222';
const user = (sub: string): JwtClaims => ({ role: 'authenticated', sub, aud: 'authenticated' });

async function messageCount(): Promise<number> {
  const [row] = await db.query<{ n: number }>(asOwner(), 'select count(*)::int as n from realtime.messages');
  return row!.n;
}

beforeAll(async () => {
  ({ db } = await createMigratedPglite());
}, 60_000);
afterAll(async () => {
  await db.close();
});

describe('authorizeTopic (RLS on realtime.messages)', () => {
  it('lets a user read their own topic and nobody else', async () => {
    const before = await messageCount();
    expect(await authorizeTopic(db, `user:${alice}`, user(alice))).toEqual({ broadcast: { read: true, write: false }, presence: { read: false, write: false } });
    expect(await authorizeTopic(db, `user:${alice}`, user(bob))).toEqual({ broadcast: { read: false, write: false }, presence: { read: false, write: false } });
    expect(await authorizeTopic(db, `user:${alice}`, { role: 'anon' })).toEqual({ broadcast: { read: false, write: false }, presence: { read: false, write: false } });
    expect((await authorizeTopic(db, 'vps:doorbell', user(alice))).broadcast.read).toBe(false);
    // The doorbell: only a VPS host's token (role anon + vps_host_id) may listen, nobody may ring it.
    expect(await authorizeTopic(db, 'vps:doorbell', { role: 'anon' })).toEqual({ broadcast: { read: false, write: false }, presence: { read: false, write: false } });
    const host: JwtClaims = { role: 'anon', vps_host_id: '33333333-3333-4333-8333-333333333333' };
    expect(await authorizeTopic(db, 'vps:doorbell', host)).toEqual({ broadcast: { read: true, write: false }, presence: { read: false, write: false } });
    expect((await authorizeTopic(db, `user:${alice}`, host)).broadcast.read).toBe(false);
    // service_role bypasses RLS, as on Supabase.
    expect(await authorizeTopic(db, `user:${alice}`, { role: 'service_role' })).toEqual({ broadcast: { read: true, write: true }, presence: { read: true, write: true } });
    // The probes are rolled back.
    expect(await messageCount()).toBe(before);
  });

  it('evaluates write policies under a savepoint and sets realtime.topic for them', async () => {
    await db.pglite.exec(`
      create policy "test: write to rooms" on realtime.messages for insert to authenticated
        with check (extension = 'broadcast' and topic like 'room:%' and topic = (select realtime.topic()));
      create policy "test: read rooms" on realtime.messages for select to authenticated
        using (topic like 'room:%' and topic = (select realtime.topic()));`);
    try {
      expect(await authorizeTopic(db, 'room:1', user(bob))).toEqual({ broadcast: { read: true, write: true }, presence: { read: true, write: false } });
    } finally {
      await db.pglite.exec(`drop policy "test: write to rooms" on realtime.messages; drop policy "test: read rooms" on realtime.messages;`);
    }
  });

  it('reports a policy that fails instead of refusing quietly', async () => {
    await db.pglite.exec(`create policy "test: broken" on realtime.messages for select to authenticated using (topic = 'broken:' || (1 / 0)::text);`);
    try {
      await expect(authorizeTopic(db, 'broken:x', user(alice))).rejects.toThrow(/division by zero/);
    } finally {
      await db.pglite.exec(`drop policy "test: broken" on realtime.messages;`);
    }
    // The session is usable afterwards.
    expect((await authorizeTopic(db, `user:${alice}`, user(alice))).broadcast.read).toBe(true);
  });

  it('announces committed messages by id on realtime_messages, never rolled-back ones', async () => {
    const ids: string[] = [];
    const unlisten = await db.pglite.listen('realtime_messages', (id) => ids.push(id));
    try {
      await authorizeTopic(db, `user:${alice}`, user(alice));
      const [sent] = await db.query<{ id: string }>(asOwner(), `select realtime.send('{"big":true}'::jsonb, 'evt', 'user:${alice}', true)`);
      expect(sent).toBeDefined();
      const [row] = await db.query<{ id: string }>(asOwner(), `select id::text as id from realtime.messages where event = 'evt' order by inserted_at desc limit 1`);
      await new Promise((r) => setTimeout(r, 20));
      expect(ids).toEqual([row!.id]);
    } finally {
      await unlisten();
    }
  });
});
