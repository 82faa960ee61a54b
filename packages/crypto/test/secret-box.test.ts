import { describe, expect, it } from 'vitest';
import { SecretBoxError, generateEncryptionKey, importKeyring } from '../src/index.ts';

const k1 = generateEncryptionKey('k1');
const k2 = generateEncryptionKey('k2');
const k3 = generateEncryptionKey('2025-06.a');
const keyMaterial = (entry: string) => entry.slice(entry.indexOf(':') + 1);

async function expectBoxError(promise: Promise<unknown>, code: string) {
  const error = await promise.then(
    () => null,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(SecretBoxError);
  expect((error as SecretBoxError).code).toBe(code);
}

function flipByte(ciphertext: string, index: number): string {
  const bytes = Uint8Array.from(atob(ciphertext), (c) => c.charCodeAt(0));
  bytes[index] = (bytes[index] ?? 0) ^ 0x01;
  return btoa(String.fromCharCode(...bytes));
}

describe('SecretBox', () => {
  it('round-trips, including unicode and the empty string', async () => {
    const box = await importKeyring(k1);
    for (const plaintext of ['investor-pass-123', '', 'pässwörd ✓ 日本語 𝄞 🚀', 'x'.repeat(10_000)]) {
      const sealed = await box.seal(plaintext, 'row-1');
      expect(sealed.keyId).toBe('k1');
      expect(await box.open(sealed.ciphertext, sealed.keyId, 'row-1')).toBe(plaintext);
    }
    const noAad = await box.seal('no aad');
    expect(await box.open(noAad.ciphertext, 'k1')).toBe('no aad');
  });

  it('uses the layout base64(iv[12] || ciphertext || tag[16])', async () => {
    const box = await importKeyring(k1);
    const { ciphertext } = await box.seal('abcde');
    expect(atob(ciphertext)).toHaveLength(12 + 5 + 16);
  });

  it('two seals of the same plaintext differ (fresh IV)', async () => {
    const box = await importKeyring(k1);
    const a = await box.seal('same', 'row');
    const b = await box.seal('same', 'row');
    expect(a.ciphertext).not.toBe(b.ciphertext);
    expect(atob(a.ciphertext).slice(0, 12)).not.toBe(atob(b.ciphertext).slice(0, 12));
  });

  it('a flipped byte anywhere (IV, body, tag) fails with decrypt_failed', async () => {
    const box = await importKeyring(k1);
    const { ciphertext } = await box.seal('secret value', 'row');
    const length = atob(ciphertext).length;
    for (const index of [0, 11, 12, length - 17, length - 1]) {
      await expectBoxError(box.open(flipByte(ciphertext, index), 'k1', 'row'), 'decrypt_failed');
    }
    await expectBoxError(box.open('not base64!', 'k1', 'row'), 'decrypt_failed');
    await expectBoxError(box.open(btoa('too short'), 'k1', 'row'), 'decrypt_failed');
  });

  it('wrong associated data fails with decrypt_failed (a ciphertext cannot move between rows)', async () => {
    const box = await importKeyring(k1);
    const { ciphertext } = await box.seal('secret value', 'row-1');
    await expectBoxError(box.open(ciphertext, 'k1', 'row-2'), 'decrypt_failed');
    await expectBoxError(box.open(ciphertext, 'k1'), 'decrypt_failed');
  });

  it('a key with the same id but other material fails with decrypt_failed', async () => {
    const sealed = await (await importKeyring(k1)).seal('v', 'r');
    const impostor = await importKeyring(generateEncryptionKey('k1'));
    await expectBoxError(impostor.open(sealed.ciphertext, 'k1', 'r'), 'decrypt_failed');
  });

  it('rotation: a value sealed under k1 opens with current k2 + previous k1, and needs re-sealing', async () => {
    const old = await importKeyring(k1);
    const sealed = await old.seal('rotate me', 'acct-7');
    expect(old.needsRotation(sealed.keyId)).toBe(false);

    const rotated = await importKeyring(k2, `${k3}, ${k1}`);
    expect(rotated.currentKeyId).toBe('k2');
    expect(rotated.needsRotation(sealed.keyId)).toBe(true);
    expect(await rotated.open(sealed.ciphertext, sealed.keyId, 'acct-7')).toBe('rotate me');

    const resealed = await rotated.seal('rotate me', 'acct-7');
    expect(resealed.keyId).toBe('k2');
    expect(rotated.needsRotation(resealed.keyId)).toBe(false);
    // the old keyring does not know k2
    await expectBoxError(old.open(resealed.ciphertext, resealed.keyId, 'acct-7'), 'unknown_key');
  });

  it('unknown key id fails with unknown_key', async () => {
    const box = await importKeyring(k1);
    const { ciphertext } = await box.seal('v');
    await expectBoxError(box.open(ciphertext, 'nope'), 'unknown_key');
  });

  it('tolerates whitespace, a trailing newline and empty list entries', async () => {
    const box = await importKeyring(`  ${k2}\n`, `,${k1} ,, `);
    const sealed = await (await importKeyring(k1)).seal('ok');
    expect(await box.open(sealed.ciphertext, 'k1')).toBe('ok');
    expect((await importKeyring(k1, '')).currentKeyId).toBe('k1');
  });

  describe('bad environment values give clear errors without key material', () => {
    const shortKey = 'k9:' + btoa('x'.repeat(16));
    const longKey = 'k9:' + btoa('x'.repeat(33));
    const cases: Array<[string, () => Promise<unknown>, RegExp, string[]]> = [
      ['empty current', () => importKeyring('  '), /ENCRYPTION_KEY is empty/, []],
      ['no separator', () => importKeyring(keyMaterial(k1)), /ENCRYPTION_KEY must look like .*no ':'/, [keyMaterial(k1)]],
      ['empty key id', () => importKeyring(':' + keyMaterial(k1)), /ENCRYPTION_KEY has an invalid key id/, [keyMaterial(k1)]],
      ['key pasted as id', () => importKeyring(`${keyMaterial(k1)}:${keyMaterial(k2)}`), /invalid key id/, [keyMaterial(k1), keyMaterial(k2)]],
      ['not base64', () => importKeyring('k9:this is not base64!!'), /ENCRYPTION_KEY \(key id 'k9'\): the key is not valid standard base64/, ['this is not base64']],
      ['16-byte key', () => importKeyring(shortKey), /ENCRYPTION_KEY \(key id 'k9'\): the key decodes to 16 bytes, AES-256 needs 32/, [keyMaterial(shortKey)]],
      ['33-byte key', () => importKeyring(longKey), /decodes to 33 bytes/, [keyMaterial(longKey)]],
      ['bad previous entry', () => importKeyring(k1, `${k2},${shortKey}`), /ENCRYPTION_KEYS_PREVIOUS entry 2 \(key id 'k9'\).*16 bytes/, [keyMaterial(shortKey), keyMaterial(k1), keyMaterial(k2)]],
      ['previous duplicates current', () => importKeyring(k1, generateEncryptionKey('k1')), /ENCRYPTION_KEYS_PREVIOUS entry 1: key id 'k1' is already used by ENCRYPTION_KEY/, [keyMaterial(k1)]],
      ['duplicate within previous', () => importKeyring(k1, `${k2},${k3},${generateEncryptionKey('k2')}`), /ENCRYPTION_KEYS_PREVIOUS entry 3: key id 'k2' is already used; key ids must be unique/, [keyMaterial(k1), keyMaterial(k2), keyMaterial(k3)]],
    ];
    it.each(cases)('%s', async (_name, run, message, secrets) => {
      const error = await run().then(
        () => null,
        (e: unknown) => e,
      );
      expect(error).toBeInstanceOf(Error);
      const text = String((error as Error).message);
      expect(text).toMatch(message);
      for (const secret of secrets) expect(text).not.toContain(secret);
    });
  });

  it('generateEncryptionKey produces <id>:<base64 of 32 bytes> and validates the id', () => {
    const entry = generateEncryptionKey('prod-2025');
    expect(entry).toMatch(/^prod-2025:[A-Za-z0-9+/]{43}=$/);
    expect(atob(keyMaterial(entry))).toHaveLength(32);
    expect(generateEncryptionKey('prod-2025')).not.toBe(entry);
    expect(() => generateEncryptionKey('bad:id')).toThrow(/key id/);
    expect(() => generateEncryptionKey('')).toThrow(/key id/);
  });
});
