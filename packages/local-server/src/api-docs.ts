import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Hono } from 'hono';

/**
 * An interactive API reference at /docs: Swagger UI (served from the swagger-ui-dist package, so
 * it works offline) with a selector over every function's OpenAPI document.
 */
export function createApiDocs(repoRoot: string, functionNames: readonly string[]): Hono {
  const assets = join(repoRoot, 'node_modules', 'swagger-ui-dist');
  const app = new Hono();
  const urls = functionNames.map((name) => ({ name, url: `/functions/v1/${name}/openapi.json` }));
  app.get('/docs', (c) =>
    c.html(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Rubi MT Bridge API</title>
<link rel="stylesheet" href="/docs/assets/swagger-ui.css"></head>
<body><div id="swagger-ui"></div>
<script src="/docs/assets/swagger-ui-bundle.js"></script>
<script src="/docs/assets/swagger-ui-standalone-preset.js"></script>
<script>
window.ui = SwaggerUIBundle({
  urls: ${JSON.stringify(urls)},
  dom_id: '#swagger-ui',
  presets: [SwaggerUIBundle.presets.apis, SwaggerUIStandalonePreset],
  layout: 'StandaloneLayout',
});
</script></body></html>`),
  );
  const types: Record<string, string> = { css: 'text/css', js: 'application/javascript', png: 'image/png' };
  app.get('/docs/assets/:file{[a-z0-9._-]+}', async (c) => {
    const file = c.req.param('file');
    try {
      const body = await readFile(join(assets, file));
      return c.body(body, 200, { 'content-type': types[file.split('.').pop() ?? ''] ?? 'application/octet-stream' });
    } catch {
      return c.notFound();
    }
  });
  return app;
}
