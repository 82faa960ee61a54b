import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { asOwner, createPostgresDb } from '@rubi/db';
import { ensurePg15, platformSqlFiles, startCluster, type Cluster } from '../../tests/integration/support/cluster.ts';
import { repoRoot, supabaseBin } from '../../tests/integration/support/paths.ts';
import { startNpmStart, type NpmStart } from '../../tests/integration/e2e/support/npm-start.ts';
import { describeRun, run } from '../../tests/integration/support/run.ts';
import { postmasterOf } from './cpu.ts';
import { serveDenoEntry, type ServedEntry } from './deno-entry.ts';

/**
 * "Today's ping" of issue #13, measured rather than quoted: the code as it was before the
 * single-call hot path, served beside today's in the same run.
 *
 * - The tree: `git archive <commit>` into a temp dir, with a symlink to today's node_modules (the
 *   dependencies are the same: `git diff ea01513 HEAD -- package.json deno.json package-lock.json`
 *   adds one script and one import-map alias); Deno, run with that dir as cwd, reads the old
 *   deno.json import map, so `@rubi/*` resolve to the old packages.
 * - Its database: the old code needs the old schema (its EA statements run as `authenticated`,
 *   which today's schema no longer lets write those tables). A second throwaway PostgreSQL 15
 *   cluster, made exactly as tests/integration/global-setup.ts makes the bench's (same
 *   `startCluster` settings: fsync off, pg_cron preloaded), with the old tree's platform SQL, then
 *   its migrations and seed pushed by the Supabase CLI (`--workdir <old tree>`), as the old tree's
 *   own setup did. Not a second database in the bench's cluster: pg_cron's extension can only be
 *   created in `cron.database_name` (`postgres`), which the migrations do, and that setting needs a
 *   restart to change.
 * - Its functions: `functions/<name>/index.ts` of the old tree, unchanged, each its own Deno process
 *   with the same binary, flags and from-scratch environment as today's (./deno-entry.ts), the
 *   caller's config (same Auth JWKS, encryption key shape, log level) and the legacy database URL.
 *   The old `createEdgeDeps` opens a pool of 4, as today's does.
 *
 * Everything is removed by `close()`: the Deno processes, the cluster (and its temp dir), the tree.
 *
 * The embedded default of then: `npm start` run in the old tree (its packages/local-server, PGlite in
 * a fresh data dir of the caller's), as tests/integration/e2e/support/npm-start.ts starts today's.
 */

/** The last commit before the single-call hot path (f50ea5d, ae9b60e). */
export const LEGACY_COMMIT = 'ea01513';

export interface LegacyFunctions {
  commit: string;
  /** The extracted tree. */
  root: string;
  /** The legacy cluster's owner URL. */
  databaseUrl: string;
  /** Its postmaster, for CPU accounting (./cpu.ts). */
  postgresRoot: number | undefined;
  /** The URL of a path whose first segment is a served function, e.g. `/ping`. */
  url(path: string): string;
  pidOf(name: string): number | undefined;
  /** What setting it up took, for the printed notes. */
  timings: string;
  close(): Promise<void>;
}

const seconds = (t0: number): string => `${((performance.now() - t0) / 1000).toFixed(1)} s`;

/** `git archive <commit>` of this repository into a fresh temp dir, with today's node_modules linked in. */
export function extractTree(commit: string): { root: string; remove: () => void } {
  const root = mkdtempSync(join(tmpdir(), `rubi-bench-legacy-${commit}-`));
  const remove = () => rmSync(root, { recursive: true, force: true });
  try {
    execFileSync('sh', ['-c', 'git archive --format=tar "$1" | tar -x -C "$2"', 'sh', commit, root], { cwd: repoRoot, stdio: ['ignore', 'ignore', 'pipe'] });
    symlinkSync(join(repoRoot, 'node_modules'), join(root, 'node_modules'), 'dir');
  } catch (error) {
    remove();
    throw error;
  }
  return { root, remove };
}

/** The old tree's platform SQL (its own supabase/platform), then its migrations and seed, on `url`. */
async function pushLegacySchema(cluster: Cluster, root: string): Promise<void> {
  for (const file of platformSqlFiles(join(root, 'supabase', 'platform'))) {
    const result = await run(cluster.install.psql, ['-X', '-q', '-v', 'ON_ERROR_STOP=1', '-d', cluster.url, '-f', file], { cwd: root });
    if (result.code !== 0) throw new Error(`legacy platform SQL ${file} failed\n${describeRun(result)}`);
  }
  const push = await run(supabaseBin, ['db', 'push', '--include-seed', '--yes', `--remote=${cluster.url}`, '--workdir', root, '--agent', 'no'], {
    cwd: root,
    env: { PGSSLMODE: 'disable' },
    timeoutMs: 170_000,
  });
  if (push.code !== 0) throw new Error(`supabase db push of the legacy tree failed\n${describeRun(push)}`);
}

/**
 * Extracts `commit`, gives it its own cluster with its schema, and serves `names` from it with
 * `env` (SUPABASE_URL, SUPABASE_JWKS, ENCRYPTION_KEY, LOG_LEVEL; SUPABASE_DB_URL is the legacy
 * cluster's). On any failure what was started is removed before the error is rethrown.
 */
export async function startLegacyFunctions(names: readonly string[], env: Record<string, string>, commit = LEGACY_COMMIT): Promise<LegacyFunctions> {
  const t0 = performance.now();
  const steps: string[] = [];
  const tree = extractTree(commit);
  steps.push(`tree ${seconds(t0)}`);
  let cluster: Cluster | undefined;
  const served: Record<string, ServedEntry> = {};
  const close = async (): Promise<void> => {
    await Promise.all(Object.values(served).map((s) => s.stop()));
    await cluster?.stop();
    tree.remove();
  };
  try {
    let t = performance.now();
    cluster = await startCluster(await ensurePg15());
    await pushLegacySchema(cluster, tree.root);
    steps.push(`cluster and schema ${seconds(t)}`);
    const db = createPostgresDb(cluster.url, { max: 1, applicationName: 'rubi-bench-legacy' });
    let postgresRoot: number | undefined;
    try {
      const [backend] = await db.query<{ pid: number }>(asOwner(), 'select pg_backend_pid() as pid');
      postgresRoot = backend ? postmasterOf(backend.pid) : undefined;
    } finally {
      await db.close();
    }
    t = performance.now();
    const config = { ...env, SUPABASE_DB_URL: cluster.url };
    for (const name of names) {
      served[name] = await serveDenoEntry(`functions/${name}/index.ts`, `/${name}/openapi.json`, config, 30_000, tree.root);
    }
    steps.push(`${names.length} functions ${seconds(t)}`);
    const databaseUrl = cluster.url;
    return {
      commit,
      root: tree.root,
      databaseUrl,
      postgresRoot,
      url(path) {
        const name = /^\/([^/?]+)/.exec(path)?.[1];
        const fn = name === undefined ? undefined : served[name];
        if (!fn) throw new Error(`no legacy function serves ${path} (serving: ${Object.keys(served).join(', ')})`);
        return fn.url(path);
      },
      pidOf: (name) => served[name]?.pid,
      timings: `${seconds(t0)} (${steps.join(', ')})`,
      close,
    };
  } catch (error) {
    await close();
    throw error;
  }
}

export interface LegacyNpmStart {
  commit: string;
  server: NpmStart;
  /** Stops the server (SIGTERM to its process group) and removes the tree; the data dir is the caller's. */
  close(): Promise<void>;
}

/** `npm start -- --port <free> --data-dir <dataDir>` in the extracted tree of `commit`. */
export async function startLegacyNpmStart(dataDir: string, commit = LEGACY_COMMIT): Promise<LegacyNpmStart> {
  const tree = extractTree(commit);
  try {
    const server = await startNpmStart({ cwd: tree.root, args: ['--data-dir', dataDir], timeoutMs: 180_000 });
    return {
      commit,
      server,
      async close() {
        await server.stop('SIGTERM');
        tree.remove();
      },
    };
  } catch (error) {
    tree.remove();
    throw error;
  }
}
