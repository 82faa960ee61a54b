import { connectRoute, disconnectRoute, type SymbolSpec } from '@rubi/contracts/connect.ts';
import type { Queryable } from '@rubi/db';
import { conflict, createFunctionApp, isoRequired, notFound, requireEaKey, withDb, type EdgeDeps } from '@rubi/edge';

interface SessionRow {
  id: string;
  ping_interval_seconds: number;
  max_open_positions: number;
  max_risk_percent: string;
}

async function upsertSymbolSpecs(tx: Queryable, sessionId: string, userId: string, specs: readonly SymbolSpec[]): Promise<void> {
  if (specs.length === 0) return;
  // One statement for the whole list: the EA may report hundreds of symbols.
  await tx.query(
    `insert into public.symbol_specs (session_id, user_id, symbol, tick_size, tick_value, contract_size, volume_min, volume_max, volume_step, digits)
     select $1, $2, s.symbol, s.tick_size, s.tick_value, s.contract_size, s.volume_min, s.volume_max, s.volume_step, s.digits
     from jsonb_to_recordset($3::jsonb) as s(symbol text, tick_size numeric, tick_value numeric, contract_size numeric,
       volume_min numeric, volume_max numeric, volume_step numeric, digits int)
     on conflict (session_id, symbol) do update set
       tick_size = excluded.tick_size, tick_value = excluded.tick_value, contract_size = excluded.contract_size,
       volume_min = excluded.volume_min, volume_max = excluded.volume_max, volume_step = excluded.volume_step,
       digits = excluded.digits`,
    [sessionId, userId, JSON.stringify(specs)],
  );
}

/**
 * A terminal that comes back after a disconnect gets a new session. What its earlier sessions left
 * behind must not be stranded there: signals never delivered move to the new session (a DELIVERED
 * one stays: the terminal may already have executed it, and re-sending could open a second order),
 * and positions still marked open are closed, since the new session pushes the true list.
 */
async function adoptPreviousSessions(tx: Queryable, sessionId: string, userId: string, accountNumber: number, server: string): Promise<void> {
  const previous = (first: number) => `select s.id from public.mt5_sessions s
    where s.user_id = $${first} and s.account_number = $${first + 1} and s.server = $${first + 2} and s.status = 'disconnected'`;
  await tx.query(
    `update public.trading_signals set session_id = $1
     where status = 'PENDING' and (expires_at is null or expires_at > now()) and session_id in (${previous(2)})`,
    [sessionId, userId, accountNumber, server],
  );
  await tx.query(`update public.positions set closed_at = now() where closed_at is null and session_id in (${previous(1)})`, [
    userId,
    accountNumber,
    server,
  ]);
}

/** `connect`: a connector EA opens (or resumes) its terminal's session, and closes it. */
export function createConnectApp(deps: EdgeDeps) {
  const app = createFunctionApp('connect', deps);

  app.openapi({ ...connectRoute, middleware: [requireEaKey('connect')] }, async (c) => {
    const body = c.req.valid('json');
    const actor = c.get('actor');
    if (actor.kind !== 'ea_key') throw new Error('connect requires an EA key');
    const result = await withDb(c, async (tx) => {
      // One live session per terminal (user, account number, server): a reconnect resumes it,
      // so signals already aimed at it are not lost.
      const [resumed] = await tx.query<SessionRow>(
        `update public.mt5_sessions set
           status = 'active', ea_key_id = $4, broker = $5, currency = $6, leverage = $7, balance = $8, equity = $9,
           margin = coalesce($10, margin), margin_free = coalesce($11, margin_free), ea_version = $12, terminal_build = $13,
           connected_at = now(), last_ping_at = now()
         where user_id = $1 and account_number = $2 and server = $3 and status <> 'disconnected'
         returning id, ping_interval_seconds, max_open_positions, max_risk_percent`,
        [actor.userId, body.account_number, body.server, actor.keyId, body.broker, body.currency, body.leverage, body.balance,
          body.equity, body.margin ?? null, body.margin_free ?? null, body.ea_version ?? null, body.terminal_build ?? null],
      );
      const session =
        resumed ??
        (
          await tx.query<SessionRow>(
            `insert into public.mt5_sessions (user_id, ea_key_id, account_number, broker, server, currency, leverage, balance, equity,
               margin, margin_free, ea_version, terminal_build, ping_interval_seconds)
             values ($1, $2, $3, $4, $5, $6, $7, $8, $9, coalesce($10::numeric, 0), coalesce($11::numeric, 0), $12, $13,
               private.setting('session_default_ping_interval_seconds')::int)
             returning id, ping_interval_seconds, max_open_positions, max_risk_percent`,
            [actor.userId, actor.keyId, body.account_number, body.broker, body.server, body.currency, body.leverage, body.balance,
              body.equity, body.margin ?? null, body.margin_free ?? null, body.ea_version ?? null, body.terminal_build ?? null],
          )
        )[0];
      if (!session) throw new Error('session upsert returned no row');
      if (!resumed) await adoptPreviousSessions(tx, session.id, actor.userId, body.account_number, body.server);
      await upsertSymbolSpecs(tx, session.id, actor.userId, body.symbols ?? []);
      return { session, resumed: resumed !== undefined };
    });
    return c.json(
      {
        session_id: result.session.id,
        resumed: result.resumed,
        server_time: isoRequired(deps.now()),
        ping_interval_seconds: result.session.ping_interval_seconds,
        risk: {
          max_open_positions: result.session.max_open_positions,
          max_risk_percent: Number(result.session.max_risk_percent),
        },
      },
      200,
    );
  });

  app.openapi({ ...disconnectRoute, middleware: [requireEaKey('connect')] }, async (c) => {
    const body = c.req.valid('json');
    const row = await withDb(c, async (tx) => {
      const [current] = await tx.query<{ status: string }>('select status from public.mt5_sessions where id = $1', [body.session_id]);
      if (!current) throw notFound('session not found');
      if (current.status === 'disconnected') throw conflict('session is already disconnected');
      const [closed] = await tx.query<{ id: string; disconnected_at: Date }>(
        `update public.mt5_sessions set status = 'disconnected',
           signals_sent = coalesce($2, signals_sent), signals_received = coalesce($3, signals_received),
           orders_executed = coalesce($4, orders_executed), errors = coalesce($5, errors)
         where id = $1 returning id, disconnected_at`,
        [body.session_id, body.signals_sent ?? null, body.signals_received ?? null, body.orders_executed ?? null, body.errors ?? null],
      );
      return closed;
    });
    if (!row) throw notFound('session not found');
    return c.json({ session_id: row.id, status: 'disconnected' as const, disconnected_at: isoRequired(row.disconnected_at) }, 200);
  });

  return app;
}
