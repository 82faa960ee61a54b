import { isDbRole, type JwtClaims } from '@rubi/db';
import { createLocalJWKSet, decodeJwt, errors, jwtVerify, type JWK } from 'jose';

// Tokens as Supabase Realtime checks them: a JWT must verify against the project's keys (here the
// local server's JWKS), carry `role` and `exp`, and not be expired. Anything that is not a JWT is a
// publishable key: the anon role (the API gateway does that translation on a Supabase project).

export type TokenCheck =
  | { ok: true; claims: JwtClaims; /** Seconds since the epoch; undefined for the anon key. */ exp: number | undefined }
  | { ok: false; reason: string; expired: boolean };

export type TokenVerifier = (token: string | undefined) => Promise<TokenCheck>;

const JWT_SHAPE = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$/;

export function looksLikeJwt(token: string): boolean {
  return JWT_SHAPE.test(token);
}

export const ANON_CLAIMS: JwtClaims = { role: 'anon' };

export function createTokenVerifier(jwks: { keys: JWK[] }, now: () => number = () => Date.now()): TokenVerifier {
  const keySet = createLocalJWKSet(jwks);
  return async (token) => {
    if (!token || !looksLikeJwt(token)) return { ok: true, claims: ANON_CLAIMS, exp: undefined };
    const nowSeconds = Math.floor(now() / 1000);
    try {
      const { payload } = await jwtVerify(token, keySet, { currentDate: new Date(nowSeconds * 1000), clockTolerance: 0 });
      if (typeof payload.exp !== 'number' || typeof payload.role !== 'string') {
        return { ok: false, reason: 'InvalidJWTToken: Fields `role` and `exp` are required in JWT', expired: false };
      }
      if (!isDbRole(payload.role)) return { ok: false, reason: `InvalidJWTToken: unknown role ${JSON.stringify(payload.role)}`, expired: false };
      return { ok: true, claims: payload as JwtClaims, exp: payload.exp };
    } catch (error) {
      if (error instanceof errors.JWTExpired) {
        let exp = nowSeconds;
        try {
          exp = decodeJwt(token).exp ?? nowSeconds;
        } catch {
          // verified above; cannot happen
        }
        return { ok: false, reason: `InvalidJWTToken: Token has expired ${Math.max(0, nowSeconds - exp)} seconds ago`, expired: true };
      }
      return { ok: false, reason: `InvalidJWTToken: ${error instanceof Error ? error.message : 'invalid token'}`, expired: false };
    }
  };
}
