import { asOwner, asService, asUser, isPgError, type Principal, type Queryable } from '@rubi/db';
import type { Context } from 'hono';
import type { Actor, Admission, EdgeEnv } from './env.ts';
import { unauthorized } from './errors.ts';

/** SQLSTATE the gates raise when the credential the function verified with is no longer the stored one. */
const CREDENTIAL_CHANGED = '28P01';

/** The gate that admits a signed EA request in SQL, and its parameters from $1. */
function gate(admission: Admission): { sql: string; params: unknown[] } {
  const { credential, requestId } = admission;
  return credential.kind === 'ea_key'
    ? { sql: 'private.enter_ea_key($1, $2, $3, $4)', params: [credential.keyId, requestId, credential.sealed, credential.scopes] }
    : { sql: 'private.enter_account_ea($1, $2, $3)', params: [credential.externalId, requestId, credential.sealed] };
}

/** The principal of an identity that needs no gate. */
function principalOf(actor: Actor): Principal {
  switch (actor.kind) {
    case 'user':
      return asUser(actor.userId, actor.claims);
    case 'vps_host':
    case 'operator':
    case 'provisioning_token':
      return asService();
    default:
      throw unauthorized();
  }
}

function admissionOf(c: Context<EdgeEnv>): Admission | undefined {
  const kind = c.get('actor').kind;
  if (kind !== 'ea_key' && kind !== 'account_ea') return undefined;
  const admission = c.get('admission');
  if (!admission) throw new Error(`a ${kind} request reached the database without an admission`);
  return admission;
}

/** Runs `attempt`; when the gate says the credential changed, reads it again, verifies again, retries once. */
async function admitted<T>(c: Context<EdgeEnv>, admission: Admission, attempt: (a: Admission) => Promise<T>): Promise<T> {
  try {
    return await attempt(admission);
  } catch (error) {
    if (!isPgError(error) || error.code !== CREDENTIAL_CHANGED) throw error;
    const again = await admission.readAgain();
    c.set('admission', again);
    return attempt(again);
  }
}

/**
 * Runs `fn` in one transaction as the request's identity, so row-level security decides what the
 * request may read or write: a user as `authenticated` with its JWT claims, exactly as PostgREST
 * does; a host or a registering EA as `service_role`; a signed EA through its gate
 * (`private.enter_*` as the transaction's first statement), which checks the credential, remembers
 * the request id and switches to the EA's claims: the replay check commits or rolls back with the
 * work.
 */
export function withDb<T>(c: Context<EdgeEnv>, fn: (tx: Queryable) => Promise<T>): Promise<T> {
  const db = c.get('deps').db;
  const admission = admissionOf(c);
  if (!admission) return db.transaction(principalOf(c.get('actor')), fn);
  return admitted(c, admission, (a) =>
    db.transaction(asOwner(), async (tx) => {
      const { sql, params } = gate(a);
      await tx.query(`select ${sql}`, params);
      return fn(tx);
    }),
  );
}

/**
 * The hot path: a signed EA request as ONE statement in one round trip,
 * `select * from <fn>(<gate>, args...)`. The gate's result (the EA's user id) is the
 * function's first argument, so the gate runs first; the function then runs as the EA (see
 * supabase/migrations/20261130000500_ea_gates_and_hot_path.sql). A scalar result comes back in a
 * column named like the function.
 */
export function callAsEa<T>(c: Context<EdgeEnv>, fn: `private.${string}`, args: readonly unknown[]): Promise<T[]> {
  const admission = admissionOf(c);
  if (!admission) throw new Error(`${fn} is called for signed EA requests only`);
  const db = c.get('deps').db;
  return admitted(c, admission, (a) => {
    const { sql, params } = gate(a);
    const own = args.map((_, i) => `$${params.length + i + 1}`);
    return db.query<T>(asOwner(), `select * from ${fn}(${[sql, ...own].join(', ')})`, [...params, ...args]);
  });
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
