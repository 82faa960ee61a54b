import type { OpenAPIHono } from '@hono/zod-openapi';
import { statsRoute, type AccountStats } from '@rubi/contracts/accounts-read.ts';
import { requireUser, withDb, type EdgeEnv } from '@rubi/edge';

// One statement, one round trip, run as the user: RLS limits every count to the user's own rows.
const STATS_SQL = `
select
  (select json_build_object(
     'total', count(*),
     'pending', count(*) filter (where g.status = 'PENDING'),
     'delivered', count(*) filter (where g.status = 'DELIVERED'),
     'executed', count(*) filter (where g.status = 'EXECUTED'),
     'rejected', count(*) filter (where g.status = 'REJECTED'),
     'failed', count(*) filter (where g.status = 'FAILED'),
     'expired', count(*) filter (where g.status = 'EXPIRED'),
     'cancelled', count(*) filter (where g.status = 'CANCELLED'))
   from public.trading_signals g) as signals,
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
