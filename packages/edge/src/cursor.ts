import { z } from '@hono/zod-openapi';
import { badRequest } from './errors.ts';

// Keyset pagination cursors: the sort key of the last row of a page, as base64url JSON. Opaque to
// clients; validated on the way back in, so a forged cursor is a 400, never a database error.

/** Timestamps inside cursors keep Postgres' microseconds (a JS Date would round them to ms). */
export const CURSOR_TIMESTAMP_SQL = (column: string) => `to_char(${column} at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')`;
export const CursorTimestamp = z.string().regex(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z$/);

export function encodeCursor(key: readonly (string | number)[]): string {
  return btoa(JSON.stringify(key)).replaceAll('+', '-').replaceAll('/', '_').replace(/=+$/, '');
}

export function decodeCursor<T extends z.ZodType>(cursor: string | undefined, schema: T): z.infer<T> | undefined {
  if (cursor === undefined) return undefined;
  let value: unknown;
  try {
    value = JSON.parse(atob(cursor.replaceAll('-', '+').replaceAll('_', '/')));
  } catch {
    value = undefined;
  }
  const parsed = schema.safeParse(value);
  if (!parsed.success) throw badRequest('request validation failed', [{ path: 'query.cursor', message: 'not a cursor returned by this endpoint' }]);
  return parsed.data;
}
