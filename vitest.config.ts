import { defineConfig } from 'vitest/config';

// Two tiers, one runner:
//  - unit: pure TypeScript and the PGlite tier (in process, no server)
//  - integration: Debian PostgreSQL 15 + pg_cron in a throwaway cluster that
//    tests/integration/global-setup.ts creates and always tears down.
export default defineConfig({
  test: {
    projects: [
      {
        test: {
          name: 'unit',
          include: ['packages/*/test/**/*.test.ts', 'functions/**/*.test.ts', 'tests/unit/**/*.test.ts', 'vps-agent/test/**/*.test.ts'],
          testTimeout: 30_000,
          hookTimeout: 60_000,
        },
      },
      {
        test: {
          name: 'integration',
          include: ['tests/integration/**/*.test.ts'],
          globalSetup: ['tests/integration/global-setup.ts'],
          testTimeout: 180_000,
          hookTimeout: 300_000,
          fileParallelism: false,
        },
      },
    ],
  },
});
