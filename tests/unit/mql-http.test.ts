import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { verifySignature } from '@rubi/crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { classifyLine } from '../../vps-agent/src/terminal-log.ts';
import { buildHostProgram, runHostProgram } from '../../mql/host/build.ts';

// Rubi/Http.mqh compiled on the host (mql/host/tests/http_test.cpp), its WebRequest going over libcurl
// to a real HTTP server in this process. Sleeping is simulated, so the backoff is read, not waited.

const secret = `whsec_${randomBytes(32).toString('base64')}`;
let exe = '';
let server: Server;
let base = '';
const hits = new Map<string, number>();
const seen: { path: string; headers: IncomingMessage['headers']; body: Buffer; verified: boolean }[] = [];

beforeAll(async () => {
  exe = await buildHostProgram('http_test', 'MQL5');
  server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', async () => {
      const body = Buffer.concat(chunks);
      const path = req.url ?? '/';
      const n = (hits.get(path) ?? 0) + 1;
      hits.set(path, n);
      const h = req.headers;
      const verdict = await verifySignature({
        secrets: [secret],
        headers: { id: (h['x-trade-id'] as string) ?? null, timestamp: (h['x-trade-timestamp'] as string) ?? null, signature: (h['x-trade-signature'] as string) ?? null },
        body: body.toString('utf8'),
        nowSeconds: 1_763_720_100,
      });
      seen.push({ path, headers: h, body, verified: verdict.ok });
      const send = (status: number, payload: unknown, headers: Record<string, string> = {}) => {
        res.writeHead(status, { 'content-type': 'application/json', ...headers });
        res.end(JSON.stringify(payload));
      };
      if (path.startsWith('/echo')) return send(200, { ok: true, note: 'café 😀' });
      if (path.startsWith('/flaky')) return n <= 2 ? send(503, { error: 'busy' }) : send(200, { ok: true, attempt: n });
      if (path.startsWith('/limited')) return n === 1 ? send(429, { error: 'slow down' }, { 'retry-after': '7' }) : send(200, { ok: true });
      if (path.startsWith('/long-limit')) return send(429, { error: 'slow down' }, { 'Retry-After': '120' });
      if (path.startsWith('/bad')) return send(400, { error: { code: 'validation_failed' } });
      if (path.startsWith('/down')) return send(500, { error: 'down' });
      if (path.startsWith('/signed')) return n === 1 ? send(502, {}) : verdict.ok ? send(200, { ok: true }) : send(401, { error: verdict.reason });
      return send(404, {});
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}, 300_000);
afterAll(async () => {
  await new Promise<void>((resolve) => server.close(() => resolve()));
  rmSync(tmpRoot, { recursive: true, force: true });
});

interface Outcome {
  ok: boolean;
  status: number;
  attempts: number;
  error: number;
  blocked: boolean;
  retryAfter: number;
  sleeps: number[];
  body: string;
  prints: string[];
}

async function call(mode: 'json' | 'signed', method: string, url: string, json = '', attempts = 3, allow = ''): Promise<Outcome> {
  const result = await runHostProgram(exe, [mode, method, url, json, secret, 'acc-1', String(attempts), allow], { files: mkTmp() });
  expect(result.stderr).toBe('');
  expect(result.code).toBe(0);
  const lines = result.stdout.trimEnd().split('\n');
  const [ok, status, tries, error, blocked, retryAfter] = lines[0]!.split(' ').slice(1).map(Number);
  const sleeps = lines[1]!.slice('sleeps '.length);
  return {
    ok: ok === 1,
    status: status!,
    attempts: tries!,
    error: error!,
    blocked: blocked === 1,
    retryAfter: retryAfter!,
    sleeps: sleeps ? sleeps.split(',').map(Number) : [],
    body: Buffer.from(lines[2]!.slice('body '.length), 'hex').toString('utf8'),
    prints: lines.filter((l) => l.startsWith('print ')).map((l) => l.slice('print '.length)),
  };
}

const tmpRoot = mkdtempSync(join(tmpdir(), 'mql-http-'));
let tmpCount = 0;
/** A fresh Files folder per call (the EA log goes there). */
function mkTmp(): string {
  return join(tmpRoot, String(tmpCount++));
}

describe('HTTP client (Rubi/Http.mqh)', () => {
  it('sends the exact UTF-8 body (no trailing NUL) with JSON headers and returns status and body', async () => {
    const json = '{"comment":"caf\u00e9 \ud83d\ude00","n":1}';
    const out = await call('json', 'POST', `${base}/echo-1`, json);
    expect(out).toMatchObject({ ok: true, status: 200, attempts: 1, error: 0, blocked: false, sleeps: [] });
    expect(JSON.parse(out.body)).toEqual({ ok: true, note: 'café 😀' });
    const req = seen.find((s) => s.path === '/echo-1')!;
    expect(req.body.equals(Buffer.from(json, 'utf8'))).toBe(true);
    expect(req.headers['content-type']).toBe('application/json');
    expect(req.headers.accept).toBe('application/json');
  });

  it('sends GET without a body', async () => {
    const out = await call('json', 'GET', `${base}/echo-get`);
    expect(out.status).toBe(200);
    expect(seen.find((s) => s.path === '/echo-get')!.body.length).toBe(0);
  });

  it('retries 5xx with exponential backoff and jitter', async () => {
    const out = await call('json', 'POST', `${base}/flaky-1`, '{}', 4);
    expect(out).toMatchObject({ ok: true, status: 200, attempts: 3 });
    expect(out.sleeps).toHaveLength(2);
    expect(out.sleeps[0]).toBeGreaterThanOrEqual(500); // base 1000 ms, half of it jittered
    expect(out.sleeps[0]).toBeLessThanOrEqual(1000);
    expect(out.sleeps[1]).toBeGreaterThanOrEqual(1000); // doubled
    expect(out.sleeps[1]).toBeLessThanOrEqual(2000);
    expect(out.prints.filter((p) => p.startsWith('WARN POST'))).toHaveLength(2);
  });

  it('gives up after max_attempts and returns the last response', async () => {
    const out = await call('json', 'POST', `${base}/down-1`, '{}', 3);
    expect(out).toMatchObject({ ok: false, status: 500, attempts: 3 });
    expect(out.sleeps).toHaveLength(2);
    expect(JSON.parse(out.body)).toEqual({ error: 'down' });
  });

  it('honours Retry-After on 429, and stops when it is longer than it will wait', async () => {
    const out = await call('json', 'POST', `${base}/limited-1`, '{}');
    expect(out).toMatchObject({ ok: true, status: 200, attempts: 2, sleeps: [7000] });
    const long = await call('json', 'POST', `${base}/long-limit-1`, '{}');
    expect(long).toMatchObject({ ok: false, status: 429, attempts: 1, retryAfter: 120, sleeps: [] });
  });

  it('does not retry other 4xx', async () => {
    const out = await call('json', 'POST', `${base}/bad-1`, '{}');
    expect(out).toMatchObject({ ok: false, status: 400, attempts: 1, sleeps: [] });
    expect(hits.get('/bad-1')).toBe(1);
  });

  it('retries when there is no response at all (connection refused)', async () => {
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const port = (closed.address() as AddressInfo).port;
    await new Promise<void>((resolve) => closed.close(() => resolve()));
    const out = await call('json', 'POST', `http://127.0.0.1:${port}/x`, '{}', 3);
    expect(out).toMatchObject({ ok: false, status: -1, attempts: 3, error: 5201, blocked: false });
    expect(out.sleeps).toHaveLength(2);
  });

  it('reports a URL missing from the allow-list (4014) in words the VPS agent recognises, without retrying', async () => {
    const out = await call('json', 'POST', `${base}/echo-blocked`, '{}', 3, 'https://allowed.example');
    expect(out).toMatchObject({ ok: false, status: -1, attempts: 1, error: 4014, blocked: true, sleeps: [] });
    expect(hits.has('/echo-blocked')).toBe(false);
    expect(out.prints).toHaveLength(1);
    expect(out.prints[0]).toContain('WebRequest not allowed (error 4014)');
    expect(out.prints[0]).toContain(`add ${base} under Tools -> Options -> Expert Advisors`);
    expect(classifyLine(out.prints[0]!)).toBe('webrequest_blocked');
  });

  it('signs every attempt afresh (new X-Trade-Id), so the server verifies the retry', async () => {
    const out = await call('signed', 'POST', `${base}/signed-1`, '{"trades":[]}');
    expect(out).toMatchObject({ ok: true, status: 200, attempts: 2 });
    const requests = seen.filter((s) => s.path === '/signed-1');
    expect(requests).toHaveLength(2);
    expect(requests.every((r) => r.verified)).toBe(true);
    expect(requests[0]!.headers['x-trade-id']).not.toBe(requests[1]!.headers['x-trade-id']);
    expect(requests[1]!.headers['x-account-id']).toBe('acc-1');
    // The simulated clock moved by the backoff; the timestamp is signed per attempt.
    expect(requests[1]!.headers['x-trade-timestamp']).toBe(String(1_763_720_100 + Math.floor(out.sleeps[0]! / 1000)));
  });
});
