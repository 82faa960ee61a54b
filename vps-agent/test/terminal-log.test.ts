import { appendFileSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { classifyLine, LogWatcher, snapshotBaseline } from '../src/terminal-log.ts';
import { shortLine } from '../src/terminal.ts';
import { tempDir } from './support/harness.ts';

describe('reading terminal and EA logs', () => {
  const dirs: { cleanup(): void }[] = [];
  afterEach(() => {
    for (const d of dirs.splice(0)) d.cleanup();
  });

  it('recognises MetaTrader journal phrases', () => {
    const cases: [string, string | null][] = [
      ["CS\t0\t10:00:00.000\tNetwork\t'5123': authorized on RubiBroker-Demo through Access Point EU (ping: 20 ms, build 4755)", 'authorized'],
      ["LF\t2\t10:00:00.000\tNetwork\t'5123': authorization on RubiBroker-Demo failed (Invalid account)", 'auth_failed'],
      ["0\t10:00:00.000\t'5123': login on RubiBroker-Live through Access Server #1 (ping: 20 ms)", 'authorized'],
      ["0\t10:00:00.000\t'5123': login datacenter on RubiBroker-Live through Access Server #1 (ping: 20 ms)", 'authorized'],
      ["0\t10:00:00.000\t'5123': invalid account", 'auth_failed'],
      ["'5123': trade server \"Nope\" not found in the servers list", 'server_not_found'],
      ["'5123': no connection to RubiBroker-Demo", 'no_connection'],
      ['RubiEA (EURUSD,H1)\tWebRequest failed: URL not allowed, error 4014', 'webrequest_blocked'],
      ['RubiEA (EURUSD,H1)\tregistered with the backend as external account x', 'ea_registered'],
      ['RubiEA (EURUSD,H1)\tregister failed: 401', null],
      ['Terminal\tMetaTrader 5 x64 build 4755 started', null],
    ];
    for (const [line, kind] of cases) expect([line, classifyLine(line)]).toEqual([line, kind]);
    expect(shortLine("LF\t2\t10:00:00.000\tNetwork\t'5123': authorization on X failed (Invalid account)")).toBe(
      "'5123': authorization on X failed (Invalid account)",
    );
  });

  it('reads only what was appended after the baseline, UTF-16LE (MT5) and ANSI (MT4), across partial writes', async () => {
    const d = tempDir();
    dirs.push(d);
    const folder = d.path;
    mkdirSync(join(folder, 'logs'));
    mkdirSync(join(folder, 'MQL5', 'Logs'), { recursive: true });
    const journal = join(folder, 'logs', '20261121.log');
    const u16 = (s: string) => Buffer.from(s, 'utf16le');
    writeFileSync(journal, Buffer.concat([Buffer.from([0xff, 0xfe]), u16("CS\t0\t09:00\tNetwork\t'1': authorized on Old through X\r\n")]));

    const watcher = new LogWatcher(folder, 'MT5', await snapshotBaseline(folder, 'MT5'));
    expect(await watcher.poll()).toEqual([]); // the old run's login does not count

    appendFileSync(journal, u16("LF\t2\t10:00\tNetwork\t'5': authorization on Srv fa"));
    expect(await watcher.poll()).toEqual([]); // half a line: wait for the rest
    appendFileSync(journal, u16('iled (Invalid account)\r\n'));
    expect(await watcher.poll()).toEqual([
      { kind: 'auth_failed', source: 'terminal', file: join('logs', '20261121.log'), line: "LF\t2\t10:00\tNetwork\t'5': authorization on Srv failed (Invalid account)" },
    ]);

    // A new file (the next day, or the EA's log) is read from its start.
    writeFileSync(join(folder, 'MQL5', 'Logs', '20261122.log'), Buffer.concat([Buffer.from([0xff, 0xfe]), u16('RubiEA\terror 4014: WebRequest not allowed\r\n')]));
    expect((await watcher.poll()).map((e) => [e.kind, e.source])).toEqual([['webrequest_blocked', 'ea']]);
    expect(await watcher.poll()).toEqual([]);
  });

  it('reads MT4 single-byte logs', async () => {
    const d = tempDir();
    dirs.push(d);
    mkdirSync(join(d.path, 'logs'));
    const watcher = new LogWatcher(d.path, 'MT4', await snapshotBaseline(d.path, 'MT4'));
    writeFileSync(join(d.path, 'logs', '20261121.log'), Buffer.from("0\t10:00:00.000\t'7': login on Srv through Access Server #1 (ping: 9 ms)\r\n", 'latin1'));
    expect((await watcher.poll()).map((e) => e.kind)).toEqual(['authorized']);
  });
});
