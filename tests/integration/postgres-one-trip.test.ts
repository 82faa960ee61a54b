// A parameterised statement through the postgres.js adapter is ONE round trip: Parse, Describe,
// Bind, Execute, Sync in one go, not postgres.js's default without prepared statements (Parse,
// Describe, Flush, wait for the parameter types, then Bind, Execute, Sync). Checked on the wire,
// through a small TCP proxy that reads the frontend messages the driver sends.
import { createServer, connect, type AddressInfo, type Server } from 'node:net';
import { asOwner, asService, createPostgresDb, type PostgresDb } from '@rubi/db';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { databaseUrl } from './support/context.ts';

const SSL_REQUEST_CODE = 80877103;

/** Frontend message types sent while `recording`, in order (the startup packet has none). */
let recording = false;
const sent: string[] = [];
let proxy: Server;
let db: PostgresDb;

function messageReader(): (chunk: Buffer) => void {
  let buffer = Buffer.alloc(0);
  let started = false;
  return (chunk) => {
    buffer = Buffer.concat([buffer, chunk]);
    for (;;) {
      if (!started) {
        if (buffer.length < 8) return;
        const length = buffer.readInt32BE(0);
        if (buffer.length < length) return;
        if (buffer.readInt32BE(4) !== SSL_REQUEST_CODE) started = true;
        buffer = buffer.subarray(length);
        continue;
      }
      if (buffer.length < 5) return;
      const length = buffer.readInt32BE(1);
      if (buffer.length < length + 1) return;
      if (recording) sent.push(String.fromCharCode(buffer[0] as number));
      buffer = buffer.subarray(length + 1);
    }
  };
}

beforeAll(async () => {
  const target = new URL(databaseUrl());
  proxy = createServer((client) => {
    const server = connect(Number(target.port || 5432), target.hostname);
    const read = messageReader();
    client.on('data', (chunk: Buffer) => {
      read(chunk);
      server.write(chunk);
    });
    server.pipe(client);
    client.on('error', () => server.destroy());
    server.on('error', () => client.destroy());
    client.on('close', () => server.destroy());
  });
  await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', resolve));
  const url = new URL(databaseUrl());
  url.hostname = '127.0.0.1';
  url.port = String((proxy.address() as AddressInfo).port);
  db = createPostgresDb(url.toString(), { max: 1 });
  await db.query(asOwner(), 'select 1'); // connected and authenticated before recording
});

afterAll(async () => {
  await db?.close();
  await new Promise((resolve) => proxy?.close(resolve));
});

async function record(run: () => Promise<unknown>): Promise<string[]> {
  sent.length = 0;
  recording = true;
  try {
    await run();
  } finally {
    recording = false;
  }
  return [...sent];
}

describe('postgres.js adapter on the wire', () => {
  it('sends a parameterised statement in one round trip, with the values as text', async () => {
    let rows: unknown[] = [];
    const messages = await record(async () => {
      rows = await db.query(asOwner(), 'select $1::int + 1 as n, $2::boolean as b, $3::jsonb as j, $4::text as t', [41, true, '{"a":1}', null]);
    });
    expect(messages).toEqual(['P', 'D', 'B', 'E', 'S']);
    expect(rows).toEqual([{ n: 42, b: true, j: { a: 1 }, t: null }]);
  });

  it('does the same for each statement of a transaction', async () => {
    const messages = await record(() => db.transaction(asService(), (tx) => tx.query('select $1::text as v', ['x'])));
    // The role switch and the statement: each one trip; no Flush (H) waiting for parameter types.
    expect(messages).not.toContain('H');
    expect(messages.filter((m) => m === 'B')).toHaveLength(messages.filter((m) => m === 'P').length);
  });

  it('reports an error from a one-trip statement and goes on', async () => {
    await expect(db.query(asOwner(), 'select 1 / $1::int as n', [0])).rejects.toMatchObject({ code: '22012' });
    expect(await db.query(asOwner(), 'select $1::int as n', [7])).toEqual([{ n: 7 }]);
  });
});
