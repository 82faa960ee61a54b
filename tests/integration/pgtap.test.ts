import { existsSync, readdirSync } from 'node:fs';
import { relative } from 'node:path';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { locatePg15 } from './support/cluster.ts';
import { databaseUrl } from './support/context.ts';
import { pgTapDir, repoRoot } from './support/paths.ts';
import { parsePgUrl, pgConnArgs, pgConnEnv } from './support/pg-url.ts';
import { psql } from './support/psql.ts';
import { describeRun, run, which } from './support/run.ts';

// pgTAP suite in supabase/tests/database/*.sql, run by pg_prove like `supabase test db` does:
// pgtap is created in the `extensions` schema for the run (and dropped again if we created it),
// and `extensions` is on the search path, as it is for `postgres` on a Supabase project.

let createdPgtap = false;

beforeAll(async () => {
  const url = databaseUrl();
  const out = await psql(
    url,
    `select exists (select 1 from pg_extension where extname = 'pgtap');
     select exists (select 1 from pg_namespace where nspname = 'extensions');`,
  );
  const [hasPgtap, hasExtensionsSchema] = out.trim().split('\n');
  if (hasPgtap !== 't') {
    const schema = hasExtensionsSchema === 't' ? ' with schema extensions' : '';
    await psql(url, `create extension pgtap${schema};`);
    createdPgtap = true;
  }
});

afterAll(async () => {
  if (createdPgtap) await psql(databaseUrl(), 'drop extension if exists pgtap;');
});

test('pgTAP suite (supabase/tests/database) passes under pg_prove', async () => {
  // (git keeps no empty directories: on a fresh clone without tests the directory is absent.)
  const testFiles = existsSync(pgTapDir) ? readdirSync(pgTapDir).filter((name) => name.endsWith('.sql')) : [];
  expect(
    testFiles,
    `no pgTAP test files (*.sql) in ${relative(repoRoot, pgTapDir)}: an empty suite proves nothing`,
  ).not.toHaveLength(0);

  const pgProve = which('pg_prove');
  if (!pgProve) {
    throw new Error('pg_prove not found on PATH: apt-get install libtap-parser-sourcehandler-pgtap-perl');
  }
  const conn = parsePgUrl(databaseUrl());
  const env: NodeJS.ProcessEnv = { ...pgConnEnv(conn) };
  // pg_prove shells out to psql: make sure it finds the v15 one.
  const bindir = locatePg15()?.bindir;
  if (bindir) env.PATH = `${bindir}:${process.env.PATH ?? ''}`;
  env.PGOPTIONS = `${process.env.PGOPTIONS ?? ''} -c search_path="$user",public,extensions`.trim();

  const result = await run(
    pgProve,
    ['--ext', '.sql', '--verbose', '--failures', ...pgConnArgs(conn), `${relative(repoRoot, pgTapDir)}/`],
    { cwd: repoRoot, env, timeoutMs: 170_000 },
  );
  const output = describeRun(result);
  expect(result.code, `pg_prove failed\n${output}`).toBe(0);
  expect(result.stdout, `pg_prove did not report a passing run\n${output}`).toMatch(/^Result: PASS$/m);
  const filesRun = Number(/^Files=(\d+),/m.exec(result.stdout)?.[1] ?? '0');
  expect(filesRun, `pg_prove ran fewer test files than ${pgTapDir} holds\n${output}`).toBeGreaterThanOrEqual(
    testFiles.length,
  );
});
