import { readFile, stat } from 'node:fs/promises';
import { extname, join, normalize, sep } from 'node:path';
import { Hono } from 'hono';

/**
 * The reference dashboard (packages/dashboard, built to `dist/` by `npm install`) at `/`, as any
 * static host would serve it: files with their content types, hashed assets cached for good, and
 * the SPA fallback (a page request for an unknown path gets index.html). `GET /` with
 * `Accept: application/json` keeps answering the server's JSON description (`info`), which
 * `npm run demo` reads. The dashboard finds the backend on its own origin: no configuration.
 */

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.map': 'application/json; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.jpg': 'image/jpeg',
  '.ico': 'image/x-icon',
  '.webp': 'image/webp',
  '.woff2': 'font/woff2',
  '.txt': 'text/plain; charset=utf-8',
};

export function contentTypeOf(path: string): string {
  return TYPES[extname(path).toLowerCase()] ?? 'application/octet-stream';
}

/** True when the client asks for JSON rather than a page (curl with -H accept, fetch, the demo). */
export function wantsJson(accept: string | undefined): boolean {
  if (!accept) return false;
  const a = accept.toLowerCase();
  return a.includes('application/json') && !a.includes('text/html');
}

/** The file under `root` a URL path names, or undefined when it would leave the folder. */
export function resolveUnder(root: string, urlPath: string): string | undefined {
  let decoded: string;
  try {
    decoded = decodeURIComponent(urlPath);
  } catch {
    return undefined;
  }
  if (decoded.includes('\0')) return undefined;
  const full = normalize(join(root, decoded));
  return full === root || full.startsWith(root.endsWith(sep) ? root : root + sep) ? full : undefined;
}

async function readIfFile(path: string): Promise<Uint8Array<ArrayBuffer> | undefined> {
  try {
    if (!(await stat(path)).isFile()) return undefined;
    return new Uint8Array(await readFile(path));
  } catch {
    return undefined;
  }
}

const NOT_BUILT = `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Rubi MT Bridge</title></head>
<body style="font-family:system-ui;max-width:40rem;margin:3rem auto">
<h1>Rubi MT Bridge (local)</h1>
<p>The dashboard is not built. <code>npm install</code> builds it (or <code>npm run build -w @rubi/dashboard</code>); then reload.</p>
<p>The API is up: <a href="/docs">API reference</a> · <a href="/health">health</a>.</p></body></html>`;

export function createDashboardStatic(distDir: string, info: () => unknown): Hono {
  const root = normalize(distDir);
  const app = new Hono();

  const page = async (status: 200 | 404 = 200) => {
    const html = await readIfFile(join(root, 'index.html'));
    // index.html names the hashed assets of the current build: never cache it.
    const headers = { 'content-type': TYPES['.html']!, 'cache-control': 'no-cache' };
    return html ? new Response(html, { status, headers }) : new Response(NOT_BUILT, { status: 200, headers });
  };

  app.get('/', async (c) => (wantsJson(c.req.header('accept')) ? c.json(info() as object) : await page()));

  app.get('*', async (c) => {
    const path = c.req.path;
    const file = resolveUnder(root, path);
    const body = file ? await readIfFile(file) : undefined;
    if (body) {
      const immutable = path.startsWith('/assets/');
      return new Response(body, {
        headers: { 'content-type': contentTypeOf(path), 'cache-control': immutable ? 'public, max-age=31536000, immutable' : 'no-cache' },
      });
    }
    // SPA fallback for page requests only: a missing script, image or config.json stays a 404.
    if (extname(path) === '' && (c.req.header('accept') ?? '').includes('text/html')) return page();
    return c.json({ error: { code: 'not_found', message: `no route ${path}` } }, 404);
  });
  return app;
}
