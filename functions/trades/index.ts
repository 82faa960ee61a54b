// Supabase Edge Function entry point: the only file that touches Deno.*.
import { createEdgeDeps } from '@rubi/edge';
import { createTradesApp } from './app.ts';

const app = createTradesApp(await createEdgeDeps(Deno.env.toObject()));
Deno.serve(app.fetch);
