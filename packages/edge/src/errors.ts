import type { ErrorCode, ErrorDetail, ErrorResponse } from '@rubi/contracts/common.ts';
import { isPgError } from '@rubi/db';
import type { ContentfulStatusCode } from 'hono/utils/http-status';

/** A failure with a status and a stable code; everything a client sees goes through this. */
export class ApiError extends Error {
  constructor(
    readonly status: ContentfulStatusCode,
    readonly code: ErrorCode,
    message: string,
    readonly details?: ErrorDetail[],
    /** Response headers that belong to the error (e.g. Retry-After on a 429). */
    readonly headers?: Readonly<Record<string, string>>,
  ) {
    super(message);
    this.name = 'ApiError';
  }
  toBody(): ErrorResponse {
    return { error: { code: this.code, message: this.message, ...(this.details ? { details: this.details } : {}) } };
  }
}

export const badRequest = (message: string, details?: ErrorDetail[]) => new ApiError(400, 'invalid_request', message, details);
export const unauthorized = (message = 'missing or invalid credentials') => new ApiError(401, 'unauthorized', message);
export const forbidden = (message = 'not allowed') => new ApiError(403, 'forbidden', message);
export const notFound = (message = 'not found') => new ApiError(404, 'not_found', message);
export const conflict = (message: string) => new ApiError(409, 'conflict', message);
/** 429 with Retry-After (whole seconds, at least 1): a rate limit refused the request (see rate-limit.ts). */
export const rateLimited = (retryAfterSeconds: number, message = 'too many requests, retry later') =>
  new ApiError(429, 'rate_limited', message, undefined, { 'retry-after': String(Math.max(1, Math.ceil(retryAfterSeconds))) });

/**
 * The one error convention from SQL to HTTP. Our SQL raises standard SQLSTATEs with messages meant
 * for people (supabase/migrations/20261130000500_ea_gates_and_hot_path.sql lists them):
 * - 28000 / 28P01 (a gate refused the credential or the request id): 401 with the message;
 * - class 22 (a value the client sent cannot be stored, or a rule on one field): 400, naming the
 *   field from the error's COLUMN when our SQL gave one (`body.risk_percent`), `body` otherwise;
 * - P0002 no_data_found: 404 with the message; 23503 (a referenced row is missing): 404;
 * - 42501 (row-level security, privileges): 404 and nothing more: a user must not learn that
 *   another user's row exists;
 * - 23514 (state machines and rules): 409 with the message; 23505: 409.
 * Anything else is an internal error whose text stays in the log.
 */
export function apiErrorFromDatabase(error: unknown): ApiError | undefined {
  if (!isPgError(error)) return undefined;
  switch (error.code) {
    case '28000':
    case '28P01':
      return unauthorized(error.message);
    case '23505':
      return conflict('already exists');
    case '23514':
      return conflict(error.message);
    case '42501':
      return notFound();
    case 'P0002':
      return notFound(error.message);
    case '23503':
      return notFound('a referenced record does not exist');
    default:
      if (error.code.startsWith('22')) {
        return badRequest(error.column ? error.message : 'invalid value', [{ path: error.column ?? 'body', message: error.message }]);
      }
      return undefined;
  }
}
