import { createRoute, z } from '@hono/zod-openapi';
import { ErrorResponse, jsonResponse, rateLimitedResponse, Timestamp, Uuid } from './common.ts';
import { VOCABULARY } from './vocabulary.ts';

// The operator's API (`ops`): backend metrics for Prometheus and the fleet view. Authenticated by
// an operator key (`npm run vps-host -- operator-key create <name>`), sent as
// `Authorization: Bearer <key>` (Prometheus' `authorization` / `bearer_token`) or `X-Operator-Key`.
// Neither the service_role key, nor a VPS host key, nor a user's token opens it.

const security = [{ operatorKey: [] }];

const unauthorizedResponse = {
  401: { description: 'No operator key, or an unknown or revoked one', content: { 'application/json': { schema: ErrorResponse } } },
} as const;

export const metricsRoute = createRoute({
  method: 'get',
  path: '/metrics',
  summary: 'Backend metrics in the Prometheus text exposition format (0.0.4)',
  description:
    'Sessions, terminals heard from, signals and delivery latency, closed trades and cashback, accounts, VPS hosts, cron jobs and ' +
    'housekeeping tables, computed from the database at scrape time (one SQL function, cheap at any history size). Names, HELP and ' +
    'TYPE: functions/ops/metrics.ts; HELP says which values are estimates.',
  security,
  responses: {
    200: { description: 'The exposition', content: { 'text/plain; version=0.0.4': { schema: z.string() } } },
    ...unauthorizedResponse,
    ...rateLimitedResponse,
  },
});

export const FleetTerminal = z
  .object({
    account_id: Uuid,
    platform: z.enum(VOCABULARY.platform),
    login: z.number().int(),
    server: z.string(),
    status: z.enum(VOCABULARY.account_status),
    terminal_state: z.enum(VOCABULARY.terminal_state).nullable(),
    last_seen_at: Timestamp.nullable(),
    error_code: z.string().nullable(),
    paused: z.boolean(),
    deleted: z.boolean().openapi({ description: 'Deleted: the host is tearing its terminal down' }),
  })
  .openapi('OpsFleetTerminal');

export const FleetHost = z
  .object({
    name: z.string(),
    version: z.string().nullable(),
    capacity: z.number().int(),
    accounts_held: z.number().int(),
    dedicated: z.boolean().openapi({ description: 'Runs one user\'s accounts only' }),
    revoked: z.boolean(),
    last_heartbeat_at: Timestamp.nullable(),
    heartbeat_age_seconds: z.number().int().nullable(),
    terminals: z.array(FleetTerminal).openapi({ description: 'The accounts this host holds' }),
  })
  .openapi('OpsFleetHost');

export const FleetErrorAccount = z
  .object({
    account_id: Uuid,
    platform: z.enum(VOCABULARY.platform),
    login: z.number().int(),
    server: z.string(),
    host: z.string().nullable().openapi({ description: 'The host holding it, if any' }),
    error_code: z.string().nullable(),
    error_message: z.string().nullable(),
    attempts: z.number().int(),
    next_retry_at: Timestamp.nullable(),
    credentials_rejected: z.boolean().openapi({ description: 'The broker refused the password: not retried until its owner changes it' }),
  })
  .openapi('OpsFleetErrorAccount');

export const FleetResponse = z
  .object({
    server_time: Timestamp,
    hosts: z.array(FleetHost),
    accounts_in_error: z.array(FleetErrorAccount).openapi({ description: 'Every account in `error`, across the fleet, newest error first' }),
  })
  .openapi('OpsFleetResponse');
export type FleetResponse = z.infer<typeof FleetResponse>;

export const fleetRoute = createRoute({
  method: 'get',
  path: '/fleet',
  summary: 'Every VPS host with its terminals, and every account in error (no secrets)',
  security,
  responses: { 200: jsonResponse(FleetResponse, 'The fleet'), ...unauthorizedResponse, ...rateLimitedResponse },
});
