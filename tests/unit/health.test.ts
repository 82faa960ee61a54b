import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { HealthResponse } from '@rubi/contracts/health.ts';
import type { Db } from '@rubi/db';
import { BACKEND_VERSION, checkHealth, createEdgeDeps } from '@rubi/edge';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FUNCTIONS } from '../../packages/local-server/src/function-registry.ts';
import { createEdgeHarness, type EdgeHarness } from '../support/edge-harness.ts';
import { generateEncryptionKey } from '@rubi/crypto';

// GET /<name>/health on every function: no credentials, no secrets, the database probed with a
// bounded wait. A database that refuses or never answers makes it 503 `degraded`, quickly.

let h: EdgeHarness;
beforeAll(async () => {
  h = await createEdgeHarness();
});
afterAll(async () => {
  await h?.close();
});

/** A Db whose every query fails the way a driver does when the server is gone. */
const refusingDb = (): Db =>
  ({
    query: () => Promise.reject(Object.assign(new Error('connect ECONNREFUSED 10.1.2.3:5432 password=hunter2'), { code: 'ECONNREFUSED' })),
    transaction: () => Promise.reject(new Error('unreachable')),
    close: () => Promise.resolve(),
  }) as unknown as Db;
/** A Db whose queries never settle: a server that accepted the connection and went silent. */
const silentDb = (): Db =>
  ({ query: () => new Promise(() => {}), transaction: () => new Promise(() => {}), close: () => Promise.resolve() }) as unknown as Db;

describe('GET /<name>/health', () => {
  it('answers on every function without credentials: name, version, database reachable and timed', async () => {
    for (const [name, factory] of Object.entries(FUNCTIONS)) {
      const res = await factory(h.deps).fetch(new Request(`http://fn.test/${name}/health`));
      expect(res.status, name).toBe(200);
      const body = HealthResponse.parse(await res.json());
      expect(body).toMatchObject({ status: 'ok', name, version: BACKEND_VERSION, database: { reachable: true } });
      expect(body.database.latency_ms).toBeGreaterThanOrEqual(0);
      expect(res.headers.get('x-request-id')).toBeTruthy();
      const spec = (await (await factory(h.deps).fetch(new Request(`http://fn.test/${name}/openapi.json`))).json()) as { paths: Record<string, unknown> };
      expect(Object.keys(spec.paths), name).toContain(`/${name}/health`);
    }
  });

  it('is 503 degraded with Retry-After when the database refuses, and names no host or secret', async () => {
    const deps = await createEdgeDeps(
      { SUPABASE_URL: 'http://127.0.0.1:54321', SUPABASE_DB_URL: 'postgresql://u:p@127.0.0.1/x', ENCRYPTION_KEY: generateEncryptionKey('h'), LOG_LEVEL: 'silent' },
      { db: refusingDb() },
    );
    const res = await FUNCTIONS.ping!(deps).fetch(new Request('http://fn.test/ping/health'));
    expect(res.status).toBe(503);
    expect(res.headers.get('retry-after')).toBe('5');
    const text = await res.text();
    expect(HealthResponse.parse(JSON.parse(text))).toMatchObject({ status: 'degraded', name: 'ping', database: { reachable: false, error: 'unreachable (ECONNREFUSED)' } });
    expect(text).not.toMatch(/10\.1\.2\.3|hunter2/);
  });

  it('never waits longer than its timeout for a silent database', async () => {
    const started = performance.now();
    const health = await checkHealth('ping', silentDb(), 100);
    expect(health).toMatchObject({ status: 'degraded', database: { reachable: false, error: 'timeout' } });
    expect(performance.now() - started).toBeLessThan(5_000);
  });

  it('reports the version of package.json', () => {
    const pkg = JSON.parse(readFileSync(join(import.meta.dirname, '..', '..', 'package.json'), 'utf8')) as { version: string };
    expect(BACKEND_VERSION).toBe(pkg.version);
  });
});
