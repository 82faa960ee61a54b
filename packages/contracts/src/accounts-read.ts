import { createRoute, z } from '@hono/zod-openapi';
import { errorResponses, jsonResponse, Money, PageInfo, PageQuery, Timestamp, Uuid } from './common.ts';
import { RiskSettings } from './shared.ts';
import { VOCABULARY } from './vocabulary.ts';

// Read side of the `accounts` function for the dashboard: the user's connector sessions (active
// and past) with their figures and counters, one session's account info with its balance/equity
// history, and statistics. Everything is read as the signed-in user, so RLS decides what counts.

export const SessionStatus = z.enum(VOCABULARY.session_status).openapi('SessionStatus');
export type SessionStatus = z.infer<typeof SessionStatus>;

/** The largest number of history points one response carries (see `max_points`). */
export const MAX_HISTORY_POINTS = 2000;
/** Default history window when `from` is omitted. */
export const DEFAULT_HISTORY_HOURS = 24;

/** A query time Postgres can compare with (a year 0 or 10000 would be a database error). */
const QueryTime = Timestamp.refine((v) => {
  const t = Date.parse(v);
  return t >= Date.parse('0001-01-01T00:00:00Z') && t < Date.parse('+010000-01-01T00:00:00Z');
}, 'must be between the years 1 and 9999');

export const SessionCounters = z
  .object({
    signals_sent: z.number().int(),
    signals_received: z.number().int(),
    orders_executed: z.number().int(),
    errors: z.number().int(),
  })
  .openapi('SessionCounters', { description: 'Counters the EA reported when it disconnected (0 until then)' });

export const Session = z
  .object({
    id: Uuid,
    ea_key_id: Uuid.nullable().openapi({ description: 'The EA key that last connected it (null if that key was deleted)' }),
    account_number: z.number().int(),
    broker: z.string(),
    server: z.string(),
    currency: z.string(),
    leverage: z.number().int(),
    ea_version: z.string().nullable(),
    terminal_build: z.number().int().nullable(),
    status: SessionStatus,
    balance: Money,
    equity: Money,
    margin: Money,
    margin_free: Money,
    margin_level: Money.nullable(),
    profit: Money,
    connected_at: Timestamp,
    last_ping_at: Timestamp,
    disconnected_at: Timestamp.nullable(),
    ping_interval_seconds: z.number().int(),
    risk: RiskSettings,
    counters: SessionCounters,
    open_positions: z.number().int().openapi({ description: 'Positions of the session currently open' }),
    pending_signals: z.number().int().openapi({ description: 'Signals waiting for the EA: PENDING and not expired, or DELIVERED and not yet reported' }),
    created_at: Timestamp,
    updated_at: Timestamp,
  })
  .openapi('Session');
export type Session = z.infer<typeof Session>;

export const AccountSnapshot = z
  .object({
    captured_at: Timestamp,
    balance: Money,
    equity: Money,
    margin: Money,
    margin_free: Money,
    margin_level: Money.nullable(),
    profit: Money,
  })
  .openapi('AccountSnapshot');
export type AccountSnapshot = z.infer<typeof AccountSnapshot>;

export const SessionSymbol = z
  .object({
    symbol: z.string(),
    tick_size: Money,
    tick_value: Money,
    contract_size: Money,
    volume_min: Money,
    volume_max: Money,
    volume_step: Money,
    digits: z.number().int(),
    updated_at: Timestamp,
  })
  .openapi('SessionSymbol');

export const SnapshotHistory = z
  .object({
    from: Timestamp,
    to: Timestamp,
    total: z.number().int().openapi({ description: 'Snapshots in the window' }),
    downsampled: z
      .boolean()
      .openapi({ description: 'True when `total` exceeded `max_points`: the time the snapshots span (first to last in the window) was cut into max_points equal buckets and the last snapshot of each non-empty bucket is returned' }),
    bucket_seconds: z.number().nullable().openapi({ description: 'Width of a bucket when downsampled, else null' }),
    points: z.array(AccountSnapshot).openapi({ description: 'Oldest first; real snapshots, never averages' }),
  })
  .openapi('SnapshotHistory');

export const SessionDetail = z
  .object({
    session: Session,
    latest_snapshot: AccountSnapshot.nullable(),
    history: SnapshotHistory,
    symbols: z.array(SessionSymbol).openapi({ description: 'Symbol specifications the EA reported, by symbol' }),
  })
  .openapi('SessionDetail');

export const ListSessionsQuery = PageQuery.extend({
  status: SessionStatus.optional(),
  account_number: z.coerce.number().int().positive().optional(),
});
export const SessionList = z.object({ sessions: z.array(Session) }).extend(PageInfo.shape).openapi('SessionList');

export const SessionIdParam = z.object({ id: Uuid });
export const SessionDetailQuery = z.object({
  from: QueryTime.optional().openapi({ description: `Start of the history window (inclusive); default: ${DEFAULT_HISTORY_HOURS} h before \`to\`` }),
  to: QueryTime.optional().openapi({ description: 'End of the history window (inclusive); default: now' }),
  max_points: z.coerce
    .number()
    .int()
    .min(2)
    .max(MAX_HISTORY_POINTS)
    .default(MAX_HISTORY_POINTS)
    .openapi({ description: `Most points returned (downsampled beyond); default and maximum ${MAX_HISTORY_POINTS}` }),
});

export const AccountStats = z
  .object({
    signals: z.object({
      total: z.number().int(),
      pending: z.number().int(),
      delivered: z.number().int().openapi({ description: 'Fetched by the EA, outcome not reported yet' }),
      executed: z.number().int(),
      rejected: z.number().int(),
      failed: z.number().int(),
      unknown: z.number().int().openapi({ description: 'Reported UNKNOWN: the EA could not tell whether the order reached the trade server' }),
      expired: z.number().int(),
      cancelled: z.number().int(),
    }),
    sessions: z.object({ total: z.number().int(), active: z.number().int(), stale: z.number().int() }),
    positions: z.object({ open: z.number().int() }),
  })
  .openapi('AccountStats');
export type AccountStats = z.infer<typeof AccountStats>;

export const listSessionsRoute = createRoute({
  method: 'get',
  path: '/sessions',
  summary: 'Your connector sessions, active and past, newest first',
  security: [{ userJwt: [] }],
  request: { query: ListSessionsQuery },
  responses: { 200: jsonResponse(SessionList, 'One page; pass next_cursor to get the next'), ...errorResponses },
});

export const getSessionRoute = createRoute({
  method: 'get',
  path: '/sessions/{id}',
  summary: 'Account info of one session: figures, latest snapshot, history, symbol specifications',
  security: [{ userJwt: [] }],
  request: { params: SessionIdParam, query: SessionDetailQuery },
  responses: { 200: jsonResponse(SessionDetail, 'The session'), ...errorResponses },
});

export const statsRoute = createRoute({
  method: 'get',
  path: '/stats',
  summary: 'Counts of your signals, sessions and open positions',
  security: [{ userJwt: [] }],
  responses: { 200: jsonResponse(AccountStats, 'Statistics'), ...errorResponses },
});
