import { pingRoute } from '@rubi/contracts/ping.ts';
import { callAsEa, createFunctionApp, isoRequired, requireEaKey, type EdgeDeps } from '@rubi/edge';

/** `ping`: the EA's heartbeat. Records the figures and a snapshot, and says whether work is waiting. */
export function createPingApp(deps: EdgeDeps) {
  const app = createFunctionApp('ping', deps);

  app.openapi({ ...pingRoute, middleware: [requireEaKey('ping')] }, async (c) => {
    const body = c.req.valid('json');
    // One statement: the gate, then private.ping_session as the EA.
    const [row] = await callAsEa<{ ping_session: { pending_signals: number; ping_interval_seconds: number } }>(c, 'private.ping_session', [
      body.session_id,
      JSON.stringify({
        balance: body.balance,
        equity: body.equity,
        margin: body.margin,
        margin_free: body.margin_free,
        margin_level: body.margin_level ?? null,
        profit: body.profit,
      }),
    ]);
    if (!row) throw new Error('ping_session returned no row');
    return c.json(
      {
        server_time: isoRequired(deps.now()),
        session_status: 'active' as const,
        pending_signals: row.ping_session.pending_signals,
        ping_interval_seconds: row.ping_session.ping_interval_seconds,
      },
      200,
    );
  });

  return app;
}
