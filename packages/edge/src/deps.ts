import { importKeyring, type SecretBox } from '@rubi/crypto';
import { createPostgresDb, type Db } from '@rubi/db';
import { loadEdgeConfig, type EdgeConfig } from './config.ts';
import { createLogger, type Logger, type LogSink } from './log.ts';
import { createUserTokenVerifier, type UserTokenVerifier } from './auth-user.ts';
import { CredentialCache } from './ea-credentials.ts';

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
  const db = overrides.db ?? createPostgresDb(config.SUPABASE_DB_URL, { max: 4, applicationName: 'rubi-edge' });
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
    logger: createLogger({ level: config.LOG_LEVEL, ...(overrides.logSink ? { sink: overrides.logSink } : {}) }),
    now: overrides.now ?? (() => new Date()),
    credentials: new CredentialCache(),
  };
}
