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
const SERVER_NOW = 1_763_720_100; // the server's clock (the sim's clock starts there too)
const committed = new Set<string>();
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
        nowSeconds: SERVER_NOW,
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
      // Signed routes of a server that keeps its own clock (SERVER_NOW, in its Date header) and
      // remembers an X-Trade-Id only with the work it committed, as the functions do.
      // (per path: every run of the host program starts from the same simulated clocks, so its ids repeat across runs)
      const id = `${path} ${String(h['x-trade-id'] ?? '')}`;
      const date = { date: new Date(SERVER_NOW * 1000).toUTCString() };
      const noDate = path.startsWith('/nodate');
      if (noDate) res.sendDate = false; // a response without a Date header (Node adds one otherwise)
      const refuse = (message: string) => send(401, { error: { code: 'unauthorized', message } }, noDate ? {} : date);
      if (!verdict.ok && verdict.reason === 'timestamp_too_old') return refuse('request timestamp is more than 300 s old');
      if (!verdict.ok && verdict.reason === 'timestamp_in_future') return refuse('request timestamp is more than 300 s in the future');
      if (!verdict.ok) return refuse('signature does not match');
      if (committed.has(id)) return refuse('replayed request (X-Trade-Id already used)');
      if (path.startsWith('/id-503')) return n === 1 ? send(503, { error: 'busy' }, date) : (committed.add(id), send(200, { ok: true }, date));
      if (path.startsWith('/id-lost')) {
        if (n === 1) return void req.socket.destroy(); // refused before committing: nothing remembered
        committed.add(id);
        return send(200, { ok: true }, date);
      }
      if (path.startsWith('/id-applied')) {
        committed.add(id); // committed, then the answer is lost
        if (n === 1) return void req.socket.destroy();
        return send(200, { ok: true, attempt: n }, date);
      }
      if (path.startsWith('/id-first-replay')) return refuse('replayed request (X-Trade-Id already used)');
      if (path.startsWith('/id-revoked')) return refuse('unknown or revoked EA key');
      if (path.startsWith('/clock')) return (committed.add(id), send(200, { ok: true }, date));
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
  clockOffset: number;
  resynced: boolean;
  appliedEarlier: boolean;
  again: { ok: boolean; status: number; attempts: number; resynced: boolean }[];
}

async function call(
  mode: 'json' | 'signed',
  method: string,
  url: string,
  json = '',
  attempts = 3,
  allow = '',
  extra: { skew?: number; calls?: number; idempotent?: boolean } = {},
): Promise<Outcome> {
  const args = [mode, method, url, json, secret, 'acc-1', String(attempts), allow, String(extra.skew ?? 0), String(extra.calls ?? 1), extra.idempotent === false ? '0' : '1'];
  const result = await runHostProgram(exe, args, { files: mkTmp() });
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
    clockOffset: Number(lines[3]!.split(' ')[1]),
    resynced: lines[3]!.split(' ')[2] === '1',
    appliedEarlier: lines[3]!.split(' ')[3] === '1',
    again: lines.filter((l) => l.startsWith('again ')).map((l) => {
      const [ok, status, attempts, resynced] = l.split(' ').slice(1).map(Number);
      return { ok: ok === 1, status: status!, attempts: attempts!, resynced: resynced === 1 };
    }),
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

  it('signs every attempt afresh (same X-Trade-Id, fresh timestamp), so the server verifies the retry', async () => {
    const out = await call('signed', 'POST', `${base}/signed-1`, '{"trades":[]}');
    expect(out).toMatchObject({ ok: true, status: 200, attempts: 2 });
    const requests = seen.filter((s) => s.path === '/signed-1');
    expect(requests).toHaveLength(2);
    expect(requests.every((r) => r.verified)).toBe(true);
    expect(requests[0]!.headers['x-trade-id']).toBe(requests[1]!.headers['x-trade-id']);
    expect(requests[1]!.headers['x-account-id']).toBe('acc-1');
    // The simulated clock moved by the backoff; the timestamp is signed per attempt.
    expect(requests[1]!.headers['x-trade-timestamp']).toBe(String(1_763_720_100 + Math.floor(out.sleeps[0]! / 1000)));
  });

  const ids = (path: string) => seen.filter((s) => s.path === path).map((s) => String(s.headers['x-trade-id']));

  it('retries a 503 under the same X-Trade-Id and body', async () => {
    const out = await call('signed', 'POST', `${base}/id-503-1`, '{"trades":[1]}');
    expect(out).toMatchObject({ ok: true, status: 200, attempts: 2, resynced: false });
    const requests = seen.filter((s) => s.path === '/id-503-1');
    expect(requests.map((r) => r.verified)).toEqual([true, true]);
    expect(new Set(ids('/id-503-1')).size).toBe(1);
    expect(requests[0]!.body.equals(requests[1]!.body)).toBe(true);
  });

  it('retries after no answer under the same X-Trade-Id (the server had committed nothing)', async () => {
    const out = await call('signed', 'POST', `${base}/id-lost-1`, '{"trades":[2]}');
    expect(out).toMatchObject({ ok: true, status: 200, attempts: 2 });
    expect(ids('/id-lost-1')).toHaveLength(2);
    expect(new Set(ids('/id-lost-1')).size).toBe(1);
    expect(out.prints.some((p) => /^WARN POST .*: no response \(error \d+\), attempt 1 of 3, retrying in \d+ ms$/.test(p))).toBe(true);
  });

  it('a replayed-id 401 after a lost answer: resent once under a fresh id (idempotent), or counted as applied (not idempotent)', async () => {
    const out = await call('signed', 'POST', `${base}/id-applied-1`, '{"trades":[3]}');
    expect(out).toMatchObject({ ok: true, status: 200, attempts: 3, appliedEarlier: false });
    const sent = ids('/id-applied-1');
    expect(sent).toHaveLength(3);
    expect(sent[1]).toBe(sent[0]); // the retry: same id, refused as replayed
    expect(sent[2]).not.toBe(sent[0]); // then a fresh one
    expect(out.prints.some((p) => p.includes(`request ${sent[0]} was applied but its answer was lost; sending it again as ${sent[2]}`))).toBe(true);

    const once = await call('signed', 'POST', `${base}/id-applied-2`, '{"session_id":"s"}', 3, '', { idempotent: false });
    expect(once).toMatchObject({ ok: false, status: 401, attempts: 2, appliedEarlier: true });
    expect(new Set(ids('/id-applied-2')).size).toBe(1);
  });

  it('a replayed-id 401 on a first attempt, and any other 401, are returned at once', async () => {
    const replay = await call('signed', 'POST', `${base}/id-first-replay-1`, '{}');
    expect(replay).toMatchObject({ ok: false, status: 401, attempts: 1, sleeps: [], appliedEarlier: false });
    const revoked = await call('signed', 'POST', `${base}/id-revoked-1`, '{}');
    expect(revoked).toMatchObject({ ok: false, status: 401, attempts: 1, sleeps: [], resynced: false, clockOffset: 0 });
  });

  it.each([
    ['10 minutes fast', 600],
    ['10 minutes slow', -600],
  ])('a clock %s: one 401 for the timestamp, the offset from the Date header, the same request signed again; later requests use it', async (_name, skew) => {
    const path = `/clock-${skew}`;
    const out = await call('signed', 'POST', `${base}${path}`, '{"trades":[]}', 3, '', { skew, calls: 2 });
    expect(out).toMatchObject({ ok: true, status: 200, attempts: 2, sleeps: [], resynced: true, clockOffset: -skew });
    expect(out.again).toEqual([{ ok: true, status: 200, attempts: 1, resynced: false }]);
    const requests = seen.filter((s) => s.path === path);
    expect(requests.map((r) => r.verified)).toEqual([false, true, true]);
    expect(requests[1]!.headers['x-trade-id']).toBe(requests[0]!.headers['x-trade-id']); // nothing was stored for the refused one
    expect(requests.map((r) => Number(r.headers['x-trade-timestamp']))).toEqual([SERVER_NOW + skew, SERVER_NOW, SERVER_NOW]);
    expect(out.prints.filter((p) => p.startsWith('WARN'))).toHaveLength(1);
    expect(out.prints.find((p) => p.startsWith('WARN'))).toContain(`this computer's clock is 600 s ${skew > 0 ? 'ahead of' : 'behind'} the backend's`);
  });

  it('a timestamp 401 without a Date header or server_time is returned as it is', async () => {
    const out = await call('signed', 'POST', `${base}/nodate-1`, '{}', 3, '', { skew: 900 });
    expect(out).toMatchObject({ ok: false, status: 401, attempts: 1, resynced: false, clockOffset: 0 });
  });
});
