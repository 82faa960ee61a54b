import { SessionList, AccountStats } from '@rubi/contracts/accounts-read.ts';
import { CreatedEaKey } from '@rubi/contracts/keys.ts';
import { PositionList } from '@rubi/contracts/positions.ts';
import { Signal, type CreateSignalRequest } from '@rubi/contracts/signals.ts';
import { ClosedTradeList } from '@rubi/contracts/trades.ts';
import { BrokerList, Ledger, TradingAccount, type Platform } from '@rubi/contracts/trading-accounts.ts';
import { requestJson, type FetchLike } from '@rubi/ea-sim';
import { z } from 'zod';

/**
 * The two non-EA clients of the demo: a dashboard user (a Supabase Auth session, then the
 * functions with `Authorization: Bearer`) and the local operator (service_role key, /_local
 * routes of `npm start`). Every response is parsed with its contract schema.
 */

const AuthSession = z.object({ access_token: z.string(), user: z.object({ id: z.string(), email: z.string() }) });
const LocalInfo = z.object({ name: z.string(), data_dir: z.string().nullable() });
const CreatedHost = z.object({ id: z.string(), name: z.string(), capacity: z.number(), dedicated_user_id: z.string().nullable(), api_key: z.string() });
const CronRun = z.object({ jobname: z.string(), status: z.enum(['succeeded', 'failed']), message: z.string() });

export class Backend {
  readonly functionsUrl: string;

  constructor(
    readonly url: string,
    readonly fetch: FetchLike = (input, init) => globalThis.fetch(input, init),
  ) {
    this.url = url.replace(/\/+$/, '');
    this.functionsUrl = `${this.url}/functions/v1`;
  }

  /**
   * What `GET /` of the local server says when asked for JSON (a browser gets the dashboard there),
   * or undefined if nothing (or something else) answers.
   */
  async localInfo(): Promise<z.infer<typeof LocalInfo> | undefined> {
    try {
      return await requestJson('GET', `${this.url}/`, LocalInfo, { headers: { accept: 'application/json' } }, { fetch: this.fetch, timeoutMs: 2000 });
    } catch {
      return undefined;
    }
  }

  /** Supabase Auth sign-up (the local stand-in confirms at once and returns a session). */
  async signUp(email: string, password: string): Promise<Dashboard> {
    const session = await requestJson('POST', `${this.url}/auth/v1/signup`, AuthSession, { body: JSON.stringify({ email, password }) }, { fetch: this.fetch });
    return new Dashboard(this, session.access_token, session.user.id);
  }

  operator(serviceRoleKey: string): Operator {
    return new Operator(this, serviceRoleKey);
  }
}

export class Dashboard {
  constructor(
    private readonly backend: Backend,
    readonly token: string,
    readonly userId: string,
  ) {}

  private call<S extends z.ZodType>(method: string, path: string, schema: S, body?: unknown): Promise<z.infer<S>> {
    return requestJson(
      method,
      `${this.backend.functionsUrl}${path}`,
      schema,
      { headers: { authorization: `Bearer ${this.token}` }, ...(body === undefined ? {} : { body: JSON.stringify(body) }) },
      { fetch: this.backend.fetch, timeoutMs: 10_000 },
    );
  }

  createEaKey(name: string) {
    return this.call('POST', '/keys', CreatedEaKey, { name });
  }
  createSignal(body: z.input<typeof CreateSignalRequest>) {
    return this.call('POST', '/signals', Signal, body);
  }
  signal(id: string) {
    return this.call('GET', `/signals/${id}`, Signal);
  }
  positions(query: { status?: 'open' | 'closed' | 'all'; session_id?: string } = {}) {
    return this.call('GET', `/positions?${new URLSearchParams(query)}`, PositionList);
  }
  sessions() {
    return this.call('GET', '/accounts/sessions', SessionList);
  }
  stats() {
    return this.call('GET', '/accounts/stats', AccountStats);
  }
  brokers() {
    return this.call('GET', '/accounts/brokers', BrokerList);
  }
  registerTradingAccount(body: { broker_id: string; platform: Platform; login: number; server: string; investor_password: string }) {
    return this.call('POST', '/accounts/trading-accounts', TradingAccount, body);
  }
  tradingAccount(id: string) {
    return this.call('GET', `/accounts/trading-accounts/${id}`, TradingAccount);
  }
  ledger(accountId: string) {
    return this.call('GET', `/accounts/trading-accounts/${accountId}/ledger`, Ledger);
  }
  trades(accountId: string) {
    return this.call('GET', `/trades?${new URLSearchParams({ account_id: accountId })}`, ClosedTradeList);
  }
}

export class Operator {
  constructor(
    private readonly backend: Backend,
    private readonly serviceRoleKey: string,
  ) {}

  private call<S extends z.ZodType>(path: string, schema: S, body?: unknown): Promise<z.infer<S>> {
    return requestJson(
      'POST',
      `${this.backend.url}/_local${path}`,
      schema,
      { headers: { authorization: `Bearer ${this.serviceRoleKey}` }, ...(body === undefined ? {} : { body: JSON.stringify(body) }) },
      { fetch: this.backend.fetch, timeoutMs: 30_000 },
    );
  }

  /**
   * A VPS host and its API key (shown once), like `npm run vps-host -- create <name>`. Dedicated
   * to a user, it claims only that user's accounts (`--dedicated-to`).
   */
  createVpsHost(name: string, options: { capacity?: number; dedicatedUserId?: string } = {}) {
    return this.call('/vps-hosts', CreatedHost, { name, capacity: options.capacity ?? 5, dedicated_user_id: options.dedicatedUserId ?? null });
  }

  /** Runs a pg_cron job now, e.g. `rubi-settle-cashback`. */
  runCronJob(jobname: string) {
    return this.call(`/cron/${encodeURIComponent(jobname)}/run`, CronRun);
  }
}
