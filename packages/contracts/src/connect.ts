import { createRoute, z } from '@hono/zod-openapi';
import { CurrencyCode, EaKeyHeaders, errorResponses, rateLimitedResponse, jsonBody, jsonResponse, Money, Positive, Symbol, Timestamp, Uuid } from './common.ts';
import { RiskSettings } from './shared.ts';
import type { Vocabulary } from './vocabulary.ts';

export const SymbolSpec = z
  .object({
    symbol: Symbol,
    tick_size: Positive.openapi({ description: 'SYMBOL_TRADE_TICK_SIZE' }),
    tick_value: Positive.openapi({ description: 'SYMBOL_TRADE_TICK_VALUE, in the account currency' }),
    contract_size: Positive.openapi({ description: 'SYMBOL_TRADE_CONTRACT_SIZE' }),
    volume_min: Positive,
    volume_max: Positive,
    volume_step: Positive,
    digits: z.number().int().min(0).max(10),
  })
  .strict()
  .refine((s) => s.volume_max >= s.volume_min, { message: 'volume_max must be at least volume_min', path: ['volume_max'] })
  .openapi('SymbolSpec');
export type SymbolSpec = z.infer<typeof SymbolSpec>;

export const ConnectRequest = z
  .object({
    account_number: z.number().int().positive().openapi({ example: 51234567 }),
    broker: z.string().trim().min(1).max(128),
    server: z.string().trim().min(1).max(128).openapi({ example: 'ICMarketsSC-Demo' }),
    currency: CurrencyCode,
    leverage: z.number().int().positive().max(10000),
    balance: Money,
    equity: Money,
    margin: Money.optional(),
    margin_free: Money.optional(),
    ea_version: z.string().max(32).optional(),
    terminal_build: z.number().int().positive().optional(),
    symbols: z.array(SymbolSpec).max(500).optional().openapi({ description: 'Specifications of the symbols the EA trades (used for risk sizing)' }),
  })
  .strict()
  .openapi('ConnectRequest');
export type ConnectRequest = z.infer<typeof ConnectRequest>;

// The risk limits a session runs under (declared in shared.ts: accounts-read.ts shows them too).
export { RiskSettings };

export const ConnectResponse = z
  .object({
    session_id: Uuid,
    resumed: z.boolean().openapi({ description: 'True when the terminal already had a live session, which is reused' }),
    server_time: Timestamp,
    ping_interval_seconds: z.number().int(),
    risk: RiskSettings,
  })
  .openapi('ConnectResponse');

export const DisconnectRequest = z
  .object({
    session_id: Uuid,
    signals_sent: z.number().int().min(0).optional(),
    signals_received: z.number().int().min(0).optional(),
    orders_executed: z.number().int().min(0).optional(),
    errors: z.number().int().min(0).optional(),
  })
  .strict()
  .openapi('DisconnectRequest');

export const DisconnectResponse = z
  .object({ session_id: Uuid, status: z.literal('disconnected' satisfies Vocabulary<'session_status'>), disconnected_at: Timestamp })
  .openapi('DisconnectResponse');

export const connectRoute = createRoute({
  method: 'post',
  path: '/',
  summary: 'Open (or resume) the session of a terminal',
  security: [{ eaKey: [] }],
  request: { headers: EaKeyHeaders, body: jsonBody(ConnectRequest) },
  responses: { 200: jsonResponse(ConnectResponse, 'The session and the settings the EA must apply'), ...errorResponses, ...rateLimitedResponse },
});

export const disconnectRoute = createRoute({
  method: 'post',
  path: '/disconnect',
  summary: 'Close a session with the counters the EA kept',
  security: [{ eaKey: [] }],
  request: { headers: EaKeyHeaders, body: jsonBody(DisconnectRequest) },
  responses: { 200: jsonResponse(DisconnectResponse, 'The closed session'), ...errorResponses, ...rateLimitedResponse },
});
