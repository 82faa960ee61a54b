// Supabase Edge Function entry point: the only file that touches Deno.*.
import { createEdgeDeps } from '@rubi/edge';
import { createAccountsApp } from './app.ts';

const app = createAccountsApp(await createEdgeDeps(Deno.env.toObject()));
Deno.serve(app.fetch);
