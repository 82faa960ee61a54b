import { createRoute, z } from '@hono/zod-openapi';
import { SymbolGroup } from './rebate-plans.ts';
import { MAX_TRADES_PER_BATCH } from './shared.ts';
import { AccountEaHeaders, errorResponses, rateLimitedResponse, jsonBody, jsonResponse, Money, PageInfo, PageQuery, Positive, Symbol, Timestamp, Uuid } from './common.ts';
import { VOCABULARY } from './vocabulary.ts';

// `trades`: closed trades of a provisioned account, reported by its EA, and the owner's view of them.
//
// POST: a batch of closed trades, signed with the api secret from `register` (X-Account-Id + the
// Standard Webhooks headers). Each (account, ticket) is stored once: a ticket already stored is
// listed as a duplicate and left as it was (an accepted trade never changes, nor does its cashback).
// So an EA that lost a response resends the same batch safely. Cashback accrues at insert, priced by
// the account's rebate plan (supabase/schemas/092_rebate_plans.sql). Every accepted request, an
// empty batch too, counts as hearing from the EA: it keeps the account `connected` (and brings a
// silent, `disconnected` one back).

// At most MAX_TRADES_PER_BATCH trades per request (declared in shared.ts: register announces it).
export { MAX_TRADES_PER_BATCH };

/**
 * The ownership-proof contract (issue #15). Every registration of a trading account has an ownership
 * code; its owner places a pending order whose comment contains it, and the provisioned EA reports
 * the codes it finds in the account's order comments (pending orders and history since
 * registration), upper-cased and deduplicated, as `ownership_codes`.
 */
export const OWNERSHIP_CODE_PATTERN = /^RUBI-[0-9A-HJKMNP-TV-Z]{8}$/;
export const MAX_OWNERSHIP_CODES = 10;
export const OwnershipCode = z
  .string()
  .regex(OWNERSHIP_CODE_PATTERN, 'an ownership code is RUBI- and 8 Crockford base32 characters in upper case')
  .openapi({ example: 'RUBI-7KQ2X9MD' });
/** What POST /trades answers about the registration the EA reports for. */
export const Ownership = z.enum(['verified', 'unverified', 'owned_elsewhere']).openapi('Ownership', {
  description:
    'verified: the owner proved the account is theirs, cashback accrues; unverified: trades are recorded, cashback is withheld until proven; owned_elsewhere: another registration of the same real account is the proven owner, this one earns nothing',
});
export type Ownership = z.infer<typeof Ownership>;
export const CashbackWithheld = z.enum(VOCABULARY.cashback_withheld_reason).openapi('CashbackWithheld');
export type CashbackWithheld = z.infer<typeof CashbackWithheld>;

export const TradeType = z.enum(VOCABULARY.trade_side).openapi('TradeType');
export type TradeType = z.infer<typeof TradeType>;

const NoNul = (s: string) => !s.includes('\u0000');
const Price = Positive.max(1e9);

export const ClosedTradeInput = z
  .object({
    ticket: z.number().int().positive().max(Number.MAX_SAFE_INTEGER).openapi({ description: 'Order ticket (MT4) or position id (MT5)', example: 123456789 }),
    symbol: Symbol,
    type: TradeType,
    lots: Positive.max(1e6).openapi({ example: 0.5 }),
    open_time: Timestamp.openapi({ description: 'Converted to UTC by the EA (ISO-8601 with offset)' }),
    close_time: Timestamp.openapi({ description: 'Converted to UTC; not before open_time' }),
    open_price: Price,
    close_price: Price,
    commission: Money.default(0),
    swap: Money.default(0),
    profit: Money.default(0),
    magic: z.number().int().min(0).max(Number.MAX_SAFE_INTEGER).nullish(),
    comment: z.string().max(255).refine(NoNul, 'comment may not contain NUL characters').nullish(),
  })
  .strict()
  .superRefine((t, ctx) => {
    if (Date.parse(t.close_time) < Date.parse(t.open_time)) {
      ctx.addIssue({ code: 'custom', path: ['close_time'], message: 'close_time must not be before open_time' });
    }
  })
  .openapi('ClosedTradeInput');
export type ClosedTradeInput = z.infer<typeof ClosedTradeInput>;

export const ReportTradesRequest = z
  .object({
    trades: z
      .array(ClosedTradeInput)
      .max(MAX_TRADES_PER_BATCH, `at most ${MAX_TRADES_PER_BATCH} trades per batch: send the rest in the next request`)
      .openapi({ description: `Closed trades, at most ${MAX_TRADES_PER_BATCH}; each ticket once. Empty: only says the EA is alive` }),
    ownership_codes: z
      .array(OwnershipCode)
      .max(MAX_OWNERSHIP_CODES, `at most ${MAX_OWNERSHIP_CODES} ownership codes`)
      .refine((codes) => new Set(codes).size === codes.length, 'each ownership code once')
      .optional()
      .openapi({
        description: `Ownership codes found in the comments of the account's orders (pending, and history since registration), at most ${MAX_OWNERSHIP_CODES}, each once; omitted or empty when none`,
      }),
    broker_connected: z.boolean().optional().openapi({
      description:
        "Whether the terminal is connected to the broker's trade server now (MT5 TerminalInfoInteger(TERMINAL_CONNECTED), MT4 IsConnected()). A terminal that is not still sends its (empty) batch, so the account's health shows it. Omitted by older EAs",
    }),
    history_synced_until: Timestamp.optional().openapi({
      description:
        "Every trade of the account closed before this instant (UTC) is in this request or was sent before: the history read so far, once nothing read waits to be sent. Not later than the server's clock (+300 s). Omitted while unknown and by older EAs",
    }),
    backfill_complete: z.boolean().optional().openapi({
      description:
        'Whether the EA has read and sent the whole history since the account was registered (its backfill from registered_at is done); false while it is still catching up. Omitted by older EAs',
    }),
  })
  .strict()
  .superRefine((body, ctx) => {
    const firstIndex = new Map<number, number>();
    body.trades.forEach((t, i) => {
      const seen = firstIndex.get(t.ticket);
      if (seen === undefined) firstIndex.set(t.ticket, i);
      else ctx.addIssue({ code: 'custom', path: ['trades', i, 'ticket'], message: `duplicate ticket ${t.ticket} (also at trades.${seen})` });
    });
  })
  .openapi('ReportTradesRequest');
export type ReportTradesRequest = z.infer<typeof ReportTradesRequest>;

export const ReportTradesResponse = z
  .object({
    accepted: z.array(z.number().int()).openapi({ description: 'Tickets stored by this request, ascending' }),
    duplicates: z.array(z.number().int()).openapi({ description: 'Tickets already stored before (left unchanged), ascending' }),
    cashback_accrued: z.number().openapi({ description: "Cashback accrued by the accepted trades, in the broker's currency" }),
    ownership: Ownership,
    server_time: Timestamp,
  })
  .openapi('ReportTradesResponse');
export type ReportTradesResponse = z.infer<typeof ReportTradesResponse>;

export const ClosedTrade = z
  .object({
    account_id: Uuid,
    ticket: z.number().int(),
    symbol: z.string(),
    type: TradeType,
    lots: z.number(),
    open_time: Timestamp,
    close_time: Timestamp,
    open_price: z.number(),
    close_price: z.number(),
    commission: z.number(),
    swap: z.number(),
    profit: z.number(),
    magic: z.number().int().nullable(),
    comment: z.string().nullable(),
    symbol_group: SymbolGroup,
    cashback_rate: z.number().openapi({ description: 'Rebate per lot applied at insert, in rebate_currency' }),
    cashback_amount: z.number().openapi({ description: 'The payout, in `currency`: round(rebate_amount x fx_rate, 4) once accrued, 0 while withheld' }),
    cashback_withheld: CashbackWithheld.nullable().openapi({
      description:
        'Why no cashback accrued (cashback_amount 0): unverified (until the account is proven), paused, owned_elsewhere, filtered (excluded by the account\'s filters), no_fx_rate (until the operator sets a rate to the payout currency), already_paid (the same real trade already accrued for another registration of the real account); null when it accrued',
    }),
    currency: z.string().openapi({ description: 'The payout currency (the account\'s)' }),
    rebate_rule_id: Uuid.nullable().openapi({ description: 'The rebate plan rule that priced the trade; null when none applied' }),
    rebate_amount: z.number().nullable().openapi({ description: 'What the rule pays, in rebate_currency, before conversion' }),
    rebate_currency: z.string().nullable(),
    fx_rate: z.number().nullable().openapi({ description: 'rebate_currency -> currency, recorded at accrual; 1 when equal' }),
    settled_on: z.iso.date().nullable().openapi({ description: 'Settlement day of the ledger row it went into; null until settled' }),
    created_at: Timestamp,
  })
  .openapi('ClosedTrade');
export type ClosedTrade = z.infer<typeof ClosedTrade>;

export const ListTradesQuery = PageQuery.extend({
  account_id: Uuid.optional().openapi({ description: 'Only this trading account (its `id` in the accounts API)' }),
  symbol: Symbol.optional(),
  from: Timestamp.optional().openapi({ description: 'close_time at or after this' }),
  to: Timestamp.optional().openapi({ description: 'close_time before this' }),
}).superRefine((q, ctx) => {
  if (q.from !== undefined && q.to !== undefined && Date.parse(q.to) <= Date.parse(q.from)) {
    ctx.addIssue({ code: 'custom', path: ['to'], message: 'to must be after from' });
  }
});
export const ClosedTradeList = z.object({ trades: z.array(ClosedTrade) }).extend(PageInfo.shape).openapi('ClosedTradeList');

export const reportTradesRoute = createRoute({
  method: 'post',
  path: '/',
  summary: 'Report a batch of closed trades (idempotent per ticket)',
  description:
    `Signed with the api secret from register. At most ${MAX_TRADES_PER_BATCH} trades (more: 400). Tickets already stored are listed as duplicates ` +
    'and not changed, so resending a batch is safe. Cashback accrues at insert. Also keeps the account connected.',
  security: [{ accountEa: [] }],
  request: { headers: AccountEaHeaders, body: jsonBody(ReportTradesRequest) },
  responses: { 200: jsonResponse(ReportTradesResponse, 'Accepted and duplicate tickets, and the cashback accrued'), ...errorResponses, ...rateLimitedResponse },
});

export const listTradesRoute = createRoute({
  method: 'get',
  path: '/',
  summary: 'List your closed trades, most recently closed first',
  security: [{ userJwt: [] }],
  request: { query: ListTradesQuery },
  responses: { 200: jsonResponse(ClosedTradeList, 'One page; pass next_cursor to get the next'), ...errorResponses },
});
