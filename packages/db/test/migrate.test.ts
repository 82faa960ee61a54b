import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { PGlite } from '@electric-sql/pglite';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  applyPlatformAndMigrations,
  findRepoRoot,
  listMigrationFiles,
  listPlatformSqlFiles,
  MigrationError,
} from '../src/pglite.ts';

let root: string;
let dataDir: string;
const open: PGlite[] = [];

async function write(relative: string, content: string): Promise<void> {
  const file = join(root, relative);
  await mkdir(join(file, '..'), { recursive: true });
  await writeFile(file, content);
}

async function openDb(): Promise<PGlite> {
  const pg = await PGlite.create({ dataDir });
  open.push(pg);
  return pg;
}

async function closeAll(): Promise<void> {
  for (const pg of open.splice(0)) if (!pg.closed) await pg.close();
}

beforeEach(async () => {
  root = await mkdtemp(join(tmpdir(), 'rubi-db-migrate-'));
  dataDir = join(root, '.pgdata');
  await write('supabase/config.toml', 'project_id = "test"\n');
  await write(
    'supabase/platform/00_x.sql',
    `do $$ begin
       if not exists (select 1 from pg_roles where rolname = 'anon') then create role anon nologin; end if;
     end $$;
     create schema platform_x;
     create table platform_x.runs (n serial primary key);
     insert into platform_x.runs default values;`,
  );
  await write(
    'supabase/platform/10_y.pglite.sql',
    `create schema cron; create function cron.schedule(text, text, text) returns bigint language sql as 'select 1::bigint';`,
  );
  await write('supabase/migrations/20250101000000_a.sql', 'create table public.a (id int primary key);\ninsert into a values (1);');
  await write('supabase/migrations/20250102000000_b.sql', 'create table public.b (id int primary key references a);');
  await write('supabase/migrations/README.md', 'not a migration');
  await write('supabase/migrations/notes.sql', 'select 1/0; -- not <version>_<name>.sql: ignored');
  await write('supabase/seed.sql', 'create table public.seeded (n int); insert into seeded values (1);');
});

afterEach(async () => {
  await closeAll();
  await rm(root, { recursive: true, force: true });
});

describe('listing', () => {
  it('lists platform SQL in name order, with or without the PGlite-only files', async () => {
    const all = await listPlatformSqlFiles(root, { includePgliteOnly: true });
    const portable = await listPlatformSqlFiles(root, { includePgliteOnly: false });
    expect(all.map((f) => basename(f))).toEqual(['00_x.sql', '10_y.pglite.sql']);
    expect(portable).toEqual([join(root, 'supabase/platform/00_x.sql')]);
  });

  it('lists only <version>_<name>.sql migrations, as absolute paths', async () => {
    expect(await listMigrationFiles(root)).toEqual([
      join(root, 'supabase/migrations/20250101000000_a.sql'),
      join(root, 'supabase/migrations/20250102000000_b.sql'),
    ]);
  });

  it('returns nothing when the folders do not exist', async () => {
    const empty = await mkdtemp(join(tmpdir(), 'rubi-db-empty-'));
    try {
      expect(await listMigrationFiles(empty)).toEqual([]);
      expect(await listPlatformSqlFiles(empty, { includePgliteOnly: true })).toEqual([]);
    } finally {
      await rm(empty, { recursive: true, force: true });
    }
  });

  it('finds the repository root from a nested path or a file: URL', async () => {
    await mkdir(join(root, 'packages/x/src'), { recursive: true });
    expect(await findRepoRoot(join(root, 'packages/x/src'))).toBe(root);
    expect(await findRepoRoot(new URL(`file://${join(root, 'packages/x/src/index.ts')}`).href)).toBe(root);
    await expect(findRepoRoot(tmpdir())).rejects.toThrow(/supabase\/config\.toml/);
  });
});

// Each test initialises PGlite on disk one or more times (seconds each).
describe('applyPlatformAndMigrations', { timeout: 120_000 }, () => {
  it('applies everything once, then only what is new, on a persisted data dir', async () => {
    const logged: string[] = [];
    const first = await applyPlatformAndMigrations(await openDb(), { rootDir: root, seed: true, log: (m) => logged.push(m) });
    expect(first.applied).toEqual([
      'platform/00_x.sql',
      'platform/10_y.pglite.sql',
      'migrations/20250101000000_a.sql',
      'migrations/20250102000000_b.sql',
      'seed.sql',
    ]);
    expect(logged).toHaveLength(5);
    await closeAll();

    let pg = await openDb();
    expect((await applyPlatformAndMigrations(pg, { rootDir: root, seed: true })).applied).toEqual([]);
    const tracked = await pg.query<{ version: string; name: string; statements: string[] }>(
      'select version, name, statements from supabase_migrations.schema_migrations order by version',
    );
    expect(tracked.rows.map((r) => [r.version, r.name])).toEqual([
      ['20250101000000', 'a'],
      ['20250102000000', 'b'],
    ]);
    expect(tracked.rows[0]?.statements).toEqual(['create table public.a (id int primary key);\ninsert into a values (1);']);
    expect((await pg.query('select name from supabase_migrations.platform_applied order by name')).rows).toEqual([
      { name: '00_x.sql' },
      { name: '10_y.pglite.sql' },
    ]);
    expect((await pg.query('select count(*)::int as n from platform_x.runs')).rows).toEqual([{ n: 1 }]);
    await closeAll();

    await write('supabase/migrations/20250103000000_c.sql', 'create table public.c (id int);');
    pg = await openDb();
    expect((await applyPlatformAndMigrations(pg, { rootDir: root, seed: true })).applied).toEqual([
      'migrations/20250103000000_c.sql',
    ]);
    // The seed ran only on the fresh database.
    expect((await pg.query('select count(*)::int as n from seeded')).rows).toEqual([{ n: 1 }]);
  });

  it('does not seed unless asked', async () => {
    const pg = await openDb();
    const { applied } = await applyPlatformAndMigrations(pg, { rootDir: root });
    expect(applied).not.toContain('seed.sql');
    expect((await pg.query(`select to_regclass('public.seeded') as t`)).rows).toEqual([{ t: null }]);
  });

  it('rolls back a failing migration, names the file, and resumes from it next time', async () => {
    await write(
      'supabase/migrations/20250103000000_broken.sql',
      'create table public.half_done (id int);\nselect 1/0;',
    );
    const pg = await openDb();
    const error = await applyPlatformAndMigrations(pg, { rootDir: root }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(MigrationError);
    expect((error as Error).message).toContain('migrations/20250103000000_broken.sql');
    expect((error as Error).message).toContain('division by zero');
    expect((error as MigrationError).cause).toMatchObject({ code: '22012' });
    expect((await pg.query(`select to_regclass('public.half_done') as t`)).rows).toEqual([{ t: null }]);
    expect(
      (await pg.query('select version from supabase_migrations.schema_migrations order by version')).rows,
    ).toEqual([{ version: '20250101000000' }, { version: '20250102000000' }]);

    await write('supabase/migrations/20250103000000_broken.sql', 'create table public.half_done (id int);');
    expect((await applyPlatformAndMigrations(pg, { rootDir: root })).applied).toEqual([
      'migrations/20250103000000_broken.sql',
    ]);
  });

  it('names a failing platform file', async () => {
    await write('supabase/platform/20_bad.sql', 'create table nope (;');
    const error = await applyPlatformAndMigrations(await openDb(), { rootDir: root }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(MigrationError);
    expect((error as MigrationError).file).toBe('platform/20_bad.sql');
  });
});
