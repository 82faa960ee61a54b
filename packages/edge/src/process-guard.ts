import { isDatabaseUnavailable } from '@rubi/db';
import type { Logger } from './log.ts';

/**
 * Keeps a function's process alive through the socket errors postgres.js 3.4.9 raises where no
 * caller can catch them (porsager/postgres #1154, #1066; fixed only in unreleased PRs #1168/#1176):
 * - `TypeError: Cannot read properties of null (reading 'write')` from connection.js nextWrite,
 *   which fires from setImmediate after closed() set the socket to null;
 * - `Error: read ECONNRESET` (and its siblings) rejected with no handler during a reset storm.
 * Deno (and Supabase's Edge Runtime, which is Deno) dispatches such errors as `error` /
 * `unhandledrejection` events on globalThis before exiting; preventDefault() keeps the process
 * serving. Only these driver errors are swallowed (and logged): anything else still ends the
 * process as before. The pool itself recovers (a broken connection is replaced on the next query;
 * the adapter's request deadline replaces a pool that stopped answering).
 *
 * Installed once per process by createEdgeDeps; a no-op where globalThis has no addEventListener
 * (Node).
 */
export function isDriverSocketCrash(error: unknown): boolean {
  if (isDatabaseUnavailable(error)) return true;
  if (!(error instanceof Error)) return false;
  const stack = error.stack ?? '';
  return /postgres[/@][^\n]*\/src\/connection\.js/.test(stack) || /[/\\]postgres[/\\]src[/\\]connection\.js/.test(stack);
}

let installed = false;

interface GuardEvent {
  error?: unknown;
  reason?: unknown;
  preventDefault(): void;
}

export function installProcessGuard(logger: Logger): boolean {
  const target = globalThis as unknown as { addEventListener?: (type: string, fn: (e: GuardEvent) => void) => void };
  if (installed || typeof target.addEventListener !== 'function') return installed;
  installed = true;
  const handle = (kind: string, error: unknown, event: GuardEvent): void => {
    if (!isDriverSocketCrash(error)) return;
    event.preventDefault();
    const e = error as { name?: unknown; message?: unknown; code?: unknown };
    logger.log('warn', 'database driver error survived', {
      kind,
      error: { name: String(e?.name), message: String(e?.message), ...(e?.code !== undefined ? { code: String(e.code) } : {}) },
    });
  };
  target.addEventListener('error', (event) => handle('uncaught', event.error, event));
  target.addEventListener('unhandledrejection', (event) => handle('unhandled_rejection', event.reason, event));
  return true;
}
