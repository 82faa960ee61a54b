import { connectRoute, disconnectRoute } from '@rubi/contracts/connect.ts';
import { callAsEa, createFunctionApp, isoRequired, noteRequest, requireEaKey, type EdgeDeps } from '@rubi/edge';

/** `connect`: a connector EA opens (or resumes) its terminal's session, and closes it. */
export function createConnectApp(deps: EdgeDeps) {
  const app = createFunctionApp('connect', deps);

  app.openapi({ ...connectRoute, middleware: [requireEaKey('connect')] }, async (c) => {
    const body = c.req.valid('json');
    // private.open_session resumes the terminal's live session or opens one that takes over what
    // the terminal's earlier sessions left behind, and stores the symbol specifications.
    const [session] = await callAsEa<{
      id: string;
      resumed: boolean;
      ping_interval_seconds: number;
      max_open_positions: number;
      max_risk_percent: string;
    }>(c, 'private.open_session', [JSON.stringify(body)]);
    if (!session) throw new Error('open_session returned no row');
    noteRequest(c, { session_id: session.id });
    return c.json(
      {
        session_id: session.id,
        resumed: session.resumed,
        server_time: isoRequired(deps.now()),
        ping_interval_seconds: session.ping_interval_seconds,
        risk: {
          max_open_positions: session.max_open_positions,
          max_risk_percent: Number(session.max_risk_percent),
        },
      },
      200,
    );
  });

  app.openapi({ ...disconnectRoute, middleware: [requireEaKey('connect')] }, async (c) => {
    const body = c.req.valid('json');
    const { session_id: sessionId, ...counters } = body;
    const [closed] = await callAsEa<{ id: string; disconnected_at: Date }>(c, 'private.close_session', [sessionId, JSON.stringify(counters)]);
    if (!closed) throw new Error('close_session returned no row');
    return c.json({ session_id: closed.id, status: 'disconnected' as const, disconnected_at: isoRequired(closed.disconnected_at) }, 200);
  });

  return app;
}
