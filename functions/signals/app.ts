import {
  cancelSignalRoute,
  createSignalRoute,
  getSignalRoute,
  listSignalsRoute,
  pendingSignalsRoute,
  reportSignalStatusRoute,
  type Signal,
  type SignalStatus,
  type SignalType,
} from '@rubi/contracts/signals.ts';
import { z } from '@hono/zod-openapi';
import {
  badRequest,
  callAsEa,
  createFunctionApp,
  CURSOR_TIMESTAMP_SQL,
  CursorTimestamp,
  decodeCursor,
  encodeCursor,
  iso,
  isoRequired,
  notFound,
  one,
  requireEaKey,
  requireUser,
  requireUserOrEaKey,
  withDb,
  type EdgeDeps,
} from '@rubi/edge';

/** A trading_signals row as the database returns it: numerics are text, timestamps Dates. */
interface SignalRow {
  id: string;
  session_id: string;
  type: SignalType;
  symbol: string;
  entry_price: string | null;
  stop_loss: string | null;
  take_profit: string | null;
  volume: string | null;
  risk_percent: string | null;
  timeframe: Signal['timeframe'];
  confidence: string | null;
  signal_time: Date;
  source: Signal['source'];
  client_signal_id: string | null;
  expires_at: Date | null;
  status: SignalStatus;
  status_message: string | null;
  order_ticket: number | null;
  delivered_at: Date | null;
  completed_at: Date | null;
  created_at: Date;
  updated_at: Date;
}

const COLUMNS = `id, session_id, type, symbol, entry_price, stop_loss, take_profit, volume, risk_percent, timeframe, confidence,
  signal_time, source, client_signal_id, expires_at, status, status_message, order_ticket, delivered_at, completed_at,
  created_at, updated_at`;

const num = (value: string | null): number | null => (value === null ? null : Number(value));

export function toSignal(row: SignalRow): Signal {
  return {
    id: row.id,
    session_id: row.session_id,
    type: row.type,
    symbol: row.symbol,
    entry_price: num(row.entry_price),
    stop_loss: num(row.stop_loss),
    take_profit: num(row.take_profit),
    volume: num(row.volume),
    risk_percent: num(row.risk_percent),
    timeframe: row.timeframe,
    confidence: num(row.confidence),
    signal_time: isoRequired(row.signal_time),
    source: row.source,
    client_signal_id: row.client_signal_id,
    expires_at: iso(row.expires_at),
    status: row.status,
    status_message: row.status_message,
    order_ticket: row.order_ticket,
    delivered_at: iso(row.delivered_at),
    completed_at: iso(row.completed_at),
    created_at: isoRequired(row.created_at),
    updated_at: isoRequired(row.updated_at),
  };
}

const field = (path: string, message: string) => badRequest(message, [{ path, message }]);

/** Keyset of the list: (created_at with microseconds, id), newest first. */
const SignalCursor = z.tuple([CursorTimestamp, z.uuid()]);

/** `signals`: create, list, deliver, report and cancel trading signals. */
export function createSignalsApp(deps: EdgeDeps) {
  const app = createFunctionApp('signals', deps);

  app.openapi({ ...createSignalRoute, middleware: [requireUserOrEaKey('signals')] }, async (c) => {
    const body = c.req.valid('json');
    // private.create_signal: idempotency, risk sizing, the session's risk and position limits.
    const [result] = await withDb(c, (tx) =>
      tx.query<SignalRow & { created: boolean }>(
        `select s.created, (s.signal).* from private.create_signal(
           p_session_id => $1, p_type => $2, p_symbol => $3, p_entry_price => $4, p_stop_loss => $5, p_take_profit => $6,
           p_volume => $7, p_risk_percent => $8, p_timeframe => $9, p_confidence => $10, p_signal_time => $11,
           p_client_signal_id => $12, p_expires_at => $13, p_ttl_seconds => $14, p_source => $15) s`,
        [body.session_id, body.type, body.symbol, body.entry_price ?? null, body.stop_loss ?? null, body.take_profit ?? null,
          body.volume ?? null, body.risk_percent ?? null, body.timeframe ?? null, body.confidence ?? null, body.signal_time ?? null,
          body.client_signal_id ?? null, body.expires_at ?? null, body.ttl_seconds ?? null, body.source ?? null],
      ),
    );
    if (!result) throw new Error('create_signal returned no row');
    const { created, ...row } = result;
    return c.json(toSignal(row), created ? 201 : 200);
  });

  app.openapi({ ...listSignalsRoute, middleware: [requireUser()] }, async (c) => {
    const query = c.req.valid('query');
    if (query.from && query.to && new Date(query.from).getTime() > new Date(query.to).getTime()) {
      throw field('query.to', 'to must not be before from');
    }
    const after = decodeCursor(query.cursor, SignalCursor);

    const where: string[] = [];
    const params: unknown[] = [];
    const add = (sql: (p: string) => string, value: unknown) => {
      params.push(value);
      where.push(sql(`$${params.length}`));
    };
    if (query.symbol) add((p) => `symbol = ${p}`, query.symbol);
    if (query.status) add((p) => `status = ${p}`, query.status);
    if (query.session_id) add((p) => `session_id = ${p}`, query.session_id);
    if (query.from) add((p) => `created_at >= ${p}::timestamptz`, query.from);
    if (query.to) add((p) => `created_at < ${p}::timestamptz`, query.to);
    if (after) {
      params.push(after[0], after[1]);
      where.push(`(created_at, id) < ($${params.length - 1}::timestamptz, $${params.length}::uuid)`);
    }
    params.push(query.limit + 1);
    const rows = await withDb(c, (tx) =>
      tx.query<SignalRow & { cursor_ts: string }>(
        `select ${COLUMNS}, ${CURSOR_TIMESTAMP_SQL('created_at')} as cursor_ts
         from public.trading_signals
         ${where.length ? `where ${where.join(' and ')}` : ''}
         order by created_at desc, id desc
         limit $${params.length}`,
        params,
      ),
    );
    const page = rows.slice(0, query.limit);
    const last = page[page.length - 1];
    const nextCursor = rows.length > query.limit && last ? encodeCursor([last.cursor_ts, last.id]) : null;
    return c.json({ signals: page.map(toSignal), next_cursor: nextCursor }, 200);
  });

  // Registered before /{id} so that "pending" is not taken for an id.
  app.openapi({ ...pendingSignalsRoute, middleware: [requireEaKey('signals')] }, async (c) => {
    const { session_id, limit } = c.req.valid('query');
    // One statement: the gate, then private.deliver_signals as the EA.
    const rows = await callAsEa<SignalRow>(c, 'private.deliver_signals', [session_id, limit]);
    return c.json({ signals: rows.map(toSignal), server_time: isoRequired(deps.now()) }, 200);
  });

  app.openapi({ ...getSignalRoute, middleware: [requireUser()] }, async (c) => {
    const { id } = c.req.valid('param');
    const row = await withDb(c, (tx) => one<SignalRow>(tx, `select ${COLUMNS} from public.trading_signals where id = $1`, [id]));
    if (!row) throw notFound('signal not found');
    return c.json(toSignal(row), 200);
  });

  app.openapi({ ...reportSignalStatusRoute, middleware: [requireEaKey('signals')] }, async (c) => {
    const { id } = c.req.valid('param');
    const body = c.req.valid('json');
    // 0 is MQL's "none" for a ticket, price or volume (a rejected request has none of them).
    const [row] = await callAsEa<SignalRow>(c, 'private.report_signal', [
      id,
      body.status,
      body.order_ticket || null,
      body.price || null,
      body.volume || null,
      body.retcode ?? null,
      body.message ?? null,
      body.executed_at ?? null,
    ]);
    if (!row) throw new Error('report_signal returned no row');
    return c.json(toSignal(row), 200);
  });

  app.openapi({ ...cancelSignalRoute, middleware: [requireUserOrEaKey('signals')] }, async (c) => {
    const { id } = c.req.valid('param');
    const [row] = await withDb(c, (tx) => tx.query<SignalRow>('select * from private.cancel_signal($1)', [id]));
    if (!row) throw notFound('signal not found');
    return c.json(toSignal(row), 200);
  });

  return app;
}
