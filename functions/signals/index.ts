// Supabase Edge Function entry point: the only file that touches Deno.*.
import { createEdgeDeps } from '@rubi/edge';
import { createSignalsApp } from './app.ts';

const app = createSignalsApp(await createEdgeDeps(Deno.env.toObject()));
Deno.serve(app.fetch);
