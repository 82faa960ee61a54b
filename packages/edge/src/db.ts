import type { Queryable } from '@rubi/db';
import type { Context } from 'hono';
import type { EdgeEnv } from './env.ts';
import { unauthorized } from './errors.ts';

/**
 * Runs `fn` in one transaction as the request's principal: `set local role` + the JWT claims,
 * exactly as PostgREST does, so row-level security decides what the request may read or write.
 */
export function withDb<T>(c: Context<EdgeEnv>, fn: (tx: Queryable) => Promise<T>): Promise<T> {
  const principal = c.get('principal');
  if (!principal) throw unauthorized();
  return c.get('deps').db.transaction(principal, fn);
}

/** One row or undefined. */
export async function one<T>(tx: Queryable, sql: string, params: readonly unknown[] = []): Promise<T | undefined> {
  const rows = await tx.query<T>(sql, params);
  return rows[0];
}

/** Timestamps leave the API as ISO-8601 strings (null stays null). */
export function iso(value: Date | null | undefined): string | null {
  return value ? value.toISOString() : null;
}
export function isoRequired(value: Date): string {
  return value.toISOString();
}
