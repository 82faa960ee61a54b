// The ceiling of the EA hot path (bench/ea-hot-path.bench.test.ts): what any request served by this
// stack costs before it does any work of its own. A function app built like every
// functions/<name>/index.ts (createEdgeDeps from the same environment, createFunctionApp: request id,
// JSON log line, CORS, body limit, error shape) with one route, `GET /ceiling/select1`, that sends a
// bare `select 1` through the same @rubi/db adapter and pool, the same way the hot path sends its one
// statement (`db.query(asOwner(), ...)`: one statement, no transaction). No authentication, no
// validation, no work. Served the way the e2e stack serves the functions (bench/support/deno-entry.ts).
import { asOwner } from '@rubi/db';
import { createEdgeDeps, createFunctionApp } from '@rubi/edge';

// tsc has no Deno globals (functions/*/index.ts are excluded from it); this file only runs under Deno.
declare const Deno: {
  serve(handler: (request: Request) => Response | Promise<Response>): unknown;
  env: { toObject(): Record<string, string> };
};

const deps = await createEdgeDeps(Deno.env.toObject());
const app = createFunctionApp('ceiling', deps);
app.get('/select1', async (c) => {
  const [row] = await deps.db.query<{ one: number }>(asOwner(), 'select 1 as one');
  return c.json({ one: row?.one ?? null }, 200);
});
Deno.serve(app.fetch);
