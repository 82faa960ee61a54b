// The yardstick of the boot benchmark (bench/boot.bench.test.ts): the smallest Hono app, served the way
// every functions/<name>/index.ts is served. Started by bench/support/boot.ts with the same Deno, flags, import
// map (hono from node_modules) and environment as the functions.
import { Hono } from 'hono';

// tsc has no Deno globals (functions/*/index.ts are excluded from it); this file only runs under Deno.
declare const Deno: { serve(handler: (request: Request) => Response | Promise<Response>): unknown };

const app = new Hono().get('/x', (c) => c.text('ok'));
Deno.serve(app.fetch);
