import { asOwner, createPostgresDb, type PostgresDb } from '@rubi/db';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DENO_RUN_FLAGS, denoBin } from './e2e/support/deno-functions.ts';
import { databaseUrl } from './support/context.ts';
import { repoRoot } from './support/paths.ts';
import { describeRun, run, type RunResult } from './support/run.ts';

// scripts/rebate-plan.ts, the admin CLI for rebate plans (issue #17), run under Deno exactly as
// `npm run rebate-plan` runs it, against the integration PostgreSQL 15.

const BROKER = `Rebate Script Broker ${process.pid}`;
let owner: PostgresDb;

function script(args: string[]): Promise<RunResult> {
  return run(denoBin, ['run', ...DENO_RUN_FLAGS, 'scripts/rebate-plan.ts', ...args], {
    cwd: repoRoot,
    env: { DATABASE_URL: databaseUrl(), NO_COLOR: '1', DENO_NO_UPDATE_CHECK: '1' },
    timeoutMs: 60_000,
  });
}
async function scriptOk(args: string[]): Promise<RunResult> {
  const result = await script(args);
  if (result.code !== 0) throw new Error(`rebate-plan failed\n${describeRun(result)}`);
  return result;
}

beforeAll(async () => {
  owner = createPostgresDb(databaseUrl(), { max: 2 });
  await owner.query(asOwner(), `insert into public.brokers (name, platforms, rebate_per_lot, currency) values ($1, array['MT5'], 7, 'USD')`, [BROKER]);
});
afterAll(async () => {
  await owner?.query(asOwner(), 'delete from public.brokers where name = $1', [BROKER]);
  await owner?.query(asOwner(), `delete from public.fx_rates where base = 'XAF'`);
  await owner?.close();
});

describe('npm run rebate-plan', () => {
  it('creates a plan version with the rules copied, adds a rule, and lists them', async () => {
    const created = JSON.parse((await scriptOk(['create', '--broker', BROKER, '--name', 'v2', '--copy-rules', '--json'])).stdout) as { id: string; copied: number };
    expect(created.copied).toBe(1);
    await scriptOk(['rule', created.id, '--group', 'metals', '--amount', '7', '--multiplier', '1.5', '--currency', 'usd']);
    const listed = JSON.parse((await scriptOk(['list', '--broker', BROKER, '--json'])).stdout) as { name: string; rules: { group: string | null; multiplier: number; currency: string }[] }[];
    expect(listed.map((p) => p.name)).toEqual(['v2', `${BROKER} (default)`]);
    expect(listed[0]?.rules).toEqual(
      expect.arrayContaining([expect.objectContaining({ group: 'metals', multiplier: 1.5, currency: 'USD' }), expect.objectContaining({ group: null })]),
    );
  });

  it('sets a rate and lists it', async () => {
    const set = JSON.parse((await scriptOk(['fx', 'XAF', 'USD', '0.0017', '--json'])).stdout) as { accrued: number };
    expect(set.accrued).toBe(0);
    expect((await scriptOk(['fx-list'])).stdout).toContain('1 XAF = 0.0017 USD');
  });

  it('refuses bad input: a usage error (exit 2) or the database refusing it (exit 1), nothing written', async () => {
    expect((await script(['rule', '00000000-0000-0000-0000-000000000000', '--amount', '1'])).code).toBe(2);
    expect((await script(['fx', 'XAF', 'USD', '-1'])).code).toBe(2);
    const bad = await script(['rule', '00000000-0000-0000-0000-000000000000', '--amount', '1', '--currency', 'USD']);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toContain('23503');
  });
});
