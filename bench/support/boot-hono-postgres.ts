// A reference of the boot benchmark (bench/boot.bench.test.ts): Hono and postgres.js only, with the
// pool options of packages/edge/src/deps.ts; `GET /x` runs `select 1` in a transaction, as
// `GET /<name>/health` does. What the database driver alone adds to the bare app (boot-bare-hono.ts).
import { Hono } from 'hono';
import postgres from 'postgres';

// tsc has no Deno globals (functions/*/index.ts are excluded from it); this file only runs under Deno.
declare const Deno: {
  serve(handler: (request: Request) => Response | Promise<Response>): unknown;
  env: { get(name: string): string | undefined };
};

const sql = postgres(Deno.env.get('SUPABASE_DB_URL') ?? '', { prepare: false, max: 4, onnotice: () => {} });

const app = new Hono().get('/x', async (c) => {
  await sql.begin((tx) => tx.unsafe('select 1'));
  return c.text('ok');
});
Deno.serve(app.fetch);
