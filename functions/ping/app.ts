import { pingRoute } from '@rubi/contracts/ping.ts';
import { createFunctionApp, isoRequired, notFound, requireEaKey, withDb, type EdgeDeps } from '@rubi/edge';
import { liveSession } from '../_shared/live-session.ts';

// The handler's statements, exported for bench/ (its raw SQL baseline runs exactly these).

/** A newer last_ping_at revives a stale session (trigger mt5_sessions_a_lifecycle). */
export const PING_UPDATE_SQL = `update public.mt5_sessions set last_ping_at = greatest(now(), last_ping_at + interval '1 microsecond'),
    balance = $2, equity = $3, margin = $4, margin_free = $5, margin_level = $6, profit = $7
  where id = $1 returning user_id, ping_interval_seconds, last_ping_at`;
export const PING_SNAPSHOT_SQL = `insert into public.account_snapshots
    (session_id, user_id, captured_at, balance, equity, margin, margin_free, margin_level, profit)
  values ($1, $2, $3, $4, $5, $6, $7, $8, $9) on conflict do nothing`;
export const PING_WAITING_SQL = `select count(*)::int as n from public.trading_signals
  where session_id = $1 and status in ('PENDING', 'DELIVERED') and (expires_at is null or expires_at > now())`;

/** `ping`: the EA's heartbeat. Records the figures and a snapshot, and says whether work is waiting. */
export function createPingApp(deps: EdgeDeps) {
  const app = createFunctionApp('ping', deps);

  app.openapi({ ...pingRoute, middleware: [requireEaKey('ping')] }, async (c) => {
    const body = c.req.valid('json');
    const result = await withDb(c, async (tx) => {
      await liveSession(tx, body.session_id);
      const [session] = await tx.query<{ user_id: string; ping_interval_seconds: number; last_ping_at: Date }>(
        PING_UPDATE_SQL,
        [body.session_id, body.balance, body.equity, body.margin, body.margin_free, body.margin_level ?? null, body.profit],
      );
      if (!session) throw notFound('session not found');
      await tx.query(
        PING_SNAPSHOT_SQL,
        [body.session_id, session.user_id, session.last_ping_at, body.balance, body.equity, body.margin, body.margin_free,
          body.margin_level ?? null, body.profit],
      );
      const [waiting] = await tx.query<{ n: number }>(PING_WAITING_SQL, [body.session_id]);
      return { interval: session.ping_interval_seconds, pending: waiting?.n ?? 0 };
    });
    return c.json(
      {
        server_time: isoRequired(deps.now()),
        session_status: 'active' as const,
        pending_signals: result.pending,
        ping_interval_seconds: result.interval,
      },
      200,
    );
  });

  return app;
}
