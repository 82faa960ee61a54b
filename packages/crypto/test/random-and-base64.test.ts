import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import {
  base64ToBytes,
  base64UrlToBytes,
  bytesToBase64,
  bytesToBase64Url,
  randomBytes,
  randomId,
  randomToken,
  sha256Hex,
  utf8Decode,
  utf8Encode,
} from '../src/index.ts';

describe('base64', () => {
  it('matches Node for every length and byte value around padding boundaries', () => {
    for (let length = 0; length < 70; length++) {
      const bytes = Uint8Array.from({ length }, (_, i) => (i * 37 + length * 11) % 256);
      const node = Buffer.from(bytes);
      expect(bytesToBase64(bytes)).toBe(node.toString('base64'));
      expect(bytesToBase64Url(bytes)).toBe(node.toString('base64url'));
      expect(base64ToBytes(node.toString('base64'))).toEqual(bytes);
      expect(base64UrlToBytes(node.toString('base64url'))).toEqual(bytes);
    }
  });

  it('handles large inputs without blowing the stack', () => {
    const bytes = randomBytes(65536);
    const big = new Uint8Array(4 * bytes.length);
    for (let i = 0; i < 4; i++) big.set(bytes, i * bytes.length);
    const decoded = base64ToBytes(bytesToBase64(big));
    expect(Buffer.from(decoded).equals(Buffer.from(big))).toBe(true);
  });

  it.each(['YQ', 'Y Q==', 'YQ==\n', 'a-_b', 'YQ===', '====', 'Y==='])('standard decoder rejects %j', (input) => {
    expect(() => base64ToBytes(input)).toThrow(/invalid base64/);
  });

  it.each(['a+b/', 'abcde', 'ab cd', 'a'])('url-safe decoder rejects %j', (input) => {
    expect(() => base64UrlToBytes(input)).toThrow(/invalid base64url/);
  });

  it('utf8 round-trips and rejects invalid UTF-8', () => {
    expect(utf8Decode(utf8Encode('日本 𝄞'))).toBe('日本 𝄞');
    expect(() => utf8Decode(new Uint8Array([0xff, 0xfe]))).toThrow();
  });
});

describe('random', () => {
  it('randomToken is base64url without padding, 32 bytes by default', () => {
    const token = randomToken();
    expect(token).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(base64UrlToBytes(token)).toHaveLength(32);
    expect(randomToken(16)).toMatch(/^[A-Za-z0-9_-]{22}$/);
    expect(new Set(Array.from({ length: 100 }, () => randomToken())).size).toBe(100);
  });

  it('randomToken rejects nonsense sizes', () => {
    for (const n of [0, -1, 1.5, 65537, Number.NaN]) expect(() => randomToken(n)).toThrow(RangeError);
  });

  it('randomId is prefix + base64url of 16 bytes', () => {
    const id = randomId('req_');
    expect(id).toMatch(/^req_[A-Za-z0-9_-]{22}$/);
    expect(randomId('req_')).not.toBe(id);
  });

  it('sha256Hex matches known answers and node:crypto', async () => {
    expect(await sha256Hex('')).toBe('e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855');
    expect(await sha256Hex('abc')).toBe('ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad');
    const text = 'provisioning-token ✓';
    expect(await sha256Hex(text)).toBe(createHash('sha256').update(text, 'utf8').digest('hex'));
  });
});
