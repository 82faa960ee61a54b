import { createRoute, z } from '@hono/zod-openapi';
import { EaKeyHeaders, errorResponses, rateLimitedResponse, jsonBody, jsonResponse, Money, Timestamp, Uuid } from './common.ts';
import { VOCABULARY } from './vocabulary.ts';

export const PingRequest = z
  .object({
    session_id: Uuid,
    balance: Money,
    equity: Money,
    margin: Money.default(0),
    margin_free: Money.default(0),
    margin_level: Money.nullable().optional(),
    profit: Money.default(0),
  })
  .strict()
  .openapi('PingRequest');

export const PingResponse = z
  .object({
    server_time: Timestamp,
    session_status: z.enum(VOCABULARY.session_status).extract(['active']),
    pending_signals: z.number().int().min(0).openapi({ description: 'Signals waiting for this session: poll /signals/pending only when > 0' }),
    ping_interval_seconds: z.number().int(),
  })
  .openapi('PingResponse');

export const pingRoute = createRoute({
  method: 'post',
  path: '/',
  summary: 'Heartbeat with the account figures; stores a snapshot and revives a stale session',
  security: [{ eaKey: [] }],
  request: { headers: EaKeyHeaders, body: jsonBody(PingRequest) },
  responses: { 200: jsonResponse(PingResponse, 'Server time and the work waiting'), ...errorResponses, ...rateLimitedResponse },
});
