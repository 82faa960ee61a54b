import type { Principal } from '@rubi/db';
import type { EdgeDeps } from './deps.ts';

/** Who made the request, for logs and for handlers that need the ids (never a secret). */
export type Actor =
  | { kind: 'anonymous' }
  | { kind: 'user'; userId: string }
  | { kind: 'ea_key'; userId: string; keyId: string }
  | { kind: 'account_ea'; userId: string; accountId: string }
  | { kind: 'vps_host'; hostId: string };

/** Hono environment shared by every function app. */
export interface EdgeEnv {
  Variables: {
    deps: EdgeDeps;
    requestId: string;
    actor: Actor;
    /** The database principal the request's SQL runs as (RLS decides what it may touch). */
    principal: Principal;
    /** Why the request failed, in words safe to log (never a secret): set by the error handler. */
    failure?: string;
  };
}
