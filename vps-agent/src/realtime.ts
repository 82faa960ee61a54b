import type { RealtimeChannel, SupabaseClient } from '@supabase/supabase-js';
import type { Logger } from './log.ts';

/**
 * The doorbell: a private Realtime Broadcast topic `vps:doorbell` on which the database rings
 * `account_pending` (no payload) whenever an account enters the queue. Only VPS hosts may listen
 * (issue #15): the agent joins with a short-lived token from `POST /vps/realtime-token` (role anon +
 * its host id, signed with a key the project trusts), fetched again before it expires and handed to
 * Realtime on the joined channel. It only makes the agent faster: delivery is at most once, so the
 * agent also reconciles on every (re)subscribe and on a timer, and without a token (the backend has
 * no signing key, or cannot be reached) it polls and asks again later. supabase-js uses Node's
 * global WebSocket (Node 22 and later), as in a browser. supabase-js is loaded only when Realtime is
 * configured (a polling-only agent never loads it).
 */

export const DOORBELL_TOPIC = 'vps:doorbell';
export const DOORBELL_EVENT = 'account_pending';
/** Fetch the next token when this share of the current one's lifetime is left, and at least this early. */
const REFRESH_MARGIN_SHARE = 0.2;
const REFRESH_MARGIN_MIN_MS = 1000;
/** After a failed token fetch, try again this much later. */
export const TOKEN_RETRY_MS = 60_000;

export interface Doorbell {
  close(): Promise<void>;
}

export interface RealtimeToken {
  accessToken: string;
  expiresAt: Date;
}

export async function subscribeDoorbell(options: {
  supabaseUrl: string;
  publishableKey: string;
  log: Logger;
  /** A fresh host token (POST /vps/realtime-token). */
  fetchToken: () => Promise<RealtimeToken>;
  /** 'doorbell' for a ring, 'subscribed' for each (re)subscribe. */
  onWake: (reason: 'doorbell' | 'subscribed') => void;
  retryMs?: number;
}): Promise<Doorbell> {
  const { createClient } = await import('@supabase/supabase-js');
  const log = options.log.child({ component: 'realtime' });
  let token: string | undefined;
  let closed = false;
  let timer: ReturnType<typeof setTimeout> | undefined;
  let channel: RealtimeChannel | undefined;
  const client: SupabaseClient = createClient(options.supabaseUrl, options.publishableKey, {
    auth: { persistSession: false, autoRefreshToken: false, detectSessionInUrl: false },
    // Realtime asks for the token on connect and on every heartbeat; the host's, once there is one.
    accessToken: async () => token ?? options.publishableKey,
  });

  const subscribe = () => {
    channel = client.channel(DOORBELL_TOPIC, { config: { broadcast: { self: false }, private: true } });
    channel.on('broadcast', { event: DOORBELL_EVENT }, () => options.onWake('doorbell'));
    let lastStatus = '';
    channel.subscribe((status, error) => {
      if (status === 'SUBSCRIBED') {
        log.info({ topic: DOORBELL_TOPIC }, lastStatus ? 'doorbell resubscribed' : 'listening to the doorbell');
        options.onWake('subscribed');
      } else if (status !== lastStatus) {
        // supabase-js rejoins by itself with backoff; polling covers the gap.
        log.warn({ topic: DOORBELL_TOPIC, status, err: error?.message }, 'doorbell subscription interrupted; polling continues');
      }
      lastStatus = status;
    });
  };

  const schedule = (ms: number) => {
    if (closed) return;
    timer = setTimeout(() => void refresh(), ms);
    timer.unref?.();
  };

  const refresh = async (): Promise<void> => {
    let next: RealtimeToken;
    try {
      next = await options.fetchToken();
    } catch (error) {
      if (closed) return;
      log.warn(
        { topic: DOORBELL_TOPIC, err: error instanceof Error ? error.message : String(error), retry_in_seconds: (options.retryMs ?? TOKEN_RETRY_MS) / 1000 },
        channel ? 'cannot renew the doorbell token; polling continues' : 'no doorbell token; polling only for now',
      );
      schedule(options.retryMs ?? TOKEN_RETRY_MS);
      return;
    }
    if (closed) return;
    token = next.accessToken;
    // Hands the new token to Realtime (and to the joined channel, which would be closed at expiry).
    await client.realtime.setAuth();
    if (!channel) subscribe();
    const left = next.expiresAt.getTime() - Date.now();
    schedule(Math.max(REFRESH_MARGIN_MIN_MS, left - Math.max(REFRESH_MARGIN_MIN_MS, left * REFRESH_MARGIN_SHARE)));
  };

  await refresh();
  return {
    async close() {
      closed = true;
      if (timer) clearTimeout(timer);
      try {
        await client.removeAllChannels();
        client.realtime.disconnect();
      } catch (error) {
        log.debug({ err: error }, 'closing realtime');
      }
    },
  };
}
