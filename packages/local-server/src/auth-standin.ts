import { randomToken } from '@rubi/crypto';
import { asOwner, type Db } from '@rubi/db';
import { Hono, type Context } from 'hono';
import { SignJWT } from 'jose';
import type { LocalSecrets } from './local-secrets.ts';

// A development stand-in for Supabase Auth (GoTrue): enough for supabase-js's auth.signUp,
// auth.signInWithPassword, token refresh, getUser and signOut against the local server. Tokens
// are ES256 with Supabase's claims and the JWKS is served where Supabase serves it, so the
// functions verify them exactly as in production. Passwords are hashed with pgcrypto's crypt()
// (bcrypt) in auth.users.encrypted_password. Email confirmation is off, as in `supabase start`.

const ACCESS_TOKEN_SECONDS = 3600;

interface UserRow {
  id: string;
  email: string;
  created_at: Date;
  updated_at: Date;
  last_sign_in_at: Date | null;
  email_confirmed_at: Date | null;
  raw_user_meta_data: Record<string, unknown> | null;
}

function gotrueError(c: Context, status: 400 | 401 | 403 | 404 | 422, errorCode: string, msg: string) {
  return c.json({ code: status, error_code: errorCode, msg }, status);
}

function userJson(user: UserRow) {
  return {
    id: user.id,
    aud: 'authenticated',
    role: 'authenticated',
    email: user.email,
    email_confirmed_at: user.email_confirmed_at?.toISOString() ?? null,
    confirmed_at: user.email_confirmed_at?.toISOString() ?? null,
    phone: '',
    last_sign_in_at: user.last_sign_in_at?.toISOString() ?? null,
    app_metadata: { provider: 'email', providers: ['email'] },
    user_metadata: user.raw_user_meta_data ?? {},
    identities: [],
    created_at: user.created_at.toISOString(),
    updated_at: user.updated_at.toISOString(),
    is_anonymous: false,
  };
}

export function createAuthStandin(db: Db, secrets: LocalSecrets, publicUrl: string): Hono {
  const issuer = `${publicUrl}/auth/v1`;
  const app = new Hono().basePath('/auth/v1');

  const selectUser = `select id, email, created_at, updated_at, last_sign_in_at, email_confirmed_at, raw_user_meta_data from auth.users`;

  async function session(user: UserRow) {
    const now = Math.floor(Date.now() / 1000);
    const sessionId = crypto.randomUUID();
    const accessToken = await new SignJWT({
      email: user.email,
      phone: '',
      role: 'authenticated',
      aal: 'aal1',
      amr: [{ method: 'password', timestamp: now }],
      session_id: sessionId,
      is_anonymous: false,
      app_metadata: { provider: 'email', providers: ['email'] },
      user_metadata: user.raw_user_meta_data ?? {},
    })
      .setProtectedHeader({ alg: 'ES256', kid: secrets.publicJwk.kid, typ: 'JWT' })
      .setSubject(user.id)
      .setAudience('authenticated')
      .setIssuer(issuer)
      .setIssuedAt(now)
      .setExpirationTime(now + ACCESS_TOKEN_SECONDS)
      .sign(secrets.signingKey);
    const refreshToken = randomToken(24);
    await db.query(asOwner(), 'insert into auth.refresh_tokens (token, user_id) values ($1, $2)', [refreshToken, user.id]);
    return {
      access_token: accessToken,
      token_type: 'bearer',
      expires_in: ACCESS_TOKEN_SECONDS,
      expires_at: now + ACCESS_TOKEN_SECONDS,
      refresh_token: refreshToken,
      user: userJson(user),
    };
  }

  async function readJson(c: Context): Promise<Record<string, unknown>> {
    try {
      const body: unknown = await c.req.json();
      return body && typeof body === 'object' ? (body as Record<string, unknown>) : {};
    } catch {
      return {};
    }
  }

  app.get('/.well-known/jwks.json', (c) => c.json({ keys: [secrets.publicJwk] }));
  app.get('/health', (c) => c.json({ name: 'rubi-local-auth', description: 'development stand-in for Supabase Auth' }));

  app.post('/signup', async (c) => {
    const body = await readJson(c);
    const email = typeof body.email === 'string' ? body.email.trim().toLowerCase() : '';
    const password = typeof body.password === 'string' ? body.password : '';
    if (!/^[^@\s]+@[^@\s]+$/.test(email)) return gotrueError(c, 400, 'validation_failed', 'Unable to validate email address: invalid format');
    if (password.length < 6) return gotrueError(c, 422, 'weak_password', 'Password should be at least 6 characters.');
    const metadata = body.data && typeof body.data === 'object' ? JSON.stringify(body.data) : '{}';
    const [user] = await db.query<UserRow>(
      asOwner(),
      `insert into auth.users (id, aud, role, email, encrypted_password, email_confirmed_at, last_sign_in_at, raw_app_meta_data, raw_user_meta_data)
       values (gen_random_uuid(), 'authenticated', 'authenticated', $1, extensions.crypt($2, extensions.gen_salt('bf')), now(), now(),
               '{"provider":"email","providers":["email"]}', $3::jsonb)
       on conflict (email) where email is not null do nothing
       returning id, email, created_at, updated_at, last_sign_in_at, email_confirmed_at, raw_user_meta_data`,
      [email, password, metadata],
    );
    if (!user) return gotrueError(c, 422, 'user_already_exists', 'User already registered');
    return c.json(await session(user), 200);
  });

  app.post('/token', async (c) => {
    const grant = c.req.query('grant_type');
    const body = await readJson(c);
    if (grant === 'password') {
      const email = typeof body.email === 'string' ? body.email.trim().toLowerCase() : '';
      const password = typeof body.password === 'string' ? body.password : '';
      const [user] = await db.query<UserRow>(
        asOwner(),
        `update auth.users set last_sign_in_at = now()
         where email = $1 and encrypted_password = extensions.crypt($2, encrypted_password) and deleted_at is null
         returning id, email, created_at, updated_at, last_sign_in_at, email_confirmed_at, raw_user_meta_data`,
        [email, password],
      );
      if (!user) return gotrueError(c, 400, 'invalid_credentials', 'Invalid login credentials');
      return c.json(await session(user), 200);
    }
    if (grant === 'refresh_token') {
      const token = typeof body.refresh_token === 'string' ? body.refresh_token : '';
      // Rotation: a refresh token works once.
      const [row] = await db.query<{ user_id: string }>(
        asOwner(),
        `update auth.refresh_tokens set revoked = true, updated_at = now() where token = $1 and not revoked returning user_id`,
        [token],
      );
      if (!row) return gotrueError(c, 400, 'refresh_token_not_found', 'Invalid Refresh Token: Refresh Token Not Found');
      const [user] = await db.query<UserRow>(asOwner(), `${selectUser} where id = $1`, [row.user_id]);
      if (!user) return gotrueError(c, 400, 'user_not_found', 'User not found');
      return c.json(await session(user), 200);
    }
    return gotrueError(c, 400, 'validation_failed', 'unsupported grant_type');
  });

  async function userFromBearer(c: Context): Promise<UserRow | undefined> {
    const token = /^Bearer\s+(\S+)$/i.exec(c.req.header('authorization') ?? '')?.[1];
    if (!token) return undefined;
    try {
      const { jwtVerify, createLocalJWKSet } = await import('jose');
      const { payload } = await jwtVerify(token, createLocalJWKSet({ keys: [secrets.publicJwk] }), { issuer, audience: 'authenticated' });
      const [user] = await db.query<UserRow>(asOwner(), `${selectUser} where id = $1`, [payload.sub]);
      return user;
    } catch {
      return undefined;
    }
  }

  app.get('/user', async (c) => {
    const user = await userFromBearer(c);
    if (!user) return gotrueError(c, 401, 'bad_jwt', 'invalid JWT');
    return c.json(userJson(user), 200);
  });

  app.post('/logout', async (c) => {
    const user = await userFromBearer(c);
    if (!user) return gotrueError(c, 401, 'bad_jwt', 'invalid JWT');
    await db.query(asOwner(), 'update auth.refresh_tokens set revoked = true, updated_at = now() where user_id = $1', [user.id]);
    return c.body(null, 204);
  });

  return app;
}
