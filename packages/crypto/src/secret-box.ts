// AES-256-GCM encryption of secrets at rest (investor passwords, EA secrets), with key ids so the
// key can rotate: new rows are sealed under ENCRYPTION_KEY, and rows sealed under a key listed in
// ENCRYPTION_KEYS_PREVIOUS can still be opened (and re-sealed, see needsRotation).
//
// ciphertext = base64(iv[12] || GCM ciphertext || tag[16]). The optional associated data (e.g. the
// row id) is authenticated but not stored, so a ciphertext copied into another row fails to open.
// Note: GCM treats absent and empty associated data alike.

import { base64ToBytes, bytesToBase64, utf8Decode, utf8Encode } from './base64.ts';
import { randomBytes } from './random.ts';

const KEY_BYTES = 32;
const IV_BYTES = 12;
const TAG_BYTES = 16;
const KEY_ID = /^[A-Za-z0-9_.-]{1,64}$/;
const CURRENT_VAR = 'ENCRYPTION_KEY';
const PREVIOUS_VAR = 'ENCRYPTION_KEYS_PREVIOUS';
const FORMAT_HINT = "'<keyId>:<base64 of 32 bytes>' (keyId: 1-64 of A-Z a-z 0-9 _ . -)";

export interface SecretBoxKey {
  id: string;
  key: CryptoKey;
}

export type SecretBoxErrorCode = 'unknown_key' | 'decrypt_failed';

export class SecretBoxError extends Error {
  readonly code: SecretBoxErrorCode;
  constructor(code: SecretBoxErrorCode, message: string) {
    super(message);
    this.name = 'SecretBoxError';
    this.code = code;
  }
}

export interface SecretBox {
  readonly currentKeyId: string;
  /** Encrypts under the current key with a fresh random IV. */
  seal(plaintext: string, associatedData?: string): Promise<{ keyId: string; ciphertext: string }>;
  /** Throws SecretBoxError 'unknown_key' or 'decrypt_failed' (tampered, wrong key, wrong associated data). */
  open(ciphertext: string, keyId: string, associatedData?: string): Promise<string>;
  /** True when a value sealed under `keyId` should be re-sealed under the current key. */
  needsRotation(keyId: string): boolean;
}

function gcmParams(iv: Uint8Array<ArrayBuffer>, associatedData: string | undefined): AesGcmParams {
  return associatedData === undefined
    ? { name: 'AES-GCM', iv }
    : { name: 'AES-GCM', iv, additionalData: utf8Encode(associatedData) };
}

/**
 * Parses one '<keyId>:<base64>' entry. Error messages name the variable and the problem, never the
 * key material; the key id is not echoed either, in case a key was pasted where the id belongs.
 */
async function parseKeyEntry(entry: string, where: string, usages: KeyUsage[]): Promise<SecretBoxKey> {
  const colon = entry.indexOf(':');
  if (colon < 0) throw new Error(`${where} must look like ${FORMAT_HINT}: no ':' separator found`);
  const id = entry.slice(0, colon);
  if (!KEY_ID.test(id)) throw new Error(`${where} has an invalid key id; expected ${FORMAT_HINT}`);
  let raw: Uint8Array<ArrayBuffer>;
  try {
    raw = base64ToBytes(entry.slice(colon + 1));
  } catch {
    throw new Error(`${where} (key id '${id}'): the key is not valid standard base64; expected ${FORMAT_HINT}`);
  }
  if (raw.length !== KEY_BYTES) {
    throw new Error(`${where} (key id '${id}'): the key decodes to ${raw.length} bytes, AES-256 needs ${KEY_BYTES}`);
  }
  const key = await crypto.subtle.importKey('raw', raw, { name: 'AES-GCM' }, false, usages);
  raw.fill(0);
  return { id, key };
}

/**
 * Builds a SecretBox from ENCRYPTION_KEY (`current`) and the optional comma-separated
 * ENCRYPTION_KEYS_PREVIOUS (`previous`, decryption only). Surrounding whitespace and empty list
 * entries are ignored. Throws an Error describing the problem (format, key length, duplicate id).
 */
export async function importKeyring(current: string, previous?: string): Promise<SecretBox> {
  const currentEntry = current.trim();
  if (currentEntry === '') throw new Error(`${CURRENT_VAR} is empty; expected ${FORMAT_HINT}`);
  const currentKey = await parseKeyEntry(currentEntry, CURRENT_VAR, ['encrypt', 'decrypt']);

  const keys = new Map<string, CryptoKey>([[currentKey.id, currentKey.key]]);
  const previousEntries = (previous ?? '').split(',').map((e) => e.trim());
  let position = 0;
  for (const entry of previousEntries) {
    position += 1;
    if (entry === '') continue;
    const where = `${PREVIOUS_VAR} entry ${position}`;
    const { id, key } = await parseKeyEntry(entry, where, ['decrypt']);
    if (keys.has(id)) {
      throw new Error(
        `${where}: key id '${id}' is already used${id === currentKey.id ? ` by ${CURRENT_VAR}` : ''}; key ids must be unique`,
      );
    }
    keys.set(id, key);
  }

  return {
    currentKeyId: currentKey.id,

    async seal(plaintext, associatedData) {
      const iv = randomBytes(IV_BYTES);
      const sealed = new Uint8Array(
        await crypto.subtle.encrypt(gcmParams(iv, associatedData), currentKey.key, utf8Encode(plaintext)),
      );
      const out = new Uint8Array(IV_BYTES + sealed.length);
      out.set(iv, 0);
      out.set(sealed, IV_BYTES);
      return { keyId: currentKey.id, ciphertext: bytesToBase64(out) };
    },

    async open(ciphertext, keyId, associatedData) {
      const key = keys.get(keyId);
      if (key === undefined) throw new SecretBoxError('unknown_key', `no decryption key with id '${keyId}'`);
      let bytes: Uint8Array<ArrayBuffer>;
      try {
        bytes = base64ToBytes(ciphertext);
      } catch {
        throw new SecretBoxError('decrypt_failed', 'ciphertext is not valid base64');
      }
      if (bytes.length < IV_BYTES + TAG_BYTES) throw new SecretBoxError('decrypt_failed', 'ciphertext is too short');
      try {
        const plain = await crypto.subtle.decrypt(
          gcmParams(bytes.slice(0, IV_BYTES), associatedData),
          key,
          bytes.subarray(IV_BYTES),
        );
        return utf8Decode(new Uint8Array(plain));
      } catch {
        throw new SecretBoxError('decrypt_failed', 'decryption failed: wrong key, wrong associated data, or tampered ciphertext');
      }
    },

    needsRotation(keyId) {
      return keyId !== currentKey.id;
    },
  };
}

/** A new ENCRYPTION_KEY value: '<id>:<base64 of 32 random bytes>'. For operators. */
export function generateEncryptionKey(id: string): string {
  if (!KEY_ID.test(id)) throw new Error(`key id must be 1-64 of A-Z a-z 0-9 _ . -`);
  return `${id}:${bytesToBase64(randomBytes(KEY_BYTES))}`;
}
