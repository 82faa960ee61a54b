import { createServer, connect, type AddressInfo, type Server, type Socket } from 'node:net';

/**
 * A small TCP proxy for fault injection between the functions and PostgreSQL.
 *
 * Modes (switch at any time with `setMode`):
 * - `pass`: forward both ways (with `latencyMs` added to each chunk, if set);
 * - `drop`: new connections are accepted and closed at once; open ones keep working;
 * Actions:
 * - `resetAll()`: destroys every open connection with a TCP RST (a reset storm when repeated);
 * - `silenceAll()`: every open connection stops forwarding, for good, without closing (half-open:
 *   what a dead NAT entry or a pulled cable looks like); new connections work.
 */
export type ProxyMode = 'pass' | 'drop';

interface Pair {
  client: Socket;
  server: Socket;
  silent: boolean;
}

export interface TcpProxy {
  port: number;
  url(databaseUrl: string): string;
  setMode(mode: ProxyMode): void;
  readonly mode: ProxyMode;
  latencyMs: number;
  /** Destroys every open connection with a reset; returns how many. */
  resetAll(): number;
  /** Makes every open connection silent (half-open); returns how many. */
  silenceAll(): number;
  /** Open connection pairs. */
  readonly open: number;
  close(): Promise<void>;
}

export async function startTcpProxy(target: { host: string; port: number }): Promise<TcpProxy> {
  const pairs = new Set<Pair>();
  let mode: ProxyMode = 'pass';
  const state = { latencyMs: 0 };

  const forward = (pair: Pair, from: Socket, to: Socket): void => {
    from.on('data', (chunk: Buffer) => {
      if (pair.silent) return; // swallowed: nothing arrives, nothing closes
      const send = (): void => {
        if (!to.destroyed) to.write(chunk);
      };
      if (state.latencyMs > 0) setTimeout(send, state.latencyMs);
      else send();
    });
  };

  const server: Server = createServer((client) => {
    client.on('error', () => {});
    if (mode === 'drop') {
      client.resetAndDestroy();
      return;
    }
    const upstream = connect(target.port, target.host);
    upstream.on('error', () => {});
    const pair: Pair = { client, server: upstream, silent: false };
    pairs.add(pair);
    forward(pair, client, upstream);
    forward(pair, upstream, client);
    const end = (): void => {
      if (pair.silent) return; // a half-open link tells the other side nothing
      pairs.delete(pair);
      if (!client.destroyed) client.destroy();
      if (!upstream.destroyed) upstream.destroy();
    };
    client.on('close', end);
    upstream.on('close', end);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;

  return {
    port,
    url(databaseUrl) {
      const u = new URL(databaseUrl);
      u.hostname = '127.0.0.1';
      u.port = String(port);
      return u.toString();
    },
    setMode(next) {
      mode = next;
    },
    get mode() {
      return mode;
    },
    get latencyMs() {
      return state.latencyMs;
    },
    set latencyMs(ms: number) {
      state.latencyMs = ms;
    },
    resetAll() {
      let n = 0;
      for (const pair of [...pairs]) {
        pairs.delete(pair);
        pair.client.resetAndDestroy();
        pair.server.resetAndDestroy();
        n++;
      }
      return n;
    },
    silenceAll() {
      let n = 0;
      for (const pair of pairs) {
        if (!pair.silent) n++;
        pair.silent = true;
      }
      return n;
    },
    get open() {
      return pairs.size;
    },
    async close() {
      for (const pair of pairs) {
        pair.client.destroy();
        pair.server.destroy();
      }
      pairs.clear();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
