// Supabase Edge Function entry point: the only file that touches Deno.*.
import { createEdgeDeps } from '@rubi/edge';
import { createRegisterApp } from './app.ts';

const app = createRegisterApp(await createEdgeDeps(Deno.env.toObject()));
Deno.serve(app.fetch);
