import { z, type OpenAPIHono } from '@hono/zod-openapi';
import { DEFAULT_HISTORY_HOURS, getSessionRoute, listSessionsRoute, type SessionStatus } from '@rubi/contracts/accounts-read.ts';
import {
  badRequest,
  CURSOR_TIMESTAMP_SQL,
  CursorTimestamp,
  decodeCursor,
  type EdgeEnv,
  encodeCursor,
  iso,
  isoRequired,
  notFound,
  requireUser,
  withDb,
} from '@rubi/edge';

// Read side: the user's connector sessions (RLS: only their own), one session's account info.

interface SessionRow {
  id: string;
  ea_key_id: string | null;
  account_number: number;
  broker: string;
  server: string;
  currency: string;
  leverage: number;
  ea_version: string | null;
  terminal_build: number | null;
  status: SessionStatus;
  balance: string;
  equity: string;
  margin: string;
  margin_free: string;
  margin_level: string | null;
  profit: string;
  connected_at: Date;
  last_ping_at: Date;
  disconnected_at: Date | null;
  ping_interval_seconds: number;
  max_open_positions: number;
  max_risk_percent: string;
  signals_sent: number;
  signals_received: number;
  orders_executed: number;
  errors: number;
  open_positions: number;
  pending_signals: number;
  created_at: Date;
  updated_at: Date;
  cursor_at: string;
}

interface SnapshotRow {
  captured_at: Date;
  balance: string;
  equity: string;
  margin: string;
  margin_free: string;
  margin_level: string | null;
  profit: string;
}

interface SymbolRow {
  symbol: string;
  tick_size: string;
  tick_value: string;
  contract_size: string;
  volume_min: string;
  volume_max: string;
  volume_step: string;
  digits: number;
  updated_at: Date;
}

const numOrNull = (value: string | null): number | null => (value === null ? null : Number(value));

const toSession = (row: SessionRow) => ({
  id: row.id,
  ea_key_id: row.ea_key_id,
  account_number: row.account_number,
  broker: row.broker,
  server: row.server,
  currency: row.currency,
  leverage: row.leverage,
  ea_version: row.ea_version,
  terminal_build: row.terminal_build,
  status: row.status,
  balance: Number(row.balance),
  equity: Number(row.equity),
  margin: Number(row.margin),
  margin_free: Number(row.margin_free),
  margin_level: numOrNull(row.margin_level),
  profit: Number(row.profit),
  connected_at: isoRequired(row.connected_at),
  last_ping_at: isoRequired(row.last_ping_at),
  disconnected_at: iso(row.disconnected_at),
  ping_interval_seconds: row.ping_interval_seconds,
  risk: { max_open_positions: row.max_open_positions, max_risk_percent: Number(row.max_risk_percent) },
  counters: {
    signals_sent: row.signals_sent,
    signals_received: row.signals_received,
    orders_executed: row.orders_executed,
    errors: row.errors,
  },
  open_positions: row.open_positions,
  pending_signals: row.pending_signals,
  created_at: isoRequired(row.created_at),
  updated_at: isoRequired(row.updated_at),
});

const toSnapshot = (row: SnapshotRow) => ({
  captured_at: isoRequired(row.captured_at),
  balance: Number(row.balance),
  equity: Number(row.equity),
  margin: Number(row.margin),
  margin_free: Number(row.margin_free),
  margin_level: numOrNull(row.margin_level),
  profit: Number(row.profit),
});

const toSymbol = (row: SymbolRow) => ({
  symbol: row.symbol,
  tick_size: Number(row.tick_size),
  tick_value: Number(row.tick_value),
  contract_size: Number(row.contract_size),
  volume_min: Number(row.volume_min),
  volume_max: Number(row.volume_max),
  volume_step: Number(row.volume_step),
  digits: row.digits,
  updated_at: isoRequired(row.updated_at),
});

// Live counts per session: open positions (partial index positions_open_idx) and signals waiting
// for the EA (the same definition as the `pending_signals` a ping returns).
const SESSION_COLUMNS = `s.id, s.ea_key_id, s.account_number, s.broker, s.server, s.currency, s.leverage, s.ea_version,
  s.terminal_build, s.status, s.balance, s.equity, s.margin, s.margin_free, s.margin_level, s.profit, s.connected_at,
  s.last_ping_at, s.disconnected_at, s.ping_interval_seconds, s.max_open_positions, s.max_risk_percent, s.signals_sent,
  s.signals_received, s.orders_executed, s.errors, s.created_at, s.updated_at,
  (select count(*)::int from public.positions p where p.session_id = s.id and p.closed_at is null) as open_positions,
  (select count(*)::int from public.trading_signals g
    where g.session_id = s.id and g.status in ('PENDING', 'DELIVERED')
      and (g.status = 'DELIVERED' or g.expires_at is null or g.expires_at > now())) as pending_signals,
  ${CURSOR_TIMESTAMP_SQL('s.created_at')} as cursor_at`;

const SNAPSHOT_COLUMNS = 'a.captured_at, a.balance, a.equity, a.margin, a.margin_free, a.margin_level, a.profit';

/**
 * The history window: `to` defaults to now, `from` to 24 h before `to`. Written in SQL and repeated
 * in each statement: now() is fixed for the transaction, so every statement sees the same window
 * at full microsecond precision.
 */
const WINDOW_SQL = `(select coalesce($2::timestamptz, coalesce($3::timestamptz, now()) - interval '${DEFAULT_HISTORY_HOURS} hours') as from_at,
  coalesce($3::timestamptz, now()) as to_at)`;

/** Sort key of the session list: newest first by creation (stable: a resume changes connected_at, not created_at). */
const SessionCursor = z.tuple([CursorTimestamp, z.uuid()]);

export function registerSessionRoutes(app: OpenAPIHono<EdgeEnv>): void {
  app.openapi({ ...listSessionsRoute, middleware: [requireUser()] }, async (c) => {
    const query = c.req.valid('query');
    const after = decodeCursor(query.cursor, SessionCursor);
    const rows = await withDb(c, (tx) =>
      tx.query<SessionRow>(
        `select ${SESSION_COLUMNS}
         from public.mt5_sessions s
         where ($1::public.session_status is null or s.status = $1::public.session_status)
           and ($2::bigint is null or s.account_number = $2::bigint)
           and ($3::timestamptz is null or (s.created_at, s.id) < ($3::timestamptz, $4::uuid))
         order by s.created_at desc, s.id desc
         limit $5`,
        [query.status ?? null, query.account_number ?? null, after?.[0] ?? null, after?.[1] ?? null, query.limit + 1],
      ),
    );
    const page = rows.slice(0, query.limit);
    const last = page.at(-1);
    const nextCursor = rows.length > query.limit && last ? encodeCursor([last.cursor_at, last.id]) : null;
    return c.json({ sessions: page.map(toSession), next_cursor: nextCursor }, 200);
  });

  app.openapi({ ...getSessionRoute, middleware: [requireUser()] }, async (c) => {
    const { id } = c.req.valid('param');
    const { from, to, max_points: maxPoints } = c.req.valid('query');
    if (from !== undefined && to !== undefined && Date.parse(from) > Date.parse(to)) {
      throw badRequest('request validation failed', [{ path: 'query.from', message: 'from must not be after to' }]);
    }
    const windowParams = [id, from ?? null, to ?? null] as const;
    const detail = await withDb(c, async (tx) => {
      const [session] = await tx.query<SessionRow>(`select ${SESSION_COLUMNS} from public.mt5_sessions s where s.id = $1`, [id]);
      if (!session) throw notFound('session not found');
      const [bounds] = await tx.query<{ from_at: Date; to_at: Date; total: number; first_at: Date | null; last_at: Date | null }>(
        `select w.from_at, w.to_at, h.total, h.first_at, h.last_at
         from ${WINDOW_SQL} w
         cross join lateral (
           select count(*)::int as total, min(a.captured_at) as first_at, max(a.captured_at) as last_at
           from public.account_snapshots a
           where a.session_id = $1 and a.captured_at >= w.from_at and a.captured_at <= w.to_at) h`,
        windowParams,
      );
      if (!bounds) throw new Error('history window query returned no row');
      // Only `from` given, in the future: the default `to` (now) is before it.
      if (bounds.from_at.getTime() > bounds.to_at.getTime()) {
        throw badRequest('request validation failed', [{ path: 'query.from', message: 'from must not be after to (default: now)' }]);
      }
      const downsampled = bounds.total > maxPoints;
      // Beyond max_points, the span the snapshots cover (first to last in the window) is cut into
      // max_points equal time buckets and the last snapshot of each non-empty bucket is kept: real
      // observations (a balance never averages), evenly spread, the newest one always included.
      const points = downsampled
        ? await tx.query<SnapshotRow>(
            `with pts as (
               select ${SNAPSHOT_COLUMNS}
               from public.account_snapshots a, ${WINDOW_SQL} w
               where a.session_id = $1 and a.captured_at >= w.from_at and a.captured_at <= w.to_at
             ),
             span as (
               select extract(epoch from min(captured_at))::float8 as lo, extract(epoch from max(captured_at))::float8 as hi from pts
             ),
             bucketed as (
               select distinct on (bucket) p.*
               from (
                 select pts.*, least(width_bucket(extract(epoch from pts.captured_at)::float8, span.lo, span.hi, $4::int), $4::int) as bucket
                 from pts, span
               ) p
               order by bucket, p.captured_at desc
             )
             select captured_at, balance, equity, margin, margin_free, margin_level, profit from bucketed order by captured_at`,
            [...windowParams, maxPoints],
          )
        : await tx.query<SnapshotRow>(
            `select ${SNAPSHOT_COLUMNS}
             from public.account_snapshots a, ${WINDOW_SQL} w
             where a.session_id = $1 and a.captured_at >= w.from_at and a.captured_at <= w.to_at
             order by a.captured_at`,
            windowParams,
          );
      const [latest] = await tx.query<SnapshotRow>(
        `select ${SNAPSHOT_COLUMNS} from public.account_snapshots a where a.session_id = $1 order by a.captured_at desc limit 1`,
        [id],
      );
      const symbols = await tx.query<SymbolRow>(
        `select symbol, tick_size, tick_value, contract_size, volume_min, volume_max, volume_step, digits, updated_at
         from public.symbol_specs where session_id = $1 order by symbol`,
        [id],
      );
      return { session, bounds, downsampled, points, latest, symbols };
    });
    const { first_at: first, last_at: last } = detail.bounds;
    const spanSeconds = first && last ? (last.getTime() - first.getTime()) / 1000 : 0;
    return c.json(
      {
        session: toSession(detail.session),
        latest_snapshot: detail.latest ? toSnapshot(detail.latest) : null,
        history: {
          from: isoRequired(detail.bounds.from_at),
          to: isoRequired(detail.bounds.to_at),
          total: detail.bounds.total,
          downsampled: detail.downsampled,
          bucket_seconds: detail.downsampled ? spanSeconds / maxPoints : null,
          points: detail.points.map(toSnapshot),
        },
        symbols: detail.symbols.map(toSymbol),
      },
      200,
    );
  });
}
