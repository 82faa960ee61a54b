import { createServer } from 'node:net';

/** A free TCP port on 127.0.0.1 (bind port 0, read it, close). Used by the demo and the integration tier (cluster, Deno functions). */
export function freePort(): Promise<number> {
  return new Promise((resolvePort, reject) => {
    const server = createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => (port > 0 ? resolvePort(port) : reject(new Error('could not get a free port'))));
    });
  });
}
