// The part of a transaction both adapters share: principal validation, the PostgREST-style role
// switch, parameter encoding, and "a failed statement fails the transaction".
import type { Db, Queryable } from './db.ts';
import { toWireParams, type WireParam } from './params.ts';
import { roleSwitchFor, type Principal } from './principal.ts';

/** Runs one statement on the driver's transaction connection, returning decoded rows. */
export type RawQuery = (text: string, params: WireParam[]) => Promise<Record<string, unknown>[]>;

/** The driver's BEGIN ... COMMIT (ROLLBACK and rethrow when `body` throws). */
export type DriverTransaction = <R>(body: (raw: RawQuery) => Promise<R>) => Promise<R>;

export const SET_ROLE_SQL =
  "select set_config('role', $1, true), set_config('request.jwt.claims', $2, true)";

/** Checks one statement's text and encodes its parameters, as a transaction's `query` does. */
export function singleStatement(text: string, params: readonly unknown[] | undefined): { text: string; params: WireParam[] } {
  if (typeof text !== 'string' || text.trim() === '') throw new TypeError('SQL text must be a non-empty string');
  return { text, params: toWireParams(params) };
}

/**
 * `Db.query`, the same in every adapter: an owner's statement is sent alone, as Postgres's implicit
 * transaction (one round trip, `send`); anyone else's runs in `transaction`, which first switches to
 * the principal's role and claims. Bad input rejects (never throws synchronously).
 */
export async function runQuery<R>(
  principal: Principal,
  text: string,
  params: readonly unknown[] | undefined,
  transaction: Db['transaction'],
  send: RawQuery,
): Promise<R[]> {
  if (principal?.kind !== 'owner') return transaction(principal, (tx) => tx.query<R>(text, params));
  const statement = singleStatement(text, params);
  return (await send(statement.text, statement.params)) as R[];
}

export async function runTransaction<T>(
  principal: Principal,
  fn: (tx: Queryable) => Promise<T>,
  driverTransaction: DriverTransaction,
): Promise<T> {
  const roleSwitch = roleSwitchFor(principal); // throws before anything is sent
  if (typeof fn !== 'function') throw new TypeError('transaction: fn must be a function');

  return driverTransaction(async (raw) => {
    if (roleSwitch) await raw(SET_ROLE_SQL, [roleSwitch.role, roleSwitch.claims]);

    let open = true;
    let failure: { error: unknown } | undefined;
    const tx: Queryable = {
      async query<R = Record<string, unknown>>(text: string, params?: readonly unknown[]): Promise<R[]> {
        if (!open) throw new Error('Queryable used after its transaction ended');
        if (typeof text !== 'string' || text.trim() === '') throw new TypeError('SQL text must be a non-empty string');
        try {
          return (await raw(text, toWireParams(params))) as R[];
        } catch (error) {
          failure ??= { error };
          throw error;
        }
      },
    };

    try {
      const result = await fn(tx);
      if (failure) throw failure.error;
      return result;
    } finally {
      open = false;
    }
  });
}
