import { generateEncryptionKey, signPayload, randomId } from '@rubi/crypto';
import { asOwner } from '@rubi/db';
import type { PgliteDb } from '@rubi/db/pglite';
import { createEdgeDeps, type EdgeDeps } from '@rubi/edge';
import { exportJWK, generateKeyPair, SignJWT } from 'jose';
import { createMigratedPglite } from './pglite-schema.ts';

/** What every function app factory looks like. */
export interface FetchApp {
  request(input: string, init?: RequestInit): Response | Promise<Response>;
}

export const TEST_SUPABASE_URL = 'http://127.0.0.1:54321';

export interface EdgeHarness {
  db: PgliteDb;
  deps: EdgeDeps;
  /** Every log line the apps wrote (JSON text), for assertions such as "no secret was logged". */
  logs: string[];
  /** The clock the apps see; tests move it to exercise timestamp tolerance. */
  clock: { now: Date };
  tokenFor(userId: string, opts?: { expiresInSeconds?: number; issuer?: string; role?: string }): Promise<string>;
  createUser(email: string): Promise<TestUser>;
  close(): Promise<void>;
}

export interface TestUser {
  id: string;
  token: string;
}

export interface EaCredential {
  keyId: string;
  secret: string;
}

/** A complete edge environment on an in-memory PGlite with every migration applied. */
export async function createEdgeHarness(): Promise<EdgeHarness> {
  const { db } = await createMigratedPglite();
  const { publicKey, privateKey } = await generateKeyPair('ES256', { extractable: true });
  const jwk = { ...(await exportJWK(publicKey)), kid: 'test-key', alg: 'ES256', use: 'sig' };
  const logs: string[] = [];
  const clock = { now: new Date() };
  const deps = await createEdgeDeps(
    {
      SUPABASE_URL: TEST_SUPABASE_URL,
      SUPABASE_DB_URL: 'postgresql://unused@127.0.0.1/unused',
      SUPABASE_JWKS: JSON.stringify({ keys: [jwk] }),
      ENCRYPTION_KEY: generateEncryptionKey('test1'),
      LOG_LEVEL: 'debug',
    },
    { db, logSink: (line) => logs.push(line), now: () => clock.now },
  );
  const tokenFor: EdgeHarness['tokenFor'] = async (userId, opts = {}) =>
    new SignJWT({ role: opts.role ?? 'authenticated', email: `${userId.slice(0, 8)}@example.com` })
      .setProtectedHeader({ alg: 'ES256', kid: 'test-key' })
      .setSubject(userId)
      .setAudience('authenticated')
      .setIssuer(opts.issuer ?? `${TEST_SUPABASE_URL}/auth/v1`)
      .setIssuedAt()
      .setExpirationTime(Math.floor(Date.now() / 1000) + (opts.expiresInSeconds ?? 3600))
      .sign(privateKey);
  return {
    db,
    deps,
    logs,
    clock,
    tokenFor,
    async createUser(email) {
      const [row] = await db.query<{ id: string }>(
        asOwner(),
        `insert into auth.users (id, aud, role, email) values (gen_random_uuid(), 'authenticated', 'authenticated', $1) returning id`,
        [email],
      );
      if (!row) throw new Error('user insert failed');
      return { id: row.id, token: await tokenFor(row.id) };
    },
    close: () => db.close(),
  };
}

/** A JSON request as the dashboard sends it. */
export function userRequest(app: FetchApp, method: string, path: string, token: string | null, body?: unknown): Promise<Response> {
  const headers: Record<string, string> = { 'content-type': 'application/json' };
  if (token) headers.authorization = `Bearer ${token}`;
  return Promise.resolve(app.request(path, { method, headers, ...(body === undefined ? {} : { body: JSON.stringify(body) }) }));
}

export interface SignOptions {
  /** Override the request id (to replay one). */
  id?: string;
  /** Seconds since epoch; defaults to the harness clock. */
  timestamp?: number;
  /** Send these bytes instead of JSON.stringify(body) but sign `signedBody` (to tamper). */
  rawBody?: string;
  extraHeaders?: Record<string, string>;
}

/** Standard Webhooks headers for a body signed with `secret`. */
export async function signHeaders(
  secret: string,
  body: string,
  nowSeconds: number,
  opts: Pick<SignOptions, 'id' | 'timestamp'> = {},
): Promise<Record<string, string>> {
  const id = opts.id ?? randomId('msg_');
  const timestamp = opts.timestamp ?? nowSeconds;
  return {
    'x-trade-id': id,
    'x-trade-timestamp': String(timestamp),
    'x-trade-signature': await signPayload(secret, id, timestamp, body),
  };
}

/** A request from a connector EA, signed with its key. */
export async function eaRequest(
  harness: EdgeHarness,
  app: FetchApp,
  method: string,
  path: string,
  credential: EaCredential,
  body?: unknown,
  opts: SignOptions = {},
): Promise<Response> {
  const text = body === undefined ? '' : JSON.stringify(body);
  const headers = {
    'content-type': 'application/json',
    'x-ea-key-id': credential.keyId,
    ...(await signHeaders(credential.secret, text, Math.floor(harness.clock.now.getTime() / 1000), opts)),
    ...opts.extraHeaders,
  };
  const sent = opts.rawBody ?? text;
  return app.request(path, { method, headers, ...(method === 'GET' ? {} : { body: sent }) });
}

/** Counts rows as the database owner (to prove that nothing was written). */
export async function countRows(harness: EdgeHarness, table: string, where = 'true', params: unknown[] = []): Promise<number> {
  const [row] = await harness.db.query<{ n: number }>(asOwner(), `select count(*)::int as n from ${table} where ${where}`, params);
  return row?.n ?? -1;
}
