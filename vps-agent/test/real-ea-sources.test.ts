import { cpSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { compileEa, type CompileOptions } from '../src/ea-build.ts';
import { editorRuns, MT4_BASE, MT5_BASE, tempDir } from './support/harness.ts';

/**
 * The repository's own EAs (mql/Experts/RubiTradeSync.mq5 and .mq4 with mql/Include/Rubi), not
 * the fixture sources: the agent copies them into a base install and the fake MetaEditor compiles
 * them, failing on any `#include` that does not resolve in the install's MQL5/MQL4 Include folder.
 * It proves the layout the agent builds is complete for the real EA; only a real MetaEditor checks
 * the MQL itself (the host build's syntax pass covers what g++ can).
 */
const repoMql = join(import.meta.dirname, '..', '..', 'mql');

describe("the repository's EAs", () => {
  const dirs: { cleanup(): void }[] = [];
  afterEach(() => {
    for (const d of dirs.splice(0)) d.cleanup();
  });

  it.each([
    ['MT5', MT5_BASE, 'RubiTradeSync.mq5', 'metaeditor64.exe', 'RubiTradeSync.ex5'],
    ['MT4', MT4_BASE, 'RubiTradeSync.mq4', 'metaeditor.exe', 'RubiTradeSync.ex4'],
  ] as const)('%s: RubiTradeSync compiles in a base install with every include resolved', async (platform, fixtureBase, file, editor, output) => {
    const dir = tempDir('rubi-real-ea-');
    dirs.push(dir);
    const basePath = join(dir.path, 'base');
    const mql = join(dir.path, 'mql');
    cpSync(fixtureBase, basePath, { recursive: true });
    cpSync(repoMql, mql, { recursive: true, filter: (src) => !src.includes(`${join('host', '.build')}`) });
    const options: CompileOptions = {
      platform,
      basePath,
      source: join(mql, 'Experts', file),
      launcher: { kind: 'wine', command: process.execPath, prefix: join(dir.path, 'wine') },
      timeoutMs: 20_000,
    };
    const outcome = await compileEa(options);
    expect(outcome, JSON.stringify(outcome.diagnostics, null, 2)).toMatchObject({ ok: true, errors: 0 });
    expect(outcome.eaPath.endsWith(output)).toBe(true);
    expect(editorRuns(basePath).map((r) => r.exe)).toEqual([editor]);
  });
});
