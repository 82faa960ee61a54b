// Supabase Realtime for the embedded default: the Phoenix channel protocol at
// /realtime/v1/websocket, Broadcast (from the database and between clients), Presence, and private
// channels authorised by the RLS policies on realtime.messages. Runtime-agnostic: the transport
// (Deno.upgradeWebSocket in main.ts, the `ws` package in tests) hands sockets to `open`.
import type { Db } from '@rubi/db';
import type { Logger } from '@rubi/edge';
import type { JWK } from 'jose';
import type { RealtimeConnection } from './connection.ts';
import { RealtimeHub, type HubStats, type Listen } from './hub.ts';
import { isVsn, SUPPORTED_VSN, type Vsn } from './protocol.ts';
import type { RealtimeSocket } from './send-queue.ts';
import { createTokenVerifier, looksLikeJwt, type TokenVerifier } from './tokens.ts';

export type { RealtimeConnection } from './connection.ts';
export type { RealtimeSocket } from './send-queue.ts';
export { authorizeTopic, PolicyCheckError, type Policies } from './authorization.ts';
export { RealtimeHub, NOTIFY_CHANNEL, type HubStats } from './hub.ts';
export { createTokenVerifier, type TokenVerifier } from './tokens.ts';

export const REALTIME_WEBSOCKET_PATH = '/realtime/v1/websocket';

export type UpgradeDecision =
  /** Refuse the upgrade with this response. */
  | { ok: false; response: Response }
  /** Upgrade, then call `open` with the socket once it is open. */
  | { ok: true; vsn: Vsn; open(socket: RealtimeSocket): RealtimeConnection };

export interface RealtimeServer {
  /** Whether `request` asks for the Realtime WebSocket (a GET with `Upgrade: websocket` on its path). */
  isUpgrade(request: Request): boolean;
  /** The checks Realtime makes before the upgrade: `vsn` and the `apikey`. */
  accept(request: Request): Promise<UpgradeDecision>;
  stats(): HubStats;
  /** Closes every socket (clients reconnect and rejoin). */
  dropAll(): void;
  close(): Promise<void>;
}

export interface RealtimeServerOptions {
  db: Db;
  jwks: { keys: JWK[] };
  listen?: Listen;
  logger?: Logger;
  idleTimeoutMs?: number;
  maxQueuedFrames?: number;
  verifyToken?: TokenVerifier;
}

function gatewayError(status: number, message: string): Response {
  return Response.json({ message }, { status });
}

export function isRealtimeUpgrade(request: Request): boolean {
  if (request.method !== 'GET' || request.headers.get('upgrade')?.toLowerCase() !== 'websocket') return false;
  const path = new URL(request.url).pathname.replace(/\/+$/, '');
  return path === REALTIME_WEBSOCKET_PATH;
}

export async function createRealtimeServer(options: RealtimeServerOptions): Promise<RealtimeServer> {
  const verifyToken = options.verifyToken ?? createTokenVerifier(options.jwks);
  const hub = new RealtimeHub({
    db: options.db,
    verifyToken,
    ...(options.listen ? { listen: options.listen } : {}),
    ...(options.logger ? { logger: options.logger } : {}),
    ...(options.idleTimeoutMs !== undefined ? { idleTimeoutMs: options.idleTimeoutMs } : {}),
    ...(options.maxQueuedFrames !== undefined ? { maxQueuedFrames: options.maxQueuedFrames } : {}),
  });
  await hub.start();

  return {
    isUpgrade: isRealtimeUpgrade,
    async accept(request) {
      const url = new URL(request.url);
      // Phoenix's default when the client names no version.
      const vsn = url.searchParams.get('vsn') ?? '1.0.0';
      if (!isVsn(vsn)) return { ok: false, response: gatewayError(400, `unsupported vsn ${JSON.stringify(vsn)}: the server speaks ${SUPPORTED_VSN.join(' and ')}`) };
      // What the API gateway asks of every request: a key. The local server accepts any
      // publishable key (as its functions do); a JWT must be one of ours and valid.
      const apikey = url.searchParams.get('apikey') ?? request.headers.get('apikey') ?? request.headers.get('x-api-key') ?? '';
      if (apikey === '') return { ok: false, response: gatewayError(401, 'No API key found in request') };
      if (looksLikeJwt(apikey)) {
        const check = await verifyToken(apikey);
        if (!check.ok) return { ok: false, response: gatewayError(401, `Invalid API key: ${check.reason}`) };
      }
      return { ok: true, vsn, open: (socket) => hub.connect(socket, vsn, apikey) };
    },
    stats: () => hub.stats(),
    dropAll: () => hub.dropAll(),
    close: () => hub.close(),
  };
}
