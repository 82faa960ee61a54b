import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { WebSocketServer } from 'ws';
import type { LocalServer } from '../../src/index.ts';

/**
 * The local server on a real port under Node, for tests: HTTP through `server.fetch`, and the
 * Realtime WebSocket through `server.realtime` with the `ws` package standing in for
 * Deno.upgradeWebSocket (main.ts does the same wiring under Deno).
 */
export interface NodeServing {
  url: string;
  /** Sockets the test can inspect. */
  sockets(): number;
  close(): Promise<void>;
}

function toRequest(req: IncomingMessage, origin: string, body?: Buffer): Request {
  const headers = new Headers();
  for (const [name, value] of Object.entries(req.headers)) {
    if (value === undefined) continue;
    for (const v of Array.isArray(value) ? value : [value]) headers.append(name, v);
  }
  const method = req.method ?? 'GET';
  return new Request(new URL(req.url ?? '/', origin), {
    method,
    headers,
    ...(body && method !== 'GET' && method !== 'HEAD' ? { body: new Uint8Array(body) } : {}),
  });
}

export async function serveOnNode(server: LocalServer): Promise<NodeServing> {
  let origin = '';
  const http: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      void (async () => {
        try {
          const response = await server.fetch(toRequest(req, origin, Buffer.concat(chunks)));
          const headers: Record<string, string> = {};
          response.headers.forEach((v, k) => (headers[k] = v));
          res.writeHead(response.status, headers);
          res.end(Buffer.from(await response.arrayBuffer()));
        } catch (error) {
          res.writeHead(500);
          res.end(String(error));
        }
      })();
    });
  });
  const wss = new WebSocketServer({ noServer: true });
  http.on('upgrade', (req, socket, head) => {
    void (async () => {
      const request = toRequest(req, origin);
      if (!server.realtime.isUpgrade(request)) {
        socket.destroy();
        return;
      }
      const decision = await server.realtime.accept(request);
      if (!decision.ok) {
        const text = await decision.response.text();
        socket.end(`HTTP/1.1 ${decision.response.status} Refused\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(text)}\r\nconnection: close\r\n\r\n${text}`);
        return;
      }
      wss.handleUpgrade(req, socket, head, (ws) => {
        const debug = process.env.DEBUG_REALTIME ? (dir: string, d: unknown) => console.log(dir, typeof d === 'string' ? d : `<binary ${(d as Uint8Array).length}>`) : () => {};
        const connection = decision.open({
          send: (data) => {
            debug('<<', data);
            ws.send(data);
          },
          close: (code, reason) => ws.close(code, reason),
          get bufferedAmount() {
            return ws.bufferedAmount;
          },
        });
        ws.on('message', (data: Buffer, isBinary: boolean) => {
          debug('>>', isBinary ? new Uint8Array(data) : data.toString('utf8'));
          connection.receive(isBinary ? new Uint8Array(data) : data.toString('utf8'));
        });
        ws.on('close', () => connection.closed());
        ws.on('error', () => connection.closed());
      });
    })();
  });
  await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', () => resolve()));
  origin = `http://127.0.0.1:${(http.address() as AddressInfo).port}`;
  return {
    url: origin,
    sockets: () => wss.clients.size,
    async close() {
      for (const ws of wss.clients) ws.terminate();
      await new Promise<void>((r) => wss.close(() => r()));
      http.closeAllConnections();
      await new Promise<void>((r) => http.close(() => r()));
    },
  };
}
