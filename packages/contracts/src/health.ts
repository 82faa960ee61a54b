import { createRoute, z } from '@hono/zod-openapi';
import { jsonResponse } from './common.ts';

// GET /<name>/health on every function (and /health on the local server): what a load balancer,
// an uptime check or an operator asks first. No credentials, no secrets, no user data: the
// function's name and version, and whether a trivial query reaches the database and how fast.

export const HealthStatus = z.enum(['ok', 'degraded']).openapi('HealthStatus');

export const HealthResponse = z
  .object({
    status: HealthStatus.openapi({ description: '`ok` when the database answered; `degraded` (with status 503) when it did not' }),
    name: z.string().openapi({ description: 'The function (or `local-server`)' }),
    version: z.string().openapi({ description: 'Version of the backend that serves it' }),
    database: z.object({
      reachable: z.boolean(),
      latency_ms: z.number().min(0).openapi({ description: 'Round trip of `select 1` in a transaction, as the functions run their SQL (or until it failed or timed out)' }),
      error: z.string().optional().openapi({ description: 'Why the database did not answer: `timeout` or a short reason, never a connection string' }),
    }),
  })
  .openapi('HealthResponse');
export type HealthResponse = z.infer<typeof HealthResponse>;

export const healthRoute = createRoute({
  method: 'get',
  path: '/health',
  summary: 'Liveness and database reachability (no authentication)',
  responses: {
    200: jsonResponse(HealthResponse, 'The function is up and its database answered'),
    503: jsonResponse(HealthResponse, 'The function is up but its database did not answer in time'),
  },
});
