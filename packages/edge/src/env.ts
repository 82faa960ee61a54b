import type { EaCredential } from './ea-credentials.ts';
import type { EdgeDeps } from './deps.ts';
import type { RequestLogFields } from './request-log.ts';

/**
 * Who made the request: the one identity a request has. The database principal its SQL runs as is
 * derived from it (`withDb`), and it is what the request log names (never a secret).
 */
export type Actor =
  | { kind: 'anonymous' }
  | { kind: 'user'; userId: string; claims: Record<string, unknown> }
  | { kind: 'ea_key'; userId: string; keyId: string }
  | { kind: 'account_ea'; userId: string; accountId: string }
  /** A provisioned EA presenting its one-time token to `register`: the token is checked in SQL, as service_role. */
  | { kind: 'provisioning_token' }
  | { kind: 'vps_host'; hostId: string }
  /** An operator presenting the operator key (metrics, fleet view): no user, no database identity of its own. */
  | { kind: 'operator' };

/**
 * How a signed EA request (an `ea_key` or `account_ea` actor) is admitted by the database: the
 * credential its signature was verified with and the request id, which the gate
 * (`private.enter_ea_key` / `private.enter_account_ea`) checks and remembers in the request's own
 * transaction. Not logged.
 */
export interface Admission {
  credential: EaCredential;
  requestId: string;
  /** Reads the credential again and verifies the request again (after the gate said it changed). */
  readAgain: () => Promise<Admission>;
}

/** Hono environment shared by every function app. */
export interface EdgeEnv {
  Variables: {
    deps: EdgeDeps;
    requestId: string;
    actor: Actor;
    admission?: Admission;
    /** Why the request failed, in words safe to log (never a secret): set by the error handler. */
    failure?: string;
    /** What the request's log line names besides the actor's ids (request-log.ts, `noteRequest`). */
    logFields?: RequestLogFields;
    /** Set by `warnRequest`: the request's line is written at `warn` (a 5xx is `error` anyway). */
    logWarn?: true;
  };
}
