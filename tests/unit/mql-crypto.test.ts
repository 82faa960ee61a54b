import { createHmac, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { base64ToBytes, verifySignature } from '@rubi/crypto';
import fc from 'fast-check';
import { Webhook } from 'standardwebhooks';
import { beforeAll, describe, expect, it } from 'vitest';
import { buildHostProgram, runLines, u16hex } from '../../mql/host/build.ts';

// Rubi/Hmac.mqh and Rubi/Webhooks.mqh compiled on the host (mql/host/tests/crypto_test.cpp): HMAC
// against RFC 4231 and node:crypto, signatures against the standardwebhooks package and the server's
// verifier, base64 decoding as strict as the server's.

const SEED = Number(process.env.FC_SEED ?? Date.now() % 2 ** 31);
const hex = (b: Uint8Array | Buffer) => Buffer.from(b).toString('hex');
const ascii = (s: string) => hex(Buffer.from(s, 'latin1'));
let exe = '';

beforeAll(async () => {
  exe = await buildHostProgram('crypto_test', 'MQL5');
}, 300_000);

// RFC 4231 section 4 (test case 5 is a truncated output and adds nothing here).
const RFC4231 = [
  { key: '0b'.repeat(20), data: ascii('Hi There'), mac: 'b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7' },
  { key: ascii('Jefe'), data: ascii('what do ya want for nothing?'), mac: '5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843' },
  { key: 'aa'.repeat(20), data: 'dd'.repeat(50), mac: '773ea91e36800e46854db8ebd09181a72959098b3ef8c122d9635514ced565fe' },
  { key: '0102030405060708090a0b0c0d0e0f10111213141516171819', data: 'cd'.repeat(50), mac: '82558a389a443c0ea4cc819899f2083a85f0faa3e578f8077a2e3ff46729665b' },
  { key: 'aa'.repeat(131), data: ascii('Test Using Larger Than Block-Size Key - Hash Key First'), mac: '60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54' },
  {
    key: 'aa'.repeat(131),
    data: ascii('This is a test using a larger than block-size key and a larger than block-size data. The key needs to be hashed before being used by the HMAC algorithm.'),
    mac: '9b09ffa71b942fcb27635fbcd5b0e944bfdc63644f0713938a7f51535c3a35e2',
  },
];

describe('HMAC-SHA256 (Rubi/Hmac.mqh)', () => {
  it('matches the RFC 4231 test vectors', async () => {
    const out = await runLines(exe, RFC4231.map((v) => `hmac\t${v.key}\t${v.data}`));
    expect(out).toEqual(RFC4231.map((v) => v.mac));
  });

  it('matches node:crypto for random keys (0..200 bytes, across the 64-byte block) and messages', async () => {
    const cases = fc.sample(fc.tuple(fc.uint8Array({ maxLength: 200 }), fc.uint8Array({ maxLength: 300 })), { numRuns: 300, seed: SEED });
    const out = await runLines(exe, cases.map(([k, m]) => `hmac\t${hex(k)}\t${hex(m)}`));
    expect(out, `seed ${SEED}`).toEqual(cases.map(([k, m]) => createHmac('sha256', k).update(m).digest('hex')));
  });

  it('passes its own start-up self test', async () => {
    expect(await runLines(exe, ['selftest'])).toEqual(['ok']);
  });
});

describe('base64 (Rubi/Hmac.mqh)', () => {
  it('encodes like Buffer, also when the terminal wraps CryptEncode output in lines', async () => {
    const cases = fc.sample(fc.uint8Array({ minLength: 1, maxLength: 120 }), { numRuns: 100, seed: SEED });
    const lines = cases.map((b) => `b64enc\t${hex(b)}`);
    const expected = cases.map((b) => `${Buffer.from(b).toString('base64')}.`);
    expect(await runLines(exe, lines)).toEqual(expected);
    expect(await runLines(exe, lines, { MQL_BASE64_WRAP: '16' })).toEqual(expected);
  });

  it('decodes exactly what the server decodes, and refuses what it refuses', async () => {
    const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';
    const char = fc.constantFrom(...alphabet, '=', ' ', '-', '_', '\n', 'é');
    const texts = [
      ...fc.sample(fc.uint8Array({ maxLength: 40 }).map((b) => Buffer.from(b).toString('base64')), { numRuns: 150, seed: SEED }),
      ...fc.sample(fc.array(char, { maxLength: 16 }).map((a) => a.join('')), { numRuns: 300, seed: SEED + 1 }),
      'QQ==', 'QUI=', 'QUJD', 'Q===', '=QQ=', 'QQ=A', 'QQ', 'QUJDRA==', 'QQ==QQ==', '',
    ];
    const out = await runLines(exe, texts.map((t) => `b64dec\t${u16hex(t)}`));
    const expected = texts.map((t) => {
      try {
        return `${hex(base64ToBytes(t))}.`;
      } catch {
        return 'ERR';
      }
    });
    expect(out, `seed ${SEED}`).toEqual(expected);
  });
});

// Strings as the EA may hold them: any UTF-16 content (astral characters, lone surrogates, U+2028,
// quotes, backslashes, control characters) except NUL, which MQL strings cannot carry.
const unit = fc.oneof(
  fc.integer({ min: 1, max: 0x7f }),
  fc.integer({ min: 0x80, max: 0xffff }),
  fc.constantFrom(0x22, 0x5c, 0x0a, 0x0d, 0x2028, 0xd83d, 0xde00),
);
const mqlString = (maxLength: number) => fc.array(unit, { maxLength }).map((u) => String.fromCharCode(...u));
const withAstral = fc.tuple(mqlString(40), fc.string({ unit: 'binary', maxLength: 20 })).map(([a, b]) => (a + b).replaceAll('\0', ''));

describe('Standard Webhooks signing (Rubi/Webhooks.mqh)', () => {
  it('equals the standardwebhooks package for random secrets, ids, timestamps and bodies', async () => {
    const cases = fc.sample(
      fc.record({
        key: fc.uint8Array({ minLength: 1, maxLength: 80 }),
        id: fc.oneof(mqlString(30).filter((s) => s.length > 0), fc.constant('msg_2Xw9cNd1VqZ7')),
        ts: fc.integer({ min: 0, max: 4_102_444_800 }),
        body: fc.oneof(withAstral, fc.json(), fc.constant('')),
      }),
      { numRuns: 300, seed: SEED },
    );
    const secrets = cases.map((c) => `whsec_${Buffer.from(c.key).toString('base64')}`);
    const out = await runLines(exe, cases.map((c, i) => `sign\t${u16hex(secrets[i]!)}\t${u16hex(c.id)}\t${c.ts}\t${u16hex(c.body)}`));
    const expected = cases.map((c, i) => new Webhook(secrets[i]!).sign(c.id, new Date(c.ts * 1000), c.body));
    expect(out, `seed ${SEED}`).toEqual(expected);
  });

  it("reproduces the README's worked example", async () => {
    const whole = readFileSync(join(resolve(dirname(fileURLToPath(import.meta.url)), '../..'), 'README.md'), 'utf8');
    const start = whole.indexOf('Worked example');
    const block = whole.slice(start, whole.indexOf('```', whole.indexOf('```', start) + 3));
    const field = (name: string) => new RegExp(`^${name}\\s+(.+)$`, 'm').exec(block)?.[1]?.trim() ?? '';
    const [signature] = await runLines(exe, [`sign\t${u16hex(field('secret'))}\t${u16hex(field('id'))}\t${field('timestamp')}\t${u16hex(field('body'))}`]);
    expect(signature).toBe(field('signature'));
    expect(signature).toBe('v1,WjKpslKpQizmnTClrgtsRII6PsPPq/QI3pT5nHfUDDc=');
  });

  it("produces signatures the server's verifier accepts", async () => {
    const secret = `whsec_${randomBytes(32).toString('base64')}`;
    const now = 1_763_720_100;
    const bodies = ['', '{"trades":[]}', '{"comment":"caf\\u00e9 \\ud83d\\ude00"}', 'raw é 😀 \u2028 "quoted" \\'];
    const out = await runLines(exe, bodies.map((b, i) => `sign\t${u16hex(secret)}\t${u16hex(`msg_${i}`)}\t${now}\t${u16hex(b)}`));
    for (const [i, body] of bodies.entries()) {
      const ok = await verifySignature({ secrets: [secret], headers: { id: `msg_${i}`, timestamp: String(now), signature: out[i]! }, body, nowSeconds: now + 5 });
      expect(ok, body).toEqual({ ok: true, timestamp: now });
      const tampered = await verifySignature({ secrets: [secret], headers: { id: `msg_${i}`, timestamp: String(now), signature: out[i]! }, body: `${body} `, nowSeconds: now });
      expect(tampered).toEqual({ ok: false, reason: 'invalid_signature' });
    }
  });

  it('refuses malformed secrets', async () => {
    const out = await runLines(exe, ['whsec_', 'whsec_not base64', 'whsec_QQ', 'whsec_QQ=='].map((s) => `sign\t${u16hex(s)}\t${u16hex('msg_1')}\t1\t`));
    expect(out.slice(0, 3)).toEqual(['ERR', 'ERR', 'ERR']);
    expect(out[3]).toMatch(/^v1,[A-Za-z0-9+/]{43}=$/);
  });

  it('builds the header block for WebRequest, refusing values with line breaks', async () => {
    const out = await runLines(exe, [
      `headers\t${u16hex('key_1')}\t${u16hex('msg_1')}\t1763720100\t${u16hex('v1,abc=')}`,
      `headers\t${u16hex('key_1\r\nX-Evil: 1')}\t${u16hex('msg_1')}\t1763720100\t${u16hex('v1,abc=')}`,
    ]);
    const text = (h: string) => Buffer.from(h.slice(0, -1), 'hex').toString('utf8');
    expect(text(out[0]!)).toBe(
      'Content-Type: application/json\r\nAccept: application/json\r\nX-EA-Key-Id: key_1\r\nX-Trade-Id: msg_1\r\nX-Trade-Timestamp: 1763720100\r\nX-Trade-Signature: v1,abc=\r\n',
    );
    expect(text(out[1]!)).toBe('');
  });

  it('makes unique message ids within the header limit', async () => {
    const ids = await runLines(exe, Array.from({ length: 500 }, () => 'msgid'));
    for (const id of ids) expect(id).toMatch(/^msg_[0-9a-f]{32}$/);
    expect(new Set(ids).size).toBe(ids.length);
  });
});
