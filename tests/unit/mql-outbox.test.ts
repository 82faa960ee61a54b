import { appendFileSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildHostProgram, runHostProgram } from '../../mql/host/build.ts';

// Rubi/Outbox.mqh compiled on the host (mql/host/tests/outbox_test.cpp). Each run of the program is
// one life of the EA; between runs the test plays the crash (torn writes, a leftover temp file).

let exe = '';
let files = '';
beforeAll(async () => {
  exe = await buildHostProgram('outbox_test', 'MQL5');
  files = mkdtempSync(join(tmpdir(), 'mql-outbox-'));
}, 300_000);
afterAll(() => rmSync(files, { recursive: true, force: true }));

async function life(file: string, max: number, ...commands: string[]): Promise<string[]> {
  const result = await runHostProgram(exe, [file, String(max), ...commands], { files });
  expect(result.stderr).toBe('');
  expect(result.code).toBe(0);
  return result.stdout.trimEnd().split('\n');
}

const trade = (ticket: number, comment = '') => JSON.stringify({ ticket, symbol: 'EURUSD', lots: 0.1, comment });

describe('outbox (Rubi/Outbox.mqh)', () => {
  it('keeps unacknowledged items across restarts, and forgets acknowledged ones', async () => {
    const f = 'Rubi\\trades.outbox';
    expect(await life(f, 100, `append:101:${trade(101)}`, `append:102:${trade(102, 'café 😀 "q" \\')}`)).toEqual([
      'dropped 0',
      'append 101 1',
      'append 102 1',
      `item 101 ${trade(101)}`,
      `item 102 ${trade(102, 'café 😀 "q" \\')}`,
    ]);
    // The terminal restarts without any ack: both items are still pending; a duplicate is refused.
    expect(await life(f, 100, `append:101:${trade(101)}`, `append:103:${trade(103)}`)).toEqual([
      'dropped 0',
      'append 101 0',
      'append 103 1',
      `item 101 ${trade(101)}`,
      `item 102 ${trade(102, 'café 😀 "q" \\')}`,
      `item 103 ${trade(103)}`,
    ]);
    expect(await life(f, 100, 'ack:101,103,999')).toEqual(['dropped 0', 'ack 2', `item 102 ${trade(102, 'café 😀 "q" \\')}`]);
    expect(await life(f, 100)).toEqual(['dropped 0', `item 102 ${trade(102, 'café 😀 "q" \\')}`]);
    expect(existsSync(join(files, 'Rubi', 'trades.outbox.tmp'))).toBe(false);
  });

  it('tolerates a torn last line (a crash mid-append) and repairs the file', async () => {
    const f = 'torn.outbox';
    await life(f, 100, `append:1:${trade(1)}`, `append:2:${trade(2)}`);
    const whole = readFileSync(join(files, f));
    appendFileSync(join(files, f), whole.subarray(0, whole.indexOf('\n') - 5)); // half a line, no newline
    expect(await life(f, 100)).toEqual(['dropped 1', `item 1 ${trade(1)}`, `item 2 ${trade(2)}`]);
    expect(readFileSync(join(files, f))).toEqual(whole); // rewritten clean
    expect(await life(f, 100, `append:3:${trade(3)}`)).toEqual(['dropped 0', 'append 3 1', `item 1 ${trade(1)}`, `item 2 ${trade(2)}`, `item 3 ${trade(3)}`]);
  });

  it('drops corrupted lines (bad checksum, NUL-filled tail) and keeps the rest', async () => {
    const f = 'corrupt.outbox';
    await life(f, 100, `append:1:${trade(1)}`, `append:2:${trade(2)}`, `append:3:${trade(3)}`);
    const lines = readFileSync(join(files, f), 'utf8').split('\n');
    lines[1] = lines[1]!.replace('"lots":0.1', '"lots":9.9'); // a flipped byte: the checksum no longer matches
    writeFileSync(join(files, f), Buffer.concat([Buffer.from(lines.join('\n')), Buffer.alloc(64), Buffer.from('\n')]));
    expect(await life(f, 100)).toEqual(['dropped 2', `item 1 ${trade(1)}`, `item 3 ${trade(3)}`]);
  });

  it('recovers from a crash during an ack rewrite (leftover temp file)', async () => {
    const f = 'rewrite.outbox';
    await life(f, 100, `append:1:${trade(1)}`, `append:2:${trade(2)}`);
    writeFileSync(join(files, `${f}.tmp`), 'half written'); // the rewrite died before the move
    expect(await life(f, 100)).toEqual(['dropped 0', `item 1 ${trade(1)}`, `item 2 ${trade(2)}`]);
    expect(existsSync(join(files, `${f}.tmp`))).toBe(false);
    // The rewrite died after deleting the file but before moving the complete temp file into place.
    const complete = readFileSync(join(files, f));
    rmSync(join(files, f));
    writeFileSync(join(files, `${f}.tmp`), complete);
    expect(await life(f, 100)).toEqual(['dropped 0', `item 1 ${trade(1)}`, `item 2 ${trade(2)}`]);
  });

  it('is bounded: refuses items beyond max_items, invalid keys and multi-line documents', async () => {
    const f = 'bounded.outbox';
    expect(await life(f, 2, `append:1:${trade(1)}`, `append:2:${trade(2)}`, `append:3:${trade(3)}`, 'append:a\tb:{}', 'append:4:{\n}', 'append::{}')).toEqual([
      'dropped 0',
      'append 1 1',
      'append 2 1',
      'append 3 -1 outbox full (2 items)',
      'append a\tb -1 invalid outbox key',
      'append 4 -1 invalid outbox document for key 4',
      'append  -1 invalid outbox key',
      `item 1 ${trade(1)}`,
      `item 2 ${trade(2)}`,
    ]);
  });
});
