// One behavioural suite for every Db adapter: both must behave, and decode values, identically.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  asAnon,
  asOwner,
  asService,
  asUser,
  isPgError,
  type Db,
  type DbRole,
  type Principal,
} from '../src/index.ts';

const USER_ID = '6f1c3f5e-2d1a-4c3b-9a57-0d5c2e7b8a10';

const CREATE_ROLES = `
do $$
begin
  if not exists (select 1 from pg_roles where rolname = 'anon') then create role anon nologin; end if;
  if not exists (select 1 from pg_roles where rolname = 'authenticated') then create role authenticated nologin; end if;
  if not exists (select 1 from pg_roles where rolname = 'service_role') then create role service_role nologin bypassrls; end if;
end
$$`;

export function describeDbConformance(name: string, createDb: () => Promise<Db>): void {
  describe(`Db conformance: ${name}`, () => {
    let db: Db;
    // A schema of our own, so runs against a shared server do not collide.
    const schema = `dbconf_${Date.now().toString(36)}_${Math.random().toString(36).slice(2, 8)}`;
    const t = (table: string): string => `${schema}.${table}`;

    beforeAll(async () => {
      db = await createDb();
      await db.query(asOwner(), CREATE_ROLES);
      for (const statement of [
        `create schema ${schema}`,
        `grant usage on schema ${schema} to anon, authenticated, service_role`,
        `create table ${t('items')} (id int primary key, owner_id uuid, label text)`,
        `grant select, insert on ${t('items')} to authenticated, service_role`,
        `alter table ${t('items')} enable row level security`,
        `create policy own_rows on ${t('items')} for all to authenticated
           using (owner_id = (current_setting('request.jwt.claims', true)::jsonb ->> 'sub')::uuid)
           with check (owner_id = (current_setting('request.jwt.claims', true)::jsonb ->> 'sub')::uuid)`,
        `insert into ${t('items')} values (1, '${USER_ID}', 'mine'), (2, gen_random_uuid(), 'theirs')`,
      ]) {
        await db.query(asOwner(), statement);
      }
    });

    afterAll(async () => {
      if (!db) return;
      await db.query(asOwner(), `drop schema if exists ${schema} cascade`);
      await db.close();
    });

    describe('principals', () => {
      it('switches role and publishes the claims for the transaction', async () => {
        const [row] = await db.transaction(asUser(USER_ID, { ea_key_id: 'k1' }), (tx) =>
          tx.query<{ who: string; claims: string }>(
            `select current_user as who, current_setting('request.jwt.claims') as claims`,
          ),
        );
        expect(row?.who).toBe('authenticated');
        expect(JSON.parse(row?.claims ?? 'null')).toEqual({
          sub: USER_ID,
          role: 'authenticated',
          aud: 'authenticated',
          ea_key_id: 'k1',
        });
      });

      it('uses anon and service_role too', async () => {
        const anon = await db.query<{ who: string }>(asAnon(), 'select current_user as who');
        const service = await db.query<{ who: string }>(asService(), 'select current_user as who');
        expect(anon).toEqual([{ who: 'anon' }]);
        expect(service).toEqual([{ who: 'service_role' }]);
      });

      it('lets RLS decide with the published claims', async () => {
        const rows = await db.query<{ id: number }>(asUser(USER_ID), `select id from ${t('items')} order by id`);
        expect(rows).toEqual([{ id: 1 }]);
        const all = await db.query<{ id: number }>(asService(), `select id from ${t('items')} order by id`);
        expect(all).toEqual([{ id: 1 }, { id: 2 }]);
      });

      it('keeps role and claims transaction-local', async () => {
        const [owner] = await db.query<{ who: string }>(asOwner(), 'select current_user as who');
        await db.query(asUser(USER_ID), 'select 1');
        const [after] = await db.query<{ who: string; claims: string | null }>(
          asOwner(),
          `select current_user as who, current_setting('request.jwt.claims', true) as claims`,
        );
        expect(after?.who).toBe(owner?.who);
        expect(after?.who).not.toBe('authenticated');
        expect([null, '']).toContain(after?.claims);
      });

      it('rejects roles outside the DbRole union before sending anything', async () => {
        const bogus = { kind: 'role', role: 'postgres' as DbRole, claims: { role: 'postgres' as DbRole } } as Principal;
        await expect(db.query(bogus, 'select 1')).rejects.toThrow(/Invalid database role "postgres"/);
        const mismatch: Principal = { kind: 'role', role: 'anon', claims: { role: 'service_role' } };
        await expect(db.query(mismatch, 'select 1')).rejects.toThrow(/does not match/);
        await expect(db.query({ kind: 'superuser' } as unknown as Principal, 'select 1')).rejects.toThrow(
          /Unknown principal kind/,
        );
        expect(() => asUser('')).toThrow(TypeError);
      });
    });

    describe('transactions', () => {
      it('commits what fn did', async () => {
        await db.transaction(asOwner(), async (tx) => {
          await tx.query(`insert into ${t('items')} (id, label) values ($1, $2)`, [10, 'committed']);
        });
        expect(await db.query(asOwner(), `select label from ${t('items')} where id = 10`)).toEqual([
          { label: 'committed' },
        ]);
      });

      it('rolls back and rethrows the original error when fn throws', async () => {
        const boom = new Error('boom');
        await expect(
          db.transaction(asOwner(), async (tx) => {
            await tx.query(`insert into ${t('items')} (id, label) values ($1, $2)`, [11, 'rolled back']);
            throw boom;
          }),
        ).rejects.toBe(boom);
        expect(await db.query(asOwner(), `select id from ${t('items')} where id = 11`)).toEqual([]);
      });

      it('rolls back as a role principal too', async () => {
        await expect(
          db.transaction(asUser(USER_ID), async (tx) => {
            await tx.query(`insert into ${t('items')} (id, owner_id) values (12, $1)`, [USER_ID]);
            throw new Error('nope');
          }),
        ).rejects.toThrow('nope');
        expect(await db.query(asOwner(), `select id from ${t('items')} where id = 12`)).toEqual([]);
      });

      it('fails the transaction when a statement failed even if fn caught it', async () => {
        const outcome = db.transaction(asOwner(), async (tx) => {
          await tx.query(`insert into ${t('items')} (id, label) values (13, 'x')`);
          await tx.query(`insert into ${t('items')} (id, label) values (13, 'dup')`).catch(() => undefined);
          return 'done';
        });
        await expect(outcome).rejects.toMatchObject({ code: '23505' });
        expect(await db.query(asOwner(), `select id from ${t('items')} where id = 13`)).toEqual([]);
      });

      it("runs the owner's single statement as its own implicit transaction", async () => {
        // A role switch made inside the statement (as the EA gates do) ends with it, ...
        const [inside] = await db.query<{ who: string }>(
          asOwner(),
          `select (select set_config('role', 'authenticated', true)) as switched, current_setting('role') as who`,
        );
        expect(inside?.who).toBe('authenticated');
        const [after] = await db.query<{ role: string }>(asOwner(), `select current_setting('role') as role`);
        expect(after?.role).toBe('none');
        // ... and a statement that fails leaves nothing of what it did.
        await expect(
          db.query(asOwner(), `with w as (insert into ${t('items')} (id, label) values (14, 'x') returning id) select 1 / (select count(*) - 1 from w)`),
        ).rejects.toMatchObject({ code: '22012' });
        expect(await db.query(asOwner(), `select id from ${t('items')} where id = 14`)).toEqual([]);
        await expect(db.query(asOwner(), '  ')).rejects.toThrow(TypeError);
        await expect(db.query(asOwner(), 'select $1::int', [undefined])).rejects.toThrow(TypeError);
      });

      it('refuses a Queryable used after its transaction ended', async () => {
        let leaked: { query: (text: string) => Promise<unknown> } | undefined;
        await db.transaction(asOwner(), async (tx) => {
          leaked = tx;
        });
        await expect(leaked?.query('select 1')).rejects.toThrow(/after its transaction ended/);
      });

      it('enforces RLS on writes (42501 via isPgError)', async () => {
        const error = await db
          .query(asUser(USER_ID), `insert into ${t('items')} (id, owner_id) values (14, gen_random_uuid())`)
          .catch((e: unknown) => e);
        expect(isPgError(error)).toBe(true);
        expect(isPgError(error) && error.code).toBe('42501');
      });
    });

    describe('values', () => {
      it('decodes result values identically', async () => {
        const [row] = await db.query(
          asOwner(),
          `select '{"a":1,"b":[true,null]}'::json as j,
                  '{"b":{"c":"d"}}'::jsonb as jb,
                  '2025-03-04 05:06:07.891+02'::timestamptz as tstz,
                  '2025-03-04 05:06:07.891234'::timestamp as ts,
                  '2025-03-04'::date as d,
                  'infinity'::timestamptz as inf,
                  7::int2 as i2, 2147483647::int4 as i4, 9007199254740991::int8 as i8, count(*) as cnt,
                  1.5::float4 as f4, 0.1::float8 as f8,
                  12.340::numeric as n, 123456789012345678901234.5678::numeric as big_n,
                  array[1, null, 3]::int4[] as ai, array[10, 20]::int8[] as a8,
                  array['a,b', 'c"d', 'e\\f', null, 'NULL', '', ' sp ']::text[] as at,
                  array[array[1,2],array[3,4]] as a2,
                  '[0:1]={5,6}'::int[] as lower_bound,
                  array['2025-01-01T00:00:00Z'::timestamptz] as ats,
                  array['{"x":1}'::jsonb, null] as aj,
                  array[12.5, null]::numeric[] as an,
                  array[true, false] as ab,
                  '{}'::int[] as empty,
                  null::text as nul, null::int8 as nul8, null::int[] as nul_arr,
                  '00000000-0000-0000-0000-000000000001'::uuid as u,
                  true as yes, false as no,
                  '\\x00ff10'::bytea as by,
                  '1 day 02:00:00'::interval as iv,
                  'x'::varchar(3) as vc`,
        );
        expect(row).toEqual({
          j: { a: 1, b: [true, null] },
          jb: { b: { c: 'd' } },
          tstz: new Date('2025-03-04T03:06:07.891Z'),
          ts: new Date('2025-03-04T05:06:07.891Z'),
          d: new Date('2025-03-04T00:00:00.000Z'),
          inf: Infinity,
          i2: 7,
          i4: 2147483647,
          i8: 9007199254740991,
          cnt: 1,
          f4: 1.5,
          f8: 0.1,
          n: '12.340',
          big_n: '123456789012345678901234.5678',
          ai: [1, null, 3],
          a8: [10, 20],
          at: ['a,b', 'c"d', 'e\\f', null, 'NULL', '', ' sp '],
          a2: [
            [1, 2],
            [3, 4],
          ],
          lower_bound: [5, 6],
          ats: [new Date('2025-01-01T00:00:00Z')],
          aj: [{ x: 1 }, null],
          an: ['12.5', null],
          ab: [true, false],
          empty: [],
          nul: null,
          nul8: null,
          nul_arr: null,
          u: '00000000-0000-0000-0000-000000000001',
          yes: true,
          no: false,
          by: new Uint8Array([0, 255, 16]),
          iv: '1 day 02:00:00',
          vc: 'x',
        });
        expect(row?.['by']).toBeInstanceOf(Uint8Array);
        expect(Object.getPrototypeOf(row)).toBe(Object.prototype);
      });

      it('decodes the same instant whatever the session time zone', async () => {
        const [row] = await db.transaction(asOwner(), async (tx) => {
          await tx.query(`set local timezone = 'Asia/Kolkata'`);
          return tx.query(`select '2025-03-04 05:06:07+00'::timestamptz as tstz, '2025-03-04 05:06:07'::timestamp as ts`);
        });
        expect(row).toEqual({ tstz: new Date('2025-03-04T05:06:07Z'), ts: new Date('2025-03-04T05:06:07Z') });
      });

      it('returns plain arrays of rows', async () => {
        const rows = await db.query(asOwner(), 'select g from generate_series(1, 3) g');
        expect(Array.isArray(rows) && Object.getPrototypeOf(rows)).toBe(Array.prototype);
        expect(rows).toEqual([{ g: 1 }, { g: 2 }, { g: 3 }]);
      });

      it('encodes parameters identically', async () => {
        const when = new Date('2025-06-07T08:09:10.123Z');
        const [row] = await db.query(
          asOwner(),
          `select $1::text as s, $2::int4 as i, $3::float8 as f, $4::int8 as b, $5::bool as yes,
                  $6::timestamptz as ts, $7::jsonb as j, $8::int[] as ai, $9::text[] as at,
                  $10::bytea as by, $11::text as nul, $12::int[] as a2, $13::numeric as n,
                  $14::text as date_as_text, $15::date as d, $16::jsonb[] as aj, $17 as untyped`,
          [
            "it's \"quoted\" \\ ok",
            42,
            2.5,
            9007199254740991n,
            false,
            when,
            JSON.stringify({ k: ['v', 1, null] }),
            [1, null, 3],
            ['a,b', 'c"d', 'e\\f', null, '', 'NULL'],
            new Uint8Array([1, 2, 255]),
            null,
            [
              [1, 2],
              [3, 4],
            ],
            '0.1',
            when,
            '2025-01-02',
            [JSON.stringify({ a: 1 }), null],
            true,
          ],
        );
        expect(row).toEqual({
          s: "it's \"quoted\" \\ ok",
          i: 42,
          f: 2.5,
          b: 9007199254740991,
          yes: false,
          ts: when,
          j: { k: ['v', 1, null] },
          ai: [1, null, 3],
          at: ['a,b', 'c"d', 'e\\f', null, '', 'NULL'],
          by: new Uint8Array([1, 2, 255]),
          nul: null,
          a2: [
            [1, 2],
            [3, 4],
          ],
          n: '0.1',
          date_as_text: '2025-06-07T08:09:10.123Z',
          d: new Date('2025-01-02T00:00:00Z'),
          aj: [{ a: 1 }, null],
          untyped: 'true',
        });
      });

      it('binds arrays for = any($1)', async () => {
        const rows = await db.query(asOwner(), `select id from ${t('items')} where id = any($1) order by id`, [[1, 2, 99]]);
        expect(rows).toEqual([{ id: 1 }, { id: 2 }]);
      });

      it('rejects undefined parameters with a clear error instead of sending NULL', async () => {
        await expect(db.query(asOwner(), 'select $1::text, $2::text', ['a', undefined])).rejects.toThrow(
          /parameter \$2 is undefined/,
        );
        await expect(db.query(asOwner(), 'select $1::int[]', [[1, undefined]])).rejects.toThrow(
          /parameter \$1\[1\] is undefined/,
        );
      });

      it('rejects objects: JSON goes in as a string', async () => {
        await expect(db.query(asOwner(), 'select $1::jsonb', [{ a: 1 }])).rejects.toThrow(/JSON\.stringify/);
        await expect(db.query(asOwner(), 'select $1::timestamptz', [new Date(Number.NaN)])).rejects.toThrow(
          /invalid Date/,
        );
      });
    });

    describe('errors', () => {
      it('exposes SQLSTATE, message, detail and constraint (23505)', async () => {
        const error = await db
          .query(asOwner(), `insert into ${t('items')} (id, label) values (1, 'again')`)
          .catch((e: unknown) => e);
        expect(isPgError(error)).toBe(true);
        if (!isPgError(error)) return;
        expect(error.code).toBe('23505');
        expect(error.message).toMatch(/duplicate key value violates unique constraint/);
        expect(error.constraint).toBe('items_pkey');
        expect(error.detail).toMatch(/Key \(id\)=\(1\) already exists/);
        expect(error).toBeInstanceOf(Error);
      });

      it('tells SQL errors from other errors', async () => {
        const syntax = await db.query(asOwner(), 'selec 1').catch((e: unknown) => e);
        expect(isPgError(syntax) && syntax.code).toBe('42601');
        expect(isPgError(new Error('plain'))).toBe(false);
        expect(isPgError({ code: 'CONNECTION_CLOSED', message: 'x' })).toBe(false);
        expect(isPgError(null)).toBe(false);
        expect(isPgError('23505')).toBe(false);
      });

      it('surfaces raise exception with its code (P0001) and custom codes', async () => {
        const raised = await db
          .query(asOwner(), `do $$ begin raise exception 'signal rejected' using errcode = 'RB001'; end $$`)
          .catch((e: unknown) => e);
        expect(isPgError(raised) && { code: raised.code, message: raised.message }).toEqual({
          code: 'RB001',
          message: 'signal rejected',
        });
      });
    });
  });
}
