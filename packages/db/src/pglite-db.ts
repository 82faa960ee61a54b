import { PGlite, type QueryOptions } from '@electric-sql/pglite';
import { pgcrypto } from '@electric-sql/pglite/contrib/pgcrypto';
import type { Db, Queryable } from './db.ts';
import type { Principal } from './principal.ts';
import { VALUE_PARSERS } from './pg-values.ts';
import { runQuery, runTransaction } from './transaction.ts';

export interface PgliteDb extends Db {
  readonly dialect: 'pglite';
  /** The underlying instance (for the migrator, `exec` of scripts, LISTEN, dumps). */
  readonly pglite: PGlite;
}

export interface PgliteDbOptions {
  /** Directory to persist to; undefined = in memory. */
  dataDir?: string;
  /** Use an existing instance instead (the caller owns it: `close()` then leaves it open). */
  pglite?: PGlite;
}

// Parameters arrive already encoded as text (params.ts): keep PGlite from re-encoding them by
// the described parameter type (its bytea serializer rejects strings, its json one would be a no-op).
const passThrough = (value: unknown): string => String(value);
const QUERY_OPTIONS: QueryOptions = {
  parsers: { ...VALUE_PARSERS },
  serializers: Object.fromEntries([16, 17, 20, 114, 1082, 1114, 1184, 3802].map((oid) => [oid, passThrough])),
};

/** PGlite with pgcrypto, decoding values exactly like createPostgresDb. */
export async function createPgliteDb(opts: PgliteDbOptions = {}): Promise<PgliteDb> {
  const owned = opts.pglite === undefined;
  const pg: PGlite =
    opts.pglite ??
    (await PGlite.create({ dataDir: opts.dataDir, extensions: { pgcrypto }, parsers: { ...VALUE_PARSERS } }));

  const transaction = <T>(principal: Principal, fn: (tx: Queryable) => Promise<T>): Promise<T> =>
    runTransaction(principal, fn, (body) =>
      pg.transaction((t) =>
        body(async (text, params) => (await t.query<Record<string, unknown>>(text, params, QUERY_OPTIONS)).rows),
      ),
    );

  return {
    dialect: 'pglite',
    pglite: pg,
    transaction,
    query: <R>(principal: Principal, text: string, params?: readonly unknown[]): Promise<R[]> =>
      // PGlite's query waits for a running transaction (one connection), like a pool would.
      runQuery<R>(principal, text, params, transaction, async (t, p) => (await pg.query<Record<string, unknown>>(t, p, QUERY_OPTIONS)).rows),
    async close() {
      if (owned && !pg.closed) await pg.close();
    },
  };
}

export function isPgliteDb(db: Db): db is PgliteDb {
  return db.dialect === 'pglite' && 'pglite' in db;
}
