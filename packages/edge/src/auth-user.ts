import { createLocalJWKSet, createRemoteJWKSet, customFetch, decodeProtectedHeader, jwtVerify, type JWTPayload } from 'jose';

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
  const keySet = opts.jwks
    ? createLocalJWKSet(JSON.parse(opts.jwks) as Parameters<typeof createLocalJWKSet>[0])
    : createRemoteJWKSet(new URL(`${issuer}/.well-known/jwks.json`), opts.fetch ? { [customFetch]: opts.fetch } : {});
  const secret = opts.jwtSecret ? new TextEncoder().encode(opts.jwtSecret) : undefined;

  return async (token) => {
    let payload: JWTPayload;
    try {
      const { alg } = decodeProtectedHeader(token);
      const options = { issuer, audience: 'authenticated', clockTolerance: 30 };
      if (alg === 'HS256') {
        if (!secret) throw new InvalidTokenError('HS256 tokens are not accepted');
        ({ payload } = await jwtVerify(token, secret, { ...options, algorithms: ['HS256'] }));
      } else {
        ({ payload } = await jwtVerify(token, keySet, { ...options, algorithms: ['ES256', 'RS256', 'EdDSA'] }));
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
