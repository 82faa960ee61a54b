import { connectDatabase, type LocalDatabase } from './client.ts';
import type { OpenOptions, Port } from './protocol.ts';

/**
 * PGlite in a Web Worker (Deno): opened, migrated and closed there; this thread gets a Db that
 * sends it statements. A worker that dies takes the process down as an uncaught error would in
 * process; what was waiting on it fails as "database unavailable" first.
 */
export function openDatabaseInWorker(options: OpenOptions): Promise<LocalDatabase> {
  const worker = new Worker(new URL('./worker.ts', import.meta.url), { type: 'module' });
  return connectDatabase(
    {
      port: worker as unknown as Port,
      terminate: () => worker.terminate(),
      onFailure: (handler) => worker.addEventListener('error', (event) => handler(new Error(event.message))),
    },
    options,
  );
}
