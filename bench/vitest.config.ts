import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

// `npm run bench`: the EA hot-path benchmarks. Its own config, not a project of the root
// vitest.config.ts, so `npm test` never runs it. It borrows the integration tier's global setup
// (a throwaway PostgreSQL 15 cluster with the schema pushed, or TEST_DATABASE_URL) and serves the
// real functions under Deno. Benchmarks print figures; they fail only when requests fail.
export default defineConfig({
  test: {
    root: fileURLToPath(new URL('..', import.meta.url)),
    include: ['bench/**/*.bench.test.ts'],
    globalSetup: ['tests/integration/global-setup.ts'],
    testTimeout: 600_000,
    hookTimeout: 300_000,
    fileParallelism: false,
    // The figures go straight to the terminal, not into vitest's per-test console capture.
    disableConsoleIntercept: true,
  },
});
