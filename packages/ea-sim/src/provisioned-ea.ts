import { existsSync } from 'node:fs';
import { readFile, rename, writeFile } from 'node:fs/promises';
import { RegisterResponse } from '@rubi/contracts/register.ts';
import { MAX_OWNERSHIP_CODES, MAX_TRADES_PER_BATCH, Ownership, ReportTradesResponse, type ClosedTradeInput, type ReportTradesRequest } from '@rubi/contracts/trades.ts';
import type { Vocabulary } from '@rubi/contracts/vocabulary.ts';
import { EaHttpError, requestJson, SignedHttp, type HttpEvent, type HttpOptions } from './signed-http.ts';
import { sleep } from './sleep.ts';
import { appendEaLog, readEaConfigFile, readTerminalFolder, type EaConfigFile } from './terminal-files.ts';

/**
 * The provisioned EA (the cashback EA the VPS agent installs) as a TypeScript client.
 *
 *   start      read rendr_ea_config.ini (written by the agent); POST register_url with the
 *              account's login, server, platform and the one-time token -> the api secret
 *   every 60 s POST trades_url with the closed trades not yet acknowledged (an empty batch when
 *              there are none: it keeps the account `connected`), signed with the api secret
 *
 * The outbox: a closed trade stays in it until a response lists its ticket as accepted or as a
 * duplicate. A request whose response is lost is simply sent again; the server stores each
 * ticket once, so the resend is harmless. A trade the server refuses as malformed (400 naming
 * `body.trades.<i>`) is set aside instead of blocking the rest forever. With a state file the
 * api secret and the outbox survive a restart (the MQL EA keeps them in its Files folder).
 * Within one flush each request is retried and its clock resynced as signed-http.ts describes (a
 * clock more than 300 s off is corrected, not taken for a re-provisioned account).
 *
 * The ownership proof (issue #15; the MQL EA's rules, mql/Include/Rubi/TradeSync.mqh): until the
 * backend answers `ownership: "verified"`, scanOwnership() reads the account's order comments (the
 * pending orders open now and the history orders since registered_at) for codes
 * `RUBI-[0-9A-HJKMNP-TV-Z]{8}` (case-insensitive, sent upper-cased, deduplicated, the first 10) and
 * every flush sends them as `ownership_codes`. The answer's `ownership` is kept (state file); an
 * answer without it (an older backend) changes nothing, and a 400 naming `ownership_codes` (a strict
 * older backend) makes the EA send its trades without the codes from then on.
 *
 * The report on the terminal (account health, issue #16; the MQL EA's rules): every request says
 * `broker_connected` when the EA knows its terminal (a `broker` link: SimulatedAccount), and, once
 * run() has read the history (`source`), `backfill_complete` with `history_synced_until` (the
 * instant of the last complete read) on the request that leaves the outbox empty, false on the
 * ones before it. A terminal that is not connected to the broker reads no history but still sends
 * its (empty) batch, so the backend learns it.
 */

/** An ownership code anywhere in a comment (the contract's OWNERSHIP_CODE_PATTERN, unanchored, any case). */
export const OWNERSHIP_CODE = /RUBI-[0-9A-HJKMNP-TV-Z]{8}/gi;
/** The answer, with `ownership` optional: a backend older than the proof does not send it. */
const TradesAnswer = ReportTradesResponse.extend({ ownership: Ownership.optional() });

/** The ownership codes in these comments: every match anywhere, upper-cased, deduplicated, the first `max`. */
export function ownershipCodesIn(comments: Iterable<string>, max = MAX_OWNERSHIP_CODES): string[] {
  const codes: string[] = [];
  for (const comment of comments) {
    for (const m of comment.matchAll(OWNERSHIP_CODE)) {
      const code = m[0].toUpperCase();
      if (codes.includes(code)) continue;
      if (codes.length >= max) return codes;
      codes.push(code);
    }
  }
  return codes;
}

/** Where the EA reads order comments (SimulatedAccount.orderComments: MT5 OrdersTotal + HistoryOrders*). */
export interface OrderCommentSource {
  orderComments(since: Date): readonly string[];
}

/** registered_at is UTC, order times the trade server's: its offset is at most 14 h either way. */
const MAX_SERVER_OFFSET_MS = 14 * 3600_000;

export type ProvisionedEvent =
  | { type: 'registered'; status: string; pollIntervalSeconds: number }
  | { type: 'trades_sent'; sent: number; accepted: number[]; duplicates: number[]; cashbackAccrued: number }
  | { type: 'trades_set_aside'; tickets: number[]; reasons: string[] }
  | { type: 'send_failed'; error: EaHttpError; kept: number }
  | { type: 'ownership_codes_found'; codes: string[] }
  | { type: 'ownership'; ownership: Ownership }
  | { type: 'ownership_codes_refused'; message: string }
  | { type: 'broker_disconnected' }
  | HttpEvent;

/** What the EA asks its terminal about the broker (MT5 TERMINAL_CONNECTED, MT4 IsConnected()). */
export interface BrokerLink {
  readonly brokerConnected: boolean;
}

/** The optional report on the terminal a POST /trades body carries (packages/contracts/src/trades.ts). */
export type TerminalReport = Pick<ReportTradesRequest, 'broker_connected' | 'history_synced_until' | 'backfill_complete'>;

export interface ProvisionedIdentity {
  platform: Vocabulary<'platform'>;
  login: number;
  server: string;
}

export interface ProvisionedEaOptions {
  config: EaConfigFile;
  identity: ProvisionedIdentity;
  /** TERMINAL_BUILD sent to register. */
  terminalBuild?: number;
  /** JSON file for the api secret and the outbox (mode 0600); none: in memory. */
  stateFile?: string;
  /** The terminal folder the EA runs in: its log lines go to the terminal's EA log, as the MQL EA's Print() does. */
  terminalFolder?: string;
  http?: HttpOptions;
  onEvent?: (event: ProvisionedEvent) => void;
  /** The terminal's connection to the broker; none: not reported (as an older EA). */
  broker?: BrokerLink;
}

export interface FlushResult {
  sent: number;
  accepted: number[];
  duplicates: number[];
  cashbackAccrued: number;
  /** Trades still in the outbox. */
  remaining: number;
  /** Set when a request failed: the trades stay in the outbox for the next attempt. */
  error?: EaHttpError;
  /** The last answer's `ownership` (absent from an older backend). */
  ownership?: Ownership;
}

interface StoredState {
  external_account_id: string;
  api_secret: string | null;
  outbox: ClosedTradeInput[];
  acknowledged: number[];
  set_aside: ClosedTradeInput[];
  /** Absent in files written before the ownership proof. */
  registered_at?: string | null;
  ownership?: Ownership | null;
}

/** How many acknowledged tickets are remembered to refuse re-queueing them (a rolling window). */
const ACKNOWLEDGED_MEMORY = 10_000;

export class ProvisionedEa {
  readonly config: EaConfigFile;
  readonly identity: ProvisionedIdentity;
  pollIntervalSeconds = 60;
  private maxBatch = MAX_TRADES_PER_BATCH;
  private apiSecret: string | null = null;
  private http: SignedHttp | undefined;
  private queue: ClosedTradeInput[] = [];
  private acknowledged: number[] = [];
  private readonly acknowledgedSet = new Set<number>();
  private setAside: ClosedTradeInput[] = [];
  private clockOffsetMs = 0;
  private registeredAt: string | null = null;
  private ownershipState: Ownership | null = null;
  private codes: string[] = [];
  private codesRefused = false;
  private broker: BrokerLink | undefined;
  /** The instant of the last complete history read (null: none yet this run: nothing reported). */
  private historyReadAt: string | null = null;

  constructor(private readonly o: ProvisionedEaOptions) {
    this.config = o.config;
    this.identity = o.identity;
    this.broker = o.broker;
  }

  /** The report the next request carries, for a batch that leaves `left` trades in the outbox. */
  terminalReport(left = 0): TerminalReport {
    const report: TerminalReport = {};
    if (this.broker) report.broker_connected = this.broker.brokerConnected;
    if (this.historyReadAt !== null) {
      report.backfill_complete = left === 0;
      if (left === 0) report.history_synced_until = this.historyReadAt;
    }
    return report;
  }

  /** The EA of the terminal in `folder` (a portable folder made by rubi-vps-agent). */
  static async fromTerminalFolder(folder: string, options: Omit<ProvisionedEaOptions, 'config' | 'identity'> = {}): Promise<ProvisionedEa> {
    const identity = await readTerminalFolder(folder);
    const config = await readEaConfigFile(identity.eaConfigPath);
    const ea = new ProvisionedEa({ ...options, terminalFolder: folder, config, identity: { platform: identity.platform, login: identity.login, server: identity.server } });
    await ea.load();
    return ea;
  }

  get registered(): boolean {
    return this.apiSecret !== null;
  }

  get outbox(): readonly ClosedTradeInput[] {
    return this.queue;
  }

  get setAsideTrades(): readonly ClosedTradeInput[] {
    return this.setAside;
  }

  /** The last `ownership` answer (null: none yet, or a backend older than the proof). */
  get ownership(): Ownership | null {
    return this.ownershipState;
  }

  /** The ownership codes the next flush sends (none once verified). */
  get ownershipCodes(): readonly string[] {
    return this.sendsCodes ? this.codes : [];
  }

  private get sendsCodes(): boolean {
    return this.ownershipState !== 'verified' && !this.codesRefused;
  }

  /**
   * Reads the account's order comments for ownership codes (the pending orders and the history orders
   * since registered_at), unless verified; new codes are kept for the flushes of this run. Returns
   * the codes the next flush sends.
   */
  async scanOwnership(orders: OrderCommentSource): Promise<readonly string[]> {
    if (!this.sendsCodes) return [];
    const since = this.registeredAt ? new Date(Date.parse(this.registeredAt) - MAX_SERVER_OFFSET_MS) : new Date(0);
    const found = ownershipCodesIn(orders.orderComments(since)).filter((c) => !this.codes.includes(c));
    const added = found.slice(0, MAX_OWNERSHIP_CODES - this.codes.length);
    if (added.length > 0) {
      this.codes.push(...added);
      for (const c of added) await this.print(`ownership code ${c} found in an order's comment: sent with the trades until the backend confirms the account's owner`);
      this.o.onEvent?.({ type: 'ownership_codes_found', codes: added });
    }
    return this.codes;
  }

  private async ownershipAnswer(ownership: Ownership | undefined): Promise<void> {
    if (ownership === undefined || ownership === this.ownershipState) return;
    this.ownershipState = ownership;
    if (ownership === 'verified') this.codes = [];
    await this.print(
      ownership === 'verified'
        ? 'ownership verified: this registration is the trading account\'s proven owner, cashback accrues'
        : ownership === 'owned_elsewhere'
          ? 'ownership: another registration of this trading account proved it owns it; this one earns no cashback'
          : 'ownership unverified: cashback is withheld until the trader places a pending order with the ownership code as its comment',
    );
    this.o.onEvent?.({ type: 'ownership', ownership });
  }

  /** Restores the api secret and the outbox from the state file, if there is one for this account. */
  async load(): Promise<void> {
    if (!this.o.stateFile || !existsSync(this.o.stateFile)) return;
    const state = JSON.parse(await readFile(this.o.stateFile, 'utf8')) as StoredState;
    if (state.external_account_id !== this.config.external_account_id) return;
    this.useSecret(state.api_secret);
    this.queue = state.outbox;
    this.acknowledged = state.acknowledged;
    for (const t of this.acknowledged) this.acknowledgedSet.add(t);
    this.setAside = state.set_aside;
    this.registeredAt = state.registered_at ?? null;
    this.ownershipState = state.ownership ?? null;
  }

  private async save(): Promise<void> {
    if (!this.o.stateFile) return;
    const state: StoredState = {
      external_account_id: this.config.external_account_id,
      api_secret: this.apiSecret,
      outbox: this.queue,
      acknowledged: this.acknowledged,
      set_aside: this.setAside,
      registered_at: this.registeredAt,
      ownership: this.ownershipState,
    };
    // Write then rename: a crash mid-write never leaves half a state file.
    const tmp = `${this.o.stateFile}.tmp`;
    await writeFile(tmp, JSON.stringify(state), { mode: 0o600 });
    await rename(tmp, this.o.stateFile);
  }

  private async print(message: string): Promise<void> {
    if (this.o.terminalFolder) await appendEaLog(this.o.terminalFolder, this.identity.platform, message);
  }

  /** The offset (s) this EA adds to its clock when signing, learnt from the server after a timestamp 401. */
  get clockOffsetSeconds(): number {
    return (this.http?.clockOffsetMs ?? this.clockOffsetMs) / 1000;
  }

  private useSecret(secret: string | null): void {
    // A new secret keeps the clock offset learnt with the old one.
    if (this.http) this.clockOffsetMs = this.http.clockOffsetMs;
    this.apiSecret = secret;
    this.http = secret
      ? new SignedHttp(
          { header: 'x-account-id', id: this.config.external_account_id, secret },
          {
            ...this.o.http,
            onEvent: (event) => {
              this.o.http?.onEvent?.(event);
              this.o.onEvent?.(event);
            },
          },
        )
      : undefined;
    if (this.http) this.http.clockOffsetMs = this.clockOffsetMs;
  }

  /** POST register_url with the one-time token; keeps the api secret it returns. */
  async register(): Promise<RegisterResponse> {
    const res = await requestJson(
      'POST',
      this.config.register_url,
      RegisterResponse,
      {
        body: JSON.stringify({
          external_account_id: this.config.external_account_id,
          login: this.identity.login,
          server: this.identity.server,
          platform: this.identity.platform,
          terminal_build: this.o.terminalBuild ?? (this.identity.platform === 'MT5' ? 4755 : 1420),
          provisioning_token: this.config.provisioning_token,
        }),
      },
      this.o.http,
    );
    this.useSecret(res.api_secret);
    this.pollIntervalSeconds = res.poll_interval_seconds;
    this.maxBatch = res.max_trades_per_batch;
    // A new registration has a new ownership code: proven anew.
    this.registeredAt = res.registered_at;
    this.ownershipState = null;
    this.codes = [];
    await this.save();
    await this.print(`registered with the backend as external account ${this.config.external_account_id}`);
    this.o.onEvent?.({ type: 'registered', status: res.status, pollIntervalSeconds: res.poll_interval_seconds });
    return res;
  }

  /** Adds closed trades to the outbox; a ticket already queued or acknowledged is skipped. Returns how many were added. */
  async enqueue(trades: readonly ClosedTradeInput[]): Promise<number> {
    const queued = new Set(this.queue.map((t) => t.ticket));
    let added = 0;
    for (const t of trades) {
      if (queued.has(t.ticket) || this.acknowledgedSet.has(t.ticket)) continue;
      this.queue.push(t);
      queued.add(t.ticket);
      added++;
    }
    if (added > 0) await this.save();
    return added;
  }

  private acknowledge(tickets: number[]): void {
    const done = new Set(tickets);
    this.queue = this.queue.filter((t) => !done.has(t.ticket));
    for (const t of tickets) {
      if (this.acknowledgedSet.has(t)) continue;
      this.acknowledgedSet.add(t);
      this.acknowledged.push(t);
    }
    while (this.acknowledged.length > ACKNOWLEDGED_MEMORY) this.acknowledgedSet.delete(this.acknowledged.shift()!);
  }

  /**
   * Sends the outbox in batches of at most max_trades_per_batch (an empty batch when it is
   * empty). Stops at the first request that failed after its retries and keeps what was not
   * acknowledged. A 401 left after the clock resync means the api secret no longer verifies (the
   * account was provisioned again, or deleted): it is thrown.
   */
  async flush(): Promise<FlushResult> {
    if (!this.http) throw new Error('not registered: call register() first');
    const result: FlushResult = { sent: 0, accepted: [], duplicates: [], cashbackAccrued: 0, remaining: this.queue.length };
    let first = true;
    let body: ReportTradesRequest = { trades: [] };
    while (first || this.queue.length > 0) {
      first = false;
      const batch = this.queue.slice(0, this.maxBatch);
      try {
        const codes = this.ownershipCodes;
        body = codes.length > 0 ? { trades: batch, ownership_codes: [...codes] } : { trades: batch };
        Object.assign(body, this.terminalReport(this.queue.length - batch.length));
        const res = await this.http.send('POST', this.config.trades_url, TradesAnswer, body);
        this.acknowledge([...res.accepted, ...res.duplicates]);
        await this.ownershipAnswer(res.ownership);
        if (res.ownership) result.ownership = res.ownership;
        result.sent += batch.length;
        result.accepted.push(...res.accepted);
        result.duplicates.push(...res.duplicates);
        result.cashbackAccrued = Math.round((result.cashbackAccrued + res.cashback_accrued) * 100) / 100;
        this.o.onEvent?.({ type: 'trades_sent', sent: batch.length, accepted: res.accepted, duplicates: res.duplicates, cashbackAccrued: res.cashback_accrued });
        // A response that acknowledged none of a non-empty batch would loop forever: stop.
        if (batch.length > 0 && res.accepted.length + res.duplicates.length === 0) break;
      } catch (error) {
        if (!(error instanceof EaHttpError)) throw error;
        if (error.status === 400 && this.setAsideMalformed(batch, error)) continue;
        if (error.status === 400 && 'ownership_codes' in body && JSON.stringify(error.body).includes('ownership_codes')) {
          // A backend older than the ownership proof: the trades go without the codes from now on.
          this.codesRefused = true;
          this.o.onEvent?.({ type: 'ownership_codes_refused', message: error.message });
          continue;
        }
        if (error.status === 401 || !error.retryable) {
          await this.save();
          throw error;
        }
        result.error = error;
        this.o.onEvent?.({ type: 'send_failed', error, kept: this.queue.length });
        break;
      }
    }
    await this.save();
    result.remaining = this.queue.length;
    return result;
  }

  /** Moves the trades a 400 names (`body.trades.<i>...`) out of the outbox; false if it names none. */
  private setAsideMalformed(batch: ClosedTradeInput[], error: EaHttpError): boolean {
    const indexes = new Set<number>();
    const reasons: string[] = [];
    const details = (error.body as { error?: { details?: { path: string; message: string }[] } }).error?.details ?? [];
    for (const d of details) {
      const m = /^body\.trades\.(\d+)(\.|$)/.exec(d.path);
      if (m) {
        indexes.add(Number(m[1]));
        reasons.push(`${d.path}: ${d.message}`);
      }
    }
    const bad = [...indexes].map((i) => batch[i]).filter((t): t is ClosedTradeInput => t !== undefined);
    if (bad.length === 0) return false;
    const badTickets = new Set(bad.map((t) => t.ticket));
    this.queue = this.queue.filter((t) => !badTickets.has(t.ticket));
    this.setAside.push(...bad);
    this.o.onEvent?.({ type: 'trades_set_aside', tickets: [...badTickets], reasons });
    return true;
  }

  /**
   * Runs the EA: register unless the state file already holds a secret, then every
   * `intervalMs` (default: poll_interval_seconds from register) queue what `source` returns (the
   * account's history), read `orders`' comments for ownership codes (scanOwnership) and flush,
   * until `ticks` flushes have run or `signal` aborts. With a `broker` link that says the terminal
   * is not connected, the history is not read (the MQL EA waits for the trade server) but the
   * flush still runs.
   */
  async run(
    options: {
      ticks?: number;
      intervalMs?: number;
      signal?: AbortSignal;
      source?: () => readonly ClosedTradeInput[];
      orders?: OrderCommentSource;
      broker?: BrokerLink;
    } = {},
  ): Promise<void> {
    if (options.broker) this.broker = options.broker;
    if (!this.registered) await this.register();
    for (let n = 0; options.ticks === undefined || n < options.ticks; n++) {
      if (options.signal?.aborted) return;
      if (options.source && this.broker?.brokerConnected !== false) {
        const readAt = new Date().toISOString();
        await this.enqueue(options.source());
        this.historyReadAt = readAt;
      } else if (options.source && this.broker?.brokerConnected === false) {
        this.o.onEvent?.({ type: 'broker_disconnected' });
      }
      if (options.orders) await this.scanOwnership(options.orders);
      await this.flush();
      if (options.ticks !== undefined && n + 1 >= options.ticks) return;
      await sleep(options.intervalMs ?? this.pollIntervalSeconds * 1000, options.signal);
    }
  }
}
