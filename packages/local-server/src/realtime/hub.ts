import { asOwner, type Db, type JwtClaims } from '@rubi/db';
import type { Logger } from '@rubi/edge';
import type { Policies } from './authorization.ts';
import { Connection } from './connection.ts';
import { databaseBroadcast, encodeFrame, encodeUserBroadcast, EVENTS, type UserBroadcast, type Vsn } from './protocol.ts';
import type { RealtimeSocket } from './send-queue.ts';
import type { TokenVerifier } from './tokens.ts';

/** The NOTIFY channel of supabase/platform/31_realtime_notify.sql; the payload is a realtime.messages id. */
export const NOTIFY_CHANNEL = 'realtime_messages';

export type Listen = (channel: string, callback: (payload: string) => void) => Promise<() => Promise<void>>;

export interface RealtimeHubOptions {
  db: Db;
  verifyToken: TokenVerifier;
  /** LISTEN on the database (PGlite's `listen`); without it only client broadcasts flow. */
  listen?: Listen;
  logger?: Logger;
  /** A socket that sends nothing (not even a heartbeat) for this long is closed. Default 60 s. */
  idleTimeoutMs?: number;
  /** Frames a slow socket may fall behind before it is closed. Default 1000. */
  maxQueuedFrames?: number;
  /** Default 1 MiB. */
  highWaterBytes?: number;
  /** Bytes a slow socket may fall behind before it is closed. Default 16 MiB. */
  maxQueuedBytes?: number;
  /** Channels one socket may be joined to at once (Realtime's max_channels_per_client). Default 100. */
  maxChannelsPerClient?: number;
  now?: () => number;
}

export interface PresenceEntry {
  key: string;
  meta: Record<string, unknown> & { phx_ref: string };
}

/** One socket's membership of one channel (a successful phx_join). */
export interface Member {
  conn: Connection;
  /** As the client names it: `realtime:<subtopic>`. */
  topic: string;
  subTopic: string;
  /** Private and public channels of the same name are different channels. */
  channelKey: string;
  joinRef: string | null;
  private: boolean;
  token: string | undefined;
  claims: JwtClaims;
  /** Null on public channels (everyone may read and write). */
  policies: Policies | null;
  self: boolean;
  ack: boolean;
  presenceKey: string;
  presenceEnabled: boolean;
  presence: PresenceEntry | undefined;
  expiryTimer: ReturnType<typeof setTimeout> | undefined;
}

export interface HubStats {
  connections: number;
  channels: number;
  members: number;
}

interface MessageRow {
  id: string;
  topic: string;
  event: string | null;
  payload: unknown;
  private: boolean | null;
  extension: string;
}

export function channelKey(isPrivate: boolean, subTopic: string): string {
  return `${isPrivate ? 'private' : 'public'}:${subTopic}`;
}

/**
 * The channels of every socket, and the fan-out: database messages arrive as NOTIFY of a row id,
 * are read once (as the owner) and sent to the members of the row's channel; client broadcasts and
 * presence go from a member to the others of its channel.
 */
export class RealtimeHub {
  readonly db: Db;
  readonly verifyToken: TokenVerifier;
  readonly logger: Logger | undefined;
  readonly now: () => number;
  readonly maxQueuedFrames: number;
  readonly highWaterBytes: number;
  readonly maxQueuedBytes: number;
  readonly maxChannelsPerClient: number;
  private readonly idleTimeoutMs: number;
  private readonly channels = new Map<string, Set<Member>>();
  private readonly connections = new Set<Connection>();
  private readonly pending: string[] = [];
  private draining: Promise<void> | undefined;
  private unlisten: (() => Promise<void>) | undefined;
  private idleTimer: ReturnType<typeof setInterval> | undefined;
  private closed = false;

  constructor(private readonly options: RealtimeHubOptions) {
    this.db = options.db;
    this.verifyToken = options.verifyToken;
    this.logger = options.logger;
    this.now = options.now ?? (() => Date.now());
    this.idleTimeoutMs = options.idleTimeoutMs ?? 60_000;
    this.maxQueuedFrames = options.maxQueuedFrames ?? 1000;
    this.highWaterBytes = options.highWaterBytes ?? 1024 * 1024;
    this.maxQueuedBytes = options.maxQueuedBytes ?? 16 * 1024 * 1024;
    this.maxChannelsPerClient = options.maxChannelsPerClient ?? 100;
  }

  async start(): Promise<void> {
    if (this.options.listen) this.unlisten = await this.options.listen(NOTIFY_CHANNEL, (id) => this.notified(id));
    this.idleTimer = setInterval(() => this.closeIdle(), Math.max(50, Math.min(this.idleTimeoutMs / 4, 5000)));
  }

  /** A socket that passed the upgrade checks. `token` is what the socket connected with (its apikey). */
  connect(socket: RealtimeSocket, vsn: Vsn, token: string | undefined): Connection {
    const conn = new Connection(this, socket, vsn, token);
    if (this.closed) {
      conn.close(1000, 'server shutting down');
      return conn;
    }
    this.connections.add(conn);
    return conn;
  }

  /** @internal Connection bookkeeping. */
  forget(conn: Connection): void {
    this.connections.delete(conn);
  }

  stats(): HubStats {
    let members = 0;
    for (const set of this.channels.values()) members += set.size;
    return { connections: this.connections.size, channels: this.channels.size, members };
  }

  /** Closes every socket, as a server restart would (clients reconnect and rejoin). */
  dropAll(code = 1000, reason = 'server dropped the connection'): void {
    for (const conn of [...this.connections]) conn.close(code, reason);
  }

  async close(): Promise<void> {
    this.closed = true;
    if (this.idleTimer !== undefined) clearInterval(this.idleTimer);
    this.dropAll(1000, 'server shutting down');
    const unlisten = this.unlisten;
    this.unlisten = undefined;
    await this.draining?.catch(() => undefined);
    await unlisten?.().catch(() => undefined);
  }

  // --- membership ----------------------------------------------------------------------------

  add(member: Member): void {
    let set = this.channels.get(member.channelKey);
    if (!set) this.channels.set(member.channelKey, (set = new Set()));
    set.add(member);
  }

  remove(member: Member): void {
    if (member.expiryTimer !== undefined) clearTimeout(member.expiryTimer);
    member.expiryTimer = undefined;
    const set = this.channels.get(member.channelKey);
    if (!set?.delete(member)) return;
    if (set.size === 0) this.channels.delete(member.channelKey);
    if (member.presence) {
      const left = member.presence;
      member.presence = undefined;
      this.presenceDiff(member.channelKey, {}, { [left.key]: { metas: [left.meta] } });
    }
  }

  // --- client broadcasts and presence ---------------------------------------------------------

  userBroadcast(from: Member, broadcast: UserBroadcast): void {
    for (const to of this.channels.get(from.channelKey) ?? []) {
      if (to === from && !from.self) continue;
      if (to.policies && !to.policies.broadcast.read) continue;
      const frame = encodeUserBroadcast(to.conn.vsn, to.topic, broadcast);
      if (frame !== undefined) to.conn.send(frame);
    }
  }

  presenceState(key: string): Record<string, { metas: PresenceEntry['meta'][] }> {
    const state: Record<string, { metas: PresenceEntry['meta'][] }> = {};
    for (const m of this.channels.get(key) ?? []) {
      if (!m.presence) continue;
      (state[m.presence.key] ??= { metas: [] }).metas.push(m.presence.meta);
    }
    return state;
  }

  presenceDiff(key: string, joins: Record<string, { metas: unknown[] }>, leaves: Record<string, { metas: unknown[] }>): void {
    for (const to of this.channels.get(key) ?? []) {
      if (!to.presenceEnabled || (to.policies && !to.policies.presence.read)) continue;
      to.conn.send(encodeFrame(to.conn.vsn, { joinRef: to.joinRef, ref: null, topic: to.topic, event: EVENTS.presenceDiff, payload: { joins, leaves } }));
    }
  }

  // --- database messages ----------------------------------------------------------------------

  private notified(id: string): void {
    if (this.closed) return;
    // Nobody listening: nothing to read (most of the time on a developer's machine).
    if (this.channels.size === 0) return;
    this.pending.push(id);
    this.scheduleDrain();
  }

  private scheduleDrain(): void {
    if (this.draining || this.closed) return;
    // Never query from inside the notification callback: PGlite calls it while it finishes
    // another statement on its single session.
    this.draining = new Promise<void>((resolve) => setTimeout(resolve, 0))
      .then(() => this.drain())
      .finally(() => {
        this.draining = undefined;
        if (this.pending.length > 0) this.scheduleDrain();
      });
  }

  private async drain(): Promise<void> {
    while (this.pending.length > 0 && !this.closed) {
      const ids = this.pending.splice(0, 200);
      let rows: MessageRow[];
      try {
        rows = await this.db.query<MessageRow>(
          asOwner(),
          `select id::text as id, topic, event, payload, private, extension from realtime.messages where id = any($1::uuid[])`,
          [ids],
        );
      } catch (error) {
        this.logger?.log('warn', 'realtime: reading messages failed', { err: error instanceof Error ? error.message : String(error), count: ids.length });
        continue;
      }
      const order = new Map(ids.map((id, i) => [id, i]));
      rows.sort((a, b) => (order.get(a.id) ?? 0) - (order.get(b.id) ?? 0));
      for (const row of rows) this.deliver(row);
    }
  }

  private deliver(row: MessageRow): void {
    if (row.extension !== 'broadcast') return;
    const isPrivate = row.private !== false;
    for (const to of this.channels.get(channelKey(isPrivate, row.topic)) ?? []) {
      if (to.policies && !to.policies.broadcast.read) continue;
      to.conn.send(databaseBroadcast(to.conn.vsn, to.topic, row));
    }
  }

  private closeIdle(): void {
    const cutoff = this.now() - this.idleTimeoutMs;
    for (const conn of [...this.connections]) {
      if (conn.lastSeen < cutoff) conn.close(4000, 'heartbeat timeout');
    }
  }
}
