// Supabase Edge Function entry point: the only file that touches Deno.*.
import { createEdgeDeps } from '@rubi/edge';
import { createOpsApp } from './app.ts';

const app = createOpsApp(await createEdgeDeps(Deno.env.toObject()));
Deno.serve(app.fetch);
