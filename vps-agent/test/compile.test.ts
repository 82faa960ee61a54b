import { existsSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { buildPaths, compileEa, formatCompile, type CompileOptions } from '../src/ea-build.ts';
import { decodeText } from '../src/ini.ts';
import { isAlive } from '../src/process.ts';
import { editorRuns, sourcedInstalls, tempDir } from './support/harness.ts';

/**
 * Compiling the EA from its sources with the fake MetaEditor (test/fixtures/fake-metaeditor.mjs,
 * the base installs' metaeditor64.exe / metaeditor.exe), run through WINE_COMMAND=node exactly as
 * the agent runs a real one under Wine.
 */
describe('compiling the EA with MetaEditor', () => {
  const dirs: { cleanup(): void }[] = [];
  afterEach(() => {
    for (const d of dirs.splice(0)) d.cleanup();
  });

  function setup() {
    const dir = tempDir('rubi-compile-');
    dirs.push(dir);
    const s = sourcedInstalls(dir.path);
    const launcher = { kind: 'wine' as const, command: process.execPath, prefix: join(dir.path, 'wine') };
    const mt5: CompileOptions = { platform: 'MT5', basePath: s.mt5Base, source: s.mt5Source, launcher, timeoutMs: 10_000 };
    const mt4: CompileOptions = { platform: 'MT4', basePath: s.mt4Base, source: s.mt4Source, launcher, timeoutMs: 10_000 };
    const cue = (base: string, cues: string) => writeFileSync(join(base, 'fake-metaeditor.cue'), cues);
    /** Rewrites a source file, replacing `find` by `replace` (which must be there). */
    const edit = (file: string, find: string, replace: string) => {
      const text = readFileSync(file, 'latin1');
      expect(text).toContain(find);
      writeFileSync(file, text.replace(find, replace), 'latin1');
    };
    return { ...s, dir: dir.path, launcher, mt5, mt4, cue, edit };
  }

  it('compiles the MT5 EA in the base install, reads the log and publishes the .ex5; then knows it is up to date', async () => {
    const s = setup();
    const o = await compileEa(s.mt5);
    const paths = buildPaths('MT5', s.mt5Base, s.mt5Source);
    expect(o).toMatchObject({ ok: true, upToDate: false, errors: 0, warnings: 0, problem: null, eaPath: join(s.mt5Base, 'MQL5', 'Experts', 'Rubi', 'RubiTradeSync.ex5') });
    expect(o.elapsedMs).toEqual(expect.any(Number));
    expect(readFileSync(o.eaPath, 'utf8')).toMatch(/^FAKE-EX5 RubiTradeSync\.ex5 sha256:[0-9a-f]{64}\n$/);
    expect(existsSync(paths.buildOutput)).toBe(false); // renamed, not copied
    // The build area: the source and every Rubi include, where MetaEditor resolves <Rubi/...>.
    expect(readFileSync(paths.buildSource)).toEqual(readFileSync(s.mt5Source));
    for (const f of ['Config.mqh', 'Http.mqh', 'Json.mqh']) expect(readFileSync(join(s.mt5Base, 'MQL5', 'Include', 'Rubi', f))).toEqual(readFileSync(join(s.mql, 'Include', 'Rubi', f)));
    // MetaEditor got Windows paths on Z:, as under Wine.
    const [run] = editorRuns(s.mt5Base);
    expect(run!.exe).toBe('metaeditor64.exe');
    expect(run!.args).toEqual([
      '/portable',
      `/compile:Z:${paths.buildSource.replace(/\//g, '\\')}`,
      `/inc:Z:${join(s.mt5Base, 'MQL5').replace(/\//g, '\\')}`,
      `/log:Z:${paths.log.replace(/\//g, '\\')}`,
    ]);
    const log = readFileSync(paths.log);
    expect([...log.subarray(0, 2)]).toEqual([0xff, 0xfe]);
    expect(decodeText(log).text).toContain(`information: including Z:${join(s.mt5Base, 'MQL5', 'Include', 'Trade', 'DealInfo.mqh').replace(/\//g, '\\')}`);
    expect(formatCompile(o)).toMatch(/^MT5: compiled, 0 errors, 0 warnings \(\d+ msec\) -> .*RubiTradeSync\.ex5\n$/);

    const mtime = statSync(o.eaPath).mtimeMs;
    const again = await compileEa(s.mt5);
    expect(again).toMatchObject({ ok: true, upToDate: true });
    expect(editorRuns(s.mt5Base)).toHaveLength(1);
    expect(statSync(o.eaPath).mtimeMs).toBe(mtime);
    // A changed include makes it stale; so does `force`.
    s.edit(join(s.mql, 'Include', 'Rubi', 'Json.mqh'), 'return(', 'return (');
    expect(await compileEa(s.mt5)).toMatchObject({ ok: true, upToDate: false });
    expect(await compileEa({ ...s.mt5, force: true })).toMatchObject({ ok: true, upToDate: false });
    expect(editorRuns(s.mt5Base)).toHaveLength(3);
  });

  it('compiles the MT4 EA with metaeditor.exe (its log in the MT4 spelling)', async () => {
    const s = setup();
    const o = await compileEa(s.mt4);
    expect(o).toMatchObject({ ok: true, errors: 0, eaPath: join(s.mt4Base, 'MQL4', 'Experts', 'Rubi', 'RubiTradeSync.ex4') });
    expect(readFileSync(o.eaPath, 'utf8')).toMatch(/^FAKE-EX4 /);
    expect(editorRuns(s.mt4Base)[0]!.exe).toBe('metaeditor.exe');
    expect(decodeText(readFileSync(buildPaths('MT4', s.mt4Base, s.mt4Source).log)).text).toMatch(/Result: 0 error\(s\), 0 warning\(s\)/);
  });

  it('reports errors with the source file and line, publishes nothing, and does not trust the exit code', async () => {
    const s = setup();
    s.edit(join(s.mql, 'Include', 'Rubi', 'Http.mqh'), '   response = CharArrayToString(result);', '   response = FAKE_ERROR;');
    s.edit(s.mt5Source, '   EventKillTimer();', '   EventKillTimer(); int n = FAKE_ERROR; // FAKE_ERROR in a comment is not code');
    s.cue(s.mt5Base, 'exit-code:0');
    const o = await compileEa(s.mt5);
    const http = join(s.mql, 'Include', 'Rubi', 'Http.mqh');
    expect(o).toMatchObject({ ok: false, errors: 2, warnings: 0 });
    expect(o.diagnostics.map((d) => d.text)).toEqual([
      `${http}:15:15: error 256: undeclared identifier 'FAKE_ERROR'`,
      `${s.mt5Source}:24:30: error 256: undeclared identifier 'FAKE_ERROR'`,
    ]);
    expect(o.problem).toBe("2 errors, first: Http.mqh:15: undeclared identifier 'FAKE_ERROR'");
    expect(existsSync(o.eaPath)).toBe(false);
    expect(existsSync(buildPaths('MT5', s.mt5Base, s.mt5Source).stamp)).toBe(false);
    const text = formatCompile(o);
    expect(text).toContain(`  ${http}:15:15: error 256: undeclared identifier 'FAKE_ERROR'`);
    expect(text).toContain("MT5: FAILED: 2 errors, first: Http.mqh:15: undeclared identifier 'FAKE_ERROR'");
    expect(text).toContain(`MT5: MetaEditor's log: ${buildPaths('MT5', s.mt5Base, s.mt5Source).log}`);
  });

  it('a compile with warnings only succeeds and shows each warning', async () => {
    const s = setup();
    s.edit(s.mt5Source, '   EventSetTimer(5);', '   int seconds = FAKE_WARNING;\n   EventSetTimer(5);');
    s.cue(s.mt5Base, 'exit-code:1');
    const o = await compileEa(s.mt5);
    expect(o).toMatchObject({ ok: true, errors: 0, warnings: 1 });
    expect(o.diagnostics.map((d) => d.text)).toEqual([`${s.mt5Source}:18:18: warning 43: possible loss of data due to type conversion from 'long' to 'int'`]);
    expect(existsSync(o.eaPath)).toBe(true);
    expect(formatCompile(o)).toMatch(/warning 43: possible loss of data[^\n]*\nMT5: compiled, 0 errors, 1 warning \(\d+ msec\)/);
  });

  it('a missing include fails at its #include line', async () => {
    const s = setup();
    rmSync(join(s.mql, 'Include', 'Rubi', 'Json.mqh'));
    const o = await compileEa(s.mt5);
    const missing = join(s.mt5Base, 'MQL5', 'Include', 'Rubi', 'Json.mqh').replace(/\//g, '\\');
    expect(o).toMatchObject({ ok: false, errors: 1 });
    expect(o.diagnostics.map((d) => d.text)).toEqual([`${join(s.mql, 'Include', 'Rubi', 'Http.mqh')}:4:10: error 106: can't open "Z:${missing}" include file`]);
  });

  it('an include removed from the sources does not survive in the build area', async () => {
    const s = setup();
    expect((await compileEa(s.mt5)).ok).toBe(true);
    rmSync(join(s.mql, 'Include', 'Rubi', 'Config.mqh'));
    const o = await compileEa(s.mt5);
    expect(o.ok).toBe(false);
    expect(o.problem).toMatch(/^1 error, first: RubiTradeSync\.mq5:9: can't open ".*Config\.mqh" include file$/);
  });

  it('a hanging MetaEditor is killed after the timeout', async () => {
    const s = setup();
    s.cue(s.mt5Base, 'hang');
    const started = Date.now();
    const o = await compileEa({ ...s.mt5, timeoutMs: 600 });
    expect(Date.now() - started).toBeLessThan(5000);
    expect(o).toMatchObject({ ok: false, problem: 'MetaEditor did not finish within 0.6 s (COMPILE_TIMEOUT_SECONDS) and wrote no log; it was stopped' });
    const [run] = editorRuns(s.mt5Base);
    await expect.poll(() => isAlive(run!.pid)).toBe(false);
  });

  it('a MetaEditor that finishes its log but never exits is stopped, and the compile counts', async () => {
    const s = setup();
    s.cue(s.mt5Base, 'hang-after-log');
    const o = await compileEa({ ...s.mt5, graceMs: 200 });
    expect(o).toMatchObject({ ok: true, note: 'MetaEditor finished its log but did not exit; it was stopped' });
    await expect.poll(() => isAlive(editorRuns(s.mt5Base)[0]!.pid)).toBe(false);
  });

  it('a crash without a log, a clean log without output, and a missing MetaEditor are each explained', async () => {
    const s = setup();
    s.cue(s.mt5Base, 'crash');
    const crashed = await compileEa(s.mt5);
    expect(crashed.ok).toBe(false);
    expect(crashed.problem).toMatch(/^MetaEditor exited \(exit code 3\) without writing its log .*RubiTradeSync\.log; it said: wine: Unhandled page fault/);

    s.cue(s.mt5Base, 'no-output');
    expect(await compileEa(s.mt5)).toMatchObject({ ok: false, problem: 'MetaEditor reported 0 errors but wrote no RubiTradeSync.ex5 (exit code 0)' });

    rmSync(join(s.mt5Base, 'metaeditor64.exe'));
    const missing = await compileEa(s.mt5);
    expect(missing.problem).toBe(`${join(s.mt5Base, 'metaeditor64.exe')} not found: every MT5 install ships metaeditor64.exe next to terminal64.exe; reinstall MT5 into ${s.mt5Base}`);

    const noWine = await compileEa({ ...s.mt4, launcher: { ...s.launcher, command: join(s.dir, 'no-such-wine') } });
    expect(noWine.problem).toBe(`MetaEditor could not be started: ${join(s.dir, 'no-such-wine')} metaeditor.exe (WINE_COMMAND) failed with ENOENT`);
  });
});
