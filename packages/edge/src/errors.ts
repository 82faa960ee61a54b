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

/**
 * Maps a database error to what the client may know. Row-level security and privilege failures
 * look like "not found" (a user must not learn that another user's row exists); state-machine
 * violations are conflicts; anything else is an internal error whose text stays in the log.
 */
export function apiErrorFromDatabase(error: unknown): ApiError | undefined {
  if (!isPgError(error)) return undefined;
  switch (error.code) {
    case '23505':
      return conflict('already exists');
    case '23514':
      // State-machine and rule violations raised by our own SQL carry a message meant for people.
      return conflict(error.message);
    case '42501':
      return notFound();
    case 'P0002':
      return notFound();
    case '23503':
      return notFound('a referenced record does not exist');
    default:
      // Class 22 is "data exception": a value the client sent that Postgres cannot store (a NUL
      // character in text, a number out of range, ...). The transaction is rolled back.
      if (error.code.startsWith('22')) return badRequest('invalid value', [{ path: 'body', message: error.message }]);
      return undefined;
  }
}
