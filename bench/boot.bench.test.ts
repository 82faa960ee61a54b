import { generateEncryptionKey } from '@rubi/crypto';
import { describe, expect, it } from 'vitest';
import { createE2eAuth } from '../tests/integration/e2e/support/auth.ts';
import { E2E_SUPABASE_URL } from '../tests/integration/e2e/support/e2e-stack.ts';
import { databaseUrl } from '../tests/integration/support/context.ts';
import { bootOnce, formatBootTable, median, type BootRow, type BootTarget } from './support/boot.ts';

/**
 * Boot (issue #13, item 4): every function's cold start next to a bare Hono app's, under the same
 * Deno, flags and environment, in one run. Each start is a new `deno run` process, timed from spawn
 * to the first 200 of `GET /<name>/health` (the reference apps: `GET /x`); see bench/support/boot.ts
 * and bench/README.md ("Boot"). Starts are interleaved (one round = every entry point once), so drift
 * on a shared machine hits all of them alike. Fails only when a start fails, never on a timing.
 *
 *   npm run bench -- boot                          # 7 starts of each entry point
 *   BOOT_RUNS=15 BOOT_FUNCTIONS=ping,keys npm run bench -- boot
 */

const rawRuns = process.env.BOOT_RUNS;
const RUNS = rawRuns === undefined || rawRuns === '' ? 7 : Number(rawRuns);
if (!Number.isInteger(RUNS) || RUNS < 1) throw new Error(`BOOT_RUNS must be a positive integer, got ${JSON.stringify(rawRuns)}`);

const ALL_FUNCTIONS = ['accounts', 'connect', 'keys', 'ops', 'ping', 'positions', 'register', 'signals', 'trades', 'vps'];
/** BOOT_FUNCTIONS=ping,keys measures only those (the bare app and the references always run). */
const FUNCTIONS = process.env.BOOT_FUNCTIONS
  ? process.env.BOOT_FUNCTIONS.split(',')
      .map((f) => f.trim())
      .filter(Boolean)
  : ALL_FUNCTIONS;

const BARE = 'bare Hono';

describe(`Boot: ${RUNS} cold starts per entry point`, () => {
  it('every function vs a bare Hono app, with the stack floor for reference', async () => {
    const auth = await createE2eAuth(E2E_SUPABASE_URL);
    // What startE2eStack gives the functions.
    const env = {
      SUPABASE_URL: E2E_SUPABASE_URL,
      SUPABASE_DB_URL: databaseUrl(),
      SUPABASE_JWKS: auth.jwks,
      ENCRYPTION_KEY: generateEncryptionKey('bench'),
      LOG_LEVEL: 'info',
    };
    const targets: BootTarget[] = [
      { label: BARE, entry: 'bench/support/boot-bare-hono.ts', path: '/x', env },
      { label: 'ref: Hono + postgres.js', entry: 'bench/support/boot-hono-postgres.ts', path: '/x', env },
      { label: 'ref: Hono + zod + postgres.js', entry: 'bench/support/boot-hono-zod-postgres.ts', path: '/x', env },
      ...FUNCTIONS.map((name) => ({ label: name, entry: `functions/${name}/index.ts`, path: `/${name}/health`, env })),
    ];

    // Warm-up, unmeasured: fills DENO_DIR's transpile and V8 code caches, so the rounds measure boot, not compilation.
    for (const target of targets) await bootOnce(target);

    const rows: BootRow[] = targets.map((t) => ({ label: t.label, samples: [] }));
    for (let round = 1; round <= RUNS; round += 1) {
      for (const [i, target] of targets.entries()) rows[i]?.samples.push(await bootOnce(target));
      console.log(`[bench] boot round ${round}/${RUNS} (ready ms): ${rows.map((r) => `${r.label} ${Math.round(r.samples.at(-1)?.readyMs ?? 0)}`).join(', ')}`);
    }

    const bare = rows.find((r) => r.label === BARE);
    if (!bare) throw new Error('no bare Hono row');
    const ready = (row: BootRow) => median(row.samples.map((s) => s.readyMs));
    const fns = rows.filter((r) => FUNCTIONS.includes(r.label));
    const slowest = fns.reduce((a, b) => (ready(b) > ready(a) ? b : a));
    console.log(`\n[bench] Boot, ${new Date().toISOString()}, ${RUNS} starts each, medians\n\n${formatBootTable(rows, bare)}\n`);
    console.log(`[bench] slowest function (${slowest.label}) ready p50 / bare Hono ready p50: ${(ready(slowest) / ready(bare)).toFixed(2)}× (target ≤ 2×)\n`);
    expect(rows.every((r) => r.samples.length === RUNS)).toBe(true);
  });
});
