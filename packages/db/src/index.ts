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
export { createPgliteDb, isPgliteDb, type PgliteDb, type PgliteDbOptions } from './pglite-db.ts';
export {
  applyPlatformAndMigrations,
  findRepoRoot,
  listMigrationFiles,
  listPlatformSqlFiles,
  MigrationError,
  type ApplyOptions,
  type ApplyResult,
} from './migrate.ts';
export type { Database, Json } from './database.types.ts';
