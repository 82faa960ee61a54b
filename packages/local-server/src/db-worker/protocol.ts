// The messages between the local server and the thread that owns PGlite (see ./client.ts and
// ./host.ts). Everything here crosses a structured clone: plain data, Dates, Uint8Arrays.

/** A parameter as packages/db encodes it (params.ts): text or SQL NULL. */
export type WireParam = string | null;

export interface OpenOptions {
  /** Where PGlite persists; undefined = in memory. */
  dataDir?: string;
  /** Repository root: platform SQL, migrations and seed are applied from it on open. */
  rootDir: string;
}

/** Main thread → database thread. Requests with an `id` get exactly one Reply; `begin` gets none. */
export type Request =
  | { op: 'open'; id: number; options: OpenOptions }
  | { op: 'query'; id: number; text: string; params: WireParam[] }
  | { op: 'begin'; tx: number }
  | { op: 'txQuery'; id: number; tx: number; text: string; params: WireParam[] }
  | { op: 'end'; id: number; tx: number; commit: boolean }
  | { op: 'listen'; id: number; channel: string; listener: number }
  | { op: 'unlisten'; id: number; listener: number }
  | { op: 'close'; id: number };

/** An error as data: its message and its own fields (SQLSTATE `code`, `detail`, `column`, ...). */
export interface ErrorData {
  name: string;
  message: string;
  fields: Record<string, unknown>;
  cause?: ErrorData;
}

/** Database thread → main thread. */
export type Reply =
  | { op: 'reply'; id: number; ok: true; value: unknown }
  | { op: 'reply'; id: number; ok: false; error: ErrorData }
  | { op: 'notify'; listener: number; payload: string };

/** Both ends of the link: a Worker, a worker's global scope, a MessagePort. */
export interface Port {
  postMessage(message: unknown): void;
  onmessage: ((event: MessageEvent) => void) | null;
}

const CLONABLE = new Set(['string', 'number', 'boolean', 'bigint', 'undefined']);

export function errorToData(error: unknown): ErrorData {
  if (!(error instanceof Error)) return { name: 'Error', message: String(error), fields: {} };
  const fields: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(error)) {
    if (key === 'cause') continue;
    if (value === null || CLONABLE.has(typeof value) || (Array.isArray(value) && value.every((v) => v === null || CLONABLE.has(typeof v)))) {
      fields[key] = value;
    }
  }
  return {
    name: error.name,
    message: error.message,
    fields,
    ...(error.cause !== undefined ? { cause: errorToData(error.cause) } : {}),
  };
}

/** The error again on this side: an Error with the same message, name and fields (what pg-error.ts and the edge read). */
export function errorFromData(data: ErrorData): Error {
  const error = new Error(data.message, data.cause ? { cause: errorFromData(data.cause) } : undefined);
  Object.assign(error, data.fields);
  if (!('name' in data.fields)) error.name = data.name;
  return error;
}
