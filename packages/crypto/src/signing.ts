// Request signing per the Standard Webhooks specification (https://www.standardwebhooks.com):
//   secret     whsec_<base64 of the raw key bytes>   (the prefix is optional on input)
//   content    `${id}.${timestamp}.${rawBody}`        (timestamp: integer seconds since the epoch)
//   signature  v1,<base64 HMAC-SHA256(key, content)>  (several, space-separated, during rotation)
// Any Standard Webhooks library (e.g. the `standardwebhooks` npm package) can sign a request that
// verifySignature accepts, and can verify what signPayload produces.

import type { Buffer } from 'node:buffer';
import { createHash, createHmac, timingSafeEqual, type Hash } from 'node:crypto';
import { base64ToBytes, bytesToBase64 } from './base64.ts';
import { randomBytes } from './random.ts';

export const SIGNATURE_TOLERANCE_SECONDS = 300;

/**
 * At most this many `v1,` signatures from one header are checked. Rotation needs two or three;
 * without a cap a header packed with hundreds of signatures would cost one HMAC of the body each.
 */
export const MAX_SIGNATURES_CHECKED = 10;

const SECRET_PREFIX = 'whsec_';
const HMAC_SHA256_BYTES = 32;
// Integer seconds, no sign, no leading zeros: the header string is then exactly the decimal that a
// signer put in the signed content, so there is no ambiguity about what was signed.
const TIMESTAMP = /^(?:0|[1-9][0-9]{0,14})$/;

export interface SignedHeaders {
  id: string | null;
  timestamp: string | null;
  signature: string | null;
}

export type VerifyFailure =
  | 'missing_headers'
  | 'malformed_timestamp'
  | 'timestamp_too_old'
  | 'timestamp_in_future'
  | 'invalid_signature'
  | 'malformed_secret';

export type VerifyResult = { ok: true; timestamp: number } | { ok: false; reason: VerifyFailure };

/** Raw key bytes of a secret, with or without the `whsec_` prefix; null when it is not valid. */
function decodeSecret(secret: string): Uint8Array<ArrayBuffer> | null {
  const encoded = secret.startsWith(SECRET_PREFIX) ? secret.slice(SECRET_PREFIX.length) : secret;
  try {
    const key = base64ToBytes(encoded);
    return key.length > 0 ? key : null;
  } catch {
    return null;
  }
}

/** HMAC-SHA256 of `${id}.${timestamp}.${body}` (UTF-8), fed as strings: no copy of the body. */
function mac(raw: Uint8Array, id: string, timestamp: string, body: string): Buffer {
  return createHmac('sha256', raw).update(`${id}.${timestamp}.`, 'utf8').update(body, 'utf8').digest();
}

const SHA256_BLOCK_BYTES = 64;

/**
 * A secret prepared once for verifySignature: its HMAC-SHA256 key schedule (RFC 2104: the hash
 * states after the key XOR ipad and XOR opad blocks). Each verification then copies the two states
 * instead of building an HMAC from the raw key, which under Deno's node:crypto costs about three
 * times as much. Same MAC, byte for byte (signing.test.ts checks it against createHmac). Keep one
 * per credential, beside the secret it comes from (packages/edge/src/ea-credentials.ts).
 */
export class SigningKey {
  /** null when the secret is malformed: verification then reports `malformed_secret`. */
  readonly #pads: { inner: Hash; outer: Hash } | null;

  private constructor(pads: { inner: Hash; outer: Hash } | null) {
    this.#pads = pads;
  }

  static from(secret: string): SigningKey {
    const raw = decodeSecret(secret);
    if (raw === null) return new SigningKey(null);
    const key = raw.length > SHA256_BLOCK_BYTES ? createHash('sha256').update(raw).digest() : raw;
    const ipad = new Uint8Array(SHA256_BLOCK_BYTES).fill(0x36);
    const opad = new Uint8Array(SHA256_BLOCK_BYTES).fill(0x5c);
    for (let i = 0; i < key.length; i++) {
      ipad[i] = (ipad[i] as number) ^ (key[i] as number);
      opad[i] = (opad[i] as number) ^ (key[i] as number);
    }
    return new SigningKey({ inner: createHash('sha256').update(ipad), outer: createHash('sha256').update(opad) });
  }

  get malformed(): boolean {
    return this.#pads === null;
  }

  /** HMAC-SHA256 of `${id}.${timestamp}.${body}` (UTF-8); null when the secret is malformed. */
  mac(id: string, timestamp: string, body: string): Buffer | null {
    if (!this.#pads) return null;
    const inner = this.#pads.inner.copy().update(`${id}.${timestamp}.`, 'utf8').update(body, 'utf8').digest();
    return this.#pads.outer.copy().update(inner).digest();
  }
}

/** `v1,<base64 signature>` for `${id}.${timestamp}.${body}`. Throws if the secret is malformed. */
export async function signPayload(secret: string, id: string, timestamp: number, body: string): Promise<string> {
  if (!Number.isSafeInteger(timestamp) || timestamp < 0) {
    throw new RangeError('signPayload: timestamp must be a non-negative integer number of seconds');
  }
  const raw = decodeSecret(secret);
  if (raw === null) throw new Error("signPayload: secret must be 'whsec_' followed by non-empty base64");
  return `v1,${mac(raw, id, String(timestamp), body).toString('base64')}`;
}

/** The decoded `v1` signatures of a header; other versions and undecodable entries are skipped. */
function parseSignatureHeader(header: string): Uint8Array<ArrayBuffer>[] {
  const signatures: Uint8Array<ArrayBuffer>[] = [];
  for (const entry of header.split(' ')) {
    if (signatures.length >= MAX_SIGNATURES_CHECKED) break;
    const comma = entry.indexOf(',');
    if (comma < 0 || entry.slice(0, comma) !== 'v1') continue;
    try {
      const bytes = base64ToBytes(entry.slice(comma + 1));
      // A wrong-length value can never match; skipping it early saves an HMAC.
      if (bytes.length === HMAC_SHA256_BYTES) signatures.push(bytes);
    } catch {
      // not base64: ignore this entry, like the reference libraries do
    }
  }
  return signatures;
}

/**
 * Verifies a Standard Webhooks signature. Valid when the timestamp is within the tolerance (either
 * way) and ANY `v1` signature in the header matches ANY of `secrets` (rotation on both sides).
 * Comparison is timingSafeEqual over the whole MAC, constant time by construction.
 *
 * Checks run in this order: headers present, timestamp well formed, timestamp in window, every secret
 * well formed (an empty list counts as malformed: a configuration error is reported, not hidden
 * behind 'invalid_signature'), then signatures.
 */
export async function verifySignature(opts: {
  /** Secrets as text (`whsec_...`), or prepared once with SigningKey.from. */
  secrets: readonly (string | SigningKey)[];
  headers: SignedHeaders;
  body: string;
  nowSeconds?: number;
  toleranceSeconds?: number;
}): Promise<VerifyResult> {
  const { id, timestamp: timestampHeader, signature } = opts.headers;
  if (!id || !timestampHeader || !signature) return { ok: false, reason: 'missing_headers' };

  if (!TIMESTAMP.test(timestampHeader)) return { ok: false, reason: 'malformed_timestamp' };
  const timestamp = Number(timestampHeader);
  const now = opts.nowSeconds ?? Math.floor(Date.now() / 1000);
  const tolerance = opts.toleranceSeconds ?? SIGNATURE_TOLERANCE_SECONDS;
  if (now - timestamp > tolerance) return { ok: false, reason: 'timestamp_too_old' };
  if (timestamp - now > tolerance) return { ok: false, reason: 'timestamp_in_future' };

  if (opts.secrets.length === 0) return { ok: false, reason: 'malformed_secret' };
  const keys: (Uint8Array<ArrayBuffer> | SigningKey)[] = [];
  for (const secret of opts.secrets) {
    const key = typeof secret === 'string' ? decodeSecret(secret) : secret.malformed ? null : secret;
    if (key === null) return { ok: false, reason: 'malformed_secret' };
    keys.push(key);
  }

  const candidates = parseSignatureHeader(signature);
  if (candidates.length === 0) return { ok: false, reason: 'invalid_signature' };

  for (const key of keys) {
    // node:crypto's HMAC runs synchronously on the calling thread: on the hot path it costs a few
    // microseconds, where WebCrypto's importKey + verify hop to a worker thread and back twice.
    const expected = key instanceof SigningKey ? (key.mac(id, timestampHeader, opts.body) as Buffer) : mac(key, id, timestampHeader, opts.body);
    for (const candidate of candidates) {
      if (timingSafeEqual(expected, candidate)) return { ok: true, timestamp };
    }
  }
  return { ok: false, reason: 'invalid_signature' };
}

/** A new signing secret: `whsec_` + base64 of 32 random bytes. */
export function generateWebhookSecret(): string {
  return SECRET_PREFIX + bytesToBase64(randomBytes(32));
}
