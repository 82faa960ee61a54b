import { generateEncryptionKey } from '@rubi/crypto';
import { createPostgresDb, type PostgresDb } from '@rubi/db';
import { databaseUrl } from '../../support/context.ts';
import { createE2eAuth, type E2eAuth } from './auth.ts';
import { startDenoFunctions, type DenoFunctions } from './deno-functions.ts';

/**
 * Everything an end-to-end file needs: the real functions under Deno against the integration
 * PostgreSQL 15, an owner connection for arranging and checking rows, and the Auth stand-in.
 */
export interface E2eStack {
  deno: DenoFunctions;
  /** Database owner connection (arrange, inspect, run cron commands). */
  db: PostgresDb;
  auth: E2eAuth;
  /** Config values the functions got, so tests can prove none of them leaks into logs. */
  secrets: { encryptionKey: string };
  supabaseUrl: string;
  close(): Promise<void>;
}

/** Any URL will do: the functions only derive the token issuer (`<url>/auth/v1`) from it. */
export const E2E_SUPABASE_URL = 'http://supabase.e2e.invalid';

export async function startE2eStack(functionNames: readonly string[]): Promise<E2eStack> {
  const url = databaseUrl();
  const db = createPostgresDb(url, { max: 2, applicationName: 'rubi-e2e-test' });
  const auth = await createE2eAuth(E2E_SUPABASE_URL);
  const encryptionKey = generateEncryptionKey('e2e');
  let deno: DenoFunctions;
  try {
    deno = await startDenoFunctions(functionNames, {
      SUPABASE_URL: E2E_SUPABASE_URL,
      SUPABASE_DB_URL: url,
      SUPABASE_JWKS: auth.jwks,
      ENCRYPTION_KEY: encryptionKey,
      LOG_LEVEL: 'info',
    });
  } catch (error) {
    await db.close();
    throw error;
  }
  return {
    deno,
    db,
    auth,
    secrets: { encryptionKey },
    supabaseUrl: E2E_SUPABASE_URL,
    async close() {
      await deno.stop();
      await db.close();
    },
  };
}
