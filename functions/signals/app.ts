import {
  cancelSignalRoute,
  createSignalRoute,
  getSignalRoute,
  isOpeningType,
  listSignalsRoute,
  pendingSignalsRoute,
  reportSignalStatusRoute,
  type CreateSignalRequest,
  type Signal,
  type SignalStatus,
  type SignalType,
} from '@rubi/contracts/signals.ts';
import { z } from '@hono/zod-openapi';
import type { Queryable } from '@rubi/db';
import {
  badRequest,
  conflict,
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
import { liveSession } from '../_shared/live-session.ts';
import { sizeByRisk, volumeProblem } from './risk.ts';

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

interface SessionRow {
  status: 'active' | 'stale' | 'disconnected';
  /** The database's clock: expiry is judged where the cron sweep and the delivery query judge it. */
  db_now: Date;
  equity: string;
  max_open_positions: number;
  max_risk_percent: string;
}

interface SpecRow {
  tick_size: string;
  tick_value: string;
  volume_min: string;
  volume_max: string;
  volume_step: string;
}

/**
 * The fields of an earlier signal (same client_signal_id) that differ from a new request. Only
 * what the client said is compared: a volume the server computed from risk_percent, an expiry
 * derived from ttl_seconds and a defaulted signal_time are not part of what it sent.
 */
function differences(row: SignalRow, body: CreateSignalRequest, source: Signal['source']): string[] {
  const out: string[] = [];
  const same = (field: string, a: unknown, b: unknown) => {
    if (a !== b) out.push(field);
  };
  same('session_id', row.session_id, body.session_id);
  same('type', row.type, body.type);
  same('symbol', row.symbol, body.symbol);
  same('entry_price', num(row.entry_price), body.entry_price ?? null);
  same('stop_loss', num(row.stop_loss), body.stop_loss ?? null);
  same('take_profit', num(row.take_profit), body.take_profit ?? null);
  same('risk_percent', num(row.risk_percent), body.risk_percent ?? null);
  if (body.risk_percent == null) same('volume', num(row.volume), body.volume ?? null);
  same('timeframe', row.timeframe, body.timeframe ?? null);
  same('confidence', num(row.confidence), body.confidence ?? null);
  same('source', row.source, source);
  if (body.signal_time != null) same('signal_time', row.signal_time.getTime(), new Date(body.signal_time).getTime());
  if (body.expires_at != null) same('expires_at', row.expires_at?.getTime() ?? null, new Date(body.expires_at).getTime());
  return out;
}

async function signalByClientId(tx: Queryable, clientSignalId: string): Promise<SignalRow | undefined> {
  // RLS: only the caller's own signals are visible, and the key is unique per user.
  return one<SignalRow>(tx, `select ${COLUMNS} from public.trading_signals where client_signal_id = $1`, [clientSignalId]);
}

function replayOf(row: SignalRow, body: CreateSignalRequest, source: Signal['source']): SignalRow {
  const changed = differences(row, body, source);
  if (changed.length > 0) {
    throw conflict(`client_signal_id ${JSON.stringify(body.client_signal_id)} was already used for a different signal (differs in ${changed.join(', ')})`);
  }
  return row;
}

const field = (path: string, message: string) => badRequest(message, [{ path, message }]);

/** Keyset of the list: (created_at with microseconds, id), newest first. */
const SignalCursor = z.tuple([CursorTimestamp, z.uuid()]);

/** `signals`: create, list, deliver, report and cancel trading signals. */
// GET /signals/pending, exported for bench/ (its raw SQL baseline runs exactly these).

/**
 * Delivers the oldest waiting signals, at most `$2` in all with those already delivered and not
 * yet reported. SKIP LOCKED: a concurrent poll does not deliver the same PENDING signal twice (nor
 * wait for this one).
 */
export const DELIVER_PENDING_SQL = `with picked as (
    select id from public.trading_signals
    where session_id = $1 and status = 'PENDING' and (expires_at is null or expires_at > now())
    order by created_at, id
    limit greatest(0, $2::int - (select count(*) from public.trading_signals where session_id = $1 and status = 'DELIVERED'))
    for update skip locked
  )
  update public.trading_signals t set status = 'DELIVERED' from picked where t.id = picked.id`;

/** Everything delivered and not yet reported, including signals delivered by an earlier poll whose response may never have reached the EA. */
export const DELIVERED_SIGNALS_SQL = `select ${COLUMNS} from public.trading_signals where session_id = $1 and status = 'DELIVERED'
  order by created_at, id limit $2`;

export function createSignalsApp(deps: EdgeDeps) {
  const app = createFunctionApp('signals', deps);

  app.openapi({ ...createSignalRoute, middleware: [requireUserOrEaKey('signals')] }, async (c) => {
    const body = c.req.valid('json');
    const actor = c.get('actor');
    const fromEa = actor.kind === 'ea_key';
    if (fromEa && body.source != null) throw field('body.source', "source is set by the server: signals created with an EA key are 'ea'");
    const source: Signal['source'] = fromEa ? 'ea' : (body.source ?? 'dashboard');
    const result = await withDb(c, async (tx) => {
      // A retry is answered before any check that depends on time or state: the signal it created
      // may itself now fill the position limit, and its expiry may have passed.
      if (body.client_signal_id != null) {
        const earlier = await signalByClientId(tx, body.client_signal_id);
        if (earlier) return { row: replayOf(earlier, body, source), created: false };
      }

      const session = await liveSession<SessionRow>(tx, body.session_id, {
        columns: 'equity, max_open_positions, max_risk_percent, now() as db_now',
        disconnected: 'session is disconnected: signals can only target a live session',
      });

      let expiresAt: Date | null = null;
      if (body.expires_at != null) {
        expiresAt = new Date(body.expires_at);
        if (expiresAt.getTime() <= session.db_now.getTime()) throw field('body.expires_at', 'expires_at must be in the future');
      } else if (body.ttl_seconds != null) {
        expiresAt = new Date(session.db_now.getTime() + body.ttl_seconds * 1000);
      }

      let volume = body.volume ?? null;
      if (isOpeningType(body.type)) {
        const spec = await one<SpecRow>(
          tx,
          `select tick_size, tick_value, volume_min, volume_max, volume_step from public.symbol_specs where session_id = $1 and symbol = $2`,
          [body.session_id, body.symbol],
        );
        const volumeSpec = spec && {
          volume_min: Number(spec.volume_min),
          volume_max: Number(spec.volume_max),
          volume_step: Number(spec.volume_step),
        };
        if (body.risk_percent != null) {
          if (!spec || !volumeSpec) {
            throw field('body.symbol', `no symbol specification reported for ${body.symbol} on this session: risk sizing needs its tick size and value`);
          }
          const maxRisk = Number(session.max_risk_percent);
          if (body.risk_percent > maxRisk) {
            throw field('body.risk_percent', `risk_percent ${body.risk_percent} exceeds the session's max_risk_percent of ${maxRisk}`);
          }
          // Entry and stop-loss are present: the contract requires them with risk_percent.
          const sizing = sizeByRisk({
            equity: Number(session.equity),
            riskPercent: body.risk_percent,
            entryPrice: body.entry_price as number,
            stopLoss: body.stop_loss as number,
            spec: { ...volumeSpec, tick_size: Number(spec.tick_size), tick_value: Number(spec.tick_value) },
          });
          if (!sizing.ok) throw field('body.risk_percent', sizing.message);
          volume = sizing.volume;
        } else if (volume !== null && volumeSpec) {
          const problem = volumeProblem(volume, volumeSpec);
          if (problem) throw field('body.volume', problem);
        }

        // Serialise opening signals of one session so two concurrent requests cannot both take
        // the last free slot (a transaction-scoped advisory lock: the API role cannot lock the
        // session row, whose UPDATE policy is for EAs only).
        await tx.query('select pg_advisory_xact_lock(hashtextextended($1, 0))', [`signals:open:${body.session_id}`]);
        // The lock may have been held by the original of this very retry: if it committed
        // meanwhile, its signal is in the count below, and the answer is that signal, not a 409.
        if (body.client_signal_id != null) {
          const committed = await signalByClientId(tx, body.client_signal_id);
          if (committed) return { row: replayOf(committed, body, source), created: false };
        }
        const [load] = await tx.query<{ positions: number; signals: number }>(
          `select
             (select count(*)::int from public.positions where session_id = $1 and closed_at is null) as positions,
             (select count(*)::int from public.trading_signals
               where session_id = $1 and type in ('BUY', 'SELL')
                 and (status = 'DELIVERED' or (status = 'PENDING' and (expires_at is null or expires_at > now())))) as signals`,
          [body.session_id],
        );
        const positions = load?.positions ?? 0;
        const waiting = load?.signals ?? 0;
        if (positions + waiting >= session.max_open_positions) {
          throw conflict(
            `max_open_positions reached: the session has ${positions} open position(s) and ${waiting} opening signal(s) ` +
              `not yet executed, and allows ${session.max_open_positions}`,
          );
        }
      }

      const [inserted] = await tx.query<SignalRow>(
        `insert into public.trading_signals (user_id, session_id, type, symbol, entry_price, stop_loss, take_profit, volume,
           risk_percent, timeframe, confidence, signal_time, source, client_signal_id, expires_at)
         values (auth.uid(), $1, $2, $3, $4, $5, $6, $7, $8, $9, $10, coalesce($11::timestamptz, now()), $12, $13, $14)
         on conflict on constraint trading_signals_client_id_unique do nothing
         returning ${COLUMNS}`,
        [body.session_id, body.type, body.symbol, body.entry_price ?? null, body.stop_loss ?? null, body.take_profit ?? null, volume,
          body.risk_percent ?? null, body.timeframe ?? null, body.confidence ?? null, body.signal_time ?? null, source,
          body.client_signal_id ?? null, expiresAt],
      );
      if (inserted) return { row: inserted, created: true };
      // A concurrent request with the same client_signal_id won the insert.
      const earlier = body.client_signal_id != null ? await signalByClientId(tx, body.client_signal_id) : undefined;
      if (!earlier) throw new Error('signal insert returned no row');
      return { row: replayOf(earlier, body, source), created: false };
    });
    const signal = toSignal(result.row);
    return result.created ? c.json(signal, 201) : c.json(signal, 200);
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
    const rows = await withDb(c, async (tx) => {
      await liveSession(tx, session_id);
      await tx.query(DELIVER_PENDING_SQL, [session_id, limit]);
      return tx.query<SignalRow>(DELIVERED_SIGNALS_SQL, [session_id, limit]);
    });
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
    const actor = c.get('actor');
    if (actor.kind !== 'ea_key') throw new Error('status reports require an EA key');
    // 0 is MQL's "none" for a ticket, price or volume (a rejected request has none of them).
    const ticket = body.order_ticket || null;
    const price = body.price || null;
    const volume = body.volume || null;
    const row = await withDb(c, async (tx) => {
      const current = await one<SignalRow>(tx, `select ${COLUMNS} from public.trading_signals where id = $1 for update`, [id]);
      if (!current) throw notFound('signal not found');
      // The same report again (a retry after a lost response): the state it produced, no new order.
      if (current.status === body.status && current.order_ticket === ticket) return current;
      if (current.status !== 'DELIVERED') {
        throw conflict(`signal is ${current.status}: only a DELIVERED signal takes a status report`);
      }
      await tx.query(
        `insert into public.trading_orders (user_id, signal_id, session_id, result, ticket, price, volume, retcode, comment, requested_at, executed_at)
         values (auth.uid(), $1, $2, $3::text, $4, $5, $6, $7, $8, $9, coalesce($10::timestamptz, case when $3::text = 'EXECUTED' then now() end))`,
        [current.id, current.session_id, body.status, ticket, price, volume,
          body.retcode ?? null, body.message ?? null, current.delivered_at, body.executed_at ?? null],
      );
      // The state machine (trigger) decides whether the EA may make this transition.
      const [updated] = await tx.query<SignalRow>(
        `update public.trading_signals set status = $2, status_message = $3, order_ticket = coalesce($4, order_ticket)
         where id = $1 returning ${COLUMNS}`,
        [id, body.status, body.message ?? null, ticket],
      );
      if (!updated) throw notFound('signal not found');
      // Session counters, when the reporting key is the one the session is connected with (the
      // session's UPDATE policy only lets that key write it).
      const counter = body.status === 'EXECUTED' ? 'orders_executed' : body.status === 'FAILED' ? 'errors' : null;
      if (counter) {
        await tx.query(`update public.mt5_sessions set ${counter} = ${counter} + 1 where id = $1 and ea_key_id = $2`, [
          current.session_id,
          actor.keyId,
        ]);
      }
      return updated;
    });
    return c.json(toSignal(row), 200);
  });

  app.openapi({ ...cancelSignalRoute, middleware: [requireUserOrEaKey('signals')] }, async (c) => {
    const { id } = c.req.valid('param');
    const by = c.get('actor').kind === 'ea_key' ? 'the EA' : 'the user';
    const row = await withDb(c, async (tx) => {
      const current = await one<SignalRow>(tx, `select ${COLUMNS} from public.trading_signals where id = $1 for update`, [id]);
      if (!current) throw notFound('signal not found');
      if (current.status === 'CANCELLED') return current;
      if (current.status !== 'PENDING') throw conflict(`signal is ${current.status}: only a PENDING signal can be cancelled`);
      const [cancelled] = await tx.query<SignalRow>(
        `update public.trading_signals set status = 'CANCELLED', status_message = $2 where id = $1 returning ${COLUMNS}`,
        [id, `cancelled by ${by}`],
      );
      return cancelled;
    });
    if (!row) throw notFound('signal not found');
    return c.json(toSignal(row), 200);
  });

  return app;
}
