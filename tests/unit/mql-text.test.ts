import fc from 'fast-check';
import { beforeAll, describe, expect, it } from 'vitest';
import { buildHostProgram, runLines } from '../../mql/host/build.ts';

// The time functions of Rubi/Text.mqh compiled on the host (mql/host/tests/text_test.cpp):
// RubiIsoParse (the register response's registered_at, where RubiTradeSync's backfill starts)
// checked against Date.parse, and RubiIsoTime read back by it.

const SEED = Number(process.env.FC_SEED ?? Date.now() % 2 ** 31);
let exe = '';

beforeAll(async () => {
  exe = await buildHostProgram('text_test', 'MQL5');
}, 300_000);

const EARLIEST = 0;
const LATEST = Date.UTC(3000, 0, 1) / 1000;

describe('ISO-8601 times (Rubi/Text.mqh)', () => {
  it('parses what the backend writes (toISOString, milliseconds dropped) and what RubiIsoTime writes', async () => {
    const seconds = [...fc.sample(fc.integer({ min: EARLIEST, max: LATEST - 1 }), { numRuns: 300, seed: SEED }), 0, 951_782_400, 1_763_720_100, 4_107_542_399];
    const millis = fc.sample(fc.integer({ min: EARLIEST * 1000, max: LATEST * 1000 - 1 }), { numRuns: 300, seed: SEED });
    const texts = [...seconds.map((s) => new Date(s * 1000).toISOString()), ...millis.map((ms) => new Date(ms).toISOString())];
    const out = await runLines(exe, [...texts.map((t) => `iso\t${t}`), ...seconds.map((s) => `fmt\t${s}`)]);
    for (const [i, t] of texts.entries()) expect(out[i], `seed ${SEED}: ${t}`).toBe(`1 ${Math.floor(Date.parse(t) / 1000)}`);
    const formatted = out.slice(texts.length);
    for (const [i, s] of seconds.entries()) expect(formatted[i], `seed ${SEED}: ${s}`).toBe(new Date(s * 1000).toISOString().replace('.000Z', 'Z'));
    const back = await runLines(exe, formatted.map((t) => `iso\t${t}`));
    expect(back).toEqual(seconds.map((s) => `1 ${s}`));
  });

  it('applies a zone offset, and accepts the forms Postgres and JavaScript write', async () => {
    const cases: [string, number][] = [
      ['2025-11-21T10:15:00Z', 1_763_720_100],
      ['2025-11-21T10:15:00.999Z', 1_763_720_100],
      ['2025-11-21T10:15:00.123456z', 1_763_720_100],
      ['2025-11-21T12:15:00+02:00', 1_763_720_100],
      ['2025-11-21T12:15:00+0200', 1_763_720_100],
      ['2025-11-21T05:45:00-04:30', 1_763_720_100],
      ['2025-11-21 10:15:00+00:00', 1_763_720_100],
      ['  2025-11-21T10:15:00Z ', 1_763_720_100],
      ['2000-02-29T00:00:00Z', 951_782_400],
      ['1970-01-01T00:00:00Z', 0],
      ['2999-12-31T23:59:59Z', 32_503_679_999],
    ];
    const out = await runLines(exe, cases.map(([t]) => `iso\t${t}`));
    expect(out).toEqual(cases.map(([t, s]) => {
      if (!Number.isNaN(Date.parse(t.trim()))) expect(Math.floor(Date.parse(t.trim()) / 1000), t).toBe(s);
      return `1 ${s}`;
    }));
  });

  it('refuses anything else, leaving the output untouched', async () => {
    const bad = [
      '', 'Z', '2025-11-21', '2025-11-21T10:15:00', '2025-11-21T10:15Z', '2025-11-21T10:15:00.Z', '2025-11-21T10:15:00ZZ', '2025-11-21T10:15:00+2',
      '2025-11-21T10:15:00+02:0', '2025-11-21T10:15:00+24:00', '2025-11-21T10:15:00+02:60', '2025-13-01T00:00:00Z', '2025-00-01T00:00:00Z',
      '2025-02-29T00:00:00Z', '2100-02-29T00:00:00Z', '2025-04-31T00:00:00Z', '2025-11-21T24:00:00Z', '2025-11-21T10:60:00Z', '2025-11-21T10:15:60Z',
      '1969-12-31T23:59:59Z', '1970-01-01T00:00:00+00:01', '2025/11/21T10:15:00Z', '2025-11-21X10:15:00Z', '20251121T101500Z', '2025-11-21T10:15:00 Z',
      'x025-11-21T10:15:00Z', '2025-11-21T10:15:00Z trailing', 'null',
    ];
    const out = await runLines(exe, bad.map((t) => `iso\t${t}`));
    for (const [i, line] of out.entries()) expect(line, JSON.stringify(bad[i])).toBe('0');
  });
});
