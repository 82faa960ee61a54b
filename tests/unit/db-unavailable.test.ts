import { createServer, type AddressInfo, type Socket } from 'node:net';
import { generateEncryptionKey } from '@rubi/crypto';
import { asAnon, createPostgresDb, isDatabaseUnavailable, type Db } from '@rubi/db';
import { createEdgeDeps, isDriverSocketCrash } from '@rubi/edge';
import { describe, expect, it } from 'vitest';
import { FUNCTIONS } from '../../packages/local-server/src/function-registry.ts';

// Issue #14: a lost database is a fast 503 with Retry-After, a silent one is cut by the adapter's
// deadline, and the uncatchable postgres.js socket errors are recognised (packages/edge/src/process-guard.ts).

const driverError = (code: string, message = 'write CONNECTION_CLOSED 10.0.0.1:5432') => Object.assign(new Error(message), { code });

describe('database unavailable', () => {
  it('classifies driver connection errors and shutdown SQLSTATEs, not request errors', () => {
    for (const code of ['CONNECTION_CLOSED', 'CONNECTION_DESTROYED', 'CONNECT_TIMEOUT', 'DB_TIMEOUT', 'ECONNRESET', 'ECONNREFUSED', '57P01', '57P03', '08006', '57014']) {
      expect(isDatabaseUnavailable(driverError(code)), code).toBe(true);
    }
    for (const code of ['23505', '42501', '22P02', 'P0001', undefined]) {
      expect(isDatabaseUnavailable(code === undefined ? new Error('x') : driverError(code)), String(code)).toBe(false);
    }
  });

  it("recognises postgres.js's uncatchable nextWrite TypeError by its stack, and nothing else", () => {
    const crash = new TypeError("Cannot read properties of null (reading 'write')");
    crash.stack = `${crash.message}\n    at nextWrite (file:///app/node_modules/postgres/src/connection.js:255:15)\n    at Immediate.<anonymous>`;
    expect(isDriverSocketCrash(crash)).toBe(true);
    const denoNpm = new TypeError("Cannot read properties of null (reading 'write')");
    denoNpm.stack = `${denoNpm.message}\n    at nextWrite (file:///root/.cache/deno/npm/registry.npmjs.org/postgres/3.4.9/src/connection.js:255:15)`;
    expect(isDriverSocketCrash(denoNpm)).toBe(true);
    expect(isDriverSocketCrash(driverError('ECONNRESET', 'read ECONNRESET'))).toBe(true);
    const ours = new TypeError("Cannot read properties of null (reading 'write')");
    ours.stack = `${ours.message}\n    at handler (file:///app/functions/trades/app.ts:10:1)`;
    expect(isDriverSocketCrash(ours)).toBe(false);
    expect(isDriverSocketCrash(new Error('boom'))).toBe(false);
  });

  it('a request whose database is gone gets 503 unavailable with Retry-After, naming no host', async () => {
    const lost = (): Promise<never> => Promise.reject(driverError('CONNECTION_CLOSED'));
    const db = { query: lost, transaction: lost, close: () => Promise.resolve() } as unknown as Db;
    const deps = await createEdgeDeps(
      { SUPABASE_URL: 'http://127.0.0.1:54321', SUPABASE_DB_URL: 'postgresql://u:p@127.0.0.1/x', ENCRYPTION_KEY: generateEncryptionKey('u'), LOG_LEVEL: 'silent' },
      { db },
    );
    const res = await FUNCTIONS.ping!(deps).fetch(
      new Request('http://fn.test/ping', {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          'x-ea-key-id': '00000000-0000-4000-8000-000000000001',
          'x-trade-id': 'msg_1',
          'x-trade-timestamp': String(Math.floor(Date.now() / 1000)),
          'x-trade-signature': 'v1,AAAA',
        },
        body: '{}',
      }),
    );
    expect(res.status).toBe(503);
    expect(res.headers.get('retry-after')).toBe('1');
    const text = await res.text();
    expect(JSON.parse(text)).toMatchObject({ error: { code: 'unavailable' } });
    expect(text).not.toContain('10.0.0.1');
  });

  it('the adapter never waits past its deadline for a silent server, then opens a fresh pool', async () => {
    const sockets: Socket[] = [];
    const server = createServer((s) => sockets.push(s)); // accepts, never answers (half-open)
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const port = (server.address() as AddressInfo).port;
    const db = createPostgresDb(`postgresql://u@127.0.0.1:${port}/x`, { max: 1, requestTimeoutMs: 300, connectTimeoutSeconds: 30 });
    try {
      const first = db.sql;
      const started = performance.now();
      const error = await db.query(asAnon(), 'select 1').catch((e: unknown) => e);
      const waited = performance.now() - started;
      expect(error).toMatchObject({ code: 'DB_TIMEOUT' });
      expect(isDatabaseUnavailable(error)).toBe(true);
      expect(waited).toBeGreaterThanOrEqual(290);
      expect(waited).toBeLessThan(2000);
      expect(db.sql).not.toBe(first);
    } finally {
      await db.close().catch(() => undefined);
      for (const s of sockets) s.destroy();
      await new Promise<void>((r) => server.close(() => r()));
    }
  });
});
