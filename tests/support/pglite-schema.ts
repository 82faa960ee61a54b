import { applyPlatformAndMigrations, createPgliteDb, findRepoRoot, type PgliteDb } from '@rubi/db/pglite';

/** A fresh in-memory PGlite with the platform SQL, every migration and the seed applied. */
export async function createMigratedPglite(): Promise<{ db: PgliteDb; applied: string[] }> {
  const db = await createPgliteDb();
  const rootDir = await findRepoRoot(import.meta.url);
  const { applied } = await applyPlatformAndMigrations(db.pglite, { rootDir, seed: true });
  return { db, applied };
}
