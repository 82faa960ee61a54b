import { importKeyring, type SecretBox } from '@rubi/crypto';
import { createPostgresDb, type Db } from '@rubi/db';
import { loadEdgeConfig, type EdgeConfig } from './config.ts';
import { createLogger, type Logger, type LogSink } from './log.ts';
import { createUserTokenVerifier, type UserTokenVerifier } from './auth-user.ts';
import { CredentialCache } from './ea-credentials.ts';
import { installProcessGuard } from './process-guard.ts';

/**
 * How the functions talk to PostgreSQL when a connection or the database goes away (issue #14):
 * never wait more than DB_REQUEST_TIMEOUT_MS for one request's SQL (then 503 + Retry-After),
 * give up a connection attempt after 3 s, let the server cut a statement or an idle transaction,
 * probe idle sockets with TCP keepalive, and retire idle/old connections.
 */
export const DB_REQUEST_TIMEOUT_MS = 5000;
export const DB_CONNECT_TIMEOUT_SECONDS = 3;
export const DB_STATEMENT_TIMEOUT_MS = 4000;
export const DB_IDLE_IN_TRANSACTION_TIMEOUT_MS = 5000;

/** Everything a function app needs from the outside world, injected so tests and the local server can supply their own. */
export interface EdgeDeps {
  db: Db;
  config: EdgeConfig;
  secretBox: SecretBox;
  verifyUserToken: UserTokenVerifier;
  logger: Logger;
  /** Injectable clock (signature tolerance, server time). */
  now: () => Date;
  /** EA credentials verified recently (see ea-credentials.ts: revocation still takes effect at once). */
  credentials: CredentialCache;
}

export interface EdgeDepsOverrides {
  db?: Db;
  logSink?: LogSink;
  now?: () => Date;
  fetch?: typeof fetch;
}

/** Builds the dependencies from the environment: what every function's index.ts does at start. */
export async function createEdgeDeps(env: Record<string, string | undefined>, overrides: EdgeDepsOverrides = {}): Promise<EdgeDeps> {
  const config = loadEdgeConfig(env);
  const secretBox = await importKeyring(config.ENCRYPTION_KEY, config.ENCRYPTION_KEYS_PREVIOUS);
  // Supabase's pooler runs in transaction mode: no prepared statements (the adapter sets prepare: false).
  const db =
    overrides.db ??
    createPostgresDb(config.SUPABASE_DB_URL, {
      max: 4,
      applicationName: 'rubi-edge',
      connectTimeoutSeconds: DB_CONNECT_TIMEOUT_SECONDS,
      idleTimeoutSeconds: 30,
      maxLifetimeSeconds: 15 * 60,
      keepAliveSeconds: 10,
      maxReconnectDelaySeconds: 0.2,
      statementTimeoutMs: DB_STATEMENT_TIMEOUT_MS,
      idleInTransactionTimeoutMs: DB_IDLE_IN_TRANSACTION_TIMEOUT_MS,
      requestTimeoutMs: DB_REQUEST_TIMEOUT_MS,
    });
  const logger = createLogger({ level: config.LOG_LEVEL, ...(overrides.logSink ? { sink: overrides.logSink } : {}) });
  installProcessGuard(logger);
  return {
    db,
    config,
    secretBox,
    verifyUserToken: createUserTokenVerifier({
      supabaseUrl: config.SUPABASE_URL,
      jwks: config.SUPABASE_JWKS,
      jwtSecret: config.SUPABASE_JWT_SECRET,
      ...(overrides.fetch ? { fetch: overrides.fetch } : {}),
    }),
    logger,
    now: overrides.now ?? (() => new Date()),
    credentials: new CredentialCache(),
  };
}
