import type { Context } from 'hono';
import type { Actor, EdgeEnv } from './env.ts';
import { clientIp } from './rate-limit.ts';

/**
 * The request log: ONE JSON line per request (`msg: "request"`), written by createFunctionApp for
 * every function, with the same fields everywhere so that an operator can filter and group on
 * them (README, "Reading the logs"). Only ids, codes and numbers: never a secret, a body or a
 * header value (the ids below are the only values taken from a request, and only once they
 * passed validation or the credential check names them).
 *
 * Fields, in the order they are written (absent when unknown):
 * - `fn`, `route` (the matched route pattern, `/signals/{id}/status`; absent when no route
 *   matched), `method`, `status`, `latency_ms`, `request_id`;
 * - `principal`: the kind of credential the request presented (PRINCIPAL_KINDS); it is named as
 *   soon as the route's auth middleware sees that kind of credential, so a refused request (401,
 *   429) names what it tried, with the ids it claimed;
 * - the principal's ids and the ids the request names: `user_id`, `ea_key_id`, `account_id`
 *   (trading account), `external_account_id`, `session_id`, `signal_id`, `vps_host_id`;
 * - on a failure: `error_code` (the ApiError code of the response), `sqlstate` (when the answer
 *   came from the database convention, errors.ts), `auth_refusal` (why a credential was refused:
 *   the signature check's reason, register's check), `failure` (the error message, safe to log);
 * - what a route adds about its own work (`reported_error_code`, `account_status`: an agent's
 *   state report);
 * - `client_ip` (the gateway's X-Forwarded-For), for refused credentials and rate limits.
 */

/** Every kind of principal a request can carry: the one vocabulary of the `principal` field. */
export const PRINCIPAL_KINDS = ['anonymous', 'user', 'ea_key', 'account_ea', 'provisioning_token', 'vps_host', 'operator'] as const;
export type PrincipalKind = (typeof PRINCIPAL_KINDS)[number];

// Every Actor kind is a principal kind (compile-time check).
const _actorKinds: readonly PrincipalKind[] = [] as Actor['kind'][];
void _actorKinds;

/** What handlers and middleware add to the request's line. */
export interface RequestLogFields {
  principal?: PrincipalKind;
  user_id?: string;
  ea_key_id?: string;
  account_id?: string;
  external_account_id?: string;
  session_id?: string;
  signal_id?: string;
  vps_host_id?: string;
  error_code?: string;
  sqlstate?: string;
  auth_refusal?: string;
  reported_error_code?: string;
  account_status?: string;
}

/** Adds fields to this request's log line (later values win). */
export function noteRequest(c: Context<EdgeEnv>, fields: RequestLogFields): void {
  const current = c.get('logFields');
  if (current) Object.assign(current, fields);
  else c.set('logFields', { ...fields });
}

/** The ids an authenticated actor carries. */
function actorFields(actor: Actor): RequestLogFields {
  switch (actor.kind) {
    case 'user':
      return { principal: 'user', user_id: actor.userId };
    case 'ea_key':
      return { principal: 'ea_key', user_id: actor.userId, ea_key_id: actor.keyId };
    case 'account_ea':
      return { principal: 'account_ea', user_id: actor.userId, account_id: actor.accountId };
    case 'vps_host':
      return { principal: 'vps_host', vps_host_id: actor.hostId };
    default:
      return { principal: actor.kind };
  }
}

/** `/vps/accounts/:id/state` → `/vps/accounts/{id}/state`; undefined for the catch-all (no route matched). */
export function routePattern(path: string): string | undefined {
  if (path.endsWith('*')) return undefined;
  return path.replace(/:([A-Za-z0-9_]+)(\{[^}]*\})?/g, '{$1}');
}

/** A path parameter `{id}` is named by the segment before it: `/trading-accounts/{id}` → account_id. */
const PATH_ID_FIELDS: Record<string, keyof RequestLogFields> = {
  sessions: 'session_id',
  'trading-accounts': 'account_id',
  accounts: 'account_id',
  signals: 'signal_id',
};
/** Validated query or body fields that name a resource an operator filters on. */
const INPUT_ID_FIELDS = ['session_id', 'account_id', 'external_account_id'] as const;
const ID = /^[0-9a-zA-Z_-]{1,64}$/;

function namedIds(c: Context<EdgeEnv>, route: string | undefined): RequestLogFields {
  const out: Record<string, string> = {};
  const req = c.req as unknown as { valid(target: string): unknown };
  for (const target of ['query', 'json'] as const) {
    const data = req.valid(target);
    if (!data || typeof data !== 'object') continue;
    for (const field of INPUT_ID_FIELDS) {
      const value = (data as Record<string, unknown>)[field];
      if (typeof value === 'string' && ID.test(value)) out[field] = value;
    }
  }
  if (route) {
    const segments = route.split('/');
    const params = c.req.param() as Record<string, string>;
    segments.forEach((segment, i) => {
      const param = /^\{(\w+)\}$/.exec(segment)?.[1];
      const field = param ? PATH_ID_FIELDS[segments[i - 1] ?? ''] : undefined;
      const value = param ? params[param] : undefined;
      if (field && value && ID.test(value)) out[field] = value;
    });
  }
  return out as RequestLogFields;
}

/** The request's line (without level, time and msg, which the logger adds). */
export function requestLogLine(c: Context<EdgeEnv>, fn: string, latencyMs: number): Record<string, unknown> {
  const route = routePattern(c.req.routePath);
  const actor = actorFields(c.get('actor'));
  const noted = c.get('logFields') ?? {};
  // The authenticated actor is the truth; what middleware noted before the check fills the rest.
  const fields: RequestLogFields = { ...namedIds(c, route), ...noted, ...(actor.principal === 'anonymous' ? {} : actor) };
  const ip = clientIp(c);
  return dropUndefined({
    fn,
    route,
    method: c.req.method,
    status: c.res.status,
    latency_ms: Math.round(latencyMs * 10) / 10,
    request_id: c.get('requestId'),
    principal: fields.principal ?? 'anonymous',
    user_id: fields.user_id,
    ea_key_id: fields.ea_key_id,
    account_id: fields.account_id,
    external_account_id: fields.external_account_id,
    session_id: fields.session_id,
    signal_id: fields.signal_id,
    vps_host_id: fields.vps_host_id,
    error_code: fields.error_code,
    sqlstate: fields.sqlstate,
    auth_refusal: fields.auth_refusal,
    failure: c.get('failure'),
    reported_error_code: fields.reported_error_code,
    account_status: fields.account_status,
    client_ip: ip,
  });
}

function dropUndefined(record: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(record).filter(([, v]) => v !== undefined));
}
