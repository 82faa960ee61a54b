// The database thread's protocol (src/db-worker), both ends in this thread over a MessageChannel:
// the same Db conformance suite as the in-process adapters, then what only the link adds (LISTEN,
// close, errors when opening) and the whole local server on it. `npm start` runs the host in a Deno
// Worker (src/db-worker/worker.ts); the end-to-end files that run `npm start` cover that.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { asOwner, isDatabaseUnavailable, isPgError } from '@rubi/db';
import { createPgliteDb } from '@rubi/db/pglite';
import { describe, expect, it } from 'vitest';
import { describeDbConformance } from '../../db/test/conformance.ts';
import { connectDatabase, type LocalDatabase } from '../src/db-worker/client.ts';
import { openMigrated, serveDatabase, type Opened } from '../src/db-worker/host.ts';
import type { OpenOptions, Port } from '../src/db-worker/protocol.ts';
import { createLocalServer } from '../src/index.ts';

/** Host and client on the two ends of a MessageChannel; `open` defaults to a bare in-memory PGlite. */
function overChannel(options: OpenOptions, open?: (options: OpenOptions) => Promise<Opened>): Promise<LocalDatabase> {
  const { port1, port2 } = new MessageChannel();
  serveDatabase(port2 as unknown as Port, open ?? (async () => ({ db: await createPgliteDb(), applied: ['bare'] })));
  return connectDatabase(
    {
      port: port1 as unknown as Port,
      terminate: () => {
        port1.close();
        port2.close();
      },
    },
    options,
  );
}

const bare = () => overChannel({ rootDir: '/nowhere' });

describeDbConformance('PGlite on the database thread', async () => (await bare()).db);

describe('database thread link', () => {
  it('passes SQLSTATE and the fields the edge maps through (COLUMN of a class 22 error)', async () => {
    const { db } = await bare();
    try {
      const error = await db
        .query(asOwner(), `do $$ begin raise exception 'risk_percent must be at most 10' using errcode = '22023', column = 'body.risk_percent'; end $$`)
        .catch((e: unknown) => e);
      expect(isPgError(error)).toBe(true);
      expect(error).toMatchObject({ code: '22023', column: 'body.risk_percent', message: 'risk_percent must be at most 10' });
    } finally {
      await db.close();
    }
  });

  it('delivers NOTIFY to listeners until they unlisten', async () => {
    const { db, listen } = await bare();
    try {
      const heard: string[] = [];
      const unlisten = await listen('ch', (payload) => heard.push(payload));
      await db.query(asOwner(), `select pg_notify('ch', 'one')`);
      await db.transaction(asOwner(), (tx) => tx.query(`select pg_notify('ch', 'two')`));
      await expect.poll(() => heard).toEqual(['one', 'two']);
      await unlisten();
      await db.query(asOwner(), `select pg_notify('ch', 'three')`);
      await db.query(asOwner(), 'select 1');
      expect(heard).toEqual(['one', 'two']);
    } finally {
      await db.close();
    }
  });

  it('answers "database unavailable" once closed, and closes once', async () => {
    const { db } = await bare();
    await Promise.all([db.close(), db.close()]);
    const error = await db.query(asOwner(), 'select 1').catch((e: unknown) => e);
    expect(isDatabaseUnavailable(error)).toBe(true);
  });

  it('rejects with the error of a failed open (a migration) and ends the link', async () => {
    const failing = overChannel({ rootDir: '/nowhere' }, () => Promise.reject(Object.assign(new Error('20990101000000_x.sql failed: boom'), { code: 'XX000' })));
    await expect(failing).rejects.toMatchObject({ message: '20990101000000_x.sql failed: boom', code: 'XX000' });
  });
});

describe('the local server with its database on the link', () => {
  it('migrates, signs up, runs cron jobs and answers health', async () => {
    const dataDir = await mkdtemp(join(tmpdir(), 'rubi-local-worker-'));
    const server = await createLocalServer({ dataDir, publicUrl: 'http://127.0.0.1:54321', cron: false, logSink: () => {}, openDatabase: (options) => overChannel(options, openMigrated) });
    try {
      expect(server.applied).toContain('seed.sql');
      const health = await server.fetch(new Request('http://127.0.0.1:54321/health'));
      expect(health.status).toBe(200);
      const signUp = await server.fetch(
        new Request('http://127.0.0.1:54321/auth/v1/signup', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ email: 'w@example.com', password: 'correct horse' }) }),
      );
      expect(signUp.status).toBe(200);
      const job = await server.cron.find('rubi-settle-cashback');
      if (!job) throw new Error('no settlement job');
      expect((await server.cron.runJob(job)).status).toBe('succeeded');
    } finally {
      await server.close();
      await rm(dataDir, { recursive: true, force: true });
    }
  });
});
