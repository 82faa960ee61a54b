// The main thread's side: a Db (packages/db) whose PGlite lives on another thread (./host.ts), so
// the database's WASM and the HTTP server, functions and stand-ins use two cores. Principals, the
// role switch, parameter encoding and "a failed statement fails the transaction" stay in
// packages/db (runTransaction); only statements, BEGIN/COMMIT/ROLLBACK and notifications cross.
import type { Db, Principal, Queryable } from '@rubi/db';
import { runQuery, runTransaction, type DriverTransaction } from '@rubi/db/pglite';
import type { Listen } from '../realtime/hub.ts';
import { errorFromData, type OpenOptions, type Port, type Reply, type Request } from './protocol.ts';

/** What createLocalServer needs of its database: the Db (its `close` closes PGlite), what this start applied, and LISTEN. */
export interface LocalDatabase {
  db: Db;
  applied: string[];
  listen: Listen;
}

/** The other thread: its message port, how to end it, and how it reports dying. */
export interface DatabaseLink {
  port: Port;
  terminate(): void;
  onFailure?(handler: (error: Error) => void): void;
}

type Pending = { resolve: (value: unknown) => void; reject: (error: unknown) => void };
type WithoutId<R> = R extends unknown ? Omit<R, 'id'> : never;

/** An error the edge maps to 503 (isDatabaseUnavailable: a driver's connection code). */
function unavailable(message: string, code: 'CONNECTION_CLOSED' | 'CONNECTION_ENDED'): Error {
  return Object.assign(new Error(message), { code });
}

/**
 * Opens the database on the other end of the link (migrations applied there) and returns it. The
 * thread is terminated once the database is closed or failed to open.
 */
export async function connectDatabase(link: DatabaseLink, options: OpenOptions): Promise<LocalDatabase> {
  const { port } = link;
  const terminate = () => link.terminate();
  const pending = new Map<number, Pending>();
  const listeners = new Map<number, (payload: string) => void>();
  let nextId = 1;
  let nextTx = 1;
  let gone: Error | undefined;

  port.onmessage = (event: MessageEvent) => {
    const message = event.data as Reply;
    if (message.op === 'notify') {
      listeners.get(message.listener)?.(message.payload);
      return;
    }
    const waiting = pending.get(message.id);
    pending.delete(message.id);
    if (!waiting) return;
    if (message.ok) waiting.resolve(message.value);
    else waiting.reject(errorFromData(message.error));
  };

  /** BEGIN has no reply: the transaction's statements and its end follow it in order. */
  const begin = (tx: number) => {
    if (gone) throw gone;
    port.postMessage({ op: 'begin', tx } satisfies Request);
  };
  const request = <T>(message: WithoutId<Exclude<Request, { op: 'begin' }>>): Promise<T> =>
    new Promise<T>((resolve, reject) => {
      if (gone) return reject(gone);
      const id = nextId++;
      pending.set(id, { resolve: resolve as (value: unknown) => void, reject });
      port.postMessage({ ...message, id });
    });
  /** The thread died or was closed: everything waiting, and everything after, fails as "database unavailable". */
  const end = (error: Error) => {
    gone ??= error;
    for (const waiting of pending.values()) waiting.reject(gone);
    pending.clear();
    listeners.clear();
  };

  link.onFailure?.((error) => end(unavailable(`the database thread failed: ${error.message}`, 'CONNECTION_CLOSED')));

  const driverTransaction: DriverTransaction = async (body) => {
    const tx = nextTx++;
    begin(tx);
    let result;
    try {
      result = await body((text, params) => request({ op: 'txQuery', tx, text, params }));
    } catch (error) {
      await request({ op: 'end', tx, commit: false }).catch(() => undefined);
      throw error;
    }
    await request({ op: 'end', tx, commit: true });
    return result;
  };
  const transaction = <T>(principal: Principal, fn: (tx: Queryable) => Promise<T>): Promise<T> =>
    runTransaction(principal, fn, driverTransaction);

  let closing: Promise<void> | undefined;
  const db: Db = {
    dialect: 'pglite',
    transaction,
    query: <R>(principal: Principal, text: string, params?: readonly unknown[]): Promise<R[]> =>
      runQuery<R>(principal, text, params, transaction, (t, p) => request({ op: 'query', text: t, params: p })),
    close() {
      closing ??= request({ op: 'close' })
        .then(() => undefined)
        .finally(() => {
          end(unavailable('the database is closed', 'CONNECTION_ENDED'));
          terminate();
        });
      return closing;
    },
  };

  let applied: string[];
  try {
    applied = await request<string[]>({ op: 'open', options });
  } catch (error) {
    end(unavailable('the database did not open', 'CONNECTION_ENDED'));
    terminate();
    throw error;
  }

  let nextListener = 1;
  const listen: Listen = async (channel, callback) => {
    const listener = nextListener++;
    listeners.set(listener, callback);
    try {
      await request({ op: 'listen', channel, listener });
    } catch (error) {
      listeners.delete(listener);
      throw error;
    }
    return async () => {
      listeners.delete(listener);
      if (!gone) await request({ op: 'unlisten', listener });
    };
  };

  return { db, applied, listen };
}
