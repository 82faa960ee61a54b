import { createRoute, z } from '@hono/zod-openapi';
import { EaKeyHeaders, errorResponses, rateLimitedResponse, jsonBody, jsonResponse, Money, PageInfo, PageQuery, Positive, Symbol, Timestamp, Uuid } from './common.ts';
import { VOCABULARY } from './vocabulary.ts';

// Open positions of a terminal. The EA pushes its FULL list of open positions (not a diff): the
// server upserts every listed ticket, closes the session's open tickets that are missing from the
// list, and reopens a closed ticket that reappears. Sending the same list again changes nothing.

export const PositionType = z.enum(VOCABULARY.trade_side).openapi('PositionType');
export type PositionType = z.infer<typeof PositionType>;

/**
 * At most this many positions per push. Chosen so that a full list always fits the default body
 * limit (MAX_BODY_BYTES, 256 KiB): a position with every field filled is about 260 bytes.
 */
export const MAX_POSITIONS_PER_UPDATE = 500;

const Price = Positive.max(1e9);
/** MT5 reports 0 for "no stop-loss / take-profit"; 0 and null both mean none (stored as null). */
const OptionalLevel = z.number().min(0).max(1e9).nullish();
const Ticket = z.number().int().positive().openapi({ description: 'POSITION_TICKET', example: 123456789 });
const NoNul = (s: string) => !s.includes('\u0000');
/** A time MetaTrader can have produced: from 1970 (its epoch) to before the year 3000. */
const MtTime = Timestamp.refine((v) => {
  const t = Date.parse(v);
  return t >= 0 && t < Date.UTC(3000, 0, 1);
}, 'must be between 1970 and 2999');

export const PositionInput = z
  .object({
    ticket: Ticket,
    symbol: Symbol,
    type: PositionType,
    volume: Positive.max(1e6).openapi({ description: 'Lots (POSITION_VOLUME)' }),
    open_price: Price,
    current_price: Price.nullish(),
    stop_loss: OptionalLevel.openapi({ description: '0 or null: none' }),
    take_profit: OptionalLevel.openapi({ description: '0 or null: none' }),
    profit: Money.openapi({ description: 'Floating profit in the account currency' }),
    swap: Money.default(0),
    commission: Money.default(0),
    magic: z.number().int().min(0).nullish().openapi({ description: 'POSITION_MAGIC' }),
    comment: z.string().max(255).refine(NoNul, 'comment may not contain NUL characters').nullish(),
    opened_at: MtTime.openapi({ description: 'POSITION_TIME converted to UTC (ISO-8601 with offset)', example: '2026-11-21T10:15:00Z' }),
  })
  .strict()
  .openapi('PositionInput');
export type PositionInput = z.infer<typeof PositionInput>;

export const UpdatePositionsRequest = z
  .object({
    session_id: Uuid,
    positions: z.array(PositionInput).max(MAX_POSITIONS_PER_UPDATE).openapi({
      description: `Every open position of the terminal (at most ${MAX_POSITIONS_PER_UPDATE}); an empty list closes them all`,
    }),
  })
  .strict()
  .superRefine((body, ctx) => {
    const firstIndex = new Map<number, number>();
    body.positions.forEach((p, i) => {
      const seen = firstIndex.get(p.ticket);
      if (seen === undefined) firstIndex.set(p.ticket, i);
      else ctx.addIssue({ code: 'custom', path: ['positions', i, 'ticket'], message: `duplicate ticket ${p.ticket} (also at positions.${seen})` });
    });
  })
  .openapi('UpdatePositionsRequest');
export type UpdatePositionsRequest = z.infer<typeof UpdatePositionsRequest>;

export const UpdatePositionsResponse = z
  .object({
    open: z.number().int().min(0).openapi({ description: 'Open positions of the session after this update (the list length)' }),
    closed: z.number().int().min(0).openapi({ description: 'Positions closed by this update (open before, missing from the list)' }),
    tickets_closed: z.array(z.number().int()).openapi({ description: 'Their tickets, ascending' }),
  })
  .openapi('UpdatePositionsResponse');

export const PositionStatus = z.enum(['open', 'closed']).openapi('PositionStatus');

export const Position = z
  .object({
    session_id: Uuid,
    ticket: z.number().int(),
    symbol: z.string(),
    type: PositionType,
    volume: Money,
    open_price: Money,
    current_price: Money.nullable(),
    stop_loss: Money.nullable(),
    take_profit: Money.nullable(),
    profit: Money,
    swap: Money,
    commission: Money,
    magic: z.number().int().nullable(),
    comment: z.string().nullable(),
    opened_at: Timestamp,
    closed_at: Timestamp.nullable().openapi({ description: 'When the position stopped appearing in the EA list; null while open' }),
    status: PositionStatus,
    updated_at: Timestamp,
  })
  .openapi('Position');
export type Position = z.infer<typeof Position>;

export const ListPositionsQuery = PageQuery.extend({
  session_id: Uuid.optional(),
  status: z.enum(['open', 'closed', 'all']).default('open').openapi({ description: 'Default: open' }),
  symbol: Symbol.optional(),
});
export const PositionList = z.object({ positions: z.array(Position) }).extend(PageInfo.shape).openapi('PositionList');

export const updatePositionsRoute = createRoute({
  method: 'post',
  path: '/update',
  summary: 'Push the full list of open positions of a session',
  description:
    'Upserts every listed ticket, closes the open tickets of the session that are missing, reopens a closed ticket that reappears. Idempotent: the same list twice changes nothing.',
  security: [{ eaKey: [] }],
  request: { headers: EaKeyHeaders, body: jsonBody(UpdatePositionsRequest) },
  responses: { 200: jsonResponse(UpdatePositionsResponse, 'What the update changed'), ...errorResponses, ...rateLimitedResponse },
});

export const listPositionsRoute = createRoute({
  method: 'get',
  path: '/',
  summary: 'List your positions, most recently opened first',
  security: [{ userJwt: [] }],
  request: { query: ListPositionsQuery },
  responses: { 200: jsonResponse(PositionList, 'One page; pass next_cursor to get the next'), ...errorResponses },
});
