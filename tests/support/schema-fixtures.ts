import { asOwner, type Db } from '@rubi/db';

/** Ids of one user's rows across every table in `public`, created by {@link seedUserWorld}. */
export interface UserWorld {
  userId: string;
  keyId: string;
  sessionId: string;
  signalId: string;
  orderId: string;
  positionTicket: number;
  accountId: string;
  tradeId: string;
  ledgerId: string;
  notificationId: string;
}

/** Every table in `public` and the SQL that finds a given user's rows in it. */
export const USER_OWNED_TABLES = [
  'ea_keys',
  'mt5_sessions',
  'symbol_specs',
  'account_snapshots',
  'trading_signals',
  'trading_orders',
  'positions',
  'trading_accounts',
  'closed_trades',
  'cashback_ledger',
  'notifications',
] as const;

/**
 * User-owned tables no client may write directly (INSERT, UPDATE and DELETE revoked from anon and
 * authenticated): their rows come from private functions only (closed trades: private.ingest_trades,
 * which accrues the cashback; signals: private.create_signal; terminal data: the EA's functions, as
 * rubi_ea). See supabase/tests/database/13_no_direct_writes.sql.
 */
export const WRITTEN_BY_FUNCTIONS_ONLY: ReadonlySet<(typeof USER_OWNED_TABLES)[number]> = new Set([
  'mt5_sessions',
  'symbol_specs',
  'account_snapshots',
  'trading_signals',
  'trading_orders',
  'positions',
  'trading_accounts',
  'closed_trades',
  'cashback_ledger',
]);

/** What a user may write directly on the other user-owned tables: one column each, and DELETE of notifications. */
export const USER_WRITABLE_COLUMN: Readonly<Partial<Record<(typeof USER_OWNED_TABLES)[number], string>>> = {
  ea_keys: 'revoked_at',
  notifications: 'read_at',
};
export const USER_DELETABLE: ReadonlySet<(typeof USER_OWNED_TABLES)[number]> = new Set(['notifications']);

export async function createUser(db: Db, email: string): Promise<string> {
  const [row] = await db.query<{ id: string }>(
    asOwner(),
    `insert into auth.users (id, aud, role, email) values (gen_random_uuid(), 'authenticated', 'authenticated', $1)
     returning id`,
    [email],
  );
  if (!row) throw new Error('user insert returned nothing');
  return row.id;
}

export async function firstBrokerId(db: Db): Promise<string> {
  const [row] = await db.query<{ id: string }>(asOwner(), `select id from public.brokers where active order by name limit 1`);
  if (row) return row.id;
  const [created] = await db.query<{ id: string }>(
    asOwner(),
    `insert into public.brokers (name, platforms, rebate_per_lot) values ('Test Broker', array['MT4','MT5'], 3) returning id`,
  );
  if (!created) throw new Error('broker insert returned nothing');
  return created.id;
}

/**
 * Creates, as the database owner, one row in every user-owned table for a new user, so tests can
 * check that nobody else can see or touch them.
 */
export async function seedUserWorld(db: Db, email: string, login: number): Promise<UserWorld> {
  const userId = await createUser(db, email);
  const brokerId = await firstBrokerId(db);
  return db.transaction(asOwner(), async (tx) => {
    const one = async (sql: string, params: readonly unknown[]): Promise<string> => {
      const [row] = await tx.query<{ id: string }>(sql, params);
      if (!row) throw new Error(`no row from: ${sql}`);
      return row.id;
    };
    const keyId = await one(`insert into public.ea_keys (user_id, name) values ($1, 'terminal') returning id`, [userId]);
    const sessionId = await one(
      `insert into public.mt5_sessions (user_id, ea_key_id, account_number, broker, server, currency, leverage, balance, equity)
       values ($1, $2, $3, 'Broker', 'Broker-Demo', 'USD', 100, 10000, 10000) returning id`,
      [userId, keyId, login],
    );
    await tx.query(
      `insert into public.symbol_specs (session_id, user_id, symbol, tick_size, tick_value, contract_size, volume_min, volume_max, volume_step, digits)
       values ($1, $2, 'EURUSD', 0.00001, 1, 100000, 0.01, 100, 0.01, 5)`,
      [sessionId, userId],
    );
    await tx.query(
      `insert into public.account_snapshots (session_id, user_id, balance, equity) values ($1, $2, 10000, 10000)`,
      [sessionId, userId],
    );
    const signalId = await one(
      `insert into public.trading_signals (user_id, session_id, type, symbol, volume) values ($1, $2, 'BUY', 'EURUSD', 0.1) returning id`,
      [userId, sessionId],
    );
    const orderId = await one(
      `insert into public.trading_orders (user_id, signal_id, session_id, result, ticket, price, volume)
       values ($1, $2, $3, 'EXECUTED', 1001, 1.1, 0.1) returning id`,
      [userId, signalId, sessionId],
    );
    const positionTicket = 5000 + (login % 1000);
    await tx.query(
      `insert into public.positions (session_id, ticket, user_id, symbol, type, volume, open_price, opened_at)
       values ($1, $2, $3, 'EURUSD', 'BUY', 0.1, 1.1, now())`,
      [sessionId, positionTicket, userId],
    );
    const accountId = await one(
      `insert into public.trading_accounts (user_id, broker_id, platform, login, server) values ($1, $2, 'MT5', $3, 'Broker-Live') returning id`,
      [userId, brokerId, login],
    );
    await tx.query(
      `insert into private.account_secrets (account_id, investor_password_ciphertext, encryption_key_id) values ($1, 'ciphertext', 'k1')`,
      [accountId],
    );
    // Written as the owner, with the accrual private.ingest_trades would give it (the broker's terms).
    const tradeId = await one(
      `insert into public.closed_trades (account_id, user_id, ticket, symbol, type, lots, open_time, close_time, open_price, close_price,
                                         cashback_rate, cashback_amount, currency)
       select $1, $2, 7001, 'EURUSD', 'BUY', 1.5, now() - interval '2 days', now() - interval '2 days', 1.1, 1.2,
              b.rebate_per_lot, round(1.5 * b.rebate_per_lot, 4), b.currency
       from public.brokers b where b.id = $3
       returning id`,
      [accountId, userId, brokerId],
    );
    const ledgerId = await one(
      `insert into public.cashback_ledger (account_id, user_id, settlement_day, trades_count, lots, amount, currency)
       values ($1, $2, current_date - 1, 1, 1.5, 5.25, 'USD') returning id`,
      [accountId, userId],
    );
    const notificationId = await one(
      `insert into public.notifications (user_id, kind, title, body) values ($1, 'account_connected', 't', 'b') returning id`,
      [userId],
    );
    return { userId, keyId, sessionId, signalId, orderId, positionTicket, accountId, tradeId, ledgerId, notificationId };
  });
}
