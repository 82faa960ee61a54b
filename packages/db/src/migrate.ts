// Applies local platform SQL and Supabase migrations to a PGlite database, tracking what ran so a
// persisted data directory is only brought up to date.
import { access, readdir, readFile } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { PGlite, Transaction } from '@electric-sql/pglite';

export interface ApplyOptions {
  /** Repository root (the directory holding `supabase/config.toml`). */
  rootDir: string;
  /** Run `supabase/seed.sql` when this call started from a database with no migration applied. */
  seed?: boolean;
  log?: (msg: string) => void;
}

export interface ApplyResult {
  /** What ran, relative to `supabase/`: `platform/00_roles.sql`, `migrations/2025..._x.sql`, `seed.sql`. */
  applied: string[];
}

/** `<version>_<name>.sql`, as the Supabase CLI requires. */
const MIGRATION_FILE = /^(\d+)_(.+)\.sql$/;
const PGLITE_ONLY_SUFFIX = '.pglite.sql';

const byName = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);

async function sqlFilesIn(dir: string): Promise<string[]> {
  try {
    const entries = await readdir(dir, { withFileTypes: true });
    return entries
      .filter((e) => e.isFile() && e.name.endsWith('.sql'))
      .map((e) => e.name)
      .sort(byName);
  } catch (error) {
    if ((error as { code?: unknown }).code === 'ENOENT') return [];
    throw error;
  }
}

/**
 * `supabase/platform/*.sql` as absolute paths in name order. `*.pglite.sql` files are stand-ins
 * for what a real server has (e.g. pg_cron): include them only for PGlite.
 */
export async function listPlatformSqlFiles(
  rootDir: string,
  opts: { includePgliteOnly: boolean },
): Promise<string[]> {
  const dir = resolve(rootDir, 'supabase', 'platform');
  return (await sqlFilesIn(dir))
    .filter((name) => opts.includePgliteOnly || !name.endsWith(PGLITE_ONLY_SUFFIX))
    .map((name) => join(dir, name));
}

/** `supabase/migrations/<version>_<name>.sql` as absolute paths in name order (other files are ignored). */
export async function listMigrationFiles(rootDir: string): Promise<string[]> {
  const dir = resolve(rootDir, 'supabase', 'migrations');
  return (await sqlFilesIn(dir)).filter((name) => MIGRATION_FILE.test(name)).map((name) => join(dir, name));
}

/** Walks up from `from` (a path or a file: URL, e.g. import.meta.url) to the directory holding supabase/config.toml. */
export async function findRepoRoot(from: string): Promise<string> {
  let dir = resolve(from.startsWith('file:') ? fileURLToPath(from) : from);
  for (;;) {
    try {
      await access(join(dir, 'supabase', 'config.toml'));
      return dir;
    } catch {
      const parent = dirname(dir);
      if (parent === dir) throw new Error(`No supabase/config.toml found in ${from} or any parent directory`);
      dir = parent;
    }
  }
}

export class MigrationError extends Error {
  constructor(
    readonly file: string,
    override readonly cause: unknown,
  ) {
    super(`${file} failed: ${cause instanceof Error ? cause.message : String(cause)}`, { cause });
    this.name = 'MigrationError';
  }
}

// The same shape the Supabase CLI uses, so `supabase migration list --db-url` reads it.
const TRACKING_SQL = `
create schema if not exists supabase_migrations;
create table if not exists supabase_migrations.schema_migrations (version text not null primary key, statements text[], name text);
alter table supabase_migrations.schema_migrations add column if not exists statements text[];
alter table supabase_migrations.schema_migrations add column if not exists name text;
create table if not exists supabase_migrations.platform_applied (name text primary key, applied_at timestamptz default now());
`;

async function runFile(
  pg: PGlite,
  label: string,
  sql: string,
  record: (tx: Transaction) => Promise<unknown>,
): Promise<void> {
  try {
    await pg.transaction(async (tx) => {
      await tx.exec(sql);
      await record(tx);
    });
  } catch (error) {
    throw new MigrationError(label, error);
  }
}

/**
 * Applies, each file in its own transaction:
 * 1. every `supabase/platform/*.sql` (including `*.pglite.sql`) not yet in supabase_migrations.platform_applied;
 * 2. every migration whose version is not in supabase_migrations.schema_migrations;
 * 3. `supabase/seed.sql` if `seed` and no migration had been applied before this call.
 * Platform files are tracked by name: editing one that already ran does not re-run it.
 */
export async function applyPlatformAndMigrations(pg: PGlite, opts: ApplyOptions): Promise<ApplyResult> {
  const log = opts.log ?? (() => {});
  const applied: string[] = [];
  await pg.exec(TRACKING_SQL);

  const versions = new Set(
    (await pg.query<{ version: string }>('select version from supabase_migrations.schema_migrations')).rows.map(
      (r) => r.version,
    ),
  );
  const fresh = versions.size === 0;
  const platformDone = new Set(
    (await pg.query<{ name: string }>('select name from supabase_migrations.platform_applied')).rows.map((r) => r.name),
  );

  for (const file of await listPlatformSqlFiles(opts.rootDir, { includePgliteOnly: true })) {
    const name = basename(file);
    if (platformDone.has(name)) continue;
    const label = `platform/${name}`;
    await runFile(pg, label, await readFile(file, 'utf8'), (tx) =>
      tx.query('insert into supabase_migrations.platform_applied (name) values ($1)', [name]),
    );
    applied.push(label);
    log(`applied ${label}`);
  }

  for (const file of await listMigrationFiles(opts.rootDir)) {
    const fileName = basename(file);
    const [, version, name] = MIGRATION_FILE.exec(fileName) ?? [];
    if (version === undefined || versions.has(version)) continue;
    const label = `migrations/${fileName}`;
    const sql = await readFile(file, 'utf8');
    await runFile(pg, label, sql, (tx) =>
      tx.query('insert into supabase_migrations.schema_migrations (version, name, statements) values ($1, $2, $3)', [
        version,
        name,
        [sql],
      ]),
    );
    versions.add(version);
    applied.push(label);
    log(`applied ${label}`);
  }

  if (opts.seed && fresh) {
    const seedFile = resolve(opts.rootDir, 'supabase', 'seed.sql');
    const sql = await readFile(seedFile, 'utf8').catch((error: unknown) => {
      if ((error as { code?: unknown }).code === 'ENOENT') return undefined;
      throw error;
    });
    if (sql !== undefined) {
      await runFile(pg, 'seed.sql', sql, async () => {});
      applied.push('seed.sql');
      log('applied seed.sql');
    }
  }

  // Array types created by the new SQL (e.g. of an enum) are decoded only after PGlite re-reads them.
  if (applied.length > 0) await pg.refreshArrayTypes();
  return { applied };
}
