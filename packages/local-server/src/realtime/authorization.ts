import { asOwner, isPgError, type Db, type JwtClaims, type Queryable } from '@rubi/db';

// Private channels, authorised the way Supabase Realtime does it (Realtime.Tenants.Authorization):
// in one transaction that is always rolled back,
//   1. probe rows for the topic are inserted into realtime.messages (one per extension);
//   2. the transaction switches to the token's role with its claims and `realtime.topic` set;
//   3. read  = the role can SELECT its probe row (the RLS policies on realtime.messages decide);
//   4. write = an INSERT of a message for the topic succeeds, under a savepoint.
// Nothing is left behind, and no notification escapes (NOTIFY is delivered only on commit).

export interface ExtensionPolicy {
  read: boolean;
  write: boolean;
}

export interface Policies {
  broadcast: ExtensionPolicy;
  presence: ExtensionPolicy;
}

export class PolicyCheckError extends Error {
  override readonly name = 'PolicyCheckError';
}

const SET_CONTEXT = `select set_config('role', $1, true),
       set_config('realtime.topic', $2, true),
       set_config('request.jwt.claims', $3, true),
       set_config('request.jwt.claim.sub', $4, true),
       set_config('request.jwt.claim.role', $5, true),
       set_config('request.headers', $6, true)`;

class Rollback {
  constructor(readonly policies: Policies) {}
}

async function canInsert(tx: Queryable, topic: string, extension: 'broadcast' | 'presence'): Promise<boolean> {
  await tx.query('savepoint realtime_write_check');
  try {
    await tx.query(`insert into realtime.messages (topic, extension, private) values ($1, $2, true)`, [topic, extension]);
    await tx.query('rollback to savepoint realtime_write_check');
    return true;
  } catch (error) {
    await tx.query('rollback to savepoint realtime_write_check');
    // RLS refusing the row (or no grant at all): insufficient_privilege.
    if (isPgError(error) && error.code === '42501') return false;
    throw new PolicyCheckError(error instanceof Error ? error.message : String(error));
  }
}

/**
 * What `claims` may do on the private topic `topic` (without the `realtime:` prefix).
 * Throws PolicyCheckError when a policy itself fails (a broken policy is not a refusal).
 */
export async function authorizeTopic(db: Db, topic: string, claims: JwtClaims, headers: Record<string, string> = {}): Promise<Policies> {
  try {
    await db.transaction(asOwner(), async (tx) => {
      const probes = await tx.query<{ id: string }>(
        `insert into realtime.messages (topic, extension, private) values ($1, 'broadcast', true), ($1, 'presence', true) returning id`,
        [topic],
      );
      await tx.query(SET_CONTEXT, [claims.role, topic, JSON.stringify(claims), typeof claims.sub === 'string' ? claims.sub : '', claims.role, JSON.stringify(headers)]);
      let readable: { extension: string }[];
      try {
        readable = await tx.query<{ extension: string }>(
          `select extension from realtime.messages where topic = $1 and extension in ('broadcast', 'presence') and id = any($2::uuid[])`,
          [topic, probes.map((p) => p.id)],
        );
      } catch (error) {
        throw new PolicyCheckError(error instanceof Error ? error.message : String(error));
      }
      const policies: Policies = {
        broadcast: { read: readable.some((r) => r.extension === 'broadcast'), write: await canInsert(tx, topic, 'broadcast') },
        presence: { read: readable.some((r) => r.extension === 'presence'), write: await canInsert(tx, topic, 'presence') },
      };
      throw new Rollback(policies);
    });
  } catch (outcome) {
    if (outcome instanceof Rollback) return outcome.policies;
    if (outcome instanceof PolicyCheckError) throw outcome;
    throw new PolicyCheckError(outcome instanceof Error ? outcome.message : String(outcome));
  }
  throw new PolicyCheckError('authorisation transaction ended without a verdict');
}
