import { createServer, type Server, type Socket } from 'node:net';
import { parse } from 'smol-toml';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { HealthResponse } from '@rubi/contracts/health.ts';
import { generateEncryptionKey } from '@rubi/crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '../../../scripts/lib/free-port.ts';
import { repoRoot } from '../support/paths.ts';
import { startDenoFunctions } from './support/deno-functions.ts';
import { E2E_SUPABASE_URL, startE2eStack, type E2eStack } from './support/e2e-stack.ts';

/**
 * GET /<name>/health of every function served by Deno (functions/<name>/index.ts, unchanged) on
 * the integration PostgreSQL 15, then the same function with its database gone: a port where
 * nothing listens (refused at once) and a server that accepts and never answers (the 2 s bound).
 * The process answers 503 both times, fast, and keeps serving.
 */

const declared = Object.keys((parse(readFileSync(join(repoRoot, 'supabase', 'config.toml'), 'utf8')) as { functions: Record<string, unknown> }).functions);

let stack: E2eStack;
beforeAll(async () => {
  stack = await startE2eStack(declared);
});
afterAll(async () => {
  await stack?.close();
});

const get = (url: string) => fetch(url, { signal: AbortSignal.timeout(15_000) });

describe('health of the functions under Deno', () => {
  it('every function declared in config.toml answers /health without credentials, its database reachable', async () => {
    expect(declared).toHaveLength(10);
    for (const name of declared) {
      const res = await get(stack.deno.url(`/${name}/health`));
      expect(res.status, name).toBe(200);
      const body = HealthResponse.parse(await res.json());
      expect(body).toMatchObject({ status: 'ok', name, database: { reachable: true } });
    }
  });

  it('says degraded with 503, quickly and without hanging, when the database refuses or goes silent', async () => {
    const refusedPort = await freePort();
    const silent: Socket[] = [];
    const blackhole: Server = createServer((socket) => silent.push(socket));
    await new Promise<void>((done) => blackhole.listen(0, '127.0.0.1', done));
    const silentPort = (blackhole.address() as { port: number }).port;
    try {
      for (const [port, error] of [
        [refusedPort, 'unreachable (ECONNREFUSED)'],
        [silentPort, 'timeout'],
      ] as const) {
        const deno = await startDenoFunctions(['ping'], {
          SUPABASE_URL: E2E_SUPABASE_URL,
          SUPABASE_DB_URL: `postgresql://postgres:not-a-secret@127.0.0.1:${port}/postgres`,
          ENCRYPTION_KEY: generateEncryptionKey('health'),
          SUPABASE_JWKS: JSON.stringify({ keys: [] }),
          LOG_LEVEL: 'info',
        });
        try {
          for (const attempt of [1, 2]) {
            const started = performance.now();
            const res = await get(deno.url('/ping/health'));
            const took = performance.now() - started;
            expect(res.status, `${error}, attempt ${attempt}`).toBe(503);
            expect(res.headers.get('retry-after')).toBe('5');
            const text = await res.text();
            expect(HealthResponse.parse(JSON.parse(text))).toMatchObject({ status: 'degraded', name: 'ping', database: { reachable: false, error } });
            expect(text).not.toContain('not-a-secret');
            expect(took, `${error}: took ${took} ms`).toBeLessThan(10_000);
          }
          // Still serving: the failure stayed inside the request.
          expect((await get(deno.url('/ping/openapi.json'))).status).toBe(200);
          expect(deno.logs.map((l) => l.line).join('\n')).not.toContain('not-a-secret');
        } finally {
          await deno.stop();
        }
      }
    } finally {
      for (const s of silent) s.destroy();
      await new Promise((done) => blackhole.close(done));
    }
  });
});
