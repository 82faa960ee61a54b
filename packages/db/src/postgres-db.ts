import postgres from 'postgres';
import type { Db, Queryable } from './db.ts';
import type { Principal } from './principal.ts';
import { withStandardPgFields } from './pg-error.ts';
import { VALUE_PARSERS } from './pg-values.ts';
import type { WireParam } from './params.ts';
import { runQuery, runTransaction } from './transaction.ts';

export interface PostgresDb extends Db {
  readonly dialect: 'postgres';
  /** The postgres.js instance (for LISTEN/NOTIFY or streaming; prefer `transaction` for queries). */
  readonly sql: postgres.Sql;
}

export interface PostgresDbOptions {
  /** Pool size (default 10). */
  max?: number;
  applicationName?: string;
  /** Server NOTICE/WARNING messages; ignored by default. */
  onNotice?: (notice: postgres.Notice) => void;
  /** Seconds to wait for a new connection (TCP + startup + auth); postgres.js's default is 30. */
  connectTimeoutSeconds?: number;
  /** Close a connection idle this long (seconds); default: never. */
  idleTimeoutSeconds?: number;
  /** Replace every connection after this many seconds; postgres.js default: 30-60 min, random. */
  maxLifetimeSeconds?: number;
  /**
   * Upper bound (seconds) of the wait before a pool connection reconnects after an error.
   * postgres.js's default grows with every error the pool saw (3^n / 100 s, up to 20 s), so after
   * a short outage the pool could sit out for seconds after the database was back. Default: theirs.
   */
  maxReconnectDelaySeconds?: number;
  /** TCP keepalive: first probe after this many idle seconds (postgres.js default 60). */
  keepAliveSeconds?: number;
  /** Server side `statement_timeout` (ms) set at connection start; default: the server's. */
  statementTimeoutMs?: number;
  /** Server side `idle_in_transaction_session_timeout` (ms); default: the server's. */
  idleInTransactionTimeoutMs?: number;
  /**
   * Client-side deadline (ms) for one `transaction`/`query`, waiting for a connection included.
   * Past it the call rejects with DatabaseUnavailableError (code DB_TIMEOUT) and the whole pool is
   * replaced: a connection that stopped answering (half-open socket, lost server) never comes back
   * by itself, and postgres.js cannot discard a single one from outside. Default: none.
   */
  requestTimeoutMs?: number;
}

/** A call that could not reach the database in time (see PostgresDbOptions.requestTimeoutMs). */
export class DatabaseUnavailableError extends Error {
  readonly code = 'DB_TIMEOUT';
  constructor(message: string) {
    super(message);
    this.name = 'DatabaseUnavailableError';
  }
}

// Override postgres.js's type handling with our decoders (see pg-values.ts) and make serialization
// a no-op: params.ts has already turned every parameter into text. Registering the built-in array
// types here also keeps postgres.js's own array parser (which returns NULL elements as the string
// 'NULL') off them.
function postgresJsTypes(): Record<string, postgres.PostgresType> {
  const types: Record<string, postgres.PostgresType> = {};
  const passThrough = (value: unknown): unknown => value;
  for (const [oid, parse] of Object.entries(VALUE_PARSERS)) {
    types[`oid_${oid}`] = { to: Number(oid), from: [Number(oid)], serialize: passThrough, parse };
  }
  return types;
}

/**
 * `sql.unsafe(text, params)` in ONE round trip. postgres.js without prepared statements sends a
 * parameterised query in two: Parse + Describe, wait for the parameter types, then Bind + Execute
 * (it needs the types to pick serializers). Ours need none: params.ts has turned every parameter
 * into text (or null) and the server infers each type from the statement. So the query is built
 * with no arguments, which takes postgres.js's one-trip path (Parse, Describe, Bind, Execute, Sync
 * in one write), and the wire parameters are put where Bind reads them (`parameters`, which
 * postgres.js keeps when set). `simple: false` keeps it off the simple-query protocol it uses for
 * argument-less calls. Should postgres.js ever stop reading them, the server refuses the Bind
 * ("bind message supplies 0 parameters"): every parameterised test fails, nothing passes silently.
 */
function oneTrip(sql: postgres.Sql | postgres.TransactionSql, text: string, params: readonly WireParam[]): Promise<postgres.RowList<postgres.Row[]>> {
  if (params.length === 0) return sql.unsafe(text, []);
  // `simple` is read by unsafe() but missing from postgres.js's UnsafeQueryOptions type.
  const query = sql.unsafe(text, [], { simple: false } as postgres.UnsafeQueryOptions);
  (query as unknown as { parameters: WireParam[] }).parameters = [...params];
  return query;
}

/** postgres.js's own backoff (jittered 3^n / 100 s), capped at `max` seconds. */
function reconnectDelay(max: number): (retries: number) => number {
  return (retries) => Math.min((0.5 + Math.random() / 2) * (3 ** retries / 100), max);
}

/**
 * postgres.js, safe behind a transaction-mode pooler (Supavisor, PgBouncer): no named prepared
 * statements, and the role switch is transaction-local.
 */
export function createPostgresDb(url: string, opts: PostgresDbOptions = {}): PostgresDb {
  const connection: Record<string, string> = { application_name: opts.applicationName ?? 'rubi-db' };
  if (opts.statementTimeoutMs !== undefined) connection.statement_timeout = String(opts.statementTimeoutMs);
  if (opts.idleInTransactionTimeoutMs !== undefined) {
    connection.idle_in_transaction_session_timeout = String(opts.idleInTransactionTimeoutMs);
  }
  const open = (): postgres.Sql =>
    postgres(url, {
      prepare: false,
      max: opts.max ?? 10,
      onnotice: opts.onNotice ?? (() => {}),
      connection,
      types: postgresJsTypes(),
      ...(opts.connectTimeoutSeconds !== undefined ? { connect_timeout: opts.connectTimeoutSeconds } : {}),
      ...(opts.idleTimeoutSeconds !== undefined ? { idle_timeout: opts.idleTimeoutSeconds } : {}),
      ...(opts.maxLifetimeSeconds !== undefined ? { max_lifetime: opts.maxLifetimeSeconds } : {}),
      ...(opts.keepAliveSeconds !== undefined ? { keep_alive: opts.keepAliveSeconds } : {}),
      ...(opts.maxReconnectDelaySeconds !== undefined
        ? { backoff: reconnectDelay(opts.maxReconnectDelaySeconds) }
        : {}),
    });
  let sql = open();

  // Replaces the pool after a deadline passed: the old one's connections are destroyed (their
  // pending queries reject with CONNECTION_DESTROYED) and new calls get fresh connections.
  const recycle = (stale: postgres.Sql): void => {
    if (sql !== stale) return; // another timeout already replaced it
    sql = open();
    stale.end({ timeout: 0 }).catch(() => {});
  };

  const withDeadline = async <T>(run: (current: postgres.Sql) => Promise<T>): Promise<T> => {
    const current = sql;
    const limit = opts.requestTimeoutMs;
    if (limit === undefined) return run(current);
    let timer: ReturnType<typeof setTimeout> | undefined;
    const work = run(current);
    const deadline = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        recycle(current);
        reject(new DatabaseUnavailableError(`database did not answer within ${limit} ms`));
      }, limit);
    });
    work.catch(() => {}); // settles after the deadline: already answered
    try {
      return await Promise.race([work, deadline]);
    } finally {
      clearTimeout(timer);
    }
  };

  const transaction = async <T>(principal: Principal, fn: (tx: Queryable) => Promise<T>): Promise<T> =>
    runTransaction(principal, fn, (body) => withDeadline(async (sql) => {
      try {
        // Boxed: sql.begin awaits a returned array's elements (Promise.all).
        const boxed = await sql.begin(async (tx) => ({
          value: await body(async (text, params) => {
            try {
              return [...(await oneTrip(tx, text, params))];
            } catch (error) {
              throw withStandardPgFields(error);
            }
          }),
        }));
        return boxed.value;
      } catch (error) {
        throw withStandardPgFields(error);
      }
    }));

  return {
    dialect: 'postgres',
    get sql() {
      return sql;
    },
    transaction,
    query: <R>(principal: Principal, text: string, params?: readonly unknown[]): Promise<R[]> =>
      runQuery<R>(principal, text, params, transaction, (t, p) =>
        withDeadline(async (sql) => {
          try {
            return [...(await oneTrip(sql, t, p))];
          } catch (error) {
            throw withStandardPgFields(error);
          }
        }),
      ),
    async close() {
      await sql.end({ timeout: 5 });
    },
  };
}
