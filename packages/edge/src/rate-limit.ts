import { asService } from '@rubi/db';
import type { Context } from 'hono';
import type { EdgeEnv } from './env.ts';
import { rateLimited } from './errors.ts';

/**
 * Rate limits on the auth-sensitive routes, kept in Postgres (`private.take_rate_limit`, GCRA in
 * one upsert, see supabase/schemas/027_rate_limits.sql) so that they hold across every instance of
 * every function. Rates and bursts per kind are settings (`rate_limit_<kind>_per_minute`,
 * `rate_limit_<kind>_burst`). Every function uses it the same way:
 *
 *   await limit(c, [perIp('register_ip', c), { kind: 'register_account', subject: id }], 'open');
 *
 * All the buckets of one decision are taken in ONE statement (one round trip). A refusal is a 429
 * with Retry-After (seconds) through the ApiError convention.
 *
 * Where (and why there):
 * - `register`: every attempt, per external account id and per client IP, before any work (the
 *   token guesser is refused before the token is hashed against the account).
 * - signed EA requests: FAILED verifications only, per key / account id and per client IP, on the
 *   failure path (auth-middleware.ts): a correct signature never waits for the limiter, so the hot
 *   path keeps its one statement, and a stranger who knows a key id cannot lock its EA out. Past
 *   the limit, the refusal is a 429 instead of a 401.
 * - VPS host keys and operator keys (`ops`): failed checks per client IP, on the failure path, likewise.
 * - `POST /keys`: every creation, per user.
 *
 * When the limiter itself fails (settings missing, the statement errors), what the request gets:
 * - 'open' (register, key creation): the request proceeds and the failure is logged. The limiter is
 *   the second line; the credential check (a 256-bit one-time token, a signed-in user) is the first,
 *   and that request needs the same database anyway: if it is down, the request's own SQL answers 503.
 * - failure paths (EA signatures, VPS keys, operator keys): the request was refused already: it gets its 401
 *   either way, never a 500 ('open' again, as far as the answer goes).
 */

/** The kinds of bucket; each has its two settings in private.settings. */
export type RateLimitKind =
  | 'register_ip'
  | 'register_account'
  | 'ea_auth_failure_credential'
  | 'ea_auth_failure_ip'
  | 'vps_auth_failure_ip'
  | 'operator_auth_failure_ip'
  | 'key_create_user';

export interface RateLimitBucket {
  kind: RateLimitKind;
  subject: string;
}

export interface RateLimitDecision {
  allowed: boolean;
  /** 0 when allowed; otherwise when the most limiting bucket has room again. */
  retryAfterSeconds: number;
}

/**
 * The client's IP: the first entry of `X-Forwarded-For`, which Supabase's gateway sets in front of
 * every Edge Function (the local server, packages/local-server, sets it from the socket's peer
 * address the same way and drops what the client sent). Undefined when absent or not an IP
 * (in-process tests call the apps without it): the per-IP buckets are then skipped, the
 * per-credential ones still apply.
 */
export function clientIp(c: Context<EdgeEnv>): string | undefined {
  const first = c.req.header('x-forwarded-for')?.split(',')[0]?.trim().toLowerCase();
  if (!first || first.length > 45 || !/^[0-9a-f.:]+$/.test(first)) return undefined;
  return first;
}

/** The per-IP bucket of `kind` for this request, if its IP is known. */
export function perIp(kind: RateLimitKind, c: Context<EdgeEnv>): RateLimitBucket | undefined {
  const ip = clientIp(c);
  return ip ? { kind, subject: ip } : undefined;
}

/** Takes one token from each bucket in one statement; allowed only if every bucket allowed. */
export async function takeRateLimits(c: Context<EdgeEnv>, buckets: readonly (RateLimitBucket | undefined)[]): Promise<RateLimitDecision> {
  const present = buckets.filter((b): b is RateLimitBucket => b !== undefined);
  if (present.length === 0) return { allowed: true, retryAfterSeconds: 0 };
  const params = present.flatMap((b) => [b.kind, b.subject]);
  const values = present.map((_, i) => `($${2 * i + 1}::text, $${2 * i + 2}::text)`).join(', ');
  const [row] = await c.get('deps').db.query<{ allowed: boolean; retry_after_seconds: number }>(
    asService(),
    `select coalesce(bool_and(t.allowed), true) as allowed, coalesce(max(t.retry_after_seconds), 0)::int as retry_after_seconds
     from (values ${values}) b(kind, subject) cross join lateral private.take_rate_limit(b.kind, b.subject) t`,
    params,
  );
  return { allowed: row?.allowed ?? true, retryAfterSeconds: row?.retry_after_seconds ?? 0 };
}

/**
 * Takes the buckets and throws a 429 if any refused. A failure of the limiter itself is logged and
 * lets the request go on (see above for why every route fails open).
 */
export async function limit(c: Context<EdgeEnv>, buckets: readonly (RateLimitBucket | undefined)[]): Promise<void> {
  let decision: RateLimitDecision;
  try {
    decision = await takeRateLimits(c, buckets);
  } catch (error) {
    c.get('deps').logger.log('error', 'rate limiter failed: request let through', {
      request_id: c.get('requestId'),
      kinds: buckets.flatMap((b) => (b ? [b.kind] : [])),
      error: error instanceof Error ? { name: error.name, message: error.message } : String(error),
    });
    return;
  }
  if (!decision.allowed) throw rateLimited(decision.retryAfterSeconds);
}
