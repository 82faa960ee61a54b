import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { WebSocketServer, type WebSocket } from 'ws';

/**
 * Just enough of Supabase Realtime (the Phoenix channel protocol over a WebSocket at
 * /realtime/v1/websocket, JSON frames `[join_ref, ref, topic, event, payload]`) for supabase-js to
 * join a public broadcast channel and receive broadcasts: join replies, heartbeat replies, and
 * `ring()` pushing a broadcast to every socket that joined the topic. `dropAll()` cuts every
 * connection, to see the client reconnect and rejoin.
 */
export class FakeRealtime {
  private http: Server | null = null;
  private wss: WebSocketServer | null = null;
  private readonly joined = new Map<WebSocket, Set<string>>();
  readonly joins: { topic: string; apikey: string | null; payload: unknown }[] = [];
  /** `access_token` pushes (a client refreshing its token on joined channels). */
  readonly tokenPushes: { topic: string; payload: unknown }[] = [];
  origin = '';

  async start(): Promise<void> {
    this.http = createServer((_req, res) => {
      res.writeHead(404);
      res.end();
    });
    this.wss = new WebSocketServer({ server: this.http, path: '/realtime/v1/websocket' });
    this.wss.on('connection', (socket, req) => {
      const apikey = new URL(req.url ?? '/', 'http://x').searchParams.get('apikey');
      this.joined.set(socket, new Set());
      socket.on('close', () => this.joined.delete(socket));
      socket.on('message', (data, isBinary) => {
        if (isBinary) return;
        let msg: unknown;
        try {
          msg = JSON.parse(data.toString());
        } catch {
          return;
        }
        if (!Array.isArray(msg)) return;
        const [joinRef, ref, topic, event, payload] = msg as [string | null, string | null, string, string, unknown];
        const reply = (response: unknown) => socket.send(JSON.stringify([joinRef, ref, topic, 'phx_reply', { status: 'ok', response }]));
        if (event === 'phx_join') {
          this.joined.get(socket)?.add(topic);
          this.joins.push({ topic, apikey, payload });
          reply({ postgres_changes: [] });
        } else if (event === 'heartbeat' || event === 'phx_leave' || event === 'access_token') {
          if (event === 'phx_leave') this.joined.get(socket)?.delete(topic);
          if (event === 'access_token') this.tokenPushes.push({ topic, payload });
          if (event !== 'access_token') reply({});
        }
      });
    });
    await new Promise<void>((r) => this.http!.listen(0, '127.0.0.1', () => r()));
    this.origin = `http://127.0.0.1:${(this.http.address() as AddressInfo).port}`;
  }

  /** Sockets currently joined to `realtime:<topic>`. */
  listeners(topic: string): number {
    return [...this.joined.values()].filter((t) => t.has(`realtime:${topic}`)).length;
  }

  ring(topic: string, event: string, payload: Record<string, unknown> = {}): number {
    let n = 0;
    for (const [socket, topics] of this.joined) {
      if (!topics.has(`realtime:${topic}`)) continue;
      socket.send(JSON.stringify([null, null, `realtime:${topic}`, 'broadcast', { type: 'broadcast', event, payload }]));
      n++;
    }
    return n;
  }

  dropAll(): void {
    for (const socket of this.joined.keys()) socket.terminate();
    this.joined.clear();
  }

  async stop(): Promise<void> {
    this.dropAll();
    await new Promise<void>((r) => (this.wss ? this.wss.close(() => r()) : r()));
    this.http?.closeAllConnections();
    await new Promise<void>((r) => (this.http ? this.http.close(() => r()) : r()));
  }
}
