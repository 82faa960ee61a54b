import { afterAll, describe, expect, test } from 'vitest';
import { databaseUrl } from './support/context.ts';
import { psql } from './support/psql.ts';
import { describeRun } from './support/run.ts';
import { parseCliJson, runSupabase } from './support/supabase-cli.ts';

// Supabase's database advisors (the splinter lints behind the dashboard's Security and Performance
// Advisors), run by the real CLI against the integration database. Any WARN or ERROR fails.

interface AdvisorFinding {
  name: string;
  title?: string;
  level: string;
  categories?: string[];
  detail?: string;
  remediation?: string;
  cacheKey?: string;
}

async function advisorFindings(): Promise<AdvisorFinding[]> {
  const result = await runSupabase(
    ['db', 'advisors', '--type', 'all', '--level', 'warn', '--fail-on', 'none', '--output-format', 'json'],
    databaseUrl(),
  );
  if (result.code !== 0) throw new Error(`supabase db advisors failed\n${describeRun(result)}`);
  const parsed = parseCliJson(result) as { results?: unknown };
  if (!Array.isArray(parsed.results)) {
    throw new Error(`unexpected advisors JSON (no "results" array)\n${describeRun(result)}`);
  }
  return parsed.results as AdvisorFinding[];
}

function format(findings: readonly AdvisorFinding[]): string {
  return findings
    .map((f) => `- [${f.level}] ${f.name}: ${f.detail ?? f.title ?? ''}\n    remediation: ${f.remediation ?? 'n/a'}`)
    .join('\n');
}

// Sequential on purpose: the canary runs first and drops its table before the real check.
describe.sequential('supabase db advisors', () => {
  const canary = 'public.advisor_canary';
  afterAll(async () => {
    await psql(databaseUrl(), `drop table if exists ${canary};`);
  });

  test('detects a table in public without RLS (canary: proves the advisors really run)', async () => {
    await psql(databaseUrl(), `create table ${canary} (id int primary key);`);
    try {
      const findings = await advisorFindings();
      const hit = findings.find(
        (f) => f.name === 'rls_disabled_in_public' && (f.detail ?? '').includes('advisor_canary'),
      );
      expect(hit, `expected rls_disabled_in_public for ${canary}; got:\n${format(findings)}`).toBeDefined();
      expect(hit?.level).toBe('ERROR');
    } finally {
      await psql(databaseUrl(), `drop table if exists ${canary};`);
    }
  });

  test('report no WARN or ERROR finding on our schema', async () => {
    const findings = (await advisorFindings()).filter((f) => f.level === 'WARN' || f.level === 'ERROR');
    expect(findings, `database advisors report ${findings.length} finding(s):\n${format(findings)}`).toEqual([]);
  });
});
