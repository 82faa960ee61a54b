// Live updates: the user's private Realtime topic `user:<uuid>` (Broadcast from Database; event =
// table name). Realtime delivers at most once, so every view also reconciles from the API: when the
// channel (re)subscribes, when a relevant event arrives, on a timer and when the tab regains focus.
import type { RealtimeChannel, SupabaseClient } from '@supabase/supabase-js';

/** The events the database triggers send on `user:<uuid>` (one per table). */
export const LIVE_EVENTS = [
  'trading_accounts',
  'trading_signals',
  'positions',
  'mt5_sessions',
  'closed_trades',
  'cashback_ledger',
  'notifications',
] as const;
export type LiveEvent = (typeof LIVE_EVENTS)[number];

export type LiveStatus = 'connecting' | 'live' | 'offline';
/** A table event, or `subscribed`: the channel (re)joined and anything may have been missed. */
export type LiveSignal = { kind: 'event'; event: string; payload: unknown } | { kind: 'subscribed' };
type Listener = (signal: LiveSignal) => void;

export class LiveFeed {
  status: LiveStatus = 'connecting';
  private channel: RealtimeChannel | undefined;
  private readonly listeners = new Set<Listener>();
  private readonly statusListeners = new Set<(s: LiveStatus) => void>();

  constructor(
    private readonly client: SupabaseClient,
    readonly userId: string,
  ) {}

  async start(): Promise<void> {
    // A private channel is authorised by RLS with the user's token: hand it to Realtime first.
    await this.client.realtime.setAuth();
    const channel = this.client.channel(`user:${this.userId}`, { config: { private: true } });
    channel.on('broadcast', { event: '*' }, (message) => this.emit({ kind: 'event', event: String(message.event), payload: message.payload }));
    channel.subscribe((status) => {
      if (status === 'SUBSCRIBED') {
        this.setStatus('live');
        this.emit({ kind: 'subscribed' });
      } else if (status === 'CHANNEL_ERROR' || status === 'TIMED_OUT' || status === 'CLOSED') {
        this.setStatus('offline');
      }
    });
    this.channel = channel;
  }

  async stop(): Promise<void> {
    if (this.channel) await this.client.removeChannel(this.channel);
    this.channel = undefined;
    this.listeners.clear();
    this.statusListeners.clear();
  }

  subscribe(listener: Listener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  onStatus(listener: (s: LiveStatus) => void): () => void {
    this.statusListeners.add(listener);
    return () => this.statusListeners.delete(listener);
  }

  private setStatus(status: LiveStatus) {
    this.status = status;
    for (const l of this.statusListeners) l(status);
  }

  private emit(signal: LiveSignal) {
    for (const l of this.listeners) l(signal);
  }
}
