import { asOwner, type Db } from '@rubi/db';
import { exportJWK, generateKeyPair, SignJWT } from 'jose';

/**
 * A stand-in for the project's Supabase Auth: an ES256 signing key whose public half the
 * functions get as SUPABASE_JWKS, and access tokens shaped like Supabase's (issuer
 * `<SUPABASE_URL>/auth/v1`, audience and role `authenticated`, sub = the auth.users id).
 */
export interface E2eAuth {
  /** JSON text for SUPABASE_JWKS. */
  jwks: string;
  tokenFor(userId: string, opts?: { expiresInSeconds?: number }): Promise<string>;
  /** Inserts a user into auth.users (as the database owner) and mints its token. */
  createUser(db: Db, email: string): Promise<E2eUser>;
}

export interface E2eUser {
  id: string;
  email: string;
  token: string;
}

const KID = 'e2e-es256';

export async function createE2eAuth(supabaseUrl: string): Promise<E2eAuth> {
  const { publicKey, privateKey } = await generateKeyPair('ES256', { extractable: true });
  const jwk = { ...(await exportJWK(publicKey)), kid: KID, alg: 'ES256', use: 'sig' };
  const issuer = `${supabaseUrl.replace(/\/+$/, '')}/auth/v1`;
  const sign = (userId: string, email: string, expiresInSeconds: number): Promise<string> =>
    new SignJWT({ role: 'authenticated', email, aal: 'aal1', session_id: crypto.randomUUID() })
      .setProtectedHeader({ alg: 'ES256', kid: KID, typ: 'JWT' })
      .setSubject(userId)
      .setAudience('authenticated')
      .setIssuer(issuer)
      .setIssuedAt()
      .setExpirationTime(Math.floor(Date.now() / 1000) + expiresInSeconds)
      .sign(privateKey);
  const emails = new Map<string, string>();
  const auth: E2eAuth = {
    jwks: JSON.stringify({ keys: [jwk] }),
    tokenFor: (userId, opts = {}) => sign(userId, emails.get(userId) ?? `${userId}@e2e.invalid`, opts.expiresInSeconds ?? 3600),
    async createUser(db, email) {
      const [row] = await db.query<{ id: string }>(
        asOwner(),
        `insert into auth.users (id, aud, role, email) values (gen_random_uuid(), 'authenticated', 'authenticated', $1) returning id`,
        [email],
      );
      if (!row) throw new Error('auth.users insert returned no row');
      emails.set(row.id, email);
      return { id: row.id, email, token: await auth.tokenFor(row.id) };
    },
  };
  return auth;
}
