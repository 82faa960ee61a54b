import postgres from 'postgres';
import type { Db, Queryable } from './db.ts';
import type { Principal } from './principal.ts';
import { withStandardPgFields } from './pg-error.ts';
import { VALUE_PARSERS } from './pg-values.ts';
import { runTransaction, singleStatement } from './transaction.ts';

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
 * postgres.js, safe behind a transaction-mode pooler (Supavisor, PgBouncer): no named prepared
 * statements, and the role switch is transaction-local.
 */
export function createPostgresDb(url: string, opts: PostgresDbOptions = {}): PostgresDb {
  const sql = postgres(url, {
    prepare: false,
    max: opts.max ?? 10,
    onnotice: opts.onNotice ?? (() => {}),
    connection: { application_name: opts.applicationName ?? 'rubi-db' },
    types: postgresJsTypes(),
  });

  const transaction = async <T>(principal: Principal, fn: (tx: Queryable) => Promise<T>): Promise<T> =>
    runTransaction(principal, fn, async (body) => {
      try {
        // Boxed: sql.begin awaits a returned array's elements (Promise.all).
        const boxed = await sql.begin(async (tx) => ({
          value: await body(async (text, params) => {
            try {
              return [...(await tx.unsafe(text, params))];
            } catch (error) {
              throw withStandardPgFields(error);
            }
          }),
        }));
        return boxed.value;
      } catch (error) {
        throw withStandardPgFields(error);
      }
    });

  return {
    dialect: 'postgres',
    sql,
    transaction,
    async query<R>(principal: Principal, text: string, params?: readonly unknown[]): Promise<R[]> {
      if (principal?.kind !== 'owner') return transaction(principal, (tx) => tx.query<R>(text, params));
      const statement = singleStatement(text, params);
      try {
        return [...(await sql.unsafe(statement.text, statement.params))] as R[];
      } catch (error) {
        throw withStandardPgFields(error);
      }
    },
    async close() {
      await sql.end({ timeout: 5 });
    },
  };
}
