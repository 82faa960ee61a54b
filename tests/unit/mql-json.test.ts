import fc from 'fast-check';
import { beforeAll, describe, expect, it } from 'vitest';
import { buildHostProgram, runHostProgram, runLines, u16hex } from '../../mql/host/build.ts';

// Rubi/Json.mqh and the number formatting of Rubi/Text.mqh compiled on the host
// (mql/host/tests/json_test.cpp), checked against JavaScript's JSON.parse / JSON.stringify.

const SEED = Number(process.env.FC_SEED ?? Date.now() % 2 ** 31);
let exe = '';

beforeAll(async () => {
  exe = await buildHostProgram('json_test', 'MQL5');
}, 300_000);

// Any UTF-16 content but NUL (MQL strings cannot hold it): lone surrogates, U+2028, controls, quotes.
const unit = fc.oneof(
  fc.integer({ min: 1, max: 0x7f }),
  fc.integer({ min: 0x80, max: 0xffff }),
  fc.constantFrom(0x22, 0x5c, 0x2f, 0x08, 0x0c, 0x0a, 0x0d, 0x09, 0x01, 0x1f, 0x7f, 0x2028, 0x2029, 0xd83d, 0xde00, 0xfeff),
);
const hostile = fc.array(unit, { maxLength: 60 }).map((u) => String.fromCharCode(...u));
const noNul = (v: unknown): boolean => !JSON.stringify(v).includes('\\u0000');

describe('JSON writer (Rubi/Json.mqh)', () => {
  it('quotes hostile strings so that JSON.parse gives them back, in pure ASCII', async () => {
    const cases = [...fc.sample(hostile, { numRuns: 400, seed: SEED }), '', 'plain', '"\\/\b\f\n\r\t', '\u2028\u2029', '😀', '\ud800', 'é'];
    const out = await runLines(exe, cases.map((s) => `quote\t${u16hex(s)}`));
    for (const [i, s] of cases.entries()) {
      expect(out[i], `seed ${SEED}`).toMatch(/^"[\x20-\x7e]*"$/);
      expect(JSON.parse(out[i]!), `seed ${SEED}: ${JSON.stringify(s)}`).toBe(s);
    }
    expect(out.slice(-7)).toEqual(['""', '"plain"', '"\\"\\\\/\\b\\f\\n\\r\\t"', '"\\u2028\\u2029"', '"\\ud83d\\ude00"', '"\\ud800"', '"\\u00e9"']);
  });

  it('writes numbers that JSON.parse reads back equal (large, small, negative, many decimals)', async () => {
    const cases = [
      ...fc.sample(fc.double({ noNaN: true, noDefaultInfinity: true }), { numRuns: 400, seed: SEED }),
      ...fc.sample(fc.integer({ min: -1e9, max: 1e9 }).map((n) => n / 100), { numRuns: 100, seed: SEED }),
      0.1, 0.58, 1.1, 1.09500, 10123.45, 1e-7, 1.5e-7, 5e-324, 1.7976931348623157e308, -0, 9007199254740993, 1e21, 123456789012345680000, 0.30000000000000004,
    ];
    const out = await runLines(exe, cases.map((x) => `num\t${String(x)}`));
    for (const [i, x] of cases.entries()) {
      expect(out[i], `seed ${SEED}: ${x}`).toMatch(/^-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?$/);
      expect(JSON.parse(out[i]!), `seed ${SEED}: ${x} written as ${out[i]}`).toBe(x === 0 ? 0 : x);
    }
    // Common values are written as JavaScript writes them.
    expect(out.slice(-14, -4)).toEqual(['0.1', '0.58', '1.1', '1.095', '10123.45', out.at(-9), out.at(-8), out.at(-7), out.at(-6), '0']);
    expect(await runLines(exe, ['num\t10000', 'num\t-2.5', 'num\t100', 'num\t0.000001'])).toEqual(['10000', '-2.5', '100', '0.000001']);
  });

  it('writes numbers with a fixed number of digits, trailing zeros dropped', async () => {
    const out = await runLines(exe, ['digits\t1.1\t5', 'digits\t1.123456\t5', 'digits\t2350.55\t2', 'digits\t-0.0000001\t5', 'digits\t150\t0', 'digits\t0.125\t2']);
    expect(out).toEqual(['1.1', '1.12346', '2350.55', '0', '150', out[5]]);
    expect(['0.12', '0.13']).toContain(out[5]);
  });

  it('writes a document with every value kind, and refuses misuse', async () => {
    const result = await runHostProgram(exe, [], { input: 'writer\n' });
    expect(result.code).toBe(0);
    const [doc, misuse] = result.stdout.split('\n');
    const [text, ok] = doc!.split('\t');
    expect(ok).toBe('1');
    expect(JSON.parse(text!)).toEqual({ s: 'a"b\\c\n', n: 0.1, price: 1.1, big: 9007199254740992, t: true, f: false, z: null, raw: [1, 2], arr: [0, null, {}, []] });
    expect(text).toContain('"big":9007199254740993');
    expect(misuse).toBe('000000');
  });
});

describe('JSON parser (Rubi/Json.mqh)', () => {
  it('round-trips any JSON value: JSON.parse(written again) deep-equals the original', async () => {
    const values = fc.sample(fc.jsonValue({ maxDepth: 6 }).filter(noNul), { numRuns: 300, seed: SEED });
    const texts = values.map((v, i) => (i % 2 ? JSON.stringify(v) : JSON.stringify(v, null, i % 4 === 0 ? 2 : '\t')));
    const out = await runLines(exe, texts.map((t) => `parse\t${u16hex(t)}`));
    for (const [i, line] of out.entries()) {
      expect(line.startsWith('OK\t'), `seed ${SEED}: ${texts[i]} -> ${line}`).toBe(true);
      expect(JSON.parse(line.slice(3)), `seed ${SEED}: ${texts[i]}`).toEqual(JSON.parse(texts[i]!));
    }
  });

  it('round-trips hostile strings in keys and values', async () => {
    const docs = fc.sample(fc.dictionary(hostile, fc.oneof(hostile, fc.double({ noNaN: true, noDefaultInfinity: true }))), { numRuns: 200, seed: SEED });
    const texts = docs.map((d) => JSON.stringify(d));
    const out = await runLines(exe, texts.map((t) => `parse\t${u16hex(t)}`));
    for (const [i, line] of out.entries()) expect(JSON.parse(line.slice(3)), `seed ${SEED}`).toEqual(JSON.parse(texts[i]!));
  });

  it('rejects what JSON.parse rejects (random corruptions of valid documents)', async () => {
    const corrupt = fc
      .tuple(fc.jsonValue({ maxDepth: 3 }).filter(noNul), fc.nat(), fc.constantFrom('', '{', '}', '[', ']', ',', ':', '"', '\\', 'x', '0', '-', '.', 'e', ' ', '\u0001', 'tru', 'nul'))
      .map(([v, at, insert]) => {
        const t = JSON.stringify(v);
        const p = at % (t.length + 1);
        return t.slice(0, p) + insert + t.slice(p + (at % 3 === 0 ? 1 : 0));
      });
    const texts = fc.sample(corrupt, { numRuns: 600, seed: SEED });
    const out = await runLines(exe, texts.map((t) => `parse\t${u16hex(t)}`));
    let rejected = 0;
    for (const [i, t] of texts.entries()) {
      let valid = true;
      try {
        JSON.parse(t);
      } catch {
        valid = false;
      }
      if (!valid) rejected++;
      const expected = valid && !t.includes('\\u0000') ? 'OK' : 'ERR';
      expect(out[i]!.split('\t')[0], `seed ${SEED}: ${JSON.stringify(t)} -> ${out[i]}`).toBe(expected);
      if (expected === 'OK') expect(JSON.parse(out[i]!.slice(3))).toEqual(JSON.parse(t));
    }
    expect(rejected).toBeGreaterThan(100);
  });

  it('rejects malformed input cleanly, with a reason', async () => {
    const bad = ['', ' ', '{', '[1,]', '{"a":1,}', '01', '1.', '.5', '+1', '1e', '-', '"\\x"', '"\\u12"', '"\\u00G0"', '"a\nb"', 'tru', 'nul', 'falsey',
      '{"a" 1}', '{1:2}', '[1 2]', '"\\u0000"', '1 2', '{"a":1}}', "'a'", 'NaN', 'Infinity', '['.repeat(65) + ']'.repeat(65)];
    const out = await runLines(exe, bad.map((t) => `parse\t${u16hex(t)}`));
    for (const [i, line] of out.entries()) expect(line, JSON.stringify(bad[i])).toMatch(/^ERR\t.+ at offset \d+$/);
    const deep = await runLines(exe, [`parse\t${u16hex(`${'['.repeat(64)}1${']'.repeat(64)}`)}`]);
    expect(deep[0]).toBe(`OK\t${'['.repeat(64)}1${']'.repeat(64)}`);
  });

  it('looks values up by key and index', async () => {
    const result = await runHostProgram(exe, [], { input: 'accessors\n' });
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    expect(result.stdout.match(/^ok /gm)?.length).toBe(15);
  });
});

describe('UTF-8 (Rubi/Text.mqh)', () => {
  it('encodes like TextEncoder (lone surrogates as U+FFFD) and decodes its own output', async () => {
    const cases = [...fc.sample(hostile, { numRuns: 300, seed: SEED }), ...fc.sample(fc.string({ unit: 'binary' }).map((s) => s.replaceAll('\0', '')), { numRuns: 100, seed: SEED })];
    const out = await runLines(exe, cases.map((s) => `utf8\t${u16hex(s)}`));
    for (const [i, s] of cases.entries()) {
      const bytes = new TextEncoder().encode(s);
      const [encoded, decoded, valid] = out[i]!.split('\t');
      expect(encoded, `seed ${SEED}`).toBe(Buffer.from(bytes).toString('hex'));
      expect(decoded).toBe(u16hex(new TextDecoder('utf-8', { ignoreBOM: true }).decode(bytes)));
      expect(valid).toBe('1');
    }
  });

  it('decodes invalid UTF-8 as U+FFFD like TextDecoder, and says it was invalid', async () => {
    const cases = [...fc.sample(fc.uint8Array({ minLength: 1, maxLength: 12 }).filter((b) => !b.includes(0)), { numRuns: 400, seed: SEED }), Uint8Array.of(0xc0, 0x80), Uint8Array.of(0xed, 0xa0, 0x80), Uint8Array.of(0xf4, 0x90, 0x80, 0x80), Uint8Array.of(0xe2, 0x82)];
    const out = await runLines(exe, cases.map((b) => `decode\t${Buffer.from(b).toString('hex')}`));
    for (const [i, b] of cases.entries()) {
      let valid = true;
      try {
        new TextDecoder('utf-8', { fatal: true }).decode(b);
      } catch {
        valid = false;
      }
      expect(out[i], `seed ${SEED}: ${Buffer.from(b).toString('hex')}`).toBe(`${u16hex(new TextDecoder('utf-8', { ignoreBOM: true }).decode(b))}\t${valid ? 1 : 0}`);
    }
    expect(await runLines(exe, ['decode\t610062'])).toEqual([`${u16hex('a\ufffdb')}\t0`]);
  });
});
