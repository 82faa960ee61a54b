// Keyset pagination cursors for (created_at desc, id desc). The cursor is opaque to clients:
// base64url of `<created_at with microseconds, UTC>|<id>`. Microseconds matter: Postgres keeps
// them and a JS Date does not, so a millisecond cursor could skip or repeat rows.
import { base64UrlToBytes, bytesToBase64Url, utf8Decode, utf8Encode } from '@rubi/crypto';

export interface Cursor {
  /** `YYYY-MM-DDTHH:MM:SS.ffffffZ` */
  createdAt: string;
  id: string;
}

const TIMESTAMP = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z$/;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export function encodeCursor(cursor: Cursor): string {
  return bytesToBase64Url(utf8Encode(`${cursor.createdAt}|${cursor.id}`));
}

/** The cursor, or null when `text` is not one this endpoint produced. */
export function decodeCursor(text: string): Cursor | null {
  let decoded: string;
  try {
    decoded = utf8Decode(base64UrlToBytes(text));
  } catch {
    return null;
  }
  const [createdAt, id, ...rest] = decoded.split('|');
  if (rest.length > 0 || !createdAt || !id || !TIMESTAMP.test(createdAt) || !UUID.test(id)) return null;
  if (Number.isNaN(new Date(createdAt).getTime())) return null;
  return { createdAt, id };
}
