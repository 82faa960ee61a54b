import type { OpenAPIHono } from '@hono/zod-openapi';
import { statsRoute, type AccountStats } from '@rubi/contracts/accounts-read.ts';
import { requireUser, withDb, type EdgeEnv } from '@rubi/edge';

// One statement, one round trip, run as the user: RLS limits every count to the user's own rows.
// Signals are read from the per-user counters (public.user_signal_stats, kept by triggers on
// trading_signals), so the cost does not grow with the user's history; no row yet means no signals.
const STATS_SQL = `
select
  (select json_build_object(
     'total', coalesce(sum(g.pending + g.delivered + g.executed + g.rejected + g.failed + g.unknown + g.expired + g.cancelled), 0)::bigint,
     'pending', coalesce(sum(g.pending), 0)::bigint,
     'delivered', coalesce(sum(g.delivered), 0)::bigint,
     'executed', coalesce(sum(g.executed), 0)::bigint,
     'rejected', coalesce(sum(g.rejected), 0)::bigint,
     'failed', coalesce(sum(g.failed), 0)::bigint,
     'unknown', coalesce(sum(g.unknown), 0)::bigint,
     'expired', coalesce(sum(g.expired), 0)::bigint,
     'cancelled', coalesce(sum(g.cancelled), 0)::bigint)
   from public.user_signal_stats g) as signals,
  (select json_build_object(
     'total', count(*),
     'active', count(*) filter (where s.status = 'active'),
     'stale', count(*) filter (where s.status = 'stale'))
   from public.mt5_sessions s) as sessions,
  (select json_build_object('open', count(*)) from public.positions p where p.closed_at is null) as positions`;

export function registerStatsRoutes(app: OpenAPIHono<EdgeEnv>): void {
  app.openapi({ ...statsRoute, middleware: [requireUser()] }, async (c) => {
    const [stats] = await withDb(c, (tx) => tx.query<AccountStats>(STATS_SQL));
    if (!stats) throw new Error('stats query returned no row');
    return c.json({ signals: stats.signals, sessions: stats.sessions, positions: stats.positions }, 200);
  });
}
