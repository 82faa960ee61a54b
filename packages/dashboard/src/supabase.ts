// The one supabase-js client of the page: Auth (the session is the only thing the page keeps, in
// localStorage as supabase-js does), Edge Functions and Realtime all go through it.
import { createClient, type SupabaseClient } from '@supabase/supabase-js';
import type { DashboardConfig } from './config.ts';

let client: SupabaseClient | undefined;

export function initSupabase(config: DashboardConfig): SupabaseClient {
  client = createClient(config.supabaseUrl, config.publishableKey, {
    auth: { persistSession: true, autoRefreshToken: true, detectSessionInUrl: false },
    realtime: { heartbeatIntervalMs: 15_000 },
  });
  return client;
}

export function supabase(): SupabaseClient {
  if (!client) throw new Error('supabase-js is not initialised yet');
  return client;
}
