import Serializer from '@supabase/realtime-js/dist/main/lib/serializer.js';
import { describe, expect, it } from 'vitest';
import { databaseBroadcast, decodeFrame, encodeFrame, encodeUserBroadcast, ProtocolError, reply, userBroadcastOf } from '../src/realtime/protocol.ts';

// The frames checked against realtime-js's own serializer: what it encodes we decode, and what we
// encode it decodes into what supabase-js hands to `channel.on('broadcast', ...)`.
const serializer = new Serializer();

function clientEncode(msg: { join_ref: string | null; ref: string | null; topic: string; event: string; payload: unknown }): string | Uint8Array {
  let out: string | ArrayBuffer = '';
  serializer.encode(msg as never, (encoded: string | ArrayBuffer) => (out = encoded));
  return typeof out === 'string' ? out : new Uint8Array(out);
}

function clientDecode(data: string | Uint8Array): { join_ref: unknown; ref: unknown; topic: string; event: string; payload: unknown } {
  let out: unknown;
  const raw = typeof data === 'string' ? data : data.buffer.slice(data.byteOffset, data.byteOffset + data.byteLength);
  serializer.decode(raw as never, (decoded: unknown) => (out = decoded));
  return out as never;
}

describe('Phoenix frames (vsn 2.0.0 and 1.0.0)', () => {
  it('decodes a 2.0.0 join and a 1.0.0 heartbeat', () => {
    const join = clientEncode({ join_ref: '1', ref: '1', topic: 'realtime:room', event: 'phx_join', payload: { config: { private: true }, access_token: 'x' } });
    expect(decodeFrame('2.0.0', join)).toEqual({ joinRef: '1', ref: '1', topic: 'realtime:room', event: 'phx_join', payload: { config: { private: true }, access_token: 'x' } });
    expect(decodeFrame('1.0.0', JSON.stringify({ join_ref: null, ref: '7', topic: 'phoenix', event: 'heartbeat', payload: {} }))).toEqual({
      joinRef: null,
      ref: '7',
      topic: 'phoenix',
      event: 'heartbeat',
      payload: {},
    });
  });

  it('decodes the binary user broadcast push realtime-js sends, JSON and raw bytes, with UTF-8 headers', () => {
    const json = decodeFrame('2.0.0', clientEncode({ join_ref: '3', ref: '9', topic: 'realtime:salle-é', event: 'broadcast', payload: { type: 'broadcast', event: 'cürsor', payload: { x: 1 } } }));
    expect(json).toMatchObject({ joinRef: '3', ref: '9', topic: 'realtime:salle-é', event: 'broadcast' });
    expect(userBroadcastOf(json)).toEqual({ event: 'cürsor', payload: { x: 1 }, binary: false });

    const bytes = new Uint8Array([1, 2, 3, 250]).buffer;
    const raw = decodeFrame('2.0.0', clientEncode({ join_ref: '3', ref: '10', topic: 'realtime:r', event: 'broadcast', payload: { type: 'broadcast', event: 'blob', payload: bytes } }));
    const b = userBroadcastOf(raw)!;
    expect(b.binary).toBe(true);
    expect([...(b.payload as Uint8Array)]).toEqual([1, 2, 3, 250]);
  });

  it('reads a text broadcast push (1.0.0) as a user broadcast', () => {
    const msg = decodeFrame('1.0.0', JSON.stringify({ join_ref: '1', ref: '2', topic: 'realtime:r', event: 'broadcast', payload: { type: 'broadcast', event: 'e', payload: { a: 1 } } }));
    expect(userBroadcastOf(msg)).toEqual({ event: 'e', payload: { a: 1 }, binary: false });
  });

  it('rejects what is not a frame', () => {
    expect(() => decodeFrame('2.0.0', 'nope')).toThrow(ProtocolError);
    expect(() => decodeFrame('2.0.0', '{"topic":"x"}')).toThrow(ProtocolError);
    expect(() => decodeFrame('1.0.0', '[null,null,"t","e",{}]')).toThrow(ProtocolError);
    expect(() => decodeFrame('1.0.0', new Uint8Array([3, 0, 0, 0, 0, 0, 1]))).toThrow(/vsn 2.0.0/);
    expect(() => decodeFrame('2.0.0', new Uint8Array([9, 0, 0, 0, 0, 0, 1]))).toThrow(/kind 9/);
    expect(() => decodeFrame('2.0.0', new Uint8Array([3, 5, 0, 0, 0, 0, 1, 65]))).toThrow(/truncated/);
  });

  it('encodes replies and database broadcasts as realtime-js decodes them', () => {
    expect(clientDecode(reply('2.0.0', { joinRef: '1', ref: '2', topic: 'realtime:r' }, 'error', { reason: 'no' }))).toEqual({
      join_ref: '1',
      ref: '2',
      topic: 'realtime:r',
      event: 'phx_reply',
      payload: { status: 'error', response: { reason: 'no' } },
    });
    expect(JSON.parse(reply('1.0.0', { joinRef: null, ref: '5', topic: 'phoenix' }, 'ok'))).toEqual({ join_ref: null, ref: '5', topic: 'phoenix', event: 'phx_reply', payload: { status: 'ok', response: {} } });
    const frame = databaseBroadcast('2.0.0', 'realtime:user:1', { id: 'abc', event: 'trading_accounts', payload: { operation: 'INSERT' } });
    expect(clientDecode(frame).payload).toEqual({ type: 'broadcast', event: 'trading_accounts', payload: { operation: 'INSERT' }, meta: { id: 'abc' } });
    expect(JSON.parse(encodeFrame('1.0.0', { joinRef: null, ref: null, topic: 't', event: 'e', payload: {} }))).toEqual({ join_ref: null, ref: null, topic: 't', event: 'e', payload: {} });
  });

  it('encodes user broadcasts as the binary kind 4 frame on 2.0.0 and as text on 1.0.0', () => {
    const json = encodeUserBroadcast('2.0.0', 'realtime:salle-é', { event: 'cürsor', payload: { x: '✓' }, binary: false });
    expect(json).toBeInstanceOf(Uint8Array);
    expect(clientDecode(json!)).toEqual({ join_ref: null, ref: null, topic: 'realtime:salle-é', event: 'broadcast', payload: { type: 'broadcast', event: 'cürsor', payload: { x: '✓' } } });
    const raw = encodeUserBroadcast('2.0.0', 'realtime:r', { event: 'blob', payload: new Uint8Array([7, 8]), binary: true, meta: { persist: true } });
    const decoded = clientDecode(raw!).payload as { payload: ArrayBuffer; meta: unknown };
    expect([...new Uint8Array(decoded.payload)]).toEqual([7, 8]);
    expect(decoded.meta).toEqual({ persist: true });
    expect(JSON.parse(encodeUserBroadcast('1.0.0', 'realtime:r', { event: 'e', payload: { a: 1 }, binary: false }) as string)).toMatchObject({
      event: 'broadcast',
      payload: { type: 'broadcast', event: 'e', payload: { a: 1 } },
    });
    expect(encodeUserBroadcast('1.0.0', 'realtime:r', { event: 'e', payload: new Uint8Array([1]), binary: true })).toBeUndefined();
  });

  it('refuses JSON nested too deeply to be encoded again, in text and binary frames', () => {
    const deep = '['.repeat(10_000) + ']'.repeat(10_000);
    expect(() => decodeFrame('2.0.0', `["1","2","realtime:room","broadcast",{"type":"broadcast","event":"e","payload":${deep}}]`)).toThrow(ProtocolError);
    expect(() => decodeFrame('1.0.0', `{"ref":"2","topic":"realtime:room","event":"broadcast","payload":${deep}}`)).toThrow(ProtocolError);
    // Kind 3 (user broadcast push), JSON payload: the client's own serializer cannot encode it either.
    const enc = new TextEncoder();
    const [joinRef, ref, topic, event, body] = ['1', '2', 'realtime:room', 'e', deep].map((x) => enc.encode(x));
    const binary = new Uint8Array([3, joinRef!.length, ref!.length, topic!.length, event!.length, 0, 1, ...joinRef!, ...ref!, ...topic!, ...event!, ...body!]);
    expect(() => decodeFrame('2.0.0', binary)).toThrow(ProtocolError);
    // Ordinary nesting is fine.
    expect(decodeFrame('2.0.0', JSON.stringify(['1', '2', 'realtime:room', 'broadcast', { type: 'broadcast', event: 'e', payload: { a: { b: [[{ c: 1 }]] } } }])).payload).toMatchObject({ event: 'e' });
  });
});
