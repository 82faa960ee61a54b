import type { Principal } from './principal.ts';

/**
 * Runs one SQL statement with positional parameters ($1, $2, ...). Extended protocol: exactly one
 * statement per call (no `;`-separated scripts).
 *
 * Parameters are sent as text and the server infers their types, identically on every adapter:
 * - string, number, bigint, boolean, null as you would expect;
 * - Date as an ISO-8601 UTC string; Uint8Array as bytea hex (`\x...`);
 * - arrays (nested for multi-dimensional) as Postgres array literals: `id = any($1)`, `$1::text[]`;
 * - JSON: pass a string and cast, e.g. `insert ... values ($1::jsonb)` with `JSON.stringify(value)`.
 *   Plain objects are rejected so nothing is silently serialized two different ways;
 * - `undefined` (also inside arrays) is rejected with a TypeError instead of becoming NULL.
 *
 * Result values: json/jsonb parsed; timestamptz/timestamp/date as Date (timestamp without time zone
 * read as UTC; `infinity` as ±Infinity); int2/int4/int8/oid/float4/float8 as number (int8 beyond
 * 2^53 loses precision: cast to text or numeric when that matters); numeric and money as string;
 * bool as boolean; bytea as Uint8Array; arrays of these as JS arrays (NULL elements as null);
 * everything else (uuid, text, interval, enums, ...) as the server's text.
 */
export interface Queryable {
  query<T = Record<string, unknown>>(text: string, params?: readonly unknown[]): Promise<T[]>;
}

export interface Db {
  readonly dialect: 'postgres' | 'pglite';
  /**
   * BEGIN; for a role principal first `select set_config('role',$1,true), set_config('request.jwt.claims',$2,true)`;
   * then `fn`; COMMIT. On a throw: ROLLBACK and rethrow the original error.
   * A statement that failed inside `fn` fails the whole transaction even if `fn` caught it (the
   * transaction is aborted in Postgres anyway): the first such error is rethrown after ROLLBACK.
   * Use only `tx` inside `fn`: PGlite has a single connection, so calling `db` again from inside
   * `fn` waits for this very transaction and never returns.
   */
  transaction<T>(principal: Principal, fn: (tx: Queryable) => Promise<T>): Promise<T>;
  /**
   * One statement in its own transaction. For the owner (no role switch) the statement is sent on
   * its own, as Postgres's implicit transaction: one round trip (Parse/Bind/Execute/Sync), where a
   * role principal needs BEGIN, the role switch, the statement and COMMIT. A function that switches
   * role itself (the EA gates, `private.enter_*`) is called this way on the hot path.
   */
  query<T = Record<string, unknown>>(principal: Principal, text: string, params?: readonly unknown[]): Promise<T[]>;
  close(): Promise<void>;
}
