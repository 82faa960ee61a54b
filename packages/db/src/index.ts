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
export { isPgError, type PgError } from './pg-error.ts';
export { createPostgresDb, type PostgresDb, type PostgresDbOptions } from './postgres-db.ts';
// PGlite and the migrator live at '@rubi/db/pglite'.
export type { Database, Json } from './database.types.ts';
