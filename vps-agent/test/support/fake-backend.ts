import { randomBytes, randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { ClaimRequest, HeartbeatRequest, StateReport } from '@rubi/contracts/vps.ts';

/**
 * An in-memory stand-in for the `vps` function, for unit tests of the agent's own logic. It
 * validates every request with the same zod contracts the real function uses and mirrors the
 * SQL's rules (claim up to free capacity, a host sees only what it holds, error releases the
 * account, stopped removes a deleted account). The real function is exercised end to end in
 * tests/integration/e2e/vps-agent.test.ts.
 */

export interface FakeAccount {
  account_id: string;
  external_account_id: string;
  platform: 'MT4' | 'MT5';
  login: number;
  server: string;
  broker: string;
  password: string;
  status: 'pending_vps_setup' | 'provisioning' | 'connected' | 'error' | 'disconnected';
  host: string | null;
  terminal_state: 'launching' | 'running' | 'stopped' | 'crashed' | null;
  paused: boolean;
  deleted: boolean;
  error_code: string | null;
  error_message: string | null;
  attempts: number;
  created: number;
  tokens: string[];
  /** Every host that ever claimed it (none twice: the capacity test checks this). */
  claimedBy: string[];
}

export interface RecordedRequest {
  host: string | null;
  method: string;
  path: string;
  body: unknown;
  headers: Record<string, string | string[] | undefined>;
}

export class FakeBackend {
  readonly accounts = new Map<string, FakeAccount>();
  readonly hosts = new Map<string, { id: string; capacity: number; name: string }>();
  readonly requests: RecordedRequest[] = [];
  /** POST /vps/realtime-token: lifetime of the tokens it hands out; null answers 503 (no signing key). */
  realtimeTokenSeconds: number | null = 600;
  /** Every Realtime token handed out, in order. */
  readonly realtimeTokens: string[] = [];
  readonly reports: { account_id: string; host: string; state: string; error_code?: string | undefined; error_message?: string | undefined }[] = [];
  private server: Server | null = null;
  private seq = 0;
  origin = '';

  /** The functions base URL the agent gets as BACKEND_URL. */
  get url(): string {
    return `${this.origin}/functions/v1`;
  }

  addHost(name: string, capacity = 5): { id: string; key: string } {
    const key = `vpsk_${randomBytes(24).toString('base64url')}`;
    const id = randomUUID();
    this.hosts.set(key, { id, capacity, name });
    return { id, key };
  }

  addAccount(partial: Partial<FakeAccount> = {}): FakeAccount {
    const account: FakeAccount = {
      account_id: randomUUID(),
      external_account_id: randomUUID(),
      platform: 'MT5',
      login: 5_000_000 + ++this.seq,
      server: 'FakeBroker-Demo',
      broker: 'Fake Broker',
      password: `Inv3stor-${randomBytes(6).toString('hex')}`,
      status: 'pending_vps_setup',
      host: null,
      terminal_state: null,
      paused: false,
      deleted: false,
      error_code: null,
      error_message: null,
      attempts: 0,
      created: this.seq,
      tokens: [],
      claimedBy: [],
      ...partial,
    };
    this.accounts.set(account.account_id, account);
    return account;
  }

  heldBy(hostId: string): FakeAccount[] {
    return [...this.accounts.values()].filter((a) => a.host === hostId).sort((a, b) => a.created - b.created);
  }

  reportsFor(accountId: string): string[] {
    return this.reports.filter((r) => r.account_id === accountId).map((r) => (r.error_code ? `${r.state}:${r.error_code}` : r.state));
  }

  async start(): Promise<void> {
    this.server = createServer((req, res) => {
      void this.handle(req, res).catch((error: unknown) => {
        res.writeHead(500, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ error: { code: 'internal_error', message: String(error) } }));
      });
    });
    await new Promise<void>((r) => this.server!.listen(0, '127.0.0.1', () => r()));
    this.origin = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  async stop(): Promise<void> {
    if (!this.server) return;
    this.server.closeAllConnections();
    await new Promise<void>((r) => this.server!.close(() => r()));
    this.server = null;
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const send = (status: number, body: unknown) => {
      res.writeHead(status, { 'content-type': 'application/json', 'x-request-id': randomUUID() });
      res.end(JSON.stringify(body));
    };
    const error = (status: number, code: string, message: string, details?: unknown) => send(status, { error: { code, message, ...(details ? { details } : {}) } });
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const raw = Buffer.concat(chunks).toString('utf8');
    let body: unknown = undefined;
    if (raw) {
      try {
        body = JSON.parse(raw);
      } catch {
        return error(400, 'invalid_request', 'body is not JSON');
      }
    }
    const url = new URL(req.url ?? '/', this.origin);
    const path = url.pathname.replace(/^\/functions\/v1/, '');
    const key = req.headers['x-vps-api-key'];
    const host = typeof key === 'string' ? this.hosts.get(key) : undefined;
    this.requests.push({ host: host?.id ?? null, method: req.method ?? '', path, body, headers: req.headers });
    if (!path.startsWith('/vps/')) return error(404, 'not_found', 'no such function');
    if (!host) return error(401, 'unauthorized', 'unknown or revoked VPS host key');
    const held = (id: string) => {
      const a = this.accounts.get(id);
      return a && a.host === host.id ? a : undefined;
    };

    if (req.method === 'POST' && path === '/vps/heartbeat') {
      const parsed = HeartbeatRequest.safeParse(body);
      if (!parsed.success) return error(400, 'invalid_request', 'bad heartbeat', parsed.error.issues);
      host.capacity = parsed.data.capacity;
      const notHeld: string[] = [];
      for (const t of parsed.data.terminals) {
        const a = held(t.account_id);
        if (a) a.terminal_state = t.state;
        else notHeld.push(t.account_id);
      }
      return send(200, { leases_renewed: this.heldBy(host.id).length, server_time: new Date().toISOString(), lease_seconds: 180, not_held: notHeld.sort() });
    }
    if (req.method === 'POST' && path === '/vps/realtime-token') {
      if (this.realtimeTokenSeconds === null) return error(503, 'unavailable', 'no Realtime signing key (REALTIME_SIGNING_JWK) is configured: poll instead');
      const token = `fake-rt.${host.id}.${this.realtimeTokens.length + 1}`;
      this.realtimeTokens.push(token);
      return send(200, { access_token: token, expires_at: new Date(Date.now() + this.realtimeTokenSeconds * 1000).toISOString(), topic: 'vps:doorbell' });
    }
    if (req.method === 'POST' && path === '/vps/claim') {
      const parsed = ClaimRequest.safeParse(body);
      if (!parsed.success) return error(400, 'invalid_request', 'bad claim', parsed.error.issues);
      const take = Math.min(parsed.data.max, Math.max(host.capacity - this.heldBy(host.id).length, 0));
      const picked = [...this.accounts.values()]
        .filter((a) => a.status === 'pending_vps_setup' && a.host === null && !a.paused && !a.deleted)
        .filter((a) => (parsed.data.platforms ?? ['MT4', 'MT5']).includes(a.platform))
        .sort((a, b) => a.created - b.created)
        .slice(0, take);
      for (const a of picked) {
        a.status = 'provisioning';
        a.host = host.id;
        a.claimedBy.push(host.id);
      }
      return send(200, {
        accounts: picked.map((a) => ({ account_id: a.account_id, external_account_id: a.external_account_id, platform: a.platform, login: a.login, server: a.server, broker: a.broker })),
      });
    }
    const m = /^\/vps\/accounts\/([^/]+)\/(launch-package|state)$/.exec(path);
    if (req.method === 'POST' && m) {
      const a = held(decodeURIComponent(m[1]!));
      if (!a) return error(404, 'not_found', 'account not found');
      if (m[2] === 'launch-package') {
        if (a.deleted || a.paused) return error(409, 'conflict', 'the account is paused or deleted: tear it down');
        if (!['provisioning', 'connected'].includes(a.status)) return error(409, 'conflict', `status ${a.status}`);
        const token = randomBytes(32).toString('base64url');
        a.tokens.push(token);
        return send(200, {
          account_id: a.account_id,
          external_account_id: a.external_account_id,
          platform: a.platform,
          login: a.login,
          server: a.server,
          broker: a.broker,
          investor_password: a.password,
          provisioning_token: token,
          token_expires_at: new Date(Date.now() + 3600_000).toISOString(),
          register_url: `${this.origin}/functions/v1/register`,
          trades_url: `${this.origin}/functions/v1/trades`,
        });
      }
      const parsed = StateReport.safeParse(body);
      if (!parsed.success) return error(400, 'invalid_request', 'bad state report', parsed.error.issues);
      const r = parsed.data;
      this.reports.push({ account_id: a.account_id, host: host.id, state: r.state, error_code: r.error_code, error_message: r.error_message });
      let removed = false;
      if (r.state === 'error' && !a.paused && !a.deleted) {
        Object.assign(a, { status: 'error', host: null, error_code: r.error_code, error_message: r.error_message ?? null, attempts: a.attempts + 1, terminal_state: 'stopped' });
      } else if (r.state === 'connected') {
        if (['provisioning', 'disconnected'].includes(a.status) && !a.paused && !a.deleted) a.status = 'connected';
        a.terminal_state = 'running';
      } else if (r.state === 'stopped' && a.deleted) {
        this.accounts.delete(a.account_id);
        removed = true;
      } else if (r.state === 'stopped' && a.paused) {
        Object.assign(a, { host: null, terminal_state: 'stopped' });
      } else if (r.state !== 'error') {
        a.terminal_state = r.state === 'stopped' ? 'stopped' : r.state;
      }
      return send(200, {
        account_id: a.account_id,
        external_account_id: a.external_account_id,
        status: a.status,
        terminal_state: a.terminal_state,
        error_code: a.error_code,
        error_message: a.error_message,
        attempts: a.attempts,
        next_retry_at: null,
        held: !removed && a.host === host.id,
        removed,
      });
    }
    if (req.method === 'GET' && path === '/vps/teardown') {
      return send(200, {
        accounts: this.heldBy(host.id)
          .filter((a) => a.paused || a.deleted)
          .map((a) => ({ account_id: a.account_id, external_account_id: a.external_account_id, platform: a.platform, reason: a.deleted ? 'deleted' : 'paused' })),
      });
    }
    if (req.method === 'GET' && path === '/vps/accounts') {
      return send(200, {
        accounts: this.heldBy(host.id).map((a) => ({
          account_id: a.account_id,
          external_account_id: a.external_account_id,
          platform: a.platform,
          login: a.login,
          server: a.server,
          broker: a.broker,
          status: a.status,
          terminal_state: a.terminal_state,
          lease_expires_at: new Date(Date.now() + 180_000).toISOString(),
          teardown: a.deleted ? 'deleted' : a.paused ? 'paused' : null,
        })),
      });
    }
    return error(404, 'not_found', `no route ${req.method} ${path}`);
  }
}
