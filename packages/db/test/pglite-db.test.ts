import { describe, expect, it } from 'vitest';
import { asOwner } from '../src/index.ts';
import { createPgliteDb, isPgliteDb } from '../src/pglite.ts';
import { describeDbConformance } from './conformance.ts';

describeDbConformance('PGlite', () => createPgliteDb());

describe('createPgliteDb', () => {
  it('exposes the PGlite instance and loads pgcrypto', async () => {
    const db = await createPgliteDb();
    try {
      expect(db.dialect).toBe('pglite');
      expect(isPgliteDb(db)).toBe(true);
      await db.pglite.exec('create extension if not exists pgcrypto');
      const [row] = await db.query<{ ok: boolean }>(asOwner(), `select crypt('pw', gen_salt('bf', 4)) like '$2a$%' as ok`);
      expect(row).toEqual({ ok: true });
    } finally {
      await db.close();
    }
    expect(db.pglite.closed).toBe(true);
  });

  it('leaves an instance it was given open', async () => {
    const owner = await createPgliteDb();
    const borrowed = await createPgliteDb({ pglite: owner.pglite });
    await borrowed.close();
    expect(owner.pglite.closed).toBe(false);
    expect(await owner.query(asOwner(), 'select 1 as one')).toEqual([{ one: 1 }]);
    await owner.close();
  });

  it('runs concurrent transactions one after another', async () => {
    const db = await createPgliteDb();
    try {
      await db.query(asOwner(), 'create table counter (n int)');
      await db.query(asOwner(), 'insert into counter values (0)');
      await Promise.all(
        Array.from({ length: 5 }, () =>
          db.transaction(asOwner(), async (tx) => {
            const [row] = await tx.query<{ n: number }>('select n from counter');
            await tx.query('update counter set n = $1', [(row?.n ?? 0) + 1]);
          }),
        ),
      );
      expect(await db.query(asOwner(), 'select n from counter')).toEqual([{ n: 5 }]);
    } finally {
      await db.close();
    }
  });
});
