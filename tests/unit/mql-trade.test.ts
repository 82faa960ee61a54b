import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { buildHostProgram, runHostProgram, type MqlPlatform } from '../../mql/host/build.ts';

// Rubi/Trade.mqh, Rubi/Terminal.mqh (against mql/host/sim_terminal.hpp) and Rubi/Log.mqh compiled on
// the host for each platform (mql/host/tests/trade_test.cpp, self-checking).

describe.each(['MQL5', 'MQL4'] as MqlPlatform[])('trade helpers, terminal interface and log (%s)', (platform) => {
  it('passes every check of trade_test.cpp', async () => {
    const exe = await buildHostProgram('trade_test', platform);
    const files = mkdtempSync(join(tmpdir(), 'mql-trade-'));
    try {
      const result = await runHostProgram(exe, [], { files });
      expect(result.stderr).toBe('');
      expect(result.code).toBe(0);
      expect(result.stdout.match(/^ok /gm)?.length).toBeGreaterThanOrEqual(30);
      expect(result.stdout.trimEnd().endsWith('done')).toBe(true);
    } finally {
      rmSync(files, { recursive: true, force: true });
    }
  }, 300_000);
});
