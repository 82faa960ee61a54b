import { z } from '@hono/zod-openapi';
import { listTradesRoute, reportTradesRoute, type TradeType } from '@rubi/contracts/trades.ts';
import {
  createFunctionApp,
  CURSOR_TIMESTAMP_SQL,
  CursorTimestamp,
  decodeCursor,
  encodeCursor,
  isoRequired,
  requireAccountEa,
  requireUser,
  withDb,
  type EdgeDeps,
} from '@rubi/edge';

interface TradeRow {
  account_id: string;
  ticket: number;
  symbol: string;
  type: TradeType;
  lots: string;
  open_time: Date;
  close_time: Date;
  open_price: string;
  close_price: string;
  commission: string;
  swap: string;
  profit: string;
  magic: number | null;
  comment: string | null;
  cashback_rate: string;
  cashback_amount: string;
  currency: string;
  settled_on: Date | null;
  created_at: Date;
  cursor_at: string;
}

const toTrade = (row: TradeRow) => ({
  account_id: row.account_id,
  ticket: row.ticket,
  symbol: row.symbol,
  type: row.type,
  lots: Number(row.lots),
  open_time: isoRequired(row.open_time),
  close_time: isoRequired(row.close_time),
  open_price: Number(row.open_price),
  close_price: Number(row.close_price),
  commission: Number(row.commission),
  swap: Number(row.swap),
  profit: Number(row.profit),
  magic: row.magic,
  comment: row.comment,
  cashback_rate: Number(row.cashback_rate),
  cashback_amount: Number(row.cashback_amount),
  currency: row.currency,
  // A date column arrives as midnight UTC.
  settled_on: row.settled_on === null ? null : row.settled_on.toISOString().slice(0, 10),
  created_at: isoRequired(row.created_at),
});

/** Sort key of the list: most recently closed first; (account_id, ticket) is unique. */
const TradeCursor = z.tuple([CursorTimestamp, z.uuid(), z.number().int().positive()]);

const TRADE_COLUMNS = `t.account_id, t.ticket, t.symbol, t.type, t.lots, t.open_time, t.close_time, t.open_price, t.close_price,
  t.commission, t.swap, t.profit, t.magic, t.comment, t.cashback_rate, t.cashback_amount, t.currency, t.settled_on, t.created_at,
  ${CURSOR_TIMESTAMP_SQL('t.close_time')} as cursor_at`;

// The whole batch is one statement, run as the account's EA: the insert policy admits only rows of
// the account named by the claim ea_account_id, and private.accrue_cashback (before insert) sets
// the owner, the broker's rate and the amount. A ticket already stored for the account is skipped
// (on conflict do nothing), so a resent batch inserts nothing and accrues nothing again.
export const INSERT_TRADES_SQL = `
with incoming as (
  select * from jsonb_to_recordset($2::jsonb) as i(
    ticket bigint, symbol text, type text, lots numeric, open_time timestamptz, close_time timestamptz,
    open_price numeric, close_price numeric, commission numeric, swap numeric, profit numeric, magic bigint, comment text)
),
inserted as (
  insert into public.closed_trades (account_id, user_id, ticket, symbol, type, lots, open_time, close_time, open_price,
    close_price, commission, swap, profit, magic, comment)
  select $1::uuid, (select auth.uid()), i.ticket, i.symbol, i.type, i.lots, i.open_time, i.close_time, i.open_price,
    i.close_price, i.commission, i.swap, i.profit, i.magic, i.comment
  from incoming i
  order by i.ticket
  on conflict (account_id, ticket) do nothing
  returning ticket, cashback_amount
)
select coalesce((select array_agg(n.ticket order by n.ticket) from inserted n), '{}'::bigint[]) as accepted,
  (select coalesce(sum(n.cashback_amount), 0) from inserted n)::text as cashback_accrued`;

/**
 * `trades`: a provisioned account's EA reports closed trades (signed with its api secret), and the
 * owner lists them.
 */
export function createTradesApp(deps: EdgeDeps) {
  const app = createFunctionApp('trades', deps);

  app.openapi({ ...reportTradesRoute, middleware: [requireAccountEa()] }, async (c) => {
    const body = c.req.valid('json');
    const actor = c.get('actor');
    if (actor.kind !== 'account_ea') throw new Error('trades requires an account EA');
    const rows = body.trades.map((t) => ({ ...t, magic: t.magic ?? null, comment: t.comment ?? null }));
    const result = await withDb(c, async (tx) => {
      const [inserted] = await tx.query<{ accepted: number[]; cashback_accrued: string }>(INSERT_TRADES_SQL, [
        actor.accountId,
        JSON.stringify(rows),
      ]);
      // Hearing from the EA keeps the account connected (and revives a silent one); same transaction,
      // so a request that fails leaves last_seen_at alone too.
      await tx.query('select private.account_heard_from($1)', [actor.accountId]);
      return inserted;
    });
    const accepted = result?.accepted ?? [];
    const stored = new Set(accepted);
    const duplicates = rows.map((t) => t.ticket).filter((ticket) => !stored.has(ticket)).sort((a, b) => a - b);
    return c.json(
      {
        accepted,
        duplicates,
        cashback_accrued: Number(result?.cashback_accrued ?? 0),
        server_time: isoRequired(deps.now()),
      },
      200,
    );
  });

  app.openapi({ ...listTradesRoute, middleware: [requireUser()] }, async (c) => {
    const query = c.req.valid('query');
    const after = decodeCursor(query.cursor, TradeCursor);
    // Row-level security shows a user only their own trades: another user's account id just
    // matches nothing.
    const rows = await withDb(c, (tx) =>
      tx.query<TradeRow>(
        `select ${TRADE_COLUMNS}
         from public.closed_trades t
         where ($1::uuid is null or t.account_id = $1::uuid)
           and ($2::text is null or t.symbol = $2::text)
           and ($3::timestamptz is null or t.close_time >= $3::timestamptz)
           and ($4::timestamptz is null or t.close_time < $4::timestamptz)
           and ($5::timestamptz is null or (t.close_time, t.account_id, t.ticket) < ($5::timestamptz, $6::uuid, $7::bigint))
         order by t.close_time desc, t.account_id desc, t.ticket desc
         limit $8`,
        [
          query.account_id ?? null,
          query.symbol ?? null,
          query.from ?? null,
          query.to ?? null,
          after?.[0] ?? null,
          after?.[1] ?? null,
          after?.[2] ?? null,
          query.limit + 1,
        ],
      ),
    );
    const page = rows.slice(0, query.limit);
    const last = page.at(-1);
    const nextCursor = rows.length > query.limit && last ? encodeCursor([last.cursor_at, last.account_id, last.ticket]) : null;
    return c.json({ trades: page.map(toTrade), next_cursor: nextCursor }, 200);
  });

  return app;
}
