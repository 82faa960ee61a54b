import type { Platform } from './config.ts';
import {
  AccountState,
  ClaimResponse,
  HeartbeatResponse,
  HeldAccountsResponse,
  LaunchPackage,
  RealtimeTokenResponse,
  TeardownResponse,
  type HeartbeatRequest,
  type StateReport,
} from '@rubi/contracts/vps.ts';
import type { z } from 'zod';
import type { AgentMetrics } from './metrics.ts';

/**
 * The agent's side of the `vps` function (`<BACKEND_URL>/vps/...`, header X-VPS-API-Key). Request
 * and response shapes are the zod contracts of packages/contracts/src/vps.ts, the same schemas the
 * function validates with; every response is parsed, so a contract drift fails loudly here
 * instead of half-working.
 */

export type ClaimedAccount = z.infer<typeof ClaimResponse>['accounts'][number];
export type HeldAccount = z.infer<typeof HeldAccountsResponse>['accounts'][number];
export type TeardownAccount = z.infer<typeof TeardownResponse>['accounts'][number];
export type LaunchPackageBody = z.infer<typeof LaunchPackage>;
export type AccountStateBody = z.infer<typeof AccountState>;
export type HeartbeatResponseBody = z.infer<typeof HeartbeatResponse>;
export type { HeartbeatRequest, StateReport };

export class ApiError extends Error {
  constructor(
    readonly route: string,
    /** 0: no HTTP response (network error, timeout). */
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(`${route}: ${status === 0 ? '' : `${status} `}${code}: ${message}`);
    this.name = 'ApiError';
  }
}

export interface VpsApiOptions {
  backendUrl: string;
  apiKey: string;
  version: string;
  metrics?: AgentMetrics;
  timeoutMs?: number;
  fetch?: typeof fetch;
}

export class VpsApi {
  private readonly base: string;
  private readonly doFetch: typeof fetch;

  constructor(private readonly options: VpsApiOptions) {
    this.base = `${options.backendUrl.replace(/\/+$/, '')}/vps`;
    this.doFetch = options.fetch ?? fetch;
  }

  heartbeat(body: HeartbeatRequest): Promise<HeartbeatResponseBody> {
    return this.call('heartbeat', 'POST', '/heartbeat', HeartbeatResponse, body);
  }

  /** Claims up to `max` queued accounts of the given platforms (those this host has an install and an EA for). */
  async claim(max: number, platforms: Platform[]): Promise<ClaimedAccount[]> {
    return (await this.call('claim', 'POST', '/claim', ClaimResponse, { max, platforms })).accounts;
  }

  launchPackage(accountId: string): Promise<LaunchPackageBody> {
    return this.call('launch_package', 'POST', `/accounts/${encodeURIComponent(accountId)}/launch-package`, LaunchPackage);
  }

  reportState(accountId: string, report: StateReport): Promise<AccountStateBody> {
    return this.call('report_state', 'POST', `/accounts/${encodeURIComponent(accountId)}/state`, AccountState, report);
  }

  async teardown(): Promise<TeardownAccount[]> {
    return (await this.call('teardown', 'GET', '/teardown', TeardownResponse)).accounts;
  }

  async heldAccounts(): Promise<HeldAccount[]> {
    return (await this.call('accounts', 'GET', '/accounts', HeldAccountsResponse)).accounts;
  }

  /** A short-lived token that lets this host listen to the private doorbell topic (never logged). */
  async realtimeToken(): Promise<{ accessToken: string; expiresAt: Date }> {
    const body = await this.call('realtime_token', 'POST', '/realtime-token', RealtimeTokenResponse);
    return { accessToken: body.access_token, expiresAt: new Date(body.expires_at) };
  }

  private async call<S extends z.ZodType>(route: string, method: 'GET' | 'POST', path: string, schema: S, body?: unknown): Promise<z.infer<S>> {
    const started = performance.now();
    let status = 0;
    try {
      let res: Response;
      try {
        res = await this.doFetch(`${this.base}${path}`, {
          method,
          headers: {
            'x-vps-api-key': this.options.apiKey,
            accept: 'application/json',
            'user-agent': `rubi-vps-agent/${this.options.version}`,
            ...(body === undefined && method === 'GET' ? {} : { 'content-type': 'application/json' }),
          },
          ...(method === 'POST' ? { body: JSON.stringify(body ?? {}) } : {}),
          signal: AbortSignal.timeout(this.options.timeoutMs ?? 15_000),
        });
      } catch (error) {
        this.options.metrics?.apiErrors.inc({ route, kind: 'network' });
        const reason = error instanceof Error ? (error.cause instanceof Error ? `${error.message} (${error.cause.message})` : error.message) : String(error);
        throw new ApiError(route, 0, 'network_error', `cannot reach ${this.base}: ${reason}`);
      }
      status = res.status;
      const text = await res.text();
      let json: unknown;
      try {
        json = text ? JSON.parse(text) : undefined;
      } catch {
        json = undefined;
      }
      if (!res.ok) {
        this.options.metrics?.apiErrors.inc({ route, kind: `http_${res.status}` });
        const err = (json as { error?: { code?: string; message?: string } } | undefined)?.error;
        throw new ApiError(route, res.status, err?.code ?? 'http_error', err?.message ?? (text.slice(0, 200) || res.statusText));
      }
      const parsed = schema.safeParse(json);
      if (!parsed.success) {
        this.options.metrics?.apiErrors.inc({ route, kind: 'contract' });
        throw new ApiError(route, res.status, 'contract_mismatch', `unexpected response: ${parsed.error.issues.map((i) => `${i.path.join('.')} ${i.message}`).join('; ')}`);
      }
      return parsed.data;
    } finally {
      this.options.metrics?.apiLatency.observe({ route, status: String(status) }, (performance.now() - started) / 1000);
    }
  }
}
