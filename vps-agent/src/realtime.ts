import type { RealtimeChannel, SupabaseClient } from '@supabase/supabase-js';
import type { Logger } from './log.ts';

/**
 * The doorbell: a public Realtime Broadcast topic `vps:doorbell` on which the database rings
 * `account_pending` (no payload) whenever an account enters the queue. It only makes the agent
 * faster: delivery is at most once, so the agent also reconciles on every (re)subscribe and on a
 * timer. supabase-js uses Node's global WebSocket (Node 22 and later), as in a browser.
 * supabase-js is loaded only when Realtime is configured (a polling-only agent never loads it).
 */

export const DOORBELL_TOPIC = 'vps:doorbell';
export const DOORBELL_EVENT = 'account_pending';

export interface Doorbell {
  close(): Promise<void>;
}

export async function subscribeDoorbell(options: {
  supabaseUrl: string;
  publishableKey: string;
  log: Logger;
  /** 'doorbell' for a ring, 'subscribed' for each (re)subscribe. */
  onWake: (reason: 'doorbell' | 'subscribed') => void;
}): Promise<Doorbell> {
  const { createClient } = await import('@supabase/supabase-js');
  const log = options.log.child({ component: 'realtime' });
  const client: SupabaseClient = createClient(options.supabaseUrl, options.publishableKey, {
    auth: { persistSession: false, autoRefreshToken: false, detectSessionInUrl: false },
  });
  const channel: RealtimeChannel = client.channel(DOORBELL_TOPIC, { config: { broadcast: { self: false }, private: false } });
  channel.on('broadcast', { event: DOORBELL_EVENT }, () => options.onWake('doorbell'));
  let lastStatus = '';
  channel.subscribe((status, error) => {
    if (status === 'SUBSCRIBED') {
      log.info({ topic: DOORBELL_TOPIC }, lastStatus ? 'doorbell resubscribed' : 'listening to the doorbell');
      options.onWake('subscribed');
    } else if (status !== lastStatus) {
      // supabase-js rejoins by itself with backoff; polling covers the gap.
      log.warn({ topic: DOORBELL_TOPIC, status, err: error }, 'doorbell subscription interrupted; polling continues');
    }
    lastStatus = status;
  });
  return {
    async close() {
      try {
        await client.removeAllChannels();
        client.realtime.disconnect();
      } catch (error) {
        log.debug({ err: error }, 'closing realtime');
      }
    },
  };
}
