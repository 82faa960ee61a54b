import { z, type OpenAPIHono } from '@hono/zod-openapi';
import {
  accountLedgerRoute,
  changeInvestorPasswordRoute,
  deleteTradingAccountRoute,
  getTradingAccountRoute,
  listBrokersRoute,
  listTradingAccountsRoute,
  registerTradingAccountRoute,
  setCashbackSettingsRoute,
  tradingAccountActionRoute,
  type TradingAccount,
} from '@rubi/contracts/trading-accounts.ts';
import type { Queryable, Tables } from '@rubi/db';
import { isPgError } from '@rubi/db';
import { accountHealth } from './account-health.ts';
import { badRequest, conflict, decodeCursor, encodeCursor, iso, isoRequired, notFound, requireUser, withDb, type EdgeEnv } from '@rubi/edge';

/** The vocabulary columns as the generated schema types them. */
type Account = Tables<'trading_accounts'>;

interface AccountRow {
  id: string;
  external_account_id: string;
  broker_id: string;
  broker_name: string;
  platform: Account['platform'];
  login: number;
  server: string;
  status: Account['status'];
  paused_at: Date | null;
  error_code: string | null;
  error_message: string | null;
  credentials_rejected_at: Date | null;
  attempts: number;
  next_retry_at: Date | null;
  terminal_state: Account['terminal_state'];
  connected_at: Date | null;
  last_seen_at: Date | null;
  created_at: Date;
  ownership_code: string;
  verified_at: Date | null;
  error_at: Date | null;
  hosted: boolean;
  broker_connected: boolean | null;
  broker_connected_changed_at: Date | null;
  broker_reported_at: Date | null;
  history_backfill_complete: boolean | null;
  history_synced_until: Date | null;
  db_now: Date;
  silent_after_seconds: number;
  trades: number;
  lots: string;
  accrued: string;
  settled: string;
  currency: string;
  payout_currency: string | null;
  excluded_magics: string[];
  excluded_symbols: string[];
}

// Runs as the user: RLS limits every row and aggregate to the user's own. Brokers are joined
// with a left join because RLS hides inactive brokers, and an account must not vanish with them.
/** Sort key of the ledger: newest settlement day first; (account, day) is unique. */
const LedgerCursor = z.tuple([z.iso.date()]);

const ACCOUNTS_SQL = `
select a.id, a.external_account_id, a.broker_id, coalesce(b.name, 'unknown broker') as broker_name, a.platform, a.login,
       a.server, a.status, a.paused_at, a.error_code, a.error_message, a.credentials_rejected_at, a.attempts, a.next_retry_at, a.terminal_state,
       a.connected_at, a.last_seen_at, a.created_at, a.ownership_code, a.verified_at,
       a.error_at, a.vps_host_id is not null as hosted, a.broker_connected, a.broker_connected_changed_at, a.broker_reported_at,
       a.history_backfill_complete, a.history_synced_until, now() as db_now, private.setting('account_silent_seconds')::int as silent_after_seconds,
       coalesce(t.trades, 0)::int as trades, coalesce(t.lots, 0) as lots, coalesce(t.accrued, 0) as accrued,
       coalesce(l.settled, 0) as settled, coalesce(a.payout_currency, b.currency, 'USD') as currency,
       a.payout_currency, a.excluded_magics::text[] as excluded_magics, a.excluded_symbols
from public.trading_accounts a
left join public.brokers b on b.id = a.broker_id
left join lateral (
  select count(*) as trades, sum(ct.lots) as lots, sum(ct.cashback_amount) as accrued
  from public.closed_trades ct where ct.account_id = a.id
) t on true
left join lateral (select sum(cl.amount) as settled from public.cashback_ledger cl where cl.account_id = a.id) l on true
where a.deleted_at is null`;

/** How an owner proves an unverified account is theirs (the ownership-proof contract, trades.ts). */
export const ownershipInstruction = (code: string) =>
  `Prove this account is yours: from your own terminal or phone, place a pending order far from the market with the comment ${code} (you may delete it right away); until then its cashback is withheld.`;

function toAccount(row: AccountRow): TradingAccount {
  return {
    id: row.id,
    external_account_id: row.external_account_id,
    broker: { id: row.broker_id, name: row.broker_name },
    platform: row.platform,
    login: Number(row.login),
    server: row.server,
    status: row.status,
    paused: row.paused_at !== null,
    error_code: row.error_code,
    error_message: row.error_message,
    credentials_rejected: row.credentials_rejected_at !== null,
    attempts: row.attempts,
    next_retry_at: iso(row.next_retry_at),
    terminal_state: row.terminal_state,
    connected_at: iso(row.connected_at),
    last_seen_at: iso(row.last_seen_at),
    created_at: isoRequired(row.created_at),
    ownership: {
      verified_at: iso(row.verified_at),
      code: row.verified_at === null ? row.ownership_code : null,
      instruction: row.verified_at === null ? ownershipInstruction(row.ownership_code) : null,
    },
    figures: {
      trades: row.trades,
      lots: Number(row.lots),
      cashback_accrued: Number(row.accrued),
      cashback_settled: Number(row.settled),
      currency: row.currency,
    },
    health: accountHealth({ ...row, now: row.db_now }),
    cashback_settings: {
      payout_currency: row.payout_currency,
      excluded_magics: row.excluded_magics.map(Number),
      excluded_symbols: row.excluded_symbols,
    },
  };
}

async function readAccount(tx: Queryable, id: string): Promise<TradingAccount> {
  const [row] = await tx.query<AccountRow>(`${ACCOUNTS_SQL} and a.id = $1`, [id]);
  if (!row) throw notFound('trading account not found');
  return toAccount(row);
}

export function registerTradingAccountRoutes(app: OpenAPIHono<EdgeEnv>): void {
  app.openapi({ ...registerTradingAccountRoute, middleware: [requireUser()] }, async (c) => {
    const body = c.req.valid('json');
    const deps = c.get('deps');
    const id = crypto.randomUUID();
    // Bound to the account id: the ciphertext cannot be moved onto another account's row.
    const sealed = await deps.secretBox.seal(body.investor_password, id);
    try {
      const account = await withDb(c, async (tx) => {
        await tx.query('select id from private.register_trading_account($1, $2, $3, $4, $5, $6, $7)', [
          body.broker_id,
          body.platform,
          body.login,
          body.server,
          sealed.ciphertext,
          sealed.keyId,
          id,
        ]);
        return readAccount(tx, id);
      });
      return c.json(account, 201);
    } catch (error) {
      if (isPgError(error) && error.code === '23505') {
        // Only the caller's own registration conflicts: other users' never change the answer.
        throw conflict(`you already registered login ${body.login} on ${body.server}`);
      }
      if (isPgError(error) && error.code === '23503') {
        throw badRequest('request validation failed', [{ path: 'body.broker_id', message: `unknown broker, or it does not offer ${body.platform}` }]);
      }
      throw error;
    }
  });

  app.openapi({ ...listTradingAccountsRoute, middleware: [requireUser()] }, async (c) => {
    const rows = await withDb(c, (tx) => tx.query<AccountRow>(`${ACCOUNTS_SQL} order by a.created_at desc, a.id desc`));
    return c.json({ accounts: rows.map(toAccount) }, 200);
  });

  app.openapi({ ...getTradingAccountRoute, middleware: [requireUser()] }, async (c) => {
    const { id } = c.req.valid('param');
    return c.json(await withDb(c, (tx) => readAccount(tx, id)), 200);
  });

  app.openapi({ ...accountLedgerRoute, middleware: [requireUser()] }, async (c) => {
    const { id } = c.req.valid('param');
    const query = c.req.valid('query');
    const after = decodeCursor(query.cursor, LedgerCursor);
    const rows = await withDb(c, async (tx) => {
      // RLS: another user's account is simply not found (and its ledger rows are invisible anyway).
      await readAccount(tx, id);
      return tx.query<{ settlement_day: string; trades_count: number; lots: string; amount: string; currency: string; updated_at: Date }>(
        `select to_char(settlement_day, 'YYYY-MM-DD') as settlement_day, trades_count, lots, amount, currency, updated_at
         from public.cashback_ledger
         where account_id = $1 and ($2::date is null or settlement_day < $2::date)
         order by settlement_day desc
         limit $3`,
        [id, after?.[0] ?? null, query.limit + 1],
      );
    });
    const page = rows.slice(0, query.limit);
    const last = page.at(-1);
    return c.json(
      {
        account_id: id,
        next_cursor: rows.length > query.limit && last ? encodeCursor([last.settlement_day]) : null,
        entries: page.map((e) => ({
          settlement_day: e.settlement_day,
          trades: e.trades_count,
          lots: Number(e.lots),
          amount: Number(e.amount),
          currency: e.currency,
          updated_at: isoRequired(e.updated_at),
        })),
      },
      200,
    );
  });

  app.openapi({ ...tradingAccountActionRoute, middleware: [requireUser()] }, async (c) => {
    const { id, action } = c.req.valid('param');
    const account = await withDb(c, async (tx) => {
      await tx.query('select id from private.account_action($1, $2)', [id, action]);
      return readAccount(tx, id);
    });
    return c.json(account, 200);
  });

  app.openapi({ ...changeInvestorPasswordRoute, middleware: [requireUser()] }, async (c) => {
    const { id } = c.req.valid('param');
    const body = c.req.valid('json');
    // Sealed exactly as at registration: bound to the account id.
    const sealed = await c.get('deps').secretBox.seal(body.investor_password, id);
    const account = await withDb(c, async (tx) => {
      await tx.query('select id from private.change_investor_password($1, $2, $3)', [id, sealed.ciphertext, sealed.keyId]);
      return readAccount(tx, id);
    });
    return c.json(account, 200);
  });

  app.openapi({ ...setCashbackSettingsRoute, middleware: [requireUser()] }, async (c) => {
    const { id } = c.req.valid('param');
    const body = c.req.valid('json');
    const account = await withDb(c, async (tx) => {
      await tx.query('select private.set_account_cashback_settings($1, $2, $3::bigint[], $4::text[])', [
        id,
        body.payout_currency,
        body.excluded_magics.map(String),
        body.excluded_symbols,
      ]);
      return readAccount(tx, id);
    });
    return c.json(account, 200);
  });

  app.openapi({ ...deleteTradingAccountRoute, middleware: [requireUser()] }, async (c) => {
    const { id } = c.req.valid('param');
    const [row] = await withDb(c, (tx) => tx.query<{ vps_host_id: string | null }>('select vps_host_id from private.account_action($1, $2)', [id, 'delete']));
    if (!row) throw notFound('trading account not found');
    return c.json({ id, deleted: true as const, teardown_pending: row.vps_host_id !== null }, 200);
  });

  app.openapi({ ...listBrokersRoute, middleware: [requireUser()] }, async (c) => {
    const rows = await withDb(c, (tx) =>
      tx.query<{ id: string; name: string; platforms: Tables<'brokers'>['platforms']; rebate_per_lot: string; currency: string }>(
        'select id, name, platforms, rebate_per_lot, currency from public.brokers order by name',
      ),
    );
    return c.json({ brokers: rows.map((b) => ({ ...b, rebate_per_lot: Number(b.rebate_per_lot) })) }, 200);
  });
}
