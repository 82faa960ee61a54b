import { authorizeTopic, PolicyCheckError, type Policies } from './authorization.ts';
import type { Member, RealtimeHub } from './hub.ts';
import { channelKey } from './hub.ts';
import { decodeFrame, encodeFrame, EVENTS, PHOENIX_TOPIC, ProtocolError, reply, userBroadcastOf, type Inbound, type Vsn } from './protocol.ts';
import { SendQueue, type RealtimeSocket } from './send-queue.ts';

/** What the transport (main.ts, a test's `ws` server) feeds a connection. */
export interface RealtimeConnection {
  receive(data: string | ArrayBuffer | Uint8Array): void;
  /** The socket closed (either side). */
  closed(): void;
}

interface JoinPayload {
  config?: {
    broadcast?: { ack?: unknown; self?: unknown };
    presence?: { key?: unknown; enabled?: unknown };
    postgres_changes?: unknown;
    private?: unknown;
  };
  access_token?: unknown;
}

const TOPIC_PREFIX = 'realtime:';
/** setTimeout's limit (about 24.8 days). */
const MAX_TIMER_MS = 2 ** 31 - 1;

function canRead(p: Policies): boolean {
  return p.broadcast.read || p.presence.read;
}

function unauthorized(subTopic: string): string {
  return `You do not have permissions to read from this Channel topic: ${subTopic}`;
}

/** One WebSocket: its channels, serialised message handling, and its send queue. */
export class Connection implements RealtimeConnection {
  lastSeen: number;
  private readonly members = new Map<string, Member>();
  private readonly queue: SendQueue;
  private chain: Promise<void> = Promise.resolve();
  private isClosed = false;
  private presenceRefs = 0;

  constructor(
    private readonly hub: RealtimeHub,
    private readonly socket: RealtimeSocket,
    readonly vsn: Vsn,
    private readonly socketToken: string | undefined,
  ) {
    this.lastSeen = hub.now();
    this.queue = new SendQueue(socket, { maxFrames: hub.maxQueuedFrames, highWaterBytes: hub.highWaterBytes, maxQueuedBytes: hub.maxQueuedBytes, retryMs: 20 }, () =>
      this.close(4001, 'send queue overflow: the client reads too slowly'),
    );
  }

  send(frame: string | Uint8Array): void {
    if (!this.isClosed) this.queue.push(frame);
  }

  receive(data: string | ArrayBuffer | Uint8Array): void {
    if (this.isClosed) return;
    this.lastSeen = this.hub.now();
    const bytes = typeof data === 'string' ? data : data instanceof Uint8Array ? data : new Uint8Array(data);
    // One message at a time, in order: a join being authorised holds back the pushes behind it.
    this.chain = this.chain
      .then(() => (this.isClosed ? undefined : this.handle(bytes)))
      .catch((error: unknown) => this.hub.logger?.log('warn', 'realtime: message failed', { err: error instanceof Error ? error.message : String(error) }));
  }

  closed(): void {
    if (this.isClosed) return;
    this.isClosed = true;
    this.queue.stop();
    try {
      // Called from the transport's close handler and from timers: nothing may escape from here.
      for (const member of this.members.values()) {
        try {
          this.hub.remove(member);
        } catch (error) {
          this.hub.logger?.log('warn', 'realtime: leaving a channel failed', { err: error instanceof Error ? error.message : String(error) });
        }
      }
    } finally {
      this.members.clear();
      this.hub.forget(this);
    }
  }

  close(code: number, reason: string): void {
    if (this.isClosed) return;
    try {
      this.socket.close(code, reason);
    } catch {
      // already closing
    }
    this.closed();
  }

  private async handle(data: string | Uint8Array): Promise<void> {
    let msg: Inbound;
    try {
      msg = decodeFrame(this.vsn, data);
    } catch (error) {
      // Phoenix drops a socket that sends what it cannot decode.
      this.hub.logger?.log('info', 'realtime: invalid frame, closing the socket', { err: error instanceof ProtocolError ? error.message : String(error) });
      this.close(4400, 'invalid frame');
      return;
    }
    if (msg.topic === PHOENIX_TOPIC && msg.event === EVENTS.heartbeat) {
      this.send(reply(this.vsn, msg, 'ok'));
      return;
    }
    if (msg.event === EVENTS.join) return this.join(msg);

    const member = this.members.get(msg.topic);
    if (!member || (msg.joinRef !== null && member.joinRef !== null && msg.joinRef !== member.joinRef)) {
      if (msg.event === EVENTS.leave) this.send(reply(this.vsn, msg, 'ok'));
      else this.send(reply(this.vsn, msg, 'error', { reason: 'unmatched topic' }));
      return;
    }
    switch (msg.event) {
      case EVENTS.leave:
        this.leave(member);
        this.send(reply(this.vsn, msg, 'ok'));
        return;
      case EVENTS.accessToken:
        return this.refreshToken(member, (msg.payload as { access_token?: unknown } | null)?.access_token);
      case EVENTS.broadcast:
        return this.broadcast(member, msg);
      case EVENTS.presence:
        return this.presence(member, msg);
      default:
        // Realtime ignores events it does not know.
        return;
    }
  }

  // --- join / leave -----------------------------------------------------------------------------

  private async join(msg: Inbound): Promise<void> {
    const refuse = (reason: string) => {
      this.hub.logger?.log('info', 'realtime: join refused', { topic: msg.topic, reason });
      this.send(reply(this.vsn, msg, 'error', { reason }));
    };
    if (!msg.topic.startsWith(TOPIC_PREFIX)) return refuse('unmatched topic');
    const subTopic = msg.topic.slice(TOPIC_PREFIX.length);
    const payload = (msg.payload && typeof msg.payload === 'object' ? msg.payload : {}) as JoinPayload;
    const config = payload.config ?? {};
    if (Array.isArray(config.postgres_changes) && config.postgres_changes.length > 0) {
      return refuse('PostgresChangesNotSupported: the local Realtime serves Broadcast (and Presence) only; use Broadcast from Database');
    }
    const isPrivate = config.private === true;
    const token = typeof payload.access_token === 'string' && payload.access_token !== '' ? payload.access_token : this.socketToken;

    // A second join of the same topic replaces the first, as in Phoenix.
    const previous = this.members.get(msg.topic);
    if (previous) this.leave(previous);
    else if (this.members.size >= this.hub.maxChannelsPerClient) return refuse('ChannelRateLimitReached: Too many channels');

    const check = await this.hub.verifyToken(token);
    if (!check.ok) return refuse(check.reason);
    let policies: Policies | null = null;
    if (isPrivate) {
      try {
        policies = await authorizeTopic(this.hub.db, subTopic, check.claims);
      } catch (error) {
        return refuse(`RlsPolicyError: ${error instanceof PolicyCheckError ? error.message : String(error)}`);
      }
      if (!canRead(policies)) return refuse(`Unauthorized: ${unauthorized(subTopic)}`);
    }
    if (this.isClosed) return;

    const presenceKey = typeof config.presence?.key === 'string' && config.presence.key !== '' ? config.presence.key : crypto.randomUUID();
    const member: Member = {
      conn: this,
      topic: msg.topic,
      subTopic,
      channelKey: channelKey(isPrivate, subTopic),
      joinRef: msg.joinRef ?? msg.ref,
      private: isPrivate,
      token,
      claims: check.claims,
      policies,
      self: config.broadcast?.self === true,
      ack: config.broadcast?.ack === true,
      presenceKey,
      presenceEnabled: config.presence?.enabled === true,
      presence: undefined,
      expiryTimer: undefined,
    };
    this.members.set(msg.topic, member);
    this.hub.add(member);
    this.scheduleExpiry(member, check.exp);
    this.send(reply(this.vsn, msg, 'ok', { postgres_changes: [] }));
    if (member.presenceEnabled && (!policies || policies.presence.read)) {
      this.push(member, EVENTS.presenceState, this.hub.presenceState(member.channelKey));
    }
  }

  private leave(member: Member): void {
    this.members.delete(member.topic);
    this.hub.remove(member);
  }

  /** Ends one channel from the server side: a system message with the reason, then phx_close. */
  private shutdown(member: Member, message: string): void {
    if (this.members.get(member.topic) !== member) return;
    this.hub.logger?.log('info', 'realtime: channel closed by the server', { topic: member.topic, reason: message });
    this.push(member, EVENTS.system, { message, status: 'error', extension: 'system', channel: member.subTopic });
    this.send(encodeFrame(this.vsn, { joinRef: member.joinRef, ref: member.joinRef, topic: member.topic, event: EVENTS.close, payload: {} }));
    this.leave(member);
  }

  private scheduleExpiry(member: Member, exp: number | undefined): void {
    if (member.expiryTimer !== undefined) clearTimeout(member.expiryTimer);
    member.expiryTimer = undefined;
    if (exp === undefined) return;
    const delay = Math.min(Math.max(0, exp * 1000 - this.hub.now()), MAX_TIMER_MS);
    member.expiryTimer = setTimeout(() => {
      member.expiryTimer = undefined;
      if (exp * 1000 > this.hub.now()) return this.scheduleExpiry(member, exp);
      this.shutdown(member, `Token has expired ${Math.max(0, Math.floor((this.hub.now() - exp * 1000) / 1000))} seconds ago`);
    }, delay);
  }

  private async refreshToken(member: Member, accessToken: unknown): Promise<void> {
    if (typeof accessToken !== 'string' || accessToken === '' || accessToken === member.token) return;
    const check = await this.hub.verifyToken(accessToken);
    if (!check.ok) return this.shutdown(member, check.reason.replace(/^InvalidJWTToken: /, ''));
    let policies = member.policies;
    if (member.private) {
      try {
        policies = await authorizeTopic(this.hub.db, member.subTopic, check.claims);
      } catch (error) {
        return this.shutdown(member, `RlsPolicyError: ${error instanceof Error ? error.message : String(error)}`);
      }
      if (!canRead(policies)) return this.shutdown(member, unauthorized(member.subTopic));
    }
    if (this.members.get(member.topic) !== member) return;
    member.token = accessToken;
    member.claims = check.claims;
    member.policies = policies;
    this.scheduleExpiry(member, check.exp);
  }

  // --- broadcast / presence ---------------------------------------------------------------------

  private broadcast(member: Member, msg: Inbound): void {
    const broadcast = userBroadcastOf(msg);
    if (!broadcast) return;
    // Realtime drops a broadcast the policies do not allow, without a reply.
    if (member.policies && !member.policies.broadcast.write) {
      this.hub.logger?.log('info', 'realtime: broadcast not allowed by the policies', { topic: member.topic });
      return;
    }
    this.hub.userBroadcast(member, broadcast);
    if (member.ack) this.send(reply(this.vsn, msg, 'ok'));
  }

  private presence(member: Member, msg: Inbound): void {
    const p = (msg.payload ?? {}) as { event?: unknown; payload?: unknown };
    if (member.policies && !member.policies.presence.write) {
      this.send(reply(this.vsn, msg, 'error', { reason: `Unauthorized: You do not have permissions to track presence on this Channel topic: ${member.subTopic}` }));
      return;
    }
    const previous = member.presence;
    const leaves = previous ? { [previous.key]: { metas: [previous.meta] } } : {};
    if (p.event === 'track') {
      const meta = { ...((p.payload && typeof p.payload === 'object' ? p.payload : {}) as Record<string, unknown>), phx_ref: `${this.hub.now().toString(36)}-${++this.presenceRefs}` };
      member.presence = { key: member.presenceKey, meta };
      this.hub.presenceDiff(member.channelKey, { [member.presenceKey]: { metas: [meta] } }, leaves);
    } else if (p.event === 'untrack') {
      member.presence = undefined;
      if (previous) this.hub.presenceDiff(member.channelKey, {}, leaves);
    } else {
      this.send(reply(this.vsn, msg, 'error', { reason: 'unknown presence event' }));
      return;
    }
    this.send(reply(this.vsn, msg, 'ok'));
  }

  private push(member: Member, event: string, payload: unknown): void {
    this.send(encodeFrame(this.vsn, { joinRef: member.joinRef, ref: null, topic: member.topic, event, payload }));
  }
}
