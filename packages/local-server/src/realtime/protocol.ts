// The Phoenix channel protocol as Supabase Realtime speaks it to supabase-js (realtime-js 2.x,
// @supabase/phoenix), both serializer versions the client offers (`vsn` in the socket URL):
//
//   1.0.0  text frames, a JSON object {join_ref, ref, topic, event, payload}
//   2.0.0  text frames, a JSON array [join_ref, ref, topic, event, payload], plus binary frames
//          for user broadcasts: the client pushes kind 3 (userBroadcastPush) and receives kind 4
//          (userBroadcast); the payload is JSON (encoding 1) or raw bytes (encoding 0).
//
// Pure functions: no sockets, no timers.

export type Vsn = '1.0.0' | '2.0.0';
export const SUPPORTED_VSN: readonly Vsn[] = ['1.0.0', '2.0.0'];

export function isVsn(value: unknown): value is Vsn {
  return typeof value === 'string' && (SUPPORTED_VSN as readonly string[]).includes(value);
}

export const EVENTS = {
  join: 'phx_join',
  leave: 'phx_leave',
  reply: 'phx_reply',
  close: 'phx_close',
  error: 'phx_error',
  heartbeat: 'heartbeat',
  accessToken: 'access_token',
  broadcast: 'broadcast',
  presence: 'presence',
  presenceState: 'presence_state',
  presenceDiff: 'presence_diff',
  system: 'system',
} as const;

/** The Phoenix socket's own topic (heartbeats). */
export const PHOENIX_TOPIC = 'phoenix';

export interface PhxMessage {
  joinRef: string | null;
  ref: string | null;
  topic: string;
  event: string;
  payload: unknown;
}

/**
 * A user broadcast (`channel.send({type: 'broadcast', ...})`). `payload` is the user's JSON value,
 * or the raw bytes when the client sent an ArrayBuffer (binary encoding, 2.0.0 only).
 */
export interface UserBroadcast {
  event: string;
  payload: unknown;
  binary: boolean;
  meta?: Record<string, unknown>;
}

/** A decoded client frame: a Phoenix message, and for binary user broadcast pushes the broadcast itself. */
export interface Inbound extends PhxMessage {
  broadcast?: UserBroadcast;
}

export class ProtocolError extends Error {
  override readonly name = 'ProtocolError';
}

const KIND_USER_BROADCAST_PUSH = 3;
const KIND_USER_BROADCAST = 4;
const ENCODING_BINARY = 0;
const ENCODING_JSON = 1;

const utf8 = new TextEncoder();
const fromUtf8 = new TextDecoder('utf-8', { fatal: true });

function refOrNull(value: unknown): string | null {
  if (value === null || value === undefined) return null;
  if (typeof value === 'string') return value;
  if (typeof value === 'number') return String(value);
  throw new ProtocolError('join_ref and ref must be strings or null');
}

/**
 * How deeply a client's JSON may nest. Everything a client sends may be encoded again for others
 * (presence metas, broadcasts), and JSON.stringify recurses: a value JSON.parse accepts (10 000
 * nested arrays are 20 kB) can overflow the stack when it is re-encoded, possibly in a socket's
 * close handler or a timer, where the exception ends the process. Such a frame is invalid here.
 */
export const MAX_JSON_DEPTH = 64;

/** Throws ProtocolError when `value` nests arrays and objects deeper than MAX_JSON_DEPTH. Iterative. */
export function checkDepth(value: unknown, max = MAX_JSON_DEPTH): void {
  const stack: [unknown, number][] = [[value, 1]];
  while (stack.length > 0) {
    const [v, depth] = stack.pop()!;
    if (v === null || typeof v !== 'object' || v instanceof Uint8Array) continue;
    if (depth > max) throw new ProtocolError(`JSON nested deeper than ${max} levels`);
    for (const child of Array.isArray(v) ? v : Object.values(v)) {
      if (child !== null && typeof child === 'object') stack.push([child, depth + 1]);
    }
  }
}

function message(joinRef: unknown, ref: unknown, topic: unknown, event: unknown, payload: unknown): Inbound {
  if (typeof topic !== 'string' || typeof event !== 'string') throw new ProtocolError('topic and event must be strings');
  return { joinRef: refOrNull(joinRef), ref: refOrNull(ref), topic, event, payload: payload ?? {} };
}

/** Decodes one client frame. Throws ProtocolError for anything that is not a valid frame of `vsn`. */
export function decodeFrame(vsn: Vsn, data: string | Uint8Array): Inbound {
  if (typeof data !== 'string') {
    if (vsn !== '2.0.0') throw new ProtocolError('binary frames need vsn 2.0.0');
    return decodeBinary(data);
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(data);
  } catch {
    throw new ProtocolError('frame is not JSON');
  }
  checkDepth(parsed);
  if (vsn === '2.0.0') {
    if (!Array.isArray(parsed) || parsed.length !== 5) throw new ProtocolError('a 2.0.0 frame is [join_ref, ref, topic, event, payload]');
    const [joinRef, ref, topic, event, payload] = parsed as unknown[];
    return message(joinRef, ref, topic, event, payload);
  }
  if (!parsed || typeof parsed !== 'object' || Array.isArray(parsed)) throw new ProtocolError('a 1.0.0 frame is a JSON object');
  const o = parsed as Record<string, unknown>;
  return message(o.join_ref, o.ref, o.topic, o.event, o.payload);
}

/** Kind 3: [kind, join_ref len, ref len, topic len, event len, metadata len, encoding, ...fields, payload]. */
function decodeBinary(bytes: Uint8Array): Inbound {
  if (bytes.byteLength < 7) throw new ProtocolError('binary frame too short');
  const kind = bytes[0];
  if (kind !== KIND_USER_BROADCAST_PUSH) throw new ProtocolError(`unsupported binary frame kind ${kind}`);
  const [joinRefLen, refLen, topicLen, eventLen, metaLen, encoding] = [bytes[1]!, bytes[2]!, bytes[3]!, bytes[4]!, bytes[5]!, bytes[6]!];
  let offset = 7;
  const take = (n: number): Uint8Array => {
    if (offset + n > bytes.byteLength) throw new ProtocolError('binary frame truncated');
    const part = bytes.subarray(offset, offset + n);
    offset += n;
    return part;
  };
  try {
    const joinRef = fromUtf8.decode(take(joinRefLen));
    const ref = fromUtf8.decode(take(refLen));
    const topic = fromUtf8.decode(take(topicLen));
    const event = fromUtf8.decode(take(eventLen));
    const metaText = fromUtf8.decode(take(metaLen));
    const rest = bytes.slice(offset);
    let payload: unknown;
    if (encoding === ENCODING_JSON) payload = JSON.parse(fromUtf8.decode(rest));
    else if (encoding === ENCODING_BINARY) payload = rest;
    else throw new ProtocolError(`unknown payload encoding ${encoding}`);
    const meta = metaText ? (JSON.parse(metaText) as Record<string, unknown>) : undefined;
    checkDepth(payload);
    checkDepth(meta);
    const broadcast: UserBroadcast = { event, payload, binary: encoding === ENCODING_BINARY, ...(meta ? { meta } : {}) };
    return {
      joinRef: joinRef || null,
      ref: ref || null,
      topic,
      event: EVENTS.broadcast,
      payload: { type: 'broadcast', event, payload: encoding === ENCODING_JSON ? payload : null },
      broadcast,
    };
  } catch (error) {
    if (error instanceof ProtocolError) throw error;
    throw new ProtocolError(`invalid binary frame: ${error instanceof Error ? error.message : String(error)}`);
  }
}

/** The user broadcast inside a text `broadcast` push (`{type: 'broadcast', event, payload}`), if it is one. */
export function userBroadcastOf(msg: Inbound): UserBroadcast | undefined {
  if (msg.broadcast) return msg.broadcast;
  const p = msg.payload as Record<string, unknown> | null;
  if (!p || typeof p !== 'object' || typeof p.event !== 'string') return undefined;
  return { event: p.event, payload: p.payload ?? {}, binary: false };
}

/** A text frame for the client. */
export function encodeFrame(vsn: Vsn, msg: PhxMessage): string {
  if (vsn === '2.0.0') return JSON.stringify([msg.joinRef, msg.ref, msg.topic, msg.event, msg.payload]);
  return JSON.stringify({ join_ref: msg.joinRef, ref: msg.ref, topic: msg.topic, event: msg.event, payload: msg.payload });
}

/** `phx_reply` to a push: `{status: 'ok' | 'error', response}`. */
export function reply(vsn: Vsn, to: Pick<PhxMessage, 'joinRef' | 'ref' | 'topic'>, status: 'ok' | 'error', response: unknown = {}): string {
  return encodeFrame(vsn, { joinRef: to.joinRef, ref: to.ref, topic: to.topic, event: EVENTS.reply, payload: { status, response } });
}

/**
 * A user broadcast for a subscriber: a kind 4 binary frame on 2.0.0 (what realtime-js decodes into
 * `{type: 'broadcast', event, payload[, meta]}`), a text `broadcast` frame on 1.0.0. Returns
 * undefined when the subscriber cannot receive it (raw bytes on 1.0.0).
 */
export function encodeUserBroadcast(vsn: Vsn, topic: string, b: UserBroadcast): string | Uint8Array | undefined {
  if (vsn === '1.0.0') {
    if (b.binary) return undefined;
    return encodeFrame(vsn, { joinRef: null, ref: null, topic, event: EVENTS.broadcast, payload: { type: 'broadcast', event: b.event, payload: b.payload, ...(b.meta ? { meta: b.meta } : {}) } });
  }
  const topicBytes = utf8.encode(topic);
  const eventBytes = utf8.encode(b.event);
  const metaBytes = utf8.encode(b.meta && Object.keys(b.meta).length > 0 ? JSON.stringify(b.meta) : '');
  if (topicBytes.length > 255 || eventBytes.length > 255 || metaBytes.length > 255) {
    // Too long for the binary header: the text form carries the same message.
    if (b.binary) return undefined;
    return encodeFrame(vsn, { joinRef: null, ref: null, topic, event: EVENTS.broadcast, payload: { type: 'broadcast', event: b.event, payload: b.payload, ...(b.meta ? { meta: b.meta } : {}) } });
  }
  const body = b.binary ? (b.payload as Uint8Array) : utf8.encode(JSON.stringify(b.payload ?? {}));
  const out = new Uint8Array(5 + topicBytes.length + eventBytes.length + metaBytes.length + body.length);
  out.set([KIND_USER_BROADCAST, topicBytes.length, eventBytes.length, metaBytes.length, b.binary ? ENCODING_BINARY : ENCODING_JSON], 0);
  let offset = 5;
  for (const part of [topicBytes, eventBytes, metaBytes, body]) {
    out.set(part, offset);
    offset += part.length;
  }
  return out;
}

/**
 * "Broadcast from Database": a row of realtime.messages as Realtime delivers it to the topic's
 * subscribers. realtime-js hands `payload` to `channel.on('broadcast', {event}, cb)`.
 */
export function databaseBroadcast(vsn: Vsn, topic: string, row: { id: string; event: string | null; payload: unknown }): string {
  return encodeFrame(vsn, {
    joinRef: null,
    ref: null,
    topic,
    event: EVENTS.broadcast,
    payload: { type: 'broadcast', event: row.event ?? '', payload: row.payload ?? {}, meta: { id: row.id } },
  });
}
