import { z } from '@hono/zod-openapi';
import { listPositionsRoute, updatePositionsRoute, type PositionType } from '@rubi/contracts/positions.ts';
import {
  createFunctionApp,
  CURSOR_TIMESTAMP_SQL,
  CursorTimestamp,
  decodeCursor,
  type EdgeDeps,
  encodeCursor,
  iso,
  isoRequired,
  requireEaKey,
  requireUser,
  withDb,
} from '@rubi/edge';
import { liveSession } from '../_shared/live-session.ts';

interface PositionRow {
  session_id: string;
  ticket: number;
  symbol: string;
  type: PositionType;
  volume: string;
  open_price: string;
  current_price: string | null;
  stop_loss: string | null;
  take_profit: string | null;
  profit: string;
  swap: string;
  commission: string;
  magic: number | null;
  comment: string | null;
  opened_at: Date;
  closed_at: Date | null;
  updated_at: Date;
  cursor_at: string;
}

const num = (value: string): number => Number(value);
const numOrNull = (value: string | null): number | null => (value === null ? null : Number(value));

const toPosition = (row: PositionRow) => ({
  session_id: row.session_id,
  ticket: row.ticket,
  symbol: row.symbol,
  type: row.type,
  volume: num(row.volume),
  open_price: num(row.open_price),
  current_price: numOrNull(row.current_price),
  stop_loss: numOrNull(row.stop_loss),
  take_profit: numOrNull(row.take_profit),
  profit: num(row.profit),
  swap: num(row.swap),
  commission: num(row.commission),
  magic: row.magic,
  comment: row.comment,
  opened_at: isoRequired(row.opened_at),
  closed_at: iso(row.closed_at),
  status: row.closed_at === null ? ('open' as const) : ('closed' as const),
  updated_at: isoRequired(row.updated_at),
});

/** Sort key of the list: most recently opened first; (session_id, ticket) is the primary key. */
const PositionCursor = z.tuple([CursorTimestamp, z.uuid(), z.number().int().positive()]);

const POSITION_COLUMNS = `p.session_id, p.ticket, p.symbol, p.type, p.volume, p.open_price, p.current_price, p.stop_loss,
  p.take_profit, p.profit, p.swap, p.commission, p.magic, p.comment, p.opened_at, p.closed_at, p.updated_at,
  ${CURSOR_TIMESTAMP_SQL('p.opened_at')} as cursor_at`;

// The whole push is one statement. Data-modifying CTEs share one snapshot and touch disjoint rows
// (listed tickets vs. unlisted ones), so the upsert and the closing cannot interfere.
// A listed ticket whose stored values are identical is not updated at all (no updated_at bump, no
// Realtime broadcast): sending the same list twice changes nothing.
const UPDATE_POSITIONS_SQL = `
with incoming as (
  select * from jsonb_to_recordset($3::jsonb) as i(
    ticket bigint, symbol text, type text, volume numeric, open_price numeric, current_price numeric,
    stop_loss numeric, take_profit numeric, profit numeric, swap numeric, commission numeric,
    magic bigint, comment text, opened_at timestamptz)
),
upserted as (
  insert into public.positions as t (session_id, ticket, user_id, symbol, type, volume, open_price, current_price,
    stop_loss, take_profit, profit, swap, commission, magic, comment, opened_at, closed_at)
  select $1::uuid, i.ticket, $2::uuid, i.symbol, i.type, i.volume, i.open_price, i.current_price,
    i.stop_loss, i.take_profit, i.profit, i.swap, i.commission, i.magic, i.comment, i.opened_at, null
  from incoming i
  on conflict (session_id, ticket) do update set
    symbol = excluded.symbol, type = excluded.type, volume = excluded.volume, open_price = excluded.open_price,
    current_price = excluded.current_price, stop_loss = excluded.stop_loss, take_profit = excluded.take_profit,
    profit = excluded.profit, swap = excluded.swap, commission = excluded.commission, magic = excluded.magic,
    comment = excluded.comment, opened_at = excluded.opened_at, closed_at = null
  where (t.symbol, t.type, t.volume, t.open_price, t.current_price, t.stop_loss, t.take_profit, t.profit, t.swap,
         t.commission, t.magic, t.comment, t.opened_at, t.closed_at)
    is distinct from (excluded.symbol, excluded.type, excluded.volume, excluded.open_price, excluded.current_price,
         excluded.stop_loss, excluded.take_profit, excluded.profit, excluded.swap, excluded.commission, excluded.magic,
         excluded.comment, excluded.opened_at, null::timestamptz)
  returning t.ticket
),
closed as (
  update public.positions t set closed_at = now()
  where t.session_id = $1::uuid and t.closed_at is null
    and not exists (select 1 from incoming i where i.ticket = t.ticket)
  returning t.ticket
)
select (select count(*)::int from upserted) as changed,
  coalesce((select array_agg(c.ticket order by c.ticket) from closed c), '{}'::bigint[]) as tickets_closed`;

/** `positions`: the EA pushes its full list of open positions; the dashboard reads them. */
export function createPositionsApp(deps: EdgeDeps) {
  const app = createFunctionApp('positions', deps);

  app.openapi({ ...updatePositionsRoute, middleware: [requireEaKey('positions')] }, async (c) => {
    const body = c.req.valid('json');
    // MT5 reports 0 for "no level": stored as null, like an omitted one.
    const rows = body.positions.map((p) => ({
      ...p,
      current_price: p.current_price ?? null,
      stop_loss: p.stop_loss ? p.stop_loss : null,
      take_profit: p.take_profit ? p.take_profit : null,
      magic: p.magic ?? null,
      comment: p.comment ?? null,
    }));
    const result = await withDb(c, async (tx) => {
      // Locks the session row (no key: pings may still insert snapshots that reference it), so two
      // pushes for one session are applied one after the other, each against the other's result.
      const session = await liveSession<{ user_id: string; status: string }>(tx, body.session_id, { columns: 'user_id', lock: true });
      const [changes] = await tx.query<{ changed: number; tickets_closed: number[] }>(UPDATE_POSITIONS_SQL, [
        body.session_id,
        session.user_id,
        JSON.stringify(rows),
      ]);
      return changes?.tickets_closed ?? [];
    });
    return c.json({ open: rows.length, closed: result.length, tickets_closed: result }, 200);
  });

  app.openapi({ ...listPositionsRoute, middleware: [requireUser()] }, async (c) => {
    const query = c.req.valid('query');
    const after = decodeCursor(query.cursor, PositionCursor);
    const rows = await withDb(c, (tx) =>
      tx.query<PositionRow>(
        `select ${POSITION_COLUMNS}
         from public.positions p
         where ($1::uuid is null or p.session_id = $1::uuid)
           and ($2::text = 'all' or ($2::text = 'open') = (p.closed_at is null))
           and ($3::text is null or p.symbol = $3::text)
           and ($4::timestamptz is null or (p.opened_at, p.session_id, p.ticket) < ($4::timestamptz, $5::uuid, $6::bigint))
         order by p.opened_at desc, p.session_id desc, p.ticket desc
         limit $7`,
        [query.session_id ?? null, query.status, query.symbol ?? null, after?.[0] ?? null, after?.[1] ?? null, after?.[2] ?? null, query.limit + 1],
      ),
    );
    const page = rows.slice(0, query.limit);
    const last = page.at(-1);
    const nextCursor = rows.length > query.limit && last ? encodeCursor([last.cursor_at, last.session_id, last.ticket]) : null;
    return c.json({ positions: page.map(toPosition), next_cursor: nextCursor }, 200);
  });

  return app;
}
