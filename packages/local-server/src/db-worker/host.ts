// The database thread's side: owns one PGlite and answers the main thread's requests
// (./protocol.ts). PGlite runs one statement or transaction at a time, exactly as in process: a
// query arriving while a transaction is open waits for it, and a transaction's statements run in
// the order they were sent.
import { asOwner, type Queryable } from '@rubi/db';
import { applyPlatformAndMigrations, createPgliteDb, type PgliteDb } from '@rubi/db/pglite';
import { errorToData, type OpenOptions, type Port, type Reply, type Request } from './protocol.ts';

export interface Opened {
  db: PgliteDb;
  applied: string[];
}

/** PGlite with pgcrypto in `dataDir`, platform SQL, migrations and seed applied (what createLocalServer did in process). */
export async function openMigrated(options: OpenOptions): Promise<Opened> {
  const db = await createPgliteDb(options.dataDir ? { dataDir: options.dataDir } : {});
  try {
    const { applied } = await applyPlatformAndMigrations(db.pglite, { rootDir: options.rootDir, seed: true });
    return { db, applied };
  } catch (error) {
    await db.close().catch(() => undefined);
    throw error;
  }
}

type TxItem = Extract<Request, { op: 'txQuery' | 'end' }>;

/** One open transaction's statements, in arrival order, until its `end`. */
class TxInbox {
  private readonly items: TxItem[] = [];
  private waiting: ((item: TxItem) => void) | undefined;
  failed: { error: unknown } | undefined;

  push(item: TxItem): void {
    const waiting = this.waiting;
    this.waiting = undefined;
    if (waiting) waiting(item);
    else this.items.push(item);
  }

  next(): Promise<TxItem> {
    const item = this.items.shift();
    return item ? Promise.resolve(item) : new Promise((resolve) => (this.waiting = resolve));
  }

  drain(): TxItem[] {
    return this.items.splice(0);
  }
}

const ROLLBACK = Symbol('rollback');

/** Answers `port`'s requests until `close`; `open` makes the database on the first request. */
export function serveDatabase(port: Port, open: (options: OpenOptions) => Promise<Opened> = openMigrated): void {
  let db: PgliteDb | undefined;
  const transactions = new Map<number, TxInbox>();
  const unlisteners = new Map<number, () => Promise<void>>();

  const send = (message: Reply) => port.postMessage(message);
  const answer = (id: number, work: () => Promise<unknown>) =>
    work().then(
      (value) => send({ op: 'reply', id, ok: true, value }),
      (error: unknown) => send({ op: 'reply', id, ok: false, error: errorToData(error) }),
    );
  const opened = (): PgliteDb => {
    if (!db) throw new Error('the database is not open');
    return db;
  };

  const begin = (tx: number) => {
    const inbox = new TxInbox();
    transactions.set(tx, inbox);
    let endId: number | undefined;
    // As the owner: the main thread sends the role switch itself, as the transaction's first
    // statement. runTransaction fails the transaction here too if a statement failed.
    const run = async (t: Queryable) => {
      for (;;) {
        const item = await inbox.next();
        if (item.op === 'txQuery') {
          await answer(item.id, () => t.query(item.text, item.params));
          continue;
        }
        endId = item.id;
        if (item.commit) return;
        throw ROLLBACK;
      }
    };
    const settle = (error: unknown) => {
      transactions.delete(tx);
      if (endId !== undefined) {
        send(error === undefined || error === ROLLBACK ? { op: 'reply', id: endId, ok: true, value: null } : { op: 'reply', id: endId, ok: false, error: errorToData(error) });
      }
      // BEGIN itself failed (the database closed): whatever this transaction sent gets the error.
      if (error !== undefined && error !== ROLLBACK) {
        inbox.failed = { error };
        for (const item of inbox.drain()) send({ op: 'reply', id: item.id, ok: false, error: errorToData(error) });
      }
    };
    Promise.resolve()
      .then(() => opened().transaction(asOwner(), run))
      .then(() => settle(undefined), settle);
  };

  const handle = (request: Request) => {
    switch (request.op) {
      case 'open':
        return answer(request.id, async () => {
          const result = await open(request.options);
          db = result.db;
          return result.applied;
        });
      case 'query':
        return answer(request.id, () => opened().query(asOwner(), request.text, request.params));
      case 'begin':
        return begin(request.tx);
      case 'txQuery':
      case 'end': {
        const inbox = transactions.get(request.tx);
        if (inbox && !inbox.failed) return inbox.push(request);
        return send({ op: 'reply', id: request.id, ok: false, error: errorToData(inbox?.failed?.error ?? new Error(`transaction ${request.tx} is not open`)) });
      }
      case 'listen':
        return answer(request.id, async () => {
          const unlisten = await opened().pglite.listen(request.channel, (payload) => send({ op: 'notify', listener: request.listener, payload }));
          unlisteners.set(request.listener, unlisten);
          return null;
        });
      case 'unlisten':
        return answer(request.id, async () => {
          const unlisten = unlisteners.get(request.listener);
          unlisteners.delete(request.listener);
          await unlisten?.();
          return null;
        });
      case 'close':
        return answer(request.id, async () => {
          await db?.close();
          return null;
        });
    }
  };

  port.onmessage = (event: MessageEvent) => void handle(event.data as Request);
}
