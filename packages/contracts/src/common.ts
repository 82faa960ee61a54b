import { z } from '@hono/zod-openapi';

// Shared pieces of every contract: the error shape, ids, money, timestamps, pagination and the
// headers of a signed EA request. Types are inferred from these schemas, never declared twice.

export const ErrorCode = z
  .enum([
    'invalid_request',
    'unauthorized',
    'forbidden',
    'not_found',
    'conflict',
    'payload_too_large',
    'rate_limited',
    'internal_error',
    'unavailable',
  ])
  .openapi('ErrorCode');
export type ErrorCode = z.infer<typeof ErrorCode>;

export const ErrorDetail = z
  .object({
    path: z.string().openapi({ description: 'Dotted path of the offending field, e.g. `body.symbol` or `header.x-trade-id`' }),
    message: z.string(),
  })
  .openapi('ErrorDetail');
export type ErrorDetail = z.infer<typeof ErrorDetail>;

/** One error shape for every failure of every function. */
export const ErrorResponse = z
  .object({
    error: z.object({
      code: ErrorCode,
      message: z.string(),
      details: z.array(ErrorDetail).optional(),
    }),
  })
  .openapi('ErrorResponse');
export type ErrorResponse = z.infer<typeof ErrorResponse>;

export const Uuid = z.uuid().openapi({ example: '4d7c2a0e-5b1f-4c55-9a51-3f4c4f0b2a11' });
const EARLIEST = Date.UTC(1970, 0, 1);
const LATEST = Date.UTC(3000, 0, 1);
/** ISO-8601 with offset, within 1970..2999 (Postgres would reject year 0, and no trade predates 1970). */
export const Timestamp = z.iso
  .datetime({ offset: true })
  .refine((s) => {
    const t = Date.parse(s);
    // An unparsable string was already reported by the format check: one error per field.
    return Number.isNaN(t) || (t >= EARLIEST && t < LATEST);
  }, 'must be a time between 1970 and 2999')
  .openapi({ example: '2026-11-21T10:15:00Z' });
/** Prices, lots and money travel as JSON numbers; the database stores exact numerics. */
export const Money = z.number().finite();
export const Positive = z.number().finite().positive();
// A symbol as the broker names it. Brokers use suffixes and spaces (`EURUSD.m`, `EURUSD!`,
// `US30 Cash`, `BTC/USD`): any printable text is accepted, so no trade loses its cashback over a
// character; control characters are refused.
export const Symbol = z
  .string()
  .trim()
  .min(1)
  .max(64)
  .regex(/^[^\u0000-\u001f\u007f]+$/, 'symbol may not contain control characters')
  .openapi({ example: 'EURUSD' });
export const CurrencyCode = z.string().regex(/^[A-Z0-9]{3,6}$/, 'currency code such as USD').openapi({ example: 'USD' });

export const PageQuery = z.object({
  limit: z.coerce.number().int().min(1).max(200).default(50),
  cursor: z.string().max(200).optional().openapi({ description: 'Opaque cursor from the previous page' }),
});
export const PageInfo = z.object({ next_cursor: z.string().nullable() });

/**
 * Signed EA requests (Standard Webhooks): the id, the timestamp (seconds) and `v1,<base64>`
 * signatures over `<id>.<timestamp>.<raw body>`. Header names are case-insensitive on the wire.
 */
export const SignedRequestHeaders = z.object({
  'x-trade-id': z.string().min(1).max(128).openapi({ description: 'Unique id of this request (replays are rejected)' }),
  'x-trade-timestamp': z.string().regex(/^\d{1,12}$/).openapi({ description: 'Unix time in seconds; ±300 s tolerance' }),
  'x-trade-signature': z.string().min(1).max(2048).openapi({ description: 'Space-separated `v1,<base64 HMAC-SHA256>`' }),
});
export const EaKeyHeaders = SignedRequestHeaders.extend({
  'x-ea-key-id': Uuid.openapi({ description: 'The EA key id shown on the dashboard' }),
});

export const AccountEaHeaders = SignedRequestHeaders.extend({
  'x-account-id': Uuid.openapi({ description: 'The external account id from the EA config file' }),
});
export const VpsHostHeaders = z.object({
  'x-vps-api-key': z.string().min(16).max(256).openapi({ description: 'The host key created with `npm run vps-host -- create`' }),
});

export const errorResponses = {
  400: { description: 'Invalid request: `details` names each offending field', content: { 'application/json': { schema: ErrorResponse } } },
  401: { description: 'Missing, invalid, expired or replayed credentials', content: { 'application/json': { schema: ErrorResponse } } },
  403: { description: 'Authenticated but not allowed', content: { 'application/json': { schema: ErrorResponse } } },
  404: { description: 'Not found (or not yours)', content: { 'application/json': { schema: ErrorResponse } } },
  409: { description: 'Conflict with the current state', content: { 'application/json': { schema: ErrorResponse } } },
  413: { description: 'Body too large', content: { 'application/json': { schema: ErrorResponse } } },
} as const;

/**
 * 429 on the routes with a rate limit (register, EA key creation, failed EA signatures, failed VPS
 * host keys: packages/edge/src/rate-limit.ts; rates and bursts in private.settings).
 */
export const rateLimitedResponse = {
  429: {
    description:
      'Too many attempts (per credential or account, per user or per client IP): wait `Retry-After` seconds. On signed EA and VPS routes only failed credentials count: a valid request is never limited.',
    headers: { 'Retry-After': { description: 'Seconds to wait before trying again', schema: { type: 'integer' as const, minimum: 1 } } },
    content: { 'application/json': { schema: ErrorResponse } },
  },
} as const;

export const jsonBody = <T extends z.ZodType>(schema: T, description = 'JSON body') => ({
  required: true,
  description,
  content: { 'application/json': { schema } },
});
export const jsonResponse = <T extends z.ZodType>(schema: T, description: string) => ({
  description,
  content: { 'application/json': { schema } },
});
