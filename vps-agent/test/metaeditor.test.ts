import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { buildPaths, sourceFileFor } from '../src/ea-build.ts';
import { fromEditorPath, metaEditorCommand, parseCompileLog, toEditorPath } from '../src/metaeditor.ts';
import { fixtures, MT4_BASE, MT5_BASE } from './support/harness.ts';

/** Bytes as MetaEditor 5 writes its log: UTF-16LE with a byte order mark, CRLF. */
const utf16 = (lines: string[]) => Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from(lines.join('\r\n') + '\r\n', 'utf16le')]);

const SRC = 'Z:\\srv\\rubi\\base\\mt5\\MQL5\\Experts\\Rubi\\build\\RubiTradeSync.mq5';
const INC = 'Z:\\srv\\rubi\\base\\mt5\\MQL5\\Include\\Rubi\\Http.mqh';

describe('the MetaEditor compile log', () => {
  it('reads a clean MT5 log (UTF-16LE with BOM, CRLF): no diagnostics, finished, elapsed time', () => {
    const log = parseCompileLog(
      utf16([
        `${SRC} : information: compiling 'RubiTradeSync.mq5'`,
        `${SRC} : information: including Z:\\srv\\rubi\\base\\mt5\\MQL5\\Include\\Trade\\DealInfo.mqh`,
        `${SRC} : information: including ${INC}`,
        ' : information: generating code',
        ' : information: generating code 50%',
        ' : information: code generated',
        "Result: 0 errors, 0 warnings, 471 msec elapsed, cpu='X64 Regular'",
      ]),
    );
    expect(log).toEqual({ diagnostics: [], errors: 0, warnings: 0, finished: true, elapsedMs: 471 });
  });

  it('reads errors and warnings with their file, line, column, code and message', () => {
    const log = parseCompileLog(
      utf16([
        `${SRC} : information: compiling 'RubiTradeSync.mq5'`,
        `${INC}(42,5) : error 256: undeclared identifier 'resp'`,
        `${SRC}(17,12) : warning 43: possible loss of data due to type conversion from 'long' to 'int'`,
        `${SRC}(30,1) : error 149: ')' - unexpected token, probably type is missing?`,
        'Result: 2 errors, 1 warnings, 88 msec elapsed',
      ]),
    );
    expect(log.errors).toBe(2);
    expect(log.warnings).toBe(1);
    expect(log.finished).toBe(true);
    expect(log.diagnostics).toEqual([
      { severity: 'error', file: INC, line: 42, column: 5, code: '256', message: "undeclared identifier 'resp'" },
      { severity: 'warning', file: SRC, line: 17, column: 12, code: '43', message: "possible loss of data due to type conversion from 'long' to 'int'" },
      { severity: 'error', file: SRC, line: 30, column: 1, code: '149', message: "')' - unexpected token, probably type is missing?" },
    ]);
  });

  it('reads an error without a position, the MT4 spelling, and ignores information lines that mention "error"', () => {
    const log = parseCompileLog(
      Buffer.from(
        [
          `C:\\x\\a.mq4 : information: compiling 'a.mq4'`,
          `C:\\x\\a.mq4 : information: including C:\\x\\error : warning 1: odd.mqh`,
          `C:\\x\\a.mq4 : error 105: cannot open source file`,
          'Result: 1 error(s), 0 warning(s), 12 msec elapsed',
        ].join('\r\n'),
        'latin1',
      ),
    );
    expect(log.diagnostics).toEqual([{ severity: 'error', file: 'C:\\x\\a.mq4', line: null, column: null, code: '105', message: 'cannot open source file' }]);
    expect(log).toMatchObject({ errors: 1, warnings: 0, finished: true, elapsedMs: 12 });
  });

  it('knows an unfinished log (MetaEditor died) and counts what it saw', () => {
    const log = parseCompileLog(utf16([`${SRC} : information: compiling 'RubiTradeSync.mq5'`, `${SRC}(3,1) : error 256: undeclared identifier 'x'`]));
    expect(log).toMatchObject({ finished: false, errors: 1, warnings: 0, elapsedMs: null });
    expect(parseCompileLog('')).toEqual({ diagnostics: [], errors: 0, warnings: 0, finished: false, elapsedMs: null });
  });
});

describe('the MetaEditor command line', () => {
  const wine = { kind: 'wine' as const, command: 'wine64 --x', prefix: '/srv/rubi/wine' };

  it('gives MetaEditor Windows paths: Z: under Wine, native on Windows; and maps them back', () => {
    expect(toEditorPath(wine, '/srv/rubi/base/mt5/MQL5')).toBe('Z:\\srv\\rubi\\base\\mt5\\MQL5');
    expect(fromEditorPath(wine, 'Z:\\srv\\rubi\\base\\mt5\\MQL5')).toBe('/srv/rubi/base/mt5/MQL5');
    expect(fromEditorPath(wine, 'C:\\Program Files\\x.mqh')).toBe('C:\\Program Files\\x.mqh');
    expect(toEditorPath({ kind: 'direct' }, 'C:\\Rubi\\base\\MT5')).toBe('C:\\Rubi\\base\\MT5');
  });

  it('runs metaeditor64.exe / metaeditor.exe from the base install, through WINE_COMMAND on Linux', () => {
    const files = { source: '/srv/b/MQL5/Experts/Rubi/build/RubiTradeSync.mq5', mqlDir: '/srv/b/MQL5', log: '/srv/b/MQL5/Experts/Rubi/build/RubiTradeSync.log' };
    expect(metaEditorCommand(wine, 'MT5', '/srv/b', files, { PATH: '/usr/bin' })).toEqual({
      command: 'wine64',
      args: [
        '--x',
        'metaeditor64.exe',
        '/portable',
        '/compile:Z:\\srv\\b\\MQL5\\Experts\\Rubi\\build\\RubiTradeSync.mq5',
        '/inc:Z:\\srv\\b\\MQL5',
        '/log:Z:\\srv\\b\\MQL5\\Experts\\Rubi\\build\\RubiTradeSync.log',
      ],
      cwd: '/srv/b',
      env: { PATH: '/usr/bin', WINEPREFIX: '/srv/rubi/wine', WINEDEBUG: '-all', WINEDLLOVERRIDES: 'winedbg.exe=d;winemenubuilder.exe=d' },
    });
    const direct = metaEditorCommand({ kind: 'direct' }, 'MT4', 'C:\\Rubi\\base\\MT4', { source: 'C:\\s.mq4', mqlDir: 'C:\\Rubi\\base\\MT4\\MQL4', log: 'C:\\s.log' }, {});
    expect(direct.command).toBe(join('C:\\Rubi\\base\\MT4', 'metaeditor.exe'));
    expect(direct.args).toEqual(['/portable', '/compile:C:\\s.mq4', '/inc:C:\\Rubi\\base\\MT4\\MQL4', '/log:C:\\s.log']);
  });

  it('names a file of the log as the operator knows it: the source tree, not the build area', () => {
    const paths = buildPaths('MT5', '/srv/b', '/opt/repo/mql/Experts/RubiTradeSync.mq5');
    expect(sourceFileFor(paths, wine, 'Z:\\srv\\b\\MQL5\\Experts\\Rubi\\build\\RubiTradeSync.mq5')).toBe('/opt/repo/mql/Experts/RubiTradeSync.mq5');
    expect(sourceFileFor(paths, wine, 'Z:\\srv\\b\\MQL5\\Include\\Rubi\\Http.mqh')).toBe('/opt/repo/mql/Include/Rubi/Http.mqh');
    expect(sourceFileFor(paths, wine, 'RubiTradeSync.mq5')).toBe('/opt/repo/mql/Experts/RubiTradeSync.mq5');
    expect(sourceFileFor(paths, wine, 'Z:\\srv\\b\\MQL5\\Include\\Trade\\DealInfo.mqh')).toBe('/srv/b/MQL5/Include/Trade/DealInfo.mqh');
  });

  it('ships base-install fixtures whose MetaEditors are the fake MetaEditor', () => {
    const fake = readFileSync(join(fixtures, 'fake-metaeditor.mjs'));
    expect(readFileSync(join(MT5_BASE, 'metaeditor64.exe'))).toEqual(fake);
    expect(readFileSync(join(MT4_BASE, 'metaeditor.exe'))).toEqual(fake);
  });
});
