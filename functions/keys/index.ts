// Supabase Edge Function entry point: the only file that touches Deno.*.
import { createEdgeDeps } from '@rubi/edge';
import { createKeysApp } from './app.ts';

const app = createKeysApp(await createEdgeDeps(Deno.env.toObject()));
Deno.serve(app.fetch);
