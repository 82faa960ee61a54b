// The floor of the boot benchmark (bench/boot.bench.test.ts): what any function built on this stack
// pays before doing anything of its own. Hono, zod (one schema) and postgres.js with the pool options
// of packages/edge/src/deps.ts; `GET /x` validates its query with zod and runs `select 1` in a
// transaction, as `GET /<name>/health` does. Served the way every functions/<name>/index.ts is.
import { Hono } from 'hono';
import postgres from 'postgres';
import { z } from 'zod';

// tsc has no Deno globals (functions/*/index.ts are excluded from it); this file only runs under Deno.
declare const Deno: {
  serve(handler: (request: Request) => Response | Promise<Response>): unknown;
  env: { get(name: string): string | undefined };
};

const sql = postgres(Deno.env.get('SUPABASE_DB_URL') ?? '', { prepare: false, max: 4, onnotice: () => {} });
const Query = z.object({ q: z.string().optional() });

const app = new Hono().get('/x', async (c) => {
  const query = Query.parse(c.req.query());
  await sql.begin((tx) => tx.unsafe('select 1'));
  return c.text(`ok${query.q ?? ''}`);
});
Deno.serve(app.fetch);
