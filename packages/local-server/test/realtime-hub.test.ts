import type { Db } from '@rubi/db';
import { afterEach, describe, expect, it } from 'vitest';
import { RealtimeHub } from '../src/realtime/hub.ts';
import { SendQueue, type RealtimeSocket } from '../src/realtime/send-queue.ts';
import { ANON_CLAIMS } from '../src/realtime/tokens.ts';

// The hub's socket handling without a database: heartbeats, unmatched topics, leave, idle and slow
// sockets. (Authorisation and delivery from the database: realtime-authorization and
// realtime-supabase-js tests.)

class FakeSocket implements RealtimeSocket {
  sent: (string | Uint8Array)[] = [];
  closedWith: { code: number; reason: string } | undefined;
  bufferedAmount = 0;
  send(data: string | Uint8Array): void {
    this.sent.push(data);
  }
  close(code: number, reason: string): void {
    this.closedWith = { code, reason };
  }
  frames(): unknown[] {
    return this.sent.filter((s): s is string => typeof s === 'string').map((s) => JSON.parse(s));
  }
}

const noDb = {} as Db;
const hubs: RealtimeHub[] = [];
async function hub(options: Partial<ConstructorParameters<typeof RealtimeHub>[0]> = {}): Promise<RealtimeHub> {
  const h = new RealtimeHub({ db: noDb, verifyToken: async () => ({ ok: true, claims: ANON_CLAIMS, exp: undefined }), ...options });
  await h.start();
  hubs.push(h);
  return h;
}
const settle = () => new Promise((r) => setTimeout(r, 10));

afterEach(async () => {
  for (const h of hubs.splice(0)) await h.close();
});

describe('RealtimeHub sockets', () => {
  it('answers heartbeats, joins public channels, leaves, and refuses unmatched topics', async () => {
    const h = await hub();
    const socket = new FakeSocket();
    const conn = h.connect(socket, '2.0.0', 'key');
    conn.receive(JSON.stringify([null, '1', 'phoenix', 'heartbeat', {}]));
    conn.receive(JSON.stringify(['2', '2', 'realtime:room', 'phx_join', { config: { private: false } }]));
    conn.receive(JSON.stringify(['9', '3', 'realtime:other', 'broadcast', { type: 'broadcast', event: 'x', payload: {} }]));
    conn.receive(JSON.stringify(['2', '4', 'realtime:nope', 'phx_join', { config: { postgres_changes: [{ event: '*', schema: 'public' }] } }]));
    await settle();
    expect(h.stats()).toEqual({ connections: 1, channels: 1, members: 1 });
    conn.receive(JSON.stringify(['2', '5', 'realtime:room', 'phx_leave', {}]));
    await settle();
    expect(socket.frames()).toEqual([
      [null, '1', 'phoenix', 'phx_reply', { status: 'ok', response: {} }],
      ['2', '2', 'realtime:room', 'phx_reply', { status: 'ok', response: { postgres_changes: [] } }],
      ['9', '3', 'realtime:other', 'phx_reply', { status: 'error', response: { reason: 'unmatched topic' } }],
      ['2', '4', 'realtime:nope', 'phx_reply', { status: 'error', response: { reason: expect.stringMatching(/^PostgresChangesNotSupported/) } }],
      ['2', '5', 'realtime:room', 'phx_reply', { status: 'ok', response: {} }],
    ]);
    expect(h.stats()).toEqual({ connections: 1, channels: 0, members: 0 });
    conn.closed();
    expect(h.stats()).toEqual({ connections: 0, channels: 0, members: 0 });
  });

  it('closes a socket that sends an invalid frame, and one that stays silent', async () => {
    const h = await hub({ idleTimeoutMs: 100 });
    const bad = new FakeSocket();
    h.connect(bad, '2.0.0', 'key').receive('{"not":"a 2.0.0 frame"}');
    const silent = new FakeSocket();
    h.connect(silent, '1.0.0', 'key');
    await settle();
    expect(bad.closedWith).toEqual({ code: 4400, reason: 'invalid frame' });
    await new Promise((r) => setTimeout(r, 250));
    expect(silent.closedWith).toEqual({ code: 4000, reason: 'heartbeat timeout' });
    expect(h.stats().connections).toBe(0);
  });

  it('holds frames while the socket buffer is full and cuts a client that falls too far behind', async () => {
    const socket = new FakeSocket();
    let overflowed = false;
    const queue = new SendQueue(socket, { maxFrames: 3, highWaterBytes: 100, retryMs: 5 }, () => (overflowed = true));
    queue.push('a');
    socket.bufferedAmount = 1000;
    queue.push('b');
    queue.push('c');
    expect(socket.sent).toEqual(['a']);
    socket.bufferedAmount = 0;
    await new Promise((r) => setTimeout(r, 20));
    expect(socket.sent).toEqual(['a', 'b', 'c']);
    socket.bufferedAmount = 1000;
    for (const f of ['d', 'e', 'f', 'g']) queue.push(f);
    expect(overflowed).toBe(true);
    expect(queue.length).toBe(0);
  });

  it('cuts a slow client by the bytes it falls behind, not only by the number of frames', () => {
    const socket = new FakeSocket();
    let overflowed = false;
    const queue = new SendQueue(socket, { maxFrames: 1000, highWaterBytes: 100, maxQueuedBytes: 1000, retryMs: 5 }, () => (overflowed = true));
    socket.bufferedAmount = 1000;
    // Two frames of 600 bytes: far under maxFrames, over maxQueuedBytes.
    queue.push('x'.repeat(600));
    expect(overflowed).toBe(false);
    queue.push(new Uint8Array(600));
    expect(overflowed).toBe(true);
    expect(queue.length).toBe(0);
  });
});

describe('RealtimeHub with hostile clients', () => {
  // 10 000 nested arrays: 20 kB that JSON.parse accepts and JSON.stringify cannot encode again
  // (its recursion overflows the stack). Re-encoding it for others must never reach a socket's
  // close handler or a timer, where the exception would end the process.
  const deep = '['.repeat(10_000) + ']'.repeat(10_000);

  it('refuses a frame nested too deeply to be sent on, and stays up when the sockets close', async () => {
    const h = await hub();
    const a = new FakeSocket();
    const b = new FakeSocket();
    const connA = h.connect(a, '1.0.0', 'key');
    const connB = h.connect(b, '1.0.0', 'key');
    for (const conn of [connA, connB]) {
      conn.receive(JSON.stringify({ join_ref: '1', ref: '1', topic: 'realtime:lobby', event: 'phx_join', payload: { config: { presence: { enabled: true } } } }));
    }
    await settle();
    expect(h.stats().members).toBe(2);
    connA.receive(`{"join_ref":"1","ref":"2","topic":"realtime:lobby","event":"presence","payload":{"type":"presence","event":"track","payload":{"x":${deep}}}}`);
    await settle();
    expect(a.closedWith).toEqual({ code: 4400, reason: 'invalid frame' });
    expect(() => connA.closed()).not.toThrow();
    expect(() => connB.closed()).not.toThrow();
    expect(h.stats()).toEqual({ connections: 0, channels: 0, members: 0 });
  });

  it('limits the channels one socket may join', async () => {
    const h = await hub({ maxChannelsPerClient: 3 });
    const socket = new FakeSocket();
    const conn = h.connect(socket, '2.0.0', 'key');
    for (let i = 1; i <= 5; i++) conn.receive(JSON.stringify([String(i), String(i), `realtime:room-${i}`, 'phx_join', {}]));
    // Joining a channel it is already in replaces it: not one more.
    conn.receive(JSON.stringify(['9', '9', 'realtime:room-1', 'phx_join', {}]));
    await settle();
    expect(h.stats().members).toBe(3);
    const replies = socket.frames().map((f) => (f as [string, string, string, string, { status: string; response: { reason?: string } }])[4]);
    expect(replies.map((r) => r.status)).toEqual(['ok', 'ok', 'ok', 'error', 'error', 'ok']);
    expect(replies[3]?.response.reason).toMatch(/^ChannelRateLimitReached/);
  });
});
