import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { asOwner, type Db } from '@rubi/db';
import { findRepoRoot } from '@rubi/db/pglite';
import { checkHealth, createEdgeDeps, createLogger, type EdgeDeps, type LogSink } from '@rubi/edge';
import { Hono } from 'hono';
import { createApiDocs } from './api-docs.ts';
import { createAuthStandin } from './auth-standin.ts';
import { CronRunner, type CronRun } from './cron-runner.ts';
import { createDashboardStatic } from './dashboard-static.ts';
import type { LocalDatabase } from './db-worker/client.ts';
import { openMigrated } from './db-worker/host.ts';
import type { OpenOptions } from './db-worker/protocol.ts';
import { FUNCTIONS } from './function-registry.ts';
import { loadLocalSecrets } from './local-secrets.ts';
import { createLocalOperatorRoutes } from './local-operator.ts';
import { createRealtimeServer, REALTIME_WEBSOCKET_PATH, type RealtimeServer } from './realtime/index.ts';

export interface LocalServerOptions {
  /** Where PGlite and the local keys live; undefined = in memory. */
  dataDir?: string;
  /** The URL clients use (tokens' issuer, function URLs). */
  publicUrl: string;
  logSink?: LogSink;
  onCronRun?: (run: CronRun) => void;
  /** Start the cron timers (tests turn them off and run jobs explicitly). */
  cron?: boolean;
  /** The dashboard's static build served at `/`; default `<repository>/packages/dashboard/dist`. */
  dashboardDir?: string;
  /**
   * Opens PGlite (migrated) in `dataDir`/pglite. Default: in this thread. `npm start` passes
   * openDatabaseInWorker (./db-worker/spawn.ts), so the database runs on a core of its own.
   */
  openDatabase?: (options: OpenOptions) => Promise<LocalDatabase>;
}

export interface LocalServer {
  /** Every HTTP request but the Realtime WebSocket upgrade (see `realtime`). */
  fetch(request: Request): Response | Promise<Response>;
  /**
   * Realtime at /realtime/v1/websocket: the transport checks `realtime.isUpgrade(request)`, asks
   * `realtime.accept(request)`, upgrades, and hands the open socket to the decision's `open`.
   */
  realtime: RealtimeServer;
  db: Db;
  deps: EdgeDeps;
  cron: CronRunner;
  /** The service_role key of the /_local operator routes. */
  serviceRoleKey: string;
  applied: string[];
  functionNames: string[];
  close(): Promise<void>;
}

/**
 * The embedded default: a stand-in for a Supabase project on one process. Functions at
 * /functions/v1/<name>/..., Auth at /auth/v1/..., the API reference at /docs, PGlite as the database
 * (platform SQL, migrations and seed applied at start; new migrations on the next start), the
 * pg_cron jobs run in process, Realtime (Broadcast from Database to private channels the RLS
 * policies on realtime.messages allow) at /realtime/v1/websocket, and the reference dashboard at /.
 */
export async function createLocalServer(opts: LocalServerOptions): Promise<LocalServer> {
  const repoRoot = await findRepoRoot(import.meta.url);
  if (opts.dataDir) await mkdir(opts.dataDir, { recursive: true });
  const openDatabase = opts.openDatabase ?? openInProcess;
  const { db, applied, listen } = await openDatabase({ rootDir: repoRoot, ...(opts.dataDir ? { dataDir: `${opts.dataDir}/pglite` } : {}) });
  const secrets = await loadLocalSecrets(opts.dataDir);
  const deps = await createEdgeDeps(
    {
      SUPABASE_URL: opts.publicUrl,
      // Unused: the functions get the PGlite database directly.
      SUPABASE_DB_URL: 'postgresql://pglite@localhost/postgres',
      SUPABASE_JWKS: JSON.stringify({ keys: [secrets.publicJwk] }),
      ENCRYPTION_KEY: secrets.encryptionKey,
      // The hosts' Realtime tokens (POST /vps/realtime-token) are signed with the local Auth key, which
      // the local Realtime trusts, as a project trusts a key imported into its JWT signing keys.
      REALTIME_SIGNING_JWK: JSON.stringify(secrets.privateJwk),
      LOG_LEVEL: 'info',
    },
    { db, ...(opts.logSink ? { logSink: opts.logSink } : {}) },
  );

  const realtime = await createRealtimeServer({
    db,
    jwks: { keys: [secrets.publicJwk] },
    listen,
    logger: createLogger({ ...(opts.logSink ? { sink: opts.logSink } : {}), level: 'info', base: { fn: 'realtime' } }),
  });

  const app = new Hono();
  const functionNames = Object.keys(FUNCTIONS);
  for (const [name, factory] of Object.entries(FUNCTIONS)) {
    const fn = factory(deps);
    // Each app has basePath('/<name>'); strip the gateway prefix like the Edge Runtime does.
    app.all(`/functions/v1/${name}`, (c) => fn.fetch(stripPrefix(c.req.raw)));
    app.all(`/functions/v1/${name}/*`, (c) => fn.fetch(stripPrefix(c.req.raw)));
  }
  const cron = new CronRunner(db, opts.onCronRun);
  app.route('/', createAuthStandin(db, secrets, opts.publicUrl));
  app.route('/', createApiDocs(repoRoot, functionNames));
  app.route('/', createLocalOperatorRoutes(db, cron, secrets.publicJwk));
  // The WebSocket itself is upgraded by the transport (main.ts); a plain GET is told so.
  app.get(REALTIME_WEBSOCKET_PATH, (c) => c.json({ message: 'Realtime: connect with a WebSocket (supabase-js does)' }, 426, { upgrade: 'websocket' }));
  // The same answer as each function's /<name>/health, for the process as a whole.
  app.get('/health', async (c) => {
    const health = await checkHealth('local-server', db);
    return c.json(health, health.status === 'ok' ? 200 : 503);
  });
  // What `GET /` answers a client asking for JSON (`npm run demo` reads data_dir from it); a browser
  // gets the dashboard, and any other page path the dashboard's index.html (SPA fallback). Last: it
  // only answers what no route above did.
  const info = () => ({
    name: 'Rubi MT Bridge (local)',
    dashboard: `${opts.publicUrl}/`,
    functions: functionNames.map((n) => `${opts.publicUrl}/functions/v1/${n}`),
    docs: `${opts.publicUrl}/docs`,
    health: `${opts.publicUrl}/health`,
    realtime: `${opts.publicUrl.replace(/^http/, 'ws')}${REALTIME_WEBSOCKET_PATH}`,
    // Where the service_role key is (local-secrets.json), so `npm run demo` finds it; null in memory.
    data_dir: opts.dataDir ?? null,
  });
  app.route('/', createDashboardStatic(opts.dashboardDir ?? join(repoRoot, 'packages', 'dashboard', 'dist'), info));

  if (opts.cron !== false) await cron.start();

  return {
    fetch: app.fetch,
    realtime,
    db,
    deps,
    cron,
    serviceRoleKey: secrets.serviceRoleKey,
    applied,
    functionNames,
    async close() {
      cron.stop();
      await realtime.close();
      await db.query(asOwner(), 'checkpoint').catch(() => undefined);
      await db.close();
    },
  };
}

async function openInProcess(options: OpenOptions): Promise<LocalDatabase> {
  const { db, applied } = await openMigrated(options);
  return { db, applied, listen: (channel, callback) => db.pglite.listen(channel, callback) };
}

function stripPrefix(request: Request): Request {
  const url = new URL(request.url);
  url.pathname = url.pathname.replace(/^\/functions\/v1/, '');
  return new Request(url, request);
}
