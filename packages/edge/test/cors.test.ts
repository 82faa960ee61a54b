// CORS and the request id on every response of a function app (packages/edge/src/app.ts): the
// headers hono's cors middleware gives a request, whatever built the response (a handler through
// the context, an error, a Response built without the context), and hono's cors for preflights.
import { cors } from 'hono/cors';
import { Hono } from 'hono';
import { describe, expect, it } from 'vitest';
import { ApiError, createFunctionApp, createLogger, type EdgeDeps } from '../src/index.ts';

const ALLOW_HEADERS = ['authorization', 'apikey', 'content-type', 'x-client-info', 'x-request-id', 'x-ea-key-id', 'x-account-id', 'x-trade-id', 'x-trade-timestamp', 'x-trade-signature', 'x-vps-api-key'];

function apps(corsOrigins: string) {
  const deps = {
    config: { CORS_ORIGINS: corsOrigins, MAX_BODY_BYTES: 1024, SUPABASE_URL: 'http://x.invalid' },
    logger: createLogger({ sink: () => {} }),
  } as unknown as EdgeDeps;
  const app = createFunctionApp('t', deps);
  app.get('/ok', (c) => c.json({ ok: true }, 200));
  app.get('/fail', () => {
    throw new ApiError(409, 'conflict', 'no');
  });
  app.get('/raw', () => new Response('raw', { status: 202 }));
  // What hono's cors alone gives the same routes (the reference).
  const origins = corsOrigins.split(',').map((o) => o.trim()).filter(Boolean);
  const ref = new Hono().basePath('/t');
  ref.use('*', cors({
    origin: origins.includes('*') ? '*' : origins,
    allowHeaders: ALLOW_HEADERS,
    allowMethods: ['GET', 'POST', 'PATCH', 'DELETE', 'OPTIONS'],
    exposeHeaders: ['x-request-id', 'retry-after'],
    maxAge: 600,
  }));
  ref.get('/ok', (c) => c.json({ ok: true }, 200));
  ref.get('/fail', (c) => c.json({ error: 'conflict' }, 409));
  ref.get('/raw', () => new Response('raw', { status: 202 }));
  return { app, ref };
}

const corsHeaders = (res: Response) =>
  Object.fromEntries([...res.headers].filter(([k]) => k.startsWith('access-control-') || k === 'vary'));

describe('function app: CORS headers as hono cors gives them, and the request id', () => {
  for (const config of ['*', 'https://dash.example, https://other.example']) {
    for (const origin of [undefined, 'https://dash.example', 'https://evil.example']) {
      for (const path of ['/t/ok', '/t/fail', '/t/raw', '/t/nowhere']) {
        it(`${config} | origin ${origin ?? 'none'} | GET ${path}`, async () => {
          const { app, ref } = apps(config);
          const init: RequestInit = { headers: origin ? { origin } : {} };
          const res = await app.request(path, init);
          const expected = await ref.request(path, init);
          expect(corsHeaders(res)).toEqual(corsHeaders(expected));
          expect(res.headers.get('x-request-id')).toMatch(/^req_/);
        });
      }
      it(`${config} | origin ${origin ?? 'none'} | preflight`, async () => {
        const { app, ref } = apps(config);
        const headers: Record<string, string> = { 'access-control-request-method': 'POST' };
        if (origin) headers.origin = origin;
        const init: RequestInit = { method: 'OPTIONS', headers };
        const res = await app.request('/t/ok', init);
        const expected = await ref.request('/t/ok', init);
        expect(res.status).toBe(204);
        expect(corsHeaders(res)).toEqual(corsHeaders(expected));
        expect(res.headers.get('x-request-id')).toMatch(/^req_/);
      });
    }
  }
  it('keeps a request id the caller sent', async () => {
    const { app } = apps('*');
    const res = await app.request('/t/raw', { headers: { 'x-request-id': 'abc' } });
    expect(res.headers.get('x-request-id')).toBe('abc');
  });
});
