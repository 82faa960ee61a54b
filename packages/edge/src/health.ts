import type { HealthResponse } from '@rubi/contracts/health.ts';
import { asAnon, type Db } from '@rubi/db';

/**
 * The health answer of every function (GET /<name>/health) and of the local server (/health):
 * name, version, and whether `select 1` reaches the database, timed. The query runs the way every
 * request's SQL runs (one transaction, as the least privileged role), so a pool that is exhausted or
 * a database that refuses the role shows here too. It never waits longer than `timeoutMs`: a health
 * check that hangs is worse than one that says no. Errors are reduced to a short reason: a driver's
 * message can carry a host name, never a password, but the check is unauthenticated.
 */

/** The backend's version, reported by /health and in each OpenAPI document (equal to package.json's, checked by a test). */
export const BACKEND_VERSION = '0.1.0';

export const HEALTH_DB_TIMEOUT_MS = 2000;

export async function checkHealth(name: string, db: Db, timeoutMs = HEALTH_DB_TIMEOUT_MS): Promise<HealthResponse> {
  const started = performance.now();
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new HealthTimeout()), timeoutMs);
  });
  const elapsed = () => Math.round((performance.now() - started) * 10) / 10;
  try {
    await Promise.race([db.query(asAnon(), 'select 1'), timeout]);
    return { status: 'ok', name, version: BACKEND_VERSION, database: { reachable: true, latency_ms: elapsed() } };
  } catch (error) {
    return { status: 'degraded', name, version: BACKEND_VERSION, database: { reachable: false, latency_ms: elapsed(), error: reason(error) } };
  } finally {
    clearTimeout(timer);
  }
}

class HealthTimeout extends Error {}

function reason(error: unknown): string {
  if (error instanceof HealthTimeout) return 'timeout';
  const code = typeof error === 'object' && error !== null && 'code' in error ? String((error as { code: unknown }).code) : undefined;
  if (code && /^[A-Z0-9_]{2,40}$/.test(code)) return `unreachable (${code})`;
  return 'unreachable';
}
