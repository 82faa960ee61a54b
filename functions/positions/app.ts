import { z } from '@hono/zod-openapi';
import { listPositionsRoute, updatePositionsRoute, type PositionType } from '@rubi/contracts/positions.ts';
import {
  callAsEa,
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

/** `positions`: the EA pushes its full list of open positions; the dashboard reads them. */
export function createPositionsApp(deps: EdgeDeps) {
  const app = createFunctionApp('positions', deps);

  app.openapi({ ...updatePositionsRoute, middleware: [requireEaKey('positions')] }, async (c) => {
    const body = c.req.valid('json');
    // One statement: the gate, then private.push_positions as the EA (which stores MT5's 0 for
    // "no level" as null, like an omitted one).
    const [row] = await callAsEa<{ push_positions: number[] }>(c, 'private.push_positions', [body.session_id, JSON.stringify(body.positions)]);
    const closed = row?.push_positions ?? [];
    return c.json({ open: body.positions.length, closed: closed.length, tickets_closed: closed }, 200);
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
