// Supabase Edge Function entry point: the only file that touches Deno.*.
import { createEdgeDeps } from '@rubi/edge';
import { createVpsApp } from './app.ts';

const app = createVpsApp(await createEdgeDeps(Deno.env.toObject()));
Deno.serve(app.fetch);
