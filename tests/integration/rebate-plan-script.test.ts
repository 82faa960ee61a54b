import { asOwner, createPostgresDb, type PostgresDb } from '@rubi/db';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DENO_RUN_FLAGS, denoBin } from './e2e/support/deno-functions.ts';
import { databaseUrl } from './support/context.ts';
import { repoRoot } from './support/paths.ts';
import { describeRun, run, type RunResult } from './support/run.ts';

// scripts/rebate-plan.ts, the admin CLI for rebate plans (issue #17), run under Deno exactly as
// `npm run rebate-plan` runs it, against the integration PostgreSQL 15.

const BROKER = `Rebate Script Broker ${process.pid}`;
const USER = '00000000-0000-4000-8000-0000000000a1';
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
  // The user first: their account and its trade go with them, then nothing holds the broker's plans.
  await owner?.query(asOwner(), 'delete from auth.users where id = $1', [USER]);
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
    // A rate dated in the future is refused (trades are priced at the rate in force), nothing set.
    const future = await script(['fx', 'XAF', 'USD', '0.0018', '--as-of', new Date(Date.now() + 3_600_000).toISOString()]);
    expect(future.code).toBe(1);
    expect(future.stderr).toContain('rebate-plan: as_of is later than the server\'s clock');
    expect(future.stderr).toContain('(22023)');
    expect((await scriptOk(['fx-list'])).stdout).not.toContain('0.0018');
  });

  it('deletes a rule or plan that priced no trade, and refuses deleting one that did, or a rule of its plan, or adding one to it, with a readable message, nothing changed', async () => {
    const plan = JSON.parse((await scriptOk(['create', '--broker', BROKER, '--name', 'v3', '--valid-from', '2020-01-01T00:00:00Z', '--json'])).stdout) as { id: string };
    const addRule = async () => (JSON.parse((await scriptOk(['rule', plan.id, '--amount', '5', '--currency', 'USD', '--json'])).stdout) as { id: string }).id;
    const unused = await addRule();
    expect((await scriptOk(['delete-rule', unused])).stdout).toContain(`Deleted rule ${unused}.`);
    const used = await addRule();
    const metals = (JSON.parse((await scriptOk(['rule', plan.id, '--group', 'metals', '--amount', '9', '--currency', 'USD', '--json'])).stdout) as { id: string }).id;
    // A trade this rule priced (written as the owner: the audit trail the guard keeps).
    await owner.query(asOwner(), `insert into auth.users (id, aud, role, email) values ($1, 'authenticated', 'authenticated', 'rebate-script@example.test')`, [USER]);
    await owner.query(
      asOwner(),
      `with a as (
         insert into public.trading_accounts (user_id, broker_id, platform, login, server)
         select $1, b.id, 'MT5', 4242, 'Script-Live' from public.brokers b where b.name = $2 returning id, user_id)
       insert into public.closed_trades (account_id, user_id, ticket, symbol, type, lots, open_time, close_time, open_price, close_price,
         rebate_rule_id, rebate_amount, rebate_currency, fx_rate, cashback_rate, cashback_amount)
       select a.id, a.user_id, 1, 'EURUSD', 'BUY', 1, now() - interval '1 hour', now(), 1.1, 1.2, $3, 5, 'USD', 1, 5, 5 from a`,
      [USER, BROKER, used],
    );
    const rule = await script(['delete-rule', used]);
    expect(rule.code).toBe(1);
    expect(rule.stderr).toContain(`rebate-plan: rebate rule ${used} priced trades: it cannot be deleted; add a new plan version instead (23001)`);
    expect(rule.stderr).toContain('--copy-rules');
    const whole = await script(['delete-plan', plan.id]);
    expect(whole.code).toBe(1);
    expect(whole.stderr).toContain(`rebate-plan: rebate plan ${plan.id} ("v3") priced trades: it cannot be deleted; add a new plan version instead (23001)`);
    const frozen = await script(['delete-rule', metals]);
    expect(frozen.code).toBe(1);
    expect(frozen.stderr).toContain(`rebate-plan: rebate plan ${plan.id} ("v3") priced trades: its rule ${metals} cannot be deleted; add a new plan version instead (23001)`);
    const added = await script(['rule', plan.id, '--symbol', 'XAUUSD', '--amount', '6', '--currency', 'USD']);
    expect(added.code).toBe(1);
    expect(added.stderr).toContain(`rebate-plan: rebate plan ${plan.id} ("v3") priced trades: it cannot be given a new rule; add a new plan version instead (23001)`);
    expect(added.stderr).toContain('--copy-rules');
    const [left] = await owner.query<{ n: number }>(asOwner(), 'select count(*)::int as n from public.rebate_rules where plan_id = $1', [plan.id]);
    expect(left?.n).toBe(2);

    const spare = JSON.parse((await scriptOk(['create', '--broker', BROKER, '--name', 'v4', '--valid-from', '2021-01-01T00:00:00Z', '--json'])).stdout) as { id: string };
    await scriptOk(['rule', spare.id, '--amount', '6', '--currency', 'USD']);
    expect((await scriptOk(['delete-plan', spare.id])).stdout).toContain(`Deleted plan ${spare.id}.`);
    const missing = await script(['delete-rule', unused]);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain(`no rule ${unused}`);
  });

  it('refuses bad input: a usage error (exit 2) or the database refusing it (exit 1), nothing written', async () => {
    expect((await script(['rule', '00000000-0000-0000-0000-000000000000', '--amount', '1'])).code).toBe(2);
    expect((await script(['fx', 'XAF', 'USD', '-1'])).code).toBe(2);
    const bad = await script(['rule', '00000000-0000-0000-0000-000000000000', '--amount', '1', '--currency', 'USD']);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toContain('23503');
  });
});
