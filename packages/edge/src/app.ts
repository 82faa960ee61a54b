import { OpenAPIHono } from '@hono/zod-openapi';
import type { ErrorDetail } from '@rubi/contracts/common.ts';
import { bodyLimit } from 'hono/body-limit';
import { cors } from 'hono/cors';
import { HTTPException } from 'hono/http-exception';
import type { Context } from 'hono';
import type { EdgeDeps } from './deps.ts';
import type { EdgeEnv } from './env.ts';
import { ApiError, apiErrorFromDatabase, badRequest } from './errors.ts';
import { randomId } from '@rubi/crypto';
import { isDatabaseUnavailable, isPgError } from '@rubi/db';
import { healthRoute } from '@rubi/contracts/health.ts';
import { BACKEND_VERSION, checkHealth } from './health.ts';
import { noteRequest, requestLogLine } from './request-log.ts';

export const REQUEST_ID_HEADER = 'x-request-id';
/** Retry-After (seconds) on a 503 because the database is out of reach. */
export const DB_RETRY_AFTER_SECONDS = 1;
const EA_HEADERS = ['x-ea-key-id', 'x-account-id', 'x-trade-id', 'x-trade-timestamp', 'x-trade-signature', 'x-vps-api-key'];

interface ZodIssueLike {
  path: readonly PropertyKey[];
  message: string;
}

/** Turns zod issues into `details` with dotted paths prefixed by where the value came from. */
export function issuesToDetails(target: string, issues: readonly ZodIssueLike[]): ErrorDetail[] {
  const where = target === 'json' ? 'body' : target === 'param' ? 'path' : target;
  return issues.map((issue) => ({
    path: [where, ...issue.path.map(String)].join('.'),
    message: issue.message,
  }));
}

function errorResponse(c: Context<EdgeEnv>, error: ApiError): Response {
  noteRequest(c, { error_code: error.code });
  for (const [name, value] of Object.entries(error.headers ?? {})) c.header(name, value);
  return c.json(error.toBody(), error.status);
}

/**
 * A function's Hono app: base path `/<name>`, request id, one JSON log line per request, CORS for
 * the dashboard, a body-size limit, the shared error shape, `/<name>/openapi.json` and
 * `/<name>/health` (no authentication: registered before any route a function adds).
 */
export function createFunctionApp(name: string, deps: EdgeDeps): OpenAPIHono<EdgeEnv> {
  const app = new OpenAPIHono<EdgeEnv>({
    defaultHook: (result, c) => {
      if (!result.success) {
        const error = badRequest('request validation failed', issuesToDetails(result.target, result.error.issues));
        return errorResponse(c as unknown as Context<EdgeEnv>, error);
      }
      return undefined;
    },
  }).basePath(`/${name}`);

  app.use('*', async (c, next) => {
    const started = performance.now();
    const requestId = c.req.header(REQUEST_ID_HEADER)?.slice(0, 100) || randomId('req_');
    c.set('deps', deps);
    c.set('requestId', requestId);
    c.set('actor', { kind: 'anonymous' });
    // Set before the handler runs, so that the response it builds carries it; set again after only
    // when it does not (a Response built without the context): a header set on a finished
    // response costs a copy of that response.
    c.header(REQUEST_ID_HEADER, requestId);
    await next();
    if (c.res.headers.get(REQUEST_ID_HEADER) !== requestId) c.header(REQUEST_ID_HEADER, requestId);
    // One line per request with the fields an operator filters on (request-log.ts).
    deps.logger.log(c.res.status >= 500 ? 'error' : c.get('logWarn') ? 'warn' : 'info', 'request', requestLogLine(c, name, performance.now() - started));
  });

  const origins = deps.config.CORS_ORIGINS.split(',').map((o) => o.trim()).filter(Boolean);
  const anyOrigin = origins.includes('*');
  const exposeHeaders = [REQUEST_ID_HEADER, 'retry-after'];
  const preflight = cors({
    origin: anyOrigin ? '*' : origins,
    allowHeaders: ['authorization', 'apikey', 'content-type', 'x-client-info', REQUEST_ID_HEADER, ...EA_HEADERS],
    allowMethods: ['GET', 'POST', 'PATCH', 'DELETE', 'OPTIONS'],
    exposeHeaders,
    maxAge: 600,
  });
  const exposed = exposeHeaders.join(',');
  app.use('*', async (c, next) => {
    // Preflights: hono's cors. Any other request gets the headers hono's cors gives it (allowed
    // origin, exposed headers, Vary), set with c.header before the handler builds its response:
    // hono's sets them on c.res, which costs a placeholder Response per request and a copy of the
    // handler's response. Set again after only for a response built without the context.
    if (c.req.method === 'OPTIONS') return preflight(c, next);
    const requested = c.req.header('origin') || '';
    const origin = anyOrigin ? '*' : origins.includes(requested) ? requested : undefined;
    if (origin) c.header('Access-Control-Allow-Origin', origin);
    c.header('Access-Control-Expose-Headers', exposed);
    await next();
    if (!c.res.headers.has('Access-Control-Expose-Headers')) {
      if (origin) c.header('Access-Control-Allow-Origin', origin);
      c.header('Access-Control-Expose-Headers', exposed);
    }
    if (!anyOrigin) c.header('Vary', 'Origin', { append: true });
  });
  app.use(
    '*',
    bodyLimit({
      maxSize: deps.config.MAX_BODY_BYTES,
      onError: (c) => errorResponse(c, new ApiError(413, 'payload_too_large', `body exceeds ${deps.config.MAX_BODY_BYTES} bytes`)),
    }),
  );

  app.onError((error, c) => {
    if (error instanceof ApiError) {
      c.set('failure', `${error.code}: ${error.message}`);
      return errorResponse(c, error);
    }
    if (isDatabaseUnavailable(error)) {
      // The database is out of reach (lost connection, restart, our deadline): a fast, retryable answer.
      deps.logger.log('warn', 'database unavailable', {
        fn: name,
        request_id: c.get('requestId'),
        error: { name: (error as Error).name, code: String((error as { code?: unknown }).code), message: (error as Error).message },
      });
      c.set('failure', 'unavailable: database unavailable');
      if (isPgError(error)) noteRequest(c, { sqlstate: error.code });
      c.header('retry-after', String(DB_RETRY_AFTER_SECONDS));
      return errorResponse(c, new ApiError(503, 'unavailable', 'database temporarily unavailable, retry later'));
    }
    const fromDb = apiErrorFromDatabase(error);
    if (fromDb) {
      c.set('failure', `${fromDb.code}: ${fromDb.message}`);
      if (isPgError(error)) noteRequest(c, { sqlstate: error.code });
      return errorResponse(c, fromDb);
    }
    if (error instanceof HTTPException) {
      // Hono raises these for unreadable bodies (e.g. malformed JSON).
      if (error.status === 400) return errorResponse(c, badRequest('malformed request body', [{ path: 'body', message: error.message }]));
      return errorResponse(c, new ApiError(error.status === 413 ? 413 : 400, error.status === 413 ? 'payload_too_large' : 'invalid_request', error.message));
    }
    if (isPgError(error)) noteRequest(c, { sqlstate: error.code });
    deps.logger.log('error', 'unhandled error', {
      fn: name,
      request_id: c.get('requestId'),
      error: error instanceof Error ? { name: error.name, message: error.message } : String(error),
    });
    return errorResponse(c, new ApiError(500, 'internal_error', 'internal error'));
  });
  app.openapi(healthRoute, async (c) => {
    const health = await checkHealth(name, deps.db);
    if (health.status === 'ok') return c.json(health, 200);
    c.header('retry-after', '5');
    return c.json(health, 503);
  });
  app.notFound((c) => errorResponse(c, new ApiError(404, 'not_found', `no route ${c.req.method} ${new URL(c.req.url).pathname}`)));

  app.openAPIRegistry.registerComponent('securitySchemes', 'userJwt', {
    type: 'http',
    scheme: 'bearer',
    bearerFormat: 'JWT',
    description: 'Supabase Auth access token of a dashboard user',
  });
  app.openAPIRegistry.registerComponent('securitySchemes', 'eaKey', {
    type: 'apiKey',
    in: 'header',
    name: 'X-EA-Key-Id',
    description:
      'EA key id; the request must also carry X-Trade-Id, X-Trade-Timestamp and X-Trade-Signature (Standard Webhooks HMAC-SHA256 over `<id>.<timestamp>.<raw body>`)',
  });
  app.openAPIRegistry.registerComponent('securitySchemes', 'accountEa', {
    type: 'apiKey',
    in: 'header',
    name: 'X-Account-Id',
    description: 'External account id of a provisioned EA; the request is signed like an EA-key request, with the api secret from register',
  });
  app.openAPIRegistry.registerComponent('securitySchemes', 'vpsHost', { type: 'apiKey', in: 'header', name: 'X-VPS-API-Key' });
  app.doc31('/openapi.json', {
    openapi: '3.1.0',
    info: { title: `Rubi MT Bridge: ${name}`, version: BACKEND_VERSION },
    servers: [{ url: `${deps.config.SUPABASE_URL.replace(/\/+$/, '')}/functions/v1` }],
  });
  return app;
}
