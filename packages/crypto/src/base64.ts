// Base64 helpers on Web platform APIs only (atob/btoa, TextEncoder), so the same code runs in
// Node 20, Deno 2 and the Supabase Edge Runtime. Decoders are strict: they throw on anything that
// is not canonical-looking base64, instead of silently skipping characters like atob does.

const STANDARD = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;
const URL_SAFE_UNPADDED = /^[A-Za-z0-9_-]*$/;

// String.fromCharCode(...bytes) overflows the stack on large inputs; go in chunks.
const CHUNK = 0x8000;

function bytesToBinaryString(bytes: Uint8Array): string {
  let out = '';
  for (let i = 0; i < bytes.length; i += CHUNK) {
    out += String.fromCharCode(...bytes.subarray(i, i + CHUNK));
  }
  return out;
}

function binaryStringToBytes(binary: string): Uint8Array<ArrayBuffer> {
  const bytes = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
  return bytes;
}

/** Standard base64 (RFC 4648 §4) with `=` padding. */
export function bytesToBase64(bytes: Uint8Array): string {
  return btoa(bytesToBinaryString(bytes));
}

/** Decodes standard, padded base64. Throws on invalid input (no whitespace, no url-safe alphabet). */
export function base64ToBytes(input: string): Uint8Array<ArrayBuffer> {
  if (!STANDARD.test(input)) throw new Error('invalid base64');
  return binaryStringToBytes(atob(input));
}

/** URL-safe base64 (RFC 4648 §5) without padding. */
export function bytesToBase64Url(bytes: Uint8Array): string {
  return bytesToBase64(bytes).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}

/** Decodes URL-safe base64, padded or not. Throws on invalid input. */
export function base64UrlToBytes(input: string): Uint8Array<ArrayBuffer> {
  const unpadded = input.replace(/={1,2}$/, '');
  if (!URL_SAFE_UNPADDED.test(unpadded) || unpadded.length % 4 === 1) throw new Error('invalid base64url');
  const standard = unpadded.replace(/-/g, '+').replace(/_/g, '/');
  return base64ToBytes(standard + '='.repeat((4 - (standard.length % 4)) % 4));
}

const encoder = new TextEncoder();
const strictDecoder = new TextDecoder('utf-8', { fatal: true });

export function utf8Encode(text: string): Uint8Array<ArrayBuffer> {
  return encoder.encode(text);
}

/** Throws on invalid UTF-8 rather than inserting U+FFFD. */
export function utf8Decode(bytes: Uint8Array): string {
  return strictDecoder.decode(bytes);
}
