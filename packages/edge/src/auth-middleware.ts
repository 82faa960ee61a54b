import { sha256Hex, verifySignature, type VerifyFailure } from '@rubi/crypto';
import { asService, asUser } from '@rubi/db';
import type { MiddlewareHandler } from 'hono';
import type { EdgeEnv } from './env.ts';
import { forbidden, unauthorized } from './errors.ts';
import { InvalidTokenError } from './auth-user.ts';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export type EaScope = 'connect' | 'ping' | 'signals' | 'positions';

const FAILURE_MESSAGES: Record<VerifyFailure, string> = {
  missing_headers: 'missing X-Trade-Id, X-Trade-Timestamp or X-Trade-Signature',
  malformed_timestamp: 'X-Trade-Timestamp is not a unix time in seconds',
  timestamp_too_old: 'request timestamp is more than 300 s old',
  timestamp_in_future: 'request timestamp is more than 300 s in the future',
  invalid_signature: 'signature does not match',
  malformed_secret: 'credential cannot verify signatures',
};

/** A dashboard user: `Authorization: Bearer <Supabase access token>`. */
export function requireUser(): MiddlewareHandler<EdgeEnv> {
  return async (c, next) => {
    const header = c.req.header('authorization') ?? '';
    const match = /^Bearer\s+(\S+)$/i.exec(header);
    if (!match?.[1]) throw unauthorized('no user access token in the Authorization header');
    let claims;
    try {
      claims = await c.get('deps').verifyUserToken(match[1]);
    } catch (error) {
      if (error instanceof InvalidTokenError) throw unauthorized(`invalid token: ${error.message}`);
      throw error;
    }
    const { sub, role: _role, ...rest } = claims;
    c.set('actor', { kind: 'user', userId: sub });
    c.set('principal', asUser(sub, rest));
    await next();
  };
}

/**
 * Verifies a Standard Webhooks signature made with `secrets` over the raw body, then remembers
 * the request id for `credentialId` (a replay is rejected). The signature is checked before the id
 * is stored, so nobody can burn ids without the secret.
 */
export async function verifySignedRequest(
  c: Parameters<MiddlewareHandler<EdgeEnv>>[0],
  credentialId: string,
  secrets: readonly string[],
  /** A statement on $3 = `touchId` run in the same round trip once the signature is good (e.g. stamping last use). */
  touch?: { sql: string; id: string },
): Promise<void> {
  const deps = c.get('deps');
  const body = await c.req.text();
  const headers = {
    id: c.req.header('x-trade-id') ?? null,
    timestamp: c.req.header('x-trade-timestamp') ?? null,
    signature: c.req.header('x-trade-signature') ?? null,
  };
  const result = await verifySignature({ secrets, headers, body, nowSeconds: Math.floor(deps.now().getTime() / 1000) });
  if (!result.ok) throw unauthorized(FAILURE_MESSAGES[result.reason]);
  // One round trip: the replay check, plus the caller's bookkeeping as a data-modifying CTE.
  const [row] = touch
    ? await deps.db.query<{ fresh: boolean }>(asService(), `with touched as (${touch.sql}) select private.remember_request_id($1, $2) as fresh`, [
        credentialId,
        headers.id,
        touch.id,
      ])
    : await deps.db.query<{ fresh: boolean }>(asService(), 'select private.remember_request_id($1, $2) as fresh', [credentialId, headers.id]);
  if (!row?.fresh) throw unauthorized('replayed request (X-Trade-Id already used)');
}

/** The connector EA: `X-EA-Key-Id` + a request signed with that key's secret, allowed `scope`. */
export function requireEaKey(scope: EaScope): MiddlewareHandler<EdgeEnv> {
  return async (c, next) => {
    const deps = c.get('deps');
    const keyId = c.req.header('x-ea-key-id') ?? '';
    if (!UUID.test(keyId)) throw unauthorized('missing or malformed X-EA-Key-Id');
    const [credentials] = await deps.db.query<{
      user_id: string;
      scopes: string[];
      secret_ciphertext: string;
      encryption_key_id: string;
    }>(asService(), 'select * from private.ea_key_credentials($1)', [keyId]);
    if (!credentials) throw unauthorized('unknown or revoked EA key');
    const secret = await deps.secretBox.open(credentials.secret_ciphertext, credentials.encryption_key_id, keyId);
    // The key's last use (throttled to once a minute) is stamped in the replay check's round trip.
    await verifySignedRequest(c, `ea_key:${keyId}`, [secret], {
      sql: `update public.ea_keys set last_used_at = now()
            where id = $3::uuid and (last_used_at is null or last_used_at < now() - interval '1 minute')`,
      id: keyId,
    });
    if (!credentials.scopes.includes(scope)) throw forbidden(`this EA key lacks the ${scope} scope`);
    c.set('actor', { kind: 'ea_key', userId: credentials.user_id, keyId });
    c.set('principal', asUser(credentials.user_id, { ea_key_id: keyId }));
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
 * request signed with the api secret that `register` issued to it.
 */
export function requireAccountEa(): MiddlewareHandler<EdgeEnv> {
  return async (c, next) => {
    const deps = c.get('deps');
    const externalId = c.req.header('x-account-id') ?? '';
    if (!UUID.test(externalId)) throw unauthorized('missing or malformed X-Account-Id');
    const [credentials] = await deps.db.query<{
      account_id: string;
      user_id: string;
      api_secret_ciphertext: string;
      api_secret_key_id: string;
    }>(asService(), 'select * from private.account_ea_credentials($1)', [externalId]);
    if (!credentials) throw unauthorized('unknown account or not registered');
    const secret = await deps.secretBox.open(credentials.api_secret_ciphertext, credentials.api_secret_key_id, credentials.account_id);
    await verifySignedRequest(c, `account:${credentials.account_id}`, [secret]);
    c.set('actor', { kind: 'account_ea', userId: credentials.user_id, accountId: credentials.account_id });
    c.set('principal', asUser(credentials.user_id, { ea_account_id: credentials.account_id }));
    await next();
  };
}

/**
 * A VPS agent: `X-VPS-API-Key`, stored only as its SHA-256. Host requests run as service_role and
 * reach accounts only through private functions that check the host holds them.
 */
export function requireVpsHost(): MiddlewareHandler<EdgeEnv> {
  return async (c, next) => {
    const deps = c.get('deps');
    const key = c.req.header('x-vps-api-key') ?? '';
    if (key.length < 16 || key.length > 256) throw unauthorized('missing or malformed X-VPS-API-Key');
    const [host] = await deps.db.query<{ id: string | null }>(asService(), 'select private.authenticate_vps_host($1) as id', [await sha256Hex(key)]);
    if (!host?.id) throw unauthorized('unknown or revoked VPS host key');
    c.set('actor', { kind: 'vps_host', hostId: host.id });
    c.set('principal', asService());
    await next();
  };
}
