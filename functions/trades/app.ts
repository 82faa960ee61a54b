import { z } from '@hono/zod-openapi';
import type { SymbolGroup } from '@rubi/contracts/rebate-plans.ts';
import { listTradesRoute, reportTradesRoute, type CashbackWithheld, type Ownership, type TradeType } from '@rubi/contracts/trades.ts';
import {
  callAsEa,
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
  cashback_withheld: CashbackWithheld | null;
  currency: string;
  symbol_group: SymbolGroup;
  rebate_rule_id: string | null;
  rebate_amount: string | null;
  rebate_currency: string | null;
  fx_rate: string | null;
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
  cashback_withheld: row.cashback_withheld,
  currency: row.currency,
  symbol_group: row.symbol_group,
  rebate_rule_id: row.rebate_rule_id,
  rebate_amount: row.rebate_amount === null ? null : Number(row.rebate_amount),
  rebate_currency: row.rebate_currency,
  fx_rate: row.fx_rate === null ? null : Number(row.fx_rate),
  // A date column arrives as midnight UTC.
  settled_on: row.settled_on === null ? null : row.settled_on.toISOString().slice(0, 10),
  created_at: isoRequired(row.created_at),
});

/** Sort key of the list: most recently closed first; (account_id, ticket) is unique. */
const TradeCursor = z.tuple([CursorTimestamp, z.uuid(), z.number().int().positive()]);

const TRADE_COLUMNS = `t.account_id, t.ticket, t.symbol, t.type, t.lots, t.open_time, t.close_time, t.open_price, t.close_price,
  t.commission, t.swap, t.profit, t.magic, t.comment, t.cashback_rate, t.cashback_amount, t.cashback_withheld, t.currency, t.settled_on, t.created_at,
  t.symbol_group, t.rebate_rule_id, t.rebate_amount, t.rebate_currency, t.fx_rate,
  ${CURSOR_TIMESTAMP_SQL('t.close_time')} as cursor_at`;

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
    // One statement: the gate, then private.ingest_trades (the only writer of closed trades: it
    // settles the ownership with the reported codes, accrues the cashback for the whole batch by
    // the accrual rule and marks the account as heard from, with the EA's report on its terminal:
    // broker connection and history, for the account's health).
    const [result] = await callAsEa<{ accepted: number[]; cashback_accrued: string; ownership: Ownership }>(c, 'private.ingest_trades', [
      actor.accountId,
      JSON.stringify(rows),
      body.ownership_codes ?? [],
      body.broker_connected ?? null,
      body.history_synced_until ?? null,
      body.backfill_complete ?? null,
    ]);
    const accepted = result?.accepted ?? [];
    const stored = new Set(accepted);
    const duplicates = rows.map((t) => t.ticket).filter((ticket) => !stored.has(ticket)).sort((a, b) => a - b);
    return c.json(
      {
        accepted,
        duplicates,
        cashback_accrued: Number(result?.cashback_accrued ?? 0),
        ownership: result?.ownership ?? 'unverified',
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
