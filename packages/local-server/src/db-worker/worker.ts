// Entry point of the database thread (a module Worker, started by ./spawn.ts): PGlite and its WASM
// run here, on their own core, while the main thread serves HTTP, the functions and the stand-ins.
import type { Port } from './protocol.ts';
import { serveDatabase } from './host.ts';

serveDatabase(globalThis as unknown as Port);
