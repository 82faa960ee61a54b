// Supabase Edge Function entry point: the only file that touches Deno.*.
import { createEdgeDeps } from '@rubi/edge';
import { createPingApp } from './app.ts';

const app = createPingApp(await createEdgeDeps(Deno.env.toObject()));
Deno.serve(app.fetch);
