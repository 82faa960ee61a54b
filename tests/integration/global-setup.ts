import type { TestProject } from 'vitest/node';
import { applyPlatformSql, ensurePg15, pushMigrations, startCluster, type Cluster } from './support/cluster.ts';
import { redactPgUrl } from './support/pg-url.ts';

/**
 * Integration tier database, shared by every file of the `integration` vitest project
 * (read it with `databaseUrl()` from ./support/context.ts).
 *
 * - TEST_DATABASE_URL set: use that Supabase-like database (e.g. `supabase start`, whose platform
 *   already provides roles, auth and realtime); only push our migrations and seed to it.
 * - Otherwise: a throwaway Debian PostgreSQL 15 cluster (pg_cron preloaded, wal_level=logical) on a
 *   free port, with supabase/platform/*.sql (minus the PGlite-only files) applied, then the
 *   migrations and seed pushed by the real Supabase CLI. The teardown always removes it.
 */
export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const startedAt = performance.now();
  const seconds = (): string => ((performance.now() - startedAt) / 1000).toFixed(1);

  const external = process.env.TEST_DATABASE_URL;
  if (external !== undefined && external !== '') {
    await pushMigrations(external);
    project.provide('databaseUrl', external);
    console.log(`[integration] TEST_DATABASE_URL ${redactPgUrl(external)}: migrations pushed in ${seconds()}s`);
    return async () => {};
  }

  const install = await ensurePg15();
  const cluster: Cluster = await startCluster(install);
  try {
    const platformFiles = await applyPlatformSql(install, cluster.url);
    await pushMigrations(cluster.url);
    project.provide('databaseUrl', cluster.url);
    console.log(
      `[integration] PostgreSQL 15 on 127.0.0.1:${cluster.port} in ${cluster.dir}: ` +
        `${platformFiles.length} platform SQL files, migrations and seed pushed in ${seconds()}s`,
    );
  } catch (error) {
    await cluster.stop();
    throw error;
  }
  return () => cluster.stop();
}
