import { createRoute, z } from '@hono/zod-openapi';
import { EaKeyHeaders, errorResponses, rateLimitedResponse, jsonBody, jsonResponse, Money, PageInfo, PageQuery, Positive, Symbol, Timestamp, Uuid } from './common.ts';
import { VOCABULARY } from './vocabulary.ts';

// Trading signals: created by the dashboard, an API client (a user token) or the EA itself,
// delivered to one session, executed by the EA and reported back.
//
// The shape checks a trader would make without looking anything up (which side of the entry the
// stop-loss is on, "a volume or a risk percent", nothing to size on a close) are part of the
// schema, so a bad body is a 400 naming the field. Checks that need the database (the session,
// the symbol specification, the session's risk limits) are made by the function.

export const SignalType = z.enum(VOCABULARY.signal_type).openapi('SignalType');
export type SignalType = z.infer<typeof SignalType>;
export const SignalStatus = z.enum(VOCABULARY.signal_status).openapi('SignalStatus');
export type SignalStatus = z.infer<typeof SignalStatus>;
export const SignalSource = z.enum(VOCABULARY.signal_source).openapi('SignalSource');
export type SignalSource = z.infer<typeof SignalSource>;
export const Timeframe = z.enum(VOCABULARY.timeframe).openapi('Timeframe');
export type Timeframe = z.infer<typeof Timeframe>;
/**
 * How an EA ends a delivered signal: the states machine `signal` lets an EA move DELIVERED to (and an
 * order's result). UNKNOWN: the EA cannot tell whether its order reached the trade server (a crash
 * while sending, a timed-out trade call); the order may or may not exist, and it was not sent again.
 */
export const ReportedStatus = SignalStatus.extract(['EXECUTED', 'REJECTED', 'FAILED', 'UNKNOWN']).openapi('ReportedSignalStatus');

export const isOpeningType = (type: SignalType): type is 'BUY' | 'SELL' => type === 'BUY' || type === 'SELL';

const Price = Positive.max(1e9);
const Lots = Positive.max(1e6);
/** Seven days: a signal that waits longer than that is no longer a signal. */
export const MAX_SIGNAL_TTL_SECONDS = 7 * 24 * 3600;

export const CreateSignalRequest = z
  .object({
    session_id: Uuid.openapi({ description: 'The session (terminal) that will execute the signal' }),
    type: SignalType,
    symbol: Symbol,
    entry_price: Price.nullish().openapi({ description: 'Omitted or null: at market. Required for risk-sized signals.' }),
    stop_loss: Price.nullish(),
    take_profit: Price.nullish(),
    volume: Lots.nullish().openapi({ description: 'Lots. Opening signals give exactly one of volume and risk_percent.' }),
    risk_percent: z
      .number()
      .finite()
      .positive()
      .max(100)
      .nullish()
      .openapi({
        description:
          "Percent of the session's equity to lose at the stop-loss; the server computes the volume (needs entry_price, stop_loss and the symbol's specification)",
      }),
    timeframe: Timeframe.nullish(),
    confidence: z.number().finite().min(0).max(100).nullish(),
    signal_time: Timestamp.nullish().openapi({ description: 'When the strategy produced the signal; defaults to now' }),
    client_signal_id: z
      .string()
      .min(1)
      .max(128)
      .regex(/^[\x21-\x7E]+$/, 'printable ASCII without spaces')
      .nullish()
      .openapi({ description: 'Idempotency key, unique per user: a retried POST returns the signal created the first time' }),
    expires_at: Timestamp.nullish().openapi({ description: 'Not delivered after this time (must be in the future)' }),
    ttl_seconds: z.number().int().min(1).max(MAX_SIGNAL_TTL_SECONDS).nullish().openapi({ description: 'Alternative to expires_at' }),
    source: SignalSource.extract(['dashboard', 'api'])
      .nullish()
      .openapi({ description: "User tokens only (default 'dashboard'); signals created with an EA key are always 'ea'" }),
  })
  .strict()
  .superRefine((s, ctx) => {
    const issue = (path: string, message: string) => ctx.addIssue({ code: 'custom', path: [path], message });
    if (!isOpeningType(s.type)) {
      for (const field of ['entry_price', 'stop_loss', 'take_profit', 'volume', 'risk_percent'] as const) {
        if (s[field] != null) issue(field, `a ${s.type} signal closes at market and carries no ${field}`);
      }
    } else {
      if (s.volume != null && s.risk_percent != null) issue('risk_percent', 'give volume or risk_percent, not both');
      if (s.volume == null && s.risk_percent == null) issue('volume', 'an opening signal needs volume or risk_percent');
      if (s.risk_percent != null) {
        if (s.stop_loss == null) issue('stop_loss', 'a risk-sized signal needs a stop_loss');
        if (s.entry_price == null) issue('entry_price', 'a risk-sized signal needs an entry_price to measure the stop-loss distance');
      }
      const buy = s.type === 'BUY';
      const entry = s.entry_price;
      if (entry != null) {
        if (s.stop_loss != null && (buy ? s.stop_loss >= entry : s.stop_loss <= entry)) {
          issue('stop_loss', `for a ${s.type} the stop-loss must be ${buy ? 'below' : 'above'} the entry price`);
        }
        if (s.take_profit != null && (buy ? s.take_profit <= entry : s.take_profit >= entry)) {
          issue('take_profit', `for a ${s.type} the take-profit must be ${buy ? 'above' : 'below'} the entry price`);
        }
      } else if (s.stop_loss != null && s.take_profit != null && (buy ? s.stop_loss >= s.take_profit : s.stop_loss <= s.take_profit)) {
        issue('stop_loss', `for a ${s.type} the stop-loss must be ${buy ? 'below' : 'above'} the take-profit`);
      }
    }
    if (s.expires_at != null && s.ttl_seconds != null) issue('ttl_seconds', 'give expires_at or ttl_seconds, not both');
  })
  .openapi('CreateSignalRequest');
export type CreateSignalRequest = z.infer<typeof CreateSignalRequest>;

export const Signal = z
  .object({
    id: Uuid,
    session_id: Uuid,
    type: SignalType,
    symbol: z.string(),
    entry_price: Money.nullable(),
    stop_loss: Money.nullable(),
    take_profit: Money.nullable(),
    volume: Money.nullable().openapi({ description: 'Lots; computed by the server for risk-sized signals' }),
    risk_percent: Money.nullable(),
    timeframe: Timeframe.nullable(),
    confidence: Money.nullable(),
    signal_time: Timestamp,
    source: SignalSource,
    client_signal_id: z.string().nullable(),
    expires_at: Timestamp.nullable(),
    status: SignalStatus,
    status_message: z.string().nullable(),
    order_ticket: z.number().int().nullable(),
    delivered_at: Timestamp.nullable(),
    completed_at: Timestamp.nullable(),
    created_at: Timestamp,
    updated_at: Timestamp,
  })
  .openapi('Signal');
export type Signal = z.infer<typeof Signal>;

export const SignalIdParam = z.object({ id: Uuid });

export const ListSignalsQuery = PageQuery.extend({
  symbol: Symbol.optional(),
  status: SignalStatus.optional(),
  session_id: Uuid.optional(),
  from: Timestamp.optional().openapi({ description: 'created_at >= from' }),
  to: Timestamp.optional().openapi({ description: 'created_at < to' }),
});
export const SignalList = z.object({ signals: z.array(Signal) }).extend(PageInfo.shape).openapi('SignalList');

export const PendingSignalsQuery = z.object({
  session_id: Uuid,
  limit: z.coerce.number().int().min(1).max(200).default(50),
});
export const PendingSignals = z
  .object({
    signals: z.array(Signal).openapi({
      description:
        'DELIVERED signals of the session, oldest first: the ones delivered now and any delivered earlier but not yet reported. Deduplicate by id before executing.',
    }),
    server_time: Timestamp,
  })
  .openapi('PendingSignals');

export const ReportSignalStatusRequest = z
  .object({
    status: ReportedStatus,
    // MqlTradeResult fields as the EA has them: 0 means "none" (a rejected request has no ticket,
    // price or volume) and is stored as null.
    order_ticket: z.number().int().min(0).nullish().openapi({ description: 'MqlTradeResult.order (0 = none); required for EXECUTED' }),
    price: z.number().finite().min(0).max(1e9).nullish().openapi({ description: 'Fill price (0 = none)' }),
    volume: z.number().finite().min(0).max(1e6).nullish().openapi({ description: 'Filled lots (0 = none)' }),
    retcode: z.number().int().nullish().openapi({ description: 'MqlTradeResult.retcode' }),
    message: z.string().max(1000).nullish(),
    executed_at: Timestamp.nullish(),
  })
  .strict()
  .superRefine((s, ctx) => {
    if (s.status === 'EXECUTED' && !s.order_ticket) {
      ctx.addIssue({ code: 'custom', path: ['order_ticket'], message: 'an EXECUTED report carries the order ticket' });
    }
  })
  .openapi('ReportSignalStatusRequest');
export type ReportSignalStatusRequest = z.infer<typeof ReportSignalStatusRequest>;

const userOrEa: { [scheme: string]: string[] }[] = [{ userJwt: [] }, { eaKey: [] }];

export const createSignalRoute = createRoute({
  method: 'post',
  path: '/',
  summary: 'Create a signal for one of your sessions (idempotent with client_signal_id)',
  security: userOrEa,
  request: { body: jsonBody(CreateSignalRequest) },
  responses: {
    201: jsonResponse(Signal, 'The new signal'),
    200: jsonResponse(Signal, 'A retry: the signal created earlier with the same client_signal_id'),
    ...errorResponses, ...rateLimitedResponse,
  },
});

export const listSignalsRoute = createRoute({
  method: 'get',
  path: '/',
  summary: 'List your signals, newest first',
  security: [{ userJwt: [] }],
  request: { query: ListSignalsQuery },
  responses: { 200: jsonResponse(SignalList, 'One page; pass next_cursor to get the next'), ...errorResponses },
});

export const pendingSignalsRoute = createRoute({
  method: 'get',
  path: '/pending',
  summary: 'Fetch the signals waiting for a session; marks them DELIVERED',
  security: [{ eaKey: [] }],
  request: { headers: EaKeyHeaders, query: PendingSignalsQuery },
  responses: { 200: jsonResponse(PendingSignals, 'Signals to execute, then report with /signals/{id}/status'), ...errorResponses, ...rateLimitedResponse },
});

export const getSignalRoute = createRoute({
  method: 'get',
  path: '/{id}',
  summary: 'One signal',
  security: [{ userJwt: [] }],
  request: { params: SignalIdParam },
  responses: { 200: jsonResponse(Signal, 'The signal'), ...errorResponses },
});

export const reportSignalStatusRoute = createRoute({
  method: 'post',
  path: '/{id}/status',
  summary: 'Report the outcome of a delivered signal (records the order)',
  security: [{ eaKey: [] }],
  request: { headers: EaKeyHeaders, params: SignalIdParam, body: jsonBody(ReportSignalStatusRequest) },
  responses: { 200: jsonResponse(Signal, 'The signal in its final state (also for an identical retry)'), ...errorResponses, ...rateLimitedResponse },
});

export const cancelSignalRoute = createRoute({
  method: 'post',
  path: '/{id}/cancel',
  summary: 'Cancel a signal that has not been delivered',
  security: userOrEa,
  request: { params: SignalIdParam },
  responses: { 200: jsonResponse(Signal, 'The cancelled signal (also when it was already cancelled)'), ...errorResponses, ...rateLimitedResponse },
});
