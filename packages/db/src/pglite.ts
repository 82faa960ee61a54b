// The embedded tier: PGlite and the migrator that applies platform SQL and migrations to it.
// Kept apart from the package root so that edge functions (which only talk to PostgreSQL) never
// load PGlite or node:fs.
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
// The transaction core both adapters share, for a PGlite on another thread (the local server's
// database worker: packages/local-server/src/db-worker).
export { runQuery, runTransaction, type DriverTransaction } from './transaction.ts';
