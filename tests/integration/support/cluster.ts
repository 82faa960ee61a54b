import { spawnSync } from 'node:child_process';
import { appendFileSync, chownSync, existsSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { freePort } from '../../../scripts/lib/free-port.ts';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { platformSqlDir, repoRoot } from './paths.ts';
import { describeRun, run, runOk, which, type RunResult } from './run.ts';
import { runSupabase } from './supabase-cli.ts';

/**
 * The integration tier: Debian PostgreSQL 15 with pg_cron, pgTAP and plpgsql_check, in a
 * throwaway cluster (initdb on a free port under the OS temp dir), always torn down.
 */

/** What a fresh Debian bookworm machine needs for this tier. Keep in sync with .ci/run. */
export const PG_PACKAGES = [
  'postgresql-15',
  'postgresql-15-cron',
  'postgresql-15-pgtap',
  'postgresql-15-plpgsql-check',
  'libtap-parser-sourcehandler-pgtap-perl',
] as const;

const DEBIAN_PG15_BINDIR = '/usr/lib/postgresql/15/bin';

export interface PgInstall {
  bindir: string;
  pkglibdir: string;
  sharedir: string;
  psql: string;
  pgProve: string | undefined;
}

function isRoot(): boolean {
  return process.getuid?.() === 0;
}

function pgConfigValue(pgConfig: string, flag: string): string | undefined {
  const result = spawnSync(pgConfig, [flag], { encoding: 'utf8' });
  return result.status === 0 ? result.stdout.trim() : undefined;
}

/** Locates PostgreSQL 15: Debian's versioned bindir first, then a v15 `pg_config` on PATH. */
export function locatePg15(): PgInstall | undefined {
  const candidates: string[] = [];
  if (existsSync(join(DEBIAN_PG15_BINDIR, 'initdb'))) candidates.push(join(DEBIAN_PG15_BINDIR, 'pg_config'));
  const onPath = which('pg_config');
  if (onPath) candidates.push(onPath);
  for (const pgConfig of candidates) {
    if (!existsSync(pgConfig)) continue;
    const version = pgConfigValue(pgConfig, '--version');
    if (!version || !/^PostgreSQL 15\./.test(version)) continue;
    const bindir = pgConfigValue(pgConfig, '--bindir');
    const pkglibdir = pgConfigValue(pgConfig, '--pkglibdir');
    const sharedir = pgConfigValue(pgConfig, '--sharedir');
    if (!bindir || !pkglibdir || !sharedir || !existsSync(join(bindir, 'initdb'))) continue;
    const psql = existsSync(join(bindir, 'psql')) ? join(bindir, 'psql') : which('psql');
    if (!psql) continue;
    return { bindir, pkglibdir, sharedir, psql, pgProve: which('pg_prove') };
  }
  // Debian layout without a usable pg_config (should not happen: postgresql-client-15 ships one).
  if (existsSync(join(DEBIAN_PG15_BINDIR, 'initdb')) && existsSync(join(DEBIAN_PG15_BINDIR, 'psql'))) {
    return {
      bindir: DEBIAN_PG15_BINDIR,
      pkglibdir: '/usr/lib/postgresql/15/lib',
      sharedir: '/usr/share/postgresql/15',
      psql: join(DEBIAN_PG15_BINDIR, 'psql'),
      pgProve: which('pg_prove'),
    };
  }
  return undefined;
}

/** Which Debian packages are missing for this tier (empty when all is there). */
export function missingPgPackages(install: PgInstall | undefined): string[] {
  if (!install) return [...PG_PACKAGES];
  const missing: string[] = [];
  if (isRoot() && spawnSync('id', ['-u', 'postgres']).status !== 0) missing.push('postgresql-15');
  if (!existsSync(join(install.pkglibdir, 'pg_cron.so'))) missing.push('postgresql-15-cron');
  if (!existsSync(join(install.sharedir, 'extension', 'pgtap.control'))) missing.push('postgresql-15-pgtap');
  if (!existsSync(join(install.sharedir, 'extension', 'plpgsql_check.control'))) {
    missing.push('postgresql-15-plpgsql-check');
  }
  if (!install.pgProve) missing.push('libtap-parser-sourcehandler-pgtap-perl');
  return missing;
}

async function aptInstall(packages: readonly string[]): Promise<void> {
  const env = { DEBIAN_FRONTEND: 'noninteractive' };
  process.stderr.write(`[integration] installing ${packages.join(' ')} with apt-get\n`);
  const update = await run('apt-get', ['update'], { env, echo: true });
  if (update.code !== 0) throw new Error(`apt-get update failed (${String(update.code)}); output above`);
  const install = await run('apt-get', ['install', '-y', '--no-install-recommends', ...packages], { env, echo: true });
  if (install.code !== 0) {
    throw new Error(`apt-get install ${packages.join(' ')} failed (${String(install.code)}); output above`);
  }
}

/**
 * Returns the PostgreSQL 15 installation with every extension and tool this tier needs. As root,
 * installs what is missing with apt-get; otherwise throws naming the packages.
 */
export async function ensurePg15(): Promise<PgInstall> {
  let install = locatePg15();
  let missing = missingPgPackages(install);
  if (missing.length === 0 && install) return install;
  if (!isRoot()) {
    throw new Error(
      `the integration tests need PostgreSQL 15 with pg_cron, pgTAP, plpgsql_check and pg_prove; missing: ${missing.join(', ')}.\n` +
        `Install them (Debian/Ubuntu with the PGDG or Debian archive):\n` +
        `  sudo apt-get install -y ${PG_PACKAGES.join(' ')}\n` +
        `or point the tests at an existing Supabase-like database (e.g. from \`supabase start\`):\n` +
        `  TEST_DATABASE_URL=postgresql://postgres:postgres@127.0.0.1:54322/postgres npm run test:integration`,
    );
  }
  await aptInstall(PG_PACKAGES);
  install = locatePg15();
  missing = missingPgPackages(install);
  if (missing.length > 0 || !install) {
    throw new Error(`still missing after apt-get install: ${missing.join(', ')}`);
  }
  return install;
}

export interface Cluster {
  url: string;
  port: number;
  /** The temp dir holding the data directory (`<dir>/data`) and the server log. */
  dir: string;
  dataDir: string;
  install: PgInstall;
  /** Stops the server (immediate) and removes the temp dir. Idempotent; never throws. */
  stop(): Promise<void>;
  /** Stops the server `-m immediate` (a crash, as far as clients can tell), keeping the data: for fault tests. */
  stopServer(): Promise<void>;
  /** Starts a server stopped by stopServer, waiting until it accepts connections. */
  startServer(): Promise<void>;
}

function tail(file: string, lines: number): string {
  try {
    return readFileSync(file, 'utf8').split('\n').slice(-lines).join('\n');
  } catch {
    return `(no ${file})`;
  }
}

/**
 * Creates and starts a throwaway PostgreSQL 15 cluster with pg_cron preloaded. Fast and not crash
 * safe by default (fsync and synchronous_commit off); `durable: true` keeps PostgreSQL's defaults,
 * for tests that crash the server and count what survived a commit.
 */
export async function startCluster(install: PgInstall, opts: { durable?: boolean } = {}): Promise<Cluster> {
  const root = isRoot();
  // Postgres refuses to run as root: run the server tools as the Debian `postgres` user then.
  const asServerUser = (file: string, args: string[]): [string, string[]] =>
    root ? [which('runuser', ['/usr/sbin', '/sbin']) ?? 'runuser', ['-u', 'postgres', '--', file, ...args]] : [file, args];

  const dir = mkdtempSync(join(tmpdir(), 'rubi-pg-'));
  const dataDir = join(dir, 'data');
  const logFile = join(dir, 'server.log');
  const pgCtl = join(install.bindir, 'pg_ctl');
  let started = false;

  const stopSync = (): void => {
    if (started) {
      const [file, args] = asServerUser(pgCtl, ['-D', dataDir, '-m', 'immediate', '-w', 'stop']);
      spawnSync(file, args, { cwd: dir, stdio: 'ignore' });
      started = false;
    }
    rmSync(dir, { recursive: true, force: true });
  };
  // Safety net for an abrupt exit of the vitest process (teardown not reached).
  const onExit = (): void => stopSync();
  process.once('exit', onExit);

  let stopped = false;
  const stop = async (): Promise<void> => {
    if (stopped) return;
    stopped = true;
    process.removeListener('exit', onExit);
    try {
      if (started) {
        const [file, args] = asServerUser(pgCtl, ['-D', dataDir, '-m', 'immediate', '-w', 'stop']);
        const result = await run(file, args, { cwd: dir, timeoutMs: 60_000 });
        if (result.code !== 0) process.stderr.write(`[integration] pg_ctl stop failed\n${describeRun(result)}\n`);
        started = false;
      }
    } catch (error) {
      process.stderr.write(`[integration] pg_ctl stop failed: ${String(error)}\n`);
    }
    rmSync(dir, { recursive: true, force: true });
  };

  try {
    if (root) {
      const uid = Number(spawnSync('id', ['-u', 'postgres'], { encoding: 'utf8' }).stdout.trim());
      const gid = Number(spawnSync('id', ['-g', 'postgres'], { encoding: 'utf8' }).stdout.trim());
      chownSync(dir, uid, gid);
    }
    const [initdb, initdbArgs] = asServerUser(join(install.bindir, 'initdb'), [
      '-D', dataDir, '-A', 'trust', '-U', 'postgres', '-E', 'UTF8', '--no-locale', '--no-sync',
    ]);
    await runOk(initdb, initdbArgs, { cwd: dir });

    const port = await freePort();
    appendFileSync(
      join(dataDir, 'postgresql.conf'),
      [
        '',
        '# throwaway integration cluster (tests/integration/support/cluster.ts)',
        "listen_addresses = '127.0.0.1'",
        `port = ${port}`,
        `unix_socket_directories = '${dataDir}'`,
        "shared_preload_libraries = 'pg_cron'",
        "cron.database_name = 'postgres'",
        'wal_level = logical',
        'max_connections = 200',
        ...(opts.durable ? [] : ['fsync = off', 'synchronous_commit = off', 'full_page_writes = off']),
        '',
      ].join('\n'),
    );

    const [ctl, ctlArgs] = asServerUser(pgCtl, ['-D', dataDir, '-l', logFile, '-w', '-t', '60', 'start']);
    started = true; // from here on, stop() must try pg_ctl stop even if start reports failure
    const start = await run(ctl, ctlArgs, { cwd: dir, timeoutMs: 90_000 });
    if (start.code !== 0) {
      throw new Error(`pg_ctl start failed\n${describeRun(start)}\n--- tail of ${logFile} ---\n${tail(logFile, 40)}`);
    }
    const stopServer = async (): Promise<void> => {
      const [file, args] = asServerUser(pgCtl, ['-D', dataDir, '-m', 'immediate', '-w', 'stop']);
      const result = await run(file, args, { cwd: dir, timeoutMs: 60_000 });
      if (result.code !== 0) throw new Error(`pg_ctl stop failed\n${describeRun(result)}`);
    };
    const startServer = async (): Promise<void> => {
      const [file, args] = asServerUser(pgCtl, ['-D', dataDir, '-l', logFile, '-w', '-t', '60', 'start']);
      const result = await run(file, args, { cwd: dir, timeoutMs: 90_000 });
      if (result.code !== 0) throw new Error(`pg_ctl start failed\n${describeRun(result)}\n${tail(logFile, 40)}`);
    };
    return { url: `postgresql://postgres@127.0.0.1:${port}/postgres`, port, dir, dataDir, install, stop, stopServer, startServer };
  } catch (error) {
    await stop();
    throw error;
  }
}

/** supabase/platform/*.sql sorted by name, without the PGlite-only stand-ins (`*.pglite.sql`). */
export function platformSqlFiles(dir: string = platformSqlDir): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir)
    .filter((name) => name.endsWith('.sql') && !name.endsWith('.pglite.sql'))
    .sort()
    .map((name) => join(dir, name));
}

/** Applies the local platform SQL (roles, auth, realtime, ... that Supabase itself provides). */
export async function applyPlatformSql(install: PgInstall, url: string): Promise<string[]> {
  const files = platformSqlFiles();
  for (const file of files) {
    const result = await run(install.psql, ['-X', '-q', '-v', 'ON_ERROR_STOP=1', '-d', url, '-f', file], {
      cwd: repoRoot,
    });
    if (result.code !== 0) throw new Error(`platform SQL ${file} failed\n${describeRun(result)}`);
  }
  return files;
}

/** `supabase db push --include-seed --yes`: our migrations and seed, exactly as on a project. */
export async function pushMigrations(url: string): Promise<RunResult> {
  const result = await runSupabase(['db', 'push', '--include-seed', '--yes'], url);
  if (result.code !== 0) throw new Error(`supabase db push failed\n${describeRun(result)}`);
  return result;
}
