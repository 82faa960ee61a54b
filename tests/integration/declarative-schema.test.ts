import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import {
  buildAndSnapshot,
  compareSnapshots,
  draftMigration,
  formatDifferences,
  sqlFilesIn,
  type CatalogSnapshot,
} from './support/catalog.ts';
import { databaseUrl } from './support/context.ts';
import { supabaseDir } from './support/paths.ts';

// supabase/schemas/*.sql is the current schema written once per object; supabase/migrations is how
// it gets deployed. Both build a database on the integration cluster (one after the other, in a
// scratch database next to the tier's own: see support/catalog.ts, which also says exactly what is
// compared and what is normalised), and the two catalogs must be identical.
//
// Runs on the throwaway cluster only: it rebuilds the platform from supabase/platform, which stands
// in for what a Supabase stack provides and is not applied to a TEST_DATABASE_URL database.

const migrationsDir = join(supabaseDir, 'migrations');
const schemasDir = join(supabaseDir, 'schemas');
const external = (process.env.TEST_DATABASE_URL ?? '') !== '';

describe.skipIf(external)('declarative schema (supabase/schemas) and migrations build the same catalog', () => {
  let fromMigrations: CatalogSnapshot;
  let fromSchemas: CatalogSnapshot;
  const scratchDirs: string[] = [];

  beforeAll(async () => {
    fromMigrations = await buildAndSnapshot(databaseUrl(), sqlFilesIn(migrationsDir));
    fromSchemas = await buildAndSnapshot(databaseUrl(), sqlFilesIn(schemasDir));
  });

  afterAll(() => {
    for (const dir of scratchDirs) rmSync(dir, { recursive: true, force: true });
  });

  test('the comparison sees the whole schema (it is not vacuous)', () => {
    const objects = [...fromMigrations.objects.keys()];
    expect(objects.filter((key) => key.startsWith('TABLE public.')).length).toBeGreaterThanOrEqual(12);
    expect(objects.filter((key) => key.startsWith('POLICY ')).length).toBeGreaterThanOrEqual(25);
    expect(objects.filter((key) => key.startsWith('FUNCTION private.')).length).toBeGreaterThanOrEqual(40);
    expect(objects).toEqual(
      expect.arrayContaining([
        'FUNCTION private.claim_accounts(uuid, integer, text[])',
        'TRIGGER public.closed_trades closed_trades_broadcast_insert',
        'POLICY realtime.messages users receive their own topic',
        'COMMENT COLUMN private.vps_hosts.dedicated_user_id',
        'ACL FUNCTION private.claim_accounts(p_host_id uuid, p_limit integer, p_platforms text[])',
        'DEFAULT ACL DEFAULT PRIVILEGES FOR TABLES IN SCHEMA public',
        'EXTENSION pg_cron',
      ]),
    );
    const facts = [...fromMigrations.facts.keys()];
    expect(facts.filter((key) => key.startsWith('CRON JOB rubi-')).length).toBeGreaterThanOrEqual(9);
    expect(facts).toEqual(
      expect.arrayContaining([
        'ROWS private.settings',
        'ROWS private.state_transitions',
        'DATED PARTITIONS OF public.account_snapshots',
      ]),
    );
  });

  test('supabase/schemas builds exactly the catalog supabase/migrations builds', async () => {
    const differences = compareSnapshots(fromMigrations, fromSchemas);
    if (differences.length === 0) return;
    // The tier's database has the migrations (pushed by global-setup): a draft of the migration that
    // would bring it to supabase/schemas, to review and save (reference rows are not in it).
    const draft = await draftMigration(databaseUrl(), sqlFilesIn(schemasDir));
    const report =
      `supabase/migrations (${sqlFilesIn(migrationsDir).map((f) => basename(f)).join(', ')}) and ` +
      `supabase/schemas build different catalogs: ${String(differences.length)} object(s) differ.\n` +
      `Write every schema change twice: in supabase/schemas/<domain>.sql and as a new migration.\n\n` +
      `${formatDifferences(differences, 'migrations', 'schemas')}\n\n` +
      `Draft migration from the migrations to supabase/schemas (supabase db diff; review it, it is not ` +
      `an apply script; reference rows such as private.settings or private.state_transitions are not in it):\n` +
      `${draft}\n`;
    expect(differences.map((d) => d.object), report).toEqual([]);
  });

  test('canary: a copy of supabase/schemas with a policy, a function, a job and a reference row altered is reported, naming each', async () => {
    const copy = mkdtempSync(join(tmpdir(), 'rubi-schemas-canary-'));
    scratchDirs.push(copy);
    cpSync(schemasDir, copy, { recursive: true });
    const alter = (file: string, from: string, to: string): void => {
      const path = join(copy, file);
      const text = readFileSync(path, 'utf8');
      expect(text.split(from).length - 1, `canary: expected exactly one "${from}" in supabase/schemas/${file}`).toBe(1);
      writeFileSync(path, text.replace(from, to));
    };
    alter(
      '050_notifications.sql',
      'for delete to authenticated using (user_id = (select auth.uid()));',
      'for delete to authenticated using (true);',
    );
    alter('010_foundation.sql', 'new.updated_at := now();', 'new.updated_at := clock_timestamp();');
    alter('900_cron_jobs.sql', "'rubi-settle-cashback', '5 0 * * *'", "'rubi-settle-cashback', '10 0 * * *'");
    alter('030_signals.sql', "('signal', 'PENDING', 'CANCELLED', 'any')", "('signal', 'PENDING', 'CANCELLED', 'ea')");

    const altered = await buildAndSnapshot(databaseUrl(), sqlFilesIn(copy));
    // Against the unaltered files' build, so that only the alterations count (whatever the state of
    // the migrations): exactly the four objects, each reported as changed, with the change shown.
    const differences = compareSnapshots(fromSchemas, altered);
    const report = formatDifferences(differences, 'schemas', 'altered copy');
    expect(differences.map((d) => d.object).sort(), report).toEqual([
      'CRON JOB rubi-settle-cashback',
      'FUNCTION private.set_updated_at()',
      'POLICY public.notifications owners delete their notifications',
      'ROWS private.state_transitions',
    ]);
    expect(differences.every((d) => d.kind === 'differs'), report).toBe(true);
    // The report shows the change itself, on both sides.
    expect(report).toMatch(/^ {4}- CREATE POLICY "owners delete their notifications" .* USING \(\(user_id = \( SELECT auth\.uid\(\) AS uid\)\)\);$/m);
    expect(report).toMatch(/^ {4}\+ CREATE POLICY "owners delete their notifications" .* USING \(true\);$/m);
    expect(report).toMatch(/^ {4}- {3}new\.updated_at := now\(\);$/m);
    expect(report).toMatch(/^ {4}\+ {3}new\.updated_at := clock_timestamp\(\);$/m);
    expect(report).toMatch(/^ {4}\+ schedule 10 0 \* \* \* \| command select private\.settle_cashback\(\)/m);
    expect(report).toMatch(/^ {4}\+ \{"actor": "ea", "machine": "signal", "to_state": "CANCELLED", "from_state": "PENDING"\}$/m);
  });
});
