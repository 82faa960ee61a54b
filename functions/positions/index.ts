// Supabase Edge Function entry point: the only file that touches Deno.*.
import { createEdgeDeps } from '@rubi/edge';
import { createPositionsApp } from './app.ts';

const app = createPositionsApp(await createEdgeDeps(Deno.env.toObject()));
Deno.serve(app.fetch);
