import { bytesToBase64Url, utf8Encode } from './base64.ts';

// crypto.getRandomValues refuses more than 65536 bytes per call.
const MAX_RANDOM_BYTES = 65536;

/** `count` bytes from the platform CSPRNG. */
export function randomBytes(count: number): Uint8Array<ArrayBuffer> {
  if (!Number.isInteger(count) || count < 1 || count > MAX_RANDOM_BYTES) {
    throw new RangeError(`randomBytes: count must be an integer between 1 and ${MAX_RANDOM_BYTES}`);
  }
  return crypto.getRandomValues(new Uint8Array(count));
}

/** An unguessable token: `bytes` random bytes as base64url without padding. */
export function randomToken(bytes = 32): string {
  return bytesToBase64Url(randomBytes(bytes));
}

/** An opaque id such as `req_<base64url of 16 random bytes>`. */
export function randomId(prefix: string): string {
  return prefix + bytesToBase64Url(randomBytes(16));
}

/** SHA-256 of the UTF-8 encoding of `input`, as lowercase hex. */
export async function sha256Hex(input: string): Promise<string> {
  const digest = new Uint8Array(await crypto.subtle.digest('SHA-256', utf8Encode(input)));
  let hex = '';
  for (const byte of digest) hex += byte.toString(16).padStart(2, '0');
  return hex;
}

/**
 * A new VPS host API key and the SHA-256 the database keeps of it (the `vps` function hashes what
 * an agent sends and compares). The key itself is shown once and never stored.
 */
export function issueVpsHostKey(): Promise<{ key: string; keyHash: string }> {
  return issueHashedKey('vps_');
}

/** The same for an operator key (private.operator_keys; the `ops` function hashes and compares). */
export function issueOperatorKey(): Promise<{ key: string; keyHash: string }> {
  return issueHashedKey('rubi_op_');
}

async function issueHashedKey(prefix: string): Promise<{ key: string; keyHash: string }> {
  const key = `${prefix}${randomToken(32)}`;
  return { key, keyHash: await sha256Hex(key) };
}
