import type { Queryable } from '@rubi/db';
import { conflict, notFound, one } from '@rubi/edge';

/**
 * The session an EA request (or a new signal) names, which must exist (RLS: and be the caller's)
 * and not be disconnected. One way for every function: 404 when it is not found, 409 when it was
 * disconnected (the EA must connect again).
 *
 * `columns`: what else to read (a constant of the caller, never input); `lock`: FOR NO KEY UPDATE,
 * so writes for one session apply one after the other (pings may still insert snapshots that
 * reference the row).
 */
export async function liveSession<T extends { status: string } = { status: string }>(
  tx: Queryable,
  sessionId: string,
  opts: { columns?: string; lock?: boolean; disconnected?: string } = {},
): Promise<T> {
  const session = await one<T>(
    tx,
    `select status${opts.columns ? `, ${opts.columns}` : ''} from public.mt5_sessions where id = $1${opts.lock ? ' for no key update' : ''}`,
    [sessionId],
  );
  if (!session) throw notFound('session not found');
  if (session.status === 'disconnected') throw conflict(opts.disconnected ?? 'session is disconnected: connect again');
  return session;
}
