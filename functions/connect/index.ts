// Supabase Edge Function entry point: the only file that touches Deno.*.
import { createEdgeDeps } from '@rubi/edge';
import { createConnectApp } from './app.ts';

const app = createConnectApp(await createEdgeDeps(Deno.env.toObject()));
Deno.serve(app.fetch);
