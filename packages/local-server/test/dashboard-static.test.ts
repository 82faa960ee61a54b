// The dashboard's static build at `/` of the local server: content types, caching, the SPA
// fallback, the JSON description for clients asking for JSON, and no path outside the build.
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { contentTypeOf, createDashboardStatic, resolveUnder, wantsJson } from '../src/dashboard-static.ts';

let dir: string;
let app: ReturnType<typeof createDashboardStatic>;
const INFO = { name: 'Rubi MT Bridge (local)', data_dir: null };

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'rubi-dashboard-'));
  await mkdir(join(dir, 'dist', 'assets'), { recursive: true });
  await writeFile(join(dir, 'dist', 'index.html'), '<!doctype html><title>dash</title>');
  await writeFile(join(dir, 'dist', 'assets', 'index-abc.js'), 'console.log(1)');
  await writeFile(join(dir, 'dist', 'assets', 'index-abc.css'), 'body{}');
  await writeFile(join(dir, 'secret.txt'), 'outside the build');
  app = createDashboardStatic(join(dir, 'dist'), () => INFO);
});
afterAll(() => rm(dir, { recursive: true, force: true }));

const get = (path: string, accept?: string) => app.request(path, accept ? { headers: { accept } } : {});

describe('dashboard static files', () => {
  it('serves index.html at / to a browser, uncached', async () => {
    const res = await get('/', 'text/html,application/xhtml+xml,*/*;q=0.8');
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('text/html; charset=utf-8');
    expect(res.headers.get('cache-control')).toBe('no-cache');
    expect(await res.text()).toContain('<title>dash</title>');
  });

  it('answers the JSON description at / to a client asking for JSON', async () => {
    const res = await get('/', 'application/json');
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual(INFO);
  });

  it('serves hashed assets with their content type, cached for good', async () => {
    const js = await get('/assets/index-abc.js');
    expect(js.headers.get('content-type')).toBe('text/javascript; charset=utf-8');
    expect(js.headers.get('cache-control')).toContain('immutable');
    expect(await js.text()).toBe('console.log(1)');
    expect((await get('/assets/index-abc.css')).headers.get('content-type')).toBe('text/css; charset=utf-8');
  });

  it('falls back to index.html for page paths, but not for missing files', async () => {
    const deep = await get('/accounts/123', 'text/html');
    expect(deep.status).toBe(200);
    expect(await deep.text()).toContain('<title>dash</title>');
    expect((await get('/assets/missing.js', 'text/html')).status).toBe(404);
    expect((await get('/config.json', 'application/json')).status).toBe(404);
    expect((await get('/accounts/123', 'application/json')).status).toBe(404);
  });

  it('never serves a file outside the build', async () => {
    for (const path of ['/../secret.txt', '/%2e%2e/secret.txt', '/assets/%2e%2e/%2e%2e/secret.txt', '/%00']) {
      const res = await get(path);
      expect(res.status, path).toBe(404);
      expect(await res.text()).not.toContain('outside the build');
    }
    expect(resolveUnder('/srv/dist', '/../x')).toBeUndefined();
    expect(resolveUnder('/srv/dist', '/a/b.js')).toBe('/srv/dist/a/b.js');
  });

  it('says how to build the dashboard when it is not built', async () => {
    const bare = createDashboardStatic(join(dir, 'nowhere'), () => INFO);
    const res = await bare.request('/', { headers: { accept: 'text/html' } });
    expect(res.status).toBe(200);
    expect(await res.text()).toContain('npm install');
    expect(await (await bare.request('/', { headers: { accept: 'application/json' } })).json()).toEqual(INFO);
  });

  it('knows the content types and what asks for JSON', () => {
    expect(contentTypeOf('/a.svg')).toBe('image/svg+xml');
    expect(contentTypeOf('/a.unknown')).toBe('application/octet-stream');
    expect(wantsJson('application/json')).toBe(true);
    expect(wantsJson('text/html,application/json')).toBe(false);
    expect(wantsJson(undefined)).toBe(false);
  });
});
