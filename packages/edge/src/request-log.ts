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

/**
 * Writes this request's line at `warn` (a 5xx is written at `error` anyway): a request that
 * succeeded but reports something an operator should look at, such as an agent's terminal error.
 */
export function warnRequest(c: Context<EdgeEnv>): void {
  c.set('logWarn', true);
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

/** What a route's pattern says once, computed on its first request: the `{param}`s that name an id. */
interface RouteShape {
  route: string | undefined;
  pathIds: readonly (readonly [param: string, field: keyof RequestLogFields])[];
}
// Keyed by Hono's routePath, which comes from the routes the app registered: a bounded set.
const routeShapes = new Map<string, RouteShape>();

function routeShape(routePath: string): RouteShape {
  let shape = routeShapes.get(routePath);
  if (!shape) {
    const route = routePattern(routePath);
    const pathIds: [string, keyof RequestLogFields][] = [];
    const segments = route?.split('/') ?? [];
    segments.forEach((segment, i) => {
      const param = /^\{(\w+)\}$/.exec(segment)?.[1];
      const field = param ? PATH_ID_FIELDS[segments[i - 1] ?? ''] : undefined;
      if (param && field) pathIds.push([param, field]);
    });
    shape = { route, pathIds };
    routeShapes.set(routePath, shape);
  }
  return shape;
}

function namedIds(c: Context<EdgeEnv>, shape: RouteShape): RequestLogFields {
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
  if (shape.pathIds.length > 0) {
    const params = c.req.param() as Record<string, string>;
    for (const [param, field] of shape.pathIds) {
      const value = params[param];
      if (value && ID.test(value)) out[field] = value;
    }
  }
  return out as RequestLogFields;
}

/** The request's line (without level, time and msg, which the logger adds). */
export function requestLogLine(c: Context<EdgeEnv>, fn: string, latencyMs: number): Record<string, unknown> {
  const shape = routeShape(c.req.routePath);
  const actor = actorFields(c.get('actor'));
  const noted = c.get('logFields') ?? {};
  // The authenticated actor is the truth; what middleware noted before the check fills the rest.
  const fields: RequestLogFields = { ...namedIds(c, shape), ...noted, ...(actor.principal === 'anonymous' ? {} : actor) };
  // In the documented order, absent fields left out.
  const line: Record<string, unknown> = { fn };
  if (shape.route !== undefined) line.route = shape.route;
  line.method = c.req.method;
  line.status = c.res.status;
  line.latency_ms = Math.round(latencyMs * 10) / 10;
  const requestId = c.get('requestId');
  if (requestId !== undefined) line.request_id = requestId;
  line.principal = fields.principal ?? 'anonymous';
  for (const key of LINE_ID_FIELDS) {
    const value = fields[key];
    if (value !== undefined) line[key] = value;
  }
  const failure = c.get('failure');
  if (failure !== undefined) line.failure = failure;
  if (fields.reported_error_code !== undefined) line.reported_error_code = fields.reported_error_code;
  if (fields.account_status !== undefined) line.account_status = fields.account_status;
  const ip = clientIp(c);
  if (ip !== undefined) line.client_ip = ip;
  return line;
}

/** The fields between `principal` and `failure`, in the line's order. */
const LINE_ID_FIELDS = [
  'user_id',
  'ea_key_id',
  'account_id',
  'external_account_id',
  'session_id',
  'signal_id',
  'vps_host_id',
  'error_code',
  'sqlstate',
  'auth_refusal',
] as const satisfies readonly (keyof RequestLogFields)[];
