import type { JSONWebKeySet, JWTPayload, JWTVerifyGetKey } from 'jose';
import { loadJose, type Jose } from './load-jose.ts';

// jose is imported on the first token to verify, not at boot: a function's cold start pays for it
// only when a user token arrives (EA, VPS-host and health requests never need it); see bench/README.md, "Boot".

/** Claims of a verified Supabase Auth access token (only the ones we rely on are typed). */
export interface UserClaims extends JWTPayload {
  sub: string;
  role: 'authenticated';
  aud: string | string[];
  email?: string;
}
export type UserTokenVerifier = (token: string) => Promise<UserClaims>;

export class InvalidTokenError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'InvalidTokenError';
  }
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/**
 * Verifies user JWTs the way Supabase's own services do: asymmetric keys (ES256/RS256) from the
 * project's JWKS — given as JSON in SUPABASE_JWKS or fetched (and cached by jose) from
 * <SUPABASE_URL>/auth/v1/.well-known/jwks.json — and, only when a legacy secret is configured,
 * HS256. Issuer, audience, expiry and the `authenticated` role are checked.
 */
export function createUserTokenVerifier(opts: {
  supabaseUrl: string;
  jwks?: string | undefined;
  jwtSecret?: string | undefined;
  fetch?: typeof fetch;
}): UserTokenVerifier {
  const issuer = `${opts.supabaseUrl.replace(/\/+$/, '')}/auth/v1`;
  // Checked here, at start, as jose's createLocalJWKSet would: a malformed SUPABASE_JWKS still fails the boot.
  const localJwks = opts.jwks ? parseLocalJwks(opts.jwks) : undefined;
  const remoteJwksUrl = localJwks ? undefined : new URL(`${issuer}/.well-known/jwks.json`);
  const secret = opts.jwtSecret ? new TextEncoder().encode(opts.jwtSecret) : undefined;
  let keySet: JWTVerifyGetKey | undefined;
  const getKeySet = (j: Jose): JWTVerifyGetKey =>
    (keySet ??= localJwks
      ? j.createLocalJWKSet(localJwks)
      : j.createRemoteJWKSet(remoteJwksUrl as URL, opts.fetch ? { [j.customFetch]: opts.fetch } : {}));

  return async (token) => {
    let payload: JWTPayload;
    try {
      const j = await loadJose();
      const { decodeProtectedHeader, jwtVerify } = j;
      const { alg } = decodeProtectedHeader(token);
      const options = { issuer, audience: 'authenticated', clockTolerance: 30 };
      if (alg === 'HS256') {
        if (!secret) throw new InvalidTokenError('HS256 tokens are not accepted');
        ({ payload } = await jwtVerify(token, secret, { ...options, algorithms: ['HS256'] }));
      } else {
        ({ payload } = await jwtVerify(token, getKeySet(j), { ...options, algorithms: ['ES256', 'RS256', 'EdDSA'] }));
      }
    } catch (error) {
      if (error instanceof InvalidTokenError) throw error;
      throw new InvalidTokenError(error instanceof Error ? error.message : 'invalid token');
    }
    if (payload.role !== 'authenticated') throw new InvalidTokenError('not a signed-in user token');
    if (typeof payload.sub !== 'string' || !UUID.test(payload.sub)) throw new InvalidTokenError('token has no user id');
    return payload as UserClaims;
  };
}

/** A plain object (what JSON.parse gives for `{...}`), as jose's isObject checks it. */
function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Object.prototype.toString.call(value) !== '[object Object]') return false;
  const prototype = Object.getPrototypeOf(value) as object | null;
  return prototype === null || Object.getPrototypeOf(prototype) === null;
}

/** SUPABASE_JWKS parsed and checked the way jose's createLocalJWKSet checks it (same message), without loading jose. */
function parseLocalJwks(text: string): JSONWebKeySet {
  const parsed = JSON.parse(text) as unknown;
  if (!isPlainObject(parsed) || !Array.isArray(parsed.keys) || !Array.from(parsed.keys as unknown[]).every(isPlainObject)) {
    throw Object.assign(new Error('JSON Web Key Set malformed'), { name: 'JWKSInvalid', code: 'ERR_JWKS_INVALID' });
  }
  return parsed as unknown as JSONWebKeySet;
}
