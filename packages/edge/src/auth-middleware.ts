import { sha256Hex, verifySignature, type VerifyFailure } from '@rubi/crypto';
import { asService, type Enums } from '@rubi/db';
import type { Context, MiddlewareHandler } from 'hono';
import { DUMMY_SIGNING_KEY, readAccountEaCredential, readEaKeyCredential, type AccountEaCredential, type EaCredential } from './ea-credentials.ts';
import type { Admission, EdgeEnv } from './env.ts';
import { forbidden, unauthorized } from './errors.ts';
import { InvalidTokenError } from './auth-user.ts';
import { limit, perIp } from './rate-limit.ts';
import { noteRequest } from './request-log.ts';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** What an EA key may be used for: the database's vocabulary `ea_scope`. */
export type EaScope = Enums<'ea_scope'>;

/**
 * One answer for an unknown key or account id, a wrong signature and a credential that cannot
 * verify: which of them failed is not the caller's business (issue #15), and the work done is the
 * same (see verifyWithCredential).
 */
export const INVALID_EA_CREDENTIALS = 'unknown credential or signature does not match';

const FAILURE_MESSAGES: Record<VerifyFailure, string> = {
  missing_headers: 'missing X-Trade-Id, X-Trade-Timestamp or X-Trade-Signature',
  malformed_timestamp: 'X-Trade-Timestamp is not a unix time in seconds',
  timestamp_too_old: 'request timestamp is more than 300 s old',
  timestamp_in_future: 'request timestamp is more than 300 s in the future',
  invalid_signature: INVALID_EA_CREDENTIALS,
  malformed_secret: INVALID_EA_CREDENTIALS,
};

/** A dashboard user: `Authorization: Bearer <Supabase access token>`. */
export function requireUser(): MiddlewareHandler<EdgeEnv> {
  return async (c, next) => {
    noteRequest(c, { principal: 'user' });
    const header = c.req.header('authorization') ?? '';
    const match = /^Bearer\s+(\S+)$/i.exec(header);
    if (!match?.[1]) {
      noteRequest(c, { auth_refusal: 'missing_token' });
      throw unauthorized('no user access token in the Authorization header');
    }
    let claims;
    try {
      claims = await c.get('deps').verifyUserToken(match[1]);
    } catch (error) {
      if (error instanceof InvalidTokenError) {
        noteRequest(c, { auth_refusal: 'invalid_token' });
        throw unauthorized(`invalid token: ${error.message}`);
      }
      throw error;
    }
    const { sub, role: _role, ...rest } = claims;
    c.set('actor', { kind: 'user', userId: sub, claims: rest });
    await next();
  };
}

/**
 * Verifies the request's Standard Webhooks signature over the raw body with `credential`'s secret.
 * A credential read from the cache that fails is read again once before the request is refused:
 * the account's api secret may have been re-issued since (a new `register`).
 *
 * An unknown id is verified against a dummy secret (its read opened a dummy too), so it takes the
 * same steps as a known id with a wrong signature and gets the same answer: the timestamp checks,
 * then INVALID_EA_CREDENTIALS. Every failed verification takes a token from the failure buckets
 * (per key / account id and per client IP, rate-limit.ts) in one statement; past their limit the
 * answer is a 429 instead of the 401. A request that verifies never touches the limiter.
 */
async function verifyWithCredential<C extends EaCredential>(
  c: Parameters<MiddlewareHandler<EdgeEnv>>[0],
  cacheKey: string,
  read: () => Promise<C | undefined>,
): Promise<{ credential: C; requestId: string }> {
  const deps = c.get('deps');
  // A request without a body (a GET): nothing to read; its signature covers the empty string.
  const body = c.req.raw.body === null ? '' : await c.req.text();
  const headers = {
    id: c.req.header('x-trade-id') ?? null,
    timestamp: c.req.header('x-trade-timestamp') ?? null,
    signature: c.req.header('x-trade-signature') ?? null,
  };
  const verify = (credential: C | undefined) =>
    verifySignature({ secrets: [credential?.signingKey ?? DUMMY_SIGNING_KEY], headers, body, nowSeconds: Math.floor(deps.now().getTime() / 1000) });
  const fresh = async (): Promise<C | undefined> => {
    const credential = await read();
    if (credential) deps.credentials.set(cacheKey, credential);
    else deps.credentials.delete(cacheKey);
    return credential;
  };
  const cached = deps.credentials.get(cacheKey) as C | undefined;
  let credential = cached ?? (await fresh());
  let result = await verify(credential);
  if (!result.ok && result.reason === 'invalid_signature' && cached) {
    credential = await fresh();
    result = await verify(credential);
  }
  if (!result.ok || !credential) {
    // The reason goes to the request's log line only (the caller gets one answer, see above).
    // An unknown id fails like a wrong signature (against the dummy secret); the log tells them apart.
    const unknown = !credential && (result.ok || result.reason === 'invalid_signature');
    noteRequest(c, { auth_refusal: unknown || result.ok ? 'unknown_credential' : result.reason });
    await limit(c, [{ kind: 'ea_auth_failure_credential', subject: cacheKey }, perIp('ea_auth_failure_ip', c)]);
    throw unauthorized(result.ok ? INVALID_EA_CREDENTIALS : FAILURE_MESSAGES[result.reason]);
  }
  // verifySignature refuses a request without an id, so it is there.
  return { credential, requestId: headers.id as string };
}

/**
 * The connector EA: `X-EA-Key-Id` + a request signed with that key's secret, allowed `scope`. The
 * signature is checked here; the key's liveness, the replay check and the key stamp happen in the
 * request's own SQL (the gate `private.enter_ea_key`, see `withDb` and `callAsEa`).
 */
export function requireEaKey(scope: EaScope): MiddlewareHandler<EdgeEnv> {
  return async (c, next) => {
    const keyId = c.req.header('x-ea-key-id') ?? '';
    noteRequest(c, { principal: 'ea_key' });
    if (!UUID.test(keyId)) {
      noteRequest(c, { auth_refusal: 'malformed_credential_id' });
      throw unauthorized('missing or malformed X-EA-Key-Id');
    }
    // The id it claims (an id, not a secret): a refused request is logged with it.
    noteRequest(c, { ea_key_id: keyId.toLowerCase() });
    const deps = c.get('deps');
    const admit = async (): Promise<Admission> => {
      const { credential, requestId } = await verifyWithCredential(
        c,
        `ea_key:${keyId.toLowerCase()}`,
        () => readEaKeyCredential(deps, keyId),
      );
      if (!credential.scopes.includes(scope)) {
        noteRequest(c, { auth_refusal: 'missing_scope' });
        throw forbidden(`this EA key lacks the ${scope} scope`);
      }
      return { credential, requestId, readAgain: admitAgain };
    };
    const admitAgain = async (): Promise<Admission> => {
      deps.credentials.delete(`ea_key:${keyId.toLowerCase()}`);
      return admit();
    };
    const admission = await admit();
    c.set('actor', { kind: 'ea_key', userId: admission.credential.userId, keyId });
    c.set('admission', admission);
    await next();
  };
}

/** Either a signed-in user or a connector EA with `scope` (decided by the headers present). */
export function requireUserOrEaKey(scope: EaScope): MiddlewareHandler<EdgeEnv> {
  const user = requireUser();
  const ea = requireEaKey(scope);
  return (c, next) => (c.req.header('x-ea-key-id') ? ea(c, next) : user(c, next));
}

/**
 * A provisioned EA (cashback flow): `X-Account-Id` (the external account id from its config) + a
 * request signed with the api secret that `register` issued to it. Admitted by the gate
 * `private.enter_account_ea` in the request's own SQL, like an EA key.
 */
export function requireAccountEa(): MiddlewareHandler<EdgeEnv> {
  return async (c, next) => {
    const externalId = (c.req.header('x-account-id') ?? '').toLowerCase();
    noteRequest(c, { principal: 'account_ea' });
    if (!UUID.test(externalId)) {
      noteRequest(c, { auth_refusal: 'malformed_credential_id' });
      throw unauthorized('missing or malformed X-Account-Id');
    }
    noteRequest(c, { external_account_id: externalId });
    const deps = c.get('deps');
    const admit = async (): Promise<Admission> => {
      const { credential, requestId } = await verifyWithCredential(
        c,
        `account:${externalId}`,
        () => readAccountEaCredential(deps, externalId),
      );
      return { credential, requestId, readAgain: admitAgain };
    };
    const admitAgain = async (): Promise<Admission> => {
      deps.credentials.delete(`account:${externalId}`);
      return admit();
    };
    const admission = await admit();
    const credential = admission.credential as AccountEaCredential;
    c.set('actor', { kind: 'account_ea', userId: credential.userId, accountId: credential.accountId });
    c.set('admission', admission);
    await next();
  };
}

/**
 * A key stored only as its SHA-256 and checked by one private function (VPS host keys, operator
 * keys): the same refusals for both. Malformed: 401 at once. Unknown or revoked: counted per client
 * IP in `bucket` (rate-limit.ts: past the limit, 429 instead of 401), then 401. Returns the id.
 */
async function checkHashedKey(
  c: Context<EdgeEnv>,
  key: string,
  check: { fn: 'private.authenticate_vps_host' | 'private.authenticate_operator'; bucket: 'vps_auth_failure_ip' | 'operator_auth_failure_ip'; malformed: string; refused: string },
): Promise<string> {
  if (key.length < 16 || key.length > 256) {
    noteRequest(c, { auth_refusal: 'malformed_credential_id' });
    throw unauthorized(check.malformed);
  }
  const [row] = await c.get('deps').db.query<{ id: string | null }>(asService(), `select ${check.fn}($1) as id`, [await sha256Hex(key)]);
  if (!row?.id) {
    noteRequest(c, { auth_refusal: 'unknown_credential' });
    await limit(c, [perIp(check.bucket, c)]);
    throw unauthorized(check.refused);
  }
  return row.id;
}

/**
 * A VPS agent: `X-VPS-API-Key`, stored only as its SHA-256. Host requests run as service_role and
 * reach accounts only through private functions that check the host holds them.
 */
export function requireVpsHost(): MiddlewareHandler<EdgeEnv> {
  return async (c, next) => {
    noteRequest(c, { principal: 'vps_host' });
    const hostId = await checkHashedKey(c, c.req.header('x-vps-api-key') ?? '', {
      fn: 'private.authenticate_vps_host',
      bucket: 'vps_auth_failure_ip',
      malformed: 'missing or malformed X-VPS-API-Key',
      refused: 'unknown or revoked VPS host key',
    });
    c.set('actor', { kind: 'vps_host', hostId });
    await next();
  };
}

/**
 * An operator (GET /ops/metrics, GET /ops/fleet): an operator key (private.operator_keys, stored as
 * its SHA-256; `npm run vps-host -- operator-key create <name>`), as `Authorization: Bearer <key>`
 * (what Prometheus' `authorization` / `bearer_token` sends) or `X-Operator-Key`. Not the
 * service_role key, not a VPS host key, not a user's token: only a key in that table opens these
 * routes, which run as service_role through private functions granted to it alone. An unknown and
 * a revoked key get the same answer.
 */
export function requireOperator(): MiddlewareHandler<EdgeEnv> {
  return async (c, next) => {
    noteRequest(c, { principal: 'operator' });
    const bearer = /^Bearer\s+(\S+)$/i.exec(c.req.header('authorization') ?? '')?.[1];
    await checkHashedKey(c, c.req.header('x-operator-key') ?? bearer ?? '', {
      fn: 'private.authenticate_operator',
      bucket: 'operator_auth_failure_ip',
      malformed: 'missing or malformed operator key (Authorization: Bearer or X-Operator-Key)',
      refused: 'unknown or revoked operator key',
    });
    c.set('actor', { kind: 'operator' });
    await next();
  };
}
