export type { Db, Queryable } from './db.ts';
export {
  asAnon,
  asOwner,
  asService,
  asUser,
  DB_ROLES,
  isDbRole,
  type DbRole,
  type JwtClaims,
  type Principal,
} from './principal.ts';
export { isDatabaseUnavailable, isPgError, type PgError } from './pg-error.ts';
export { createPostgresDb, DatabaseUnavailableError, type PostgresDb, type PostgresDbOptions } from './postgres-db.ts';
// PGlite and the migrator live at '@rubi/db/pglite'.
// The generated schema types (`npm run db:types`); the values of its enums are at '@rubi/db/types'
// (`Constants`), which has no runtime dependency.
export type { Database, Enums, Json, Tables } from './database.types.ts';
