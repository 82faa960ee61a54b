import { ConnectResponse, DisconnectResponse } from '@rubi/contracts/connect.ts';
import { PingResponse } from '@rubi/contracts/ping.ts';
import { UpdatePositionsResponse } from '@rubi/contracts/positions.ts';
import type { z } from 'zod';
import { PendingSignals, Signal, type ReportSignalStatusRequest } from '@rubi/contracts/signals.ts';
import { EaHttpError, SignedHttp, type HttpEvent, type HttpOptions } from './signed-http.ts';
import type { OrderResult, SimulatedAccount } from './simulated-account.ts';
import { sleep } from './sleep.ts';

/**
 * The connector EA (mql/ RubiConnector.mq5) as a TypeScript client: the same requests in the same
 * order, against a simulated account.
 *
 *   connect            POST /connect: account, balance, the specs of the symbols it trades
 *   every interval     POST /ping with balance/equity/margin; when it says pending_signals > 0,
 *                      GET /signals/pending, execute each signal, POST /signals/{id}/status
 *   on a trade         POST /positions/update with the full list of open positions
 *   on stop            POST /connect/disconnect with the counters
 *
 * A signal is executed once: its report is kept until the server has it, and a signal delivered
 * again (the server redelivers DELIVERED-but-unreported signals) gets the kept report resent, never
 * a second order. A session the server no longer knows (404 or 409 on ping) is reopened. Each
 * request is retried and its clock resynced as signed-http.ts describes.
 */

type ConnectResponse = z.infer<typeof ConnectResponse>;
type DisconnectResponse = z.infer<typeof DisconnectResponse>;
type PingResponse = z.infer<typeof PingResponse>;
type UpdatePositionsResponse = z.infer<typeof UpdatePositionsResponse>;

export type ConnectorEvent =
  | { type: 'connected'; sessionId: string; resumed: boolean; pingIntervalSeconds: number }
  | { type: 'ping'; pendingSignals: number; equity: number }
  | { type: 'signal_received'; signal: Signal }
  | { type: 'signal_executed'; signal: Signal; result: OrderResult; reported: Signal }
  | { type: 'positions_pushed'; open: number; closed: number; ticketsClosed: number[] }
  | { type: 'disconnected'; sessionId: string }
  | { type: 'error'; during: string; error: Error }
  | HttpEvent;

export interface ConnectorEaOptions {
  /** `<SUPABASE_URL>/functions/v1`. */
  functionsUrl: string;
  keyId: string;
  /** The EA key's secret (`whsec_...`), shown once by POST /keys. */
  secret: string;
  account: SimulatedAccount;
  eaVersion?: string;
  terminalBuild?: number;
  http?: HttpOptions;
  onEvent?: (event: ConnectorEvent) => void;
}

export interface ConnectorCounters {
  signals_received: number;
  orders_executed: number;
  errors: number;
}

export class ConnectorEa {
  readonly account: SimulatedAccount;
  readonly counters: ConnectorCounters = { signals_received: 0, orders_executed: 0, errors: 0 };
  sessionId: string | undefined;
  pingIntervalSeconds = 10;
  private readonly http: SignedHttp;
  private readonly base: string;
  /** Reports not yet acknowledged, by signal id. */
  private readonly unreported = new Map<string, ReportSignalStatusRequest>();
  /** Signals whose report the server acknowledged. */
  private readonly reported = new Set<string>();
  private lastPushed = '';

  constructor(private readonly o: ConnectorEaOptions) {
    this.account = o.account;
    this.base = o.functionsUrl.replace(/\/+$/, '');
    this.http = new SignedHttp(
      { header: 'x-ea-key-id', id: o.keyId, secret: o.secret },
      {
        ...o.http,
        onEvent: (event) => {
          o.http?.onEvent?.(event);
          this.emit(event);
        },
      },
    );
  }

  /** The offset (s) this EA adds to its clock when signing, learnt from the server after a timestamp 401. */
  get clockOffsetSeconds(): number {
    return this.http.clockOffsetMs / 1000;
  }

  private emit(event: ConnectorEvent): void {
    this.o.onEvent?.(event);
  }

  private session(): string {
    if (!this.sessionId) throw new Error('not connected: call connect() first');
    return this.sessionId;
  }

  async connect(): Promise<ConnectResponse> {
    const a = this.account;
    const f = a.figures();
    const res = await this.http.send('POST', `${this.base}/connect`, ConnectResponse, {
      account_number: a.login,
      broker: a.broker,
      server: a.server,
      currency: a.currency,
      leverage: a.leverage,
      balance: f.balance,
      equity: f.equity,
      margin: f.margin,
      margin_free: f.margin_free,
      ea_version: this.o.eaVersion ?? 'ea-sim 0.1.0',
      terminal_build: this.o.terminalBuild ?? 4755,
      symbols: a.feed.specs(),
    });
    this.sessionId = res.session_id;
    this.pingIntervalSeconds = res.ping_interval_seconds;
    this.lastPushed = '';
    this.emit({ type: 'connected', sessionId: res.session_id, resumed: res.resumed, pingIntervalSeconds: res.ping_interval_seconds });
    return res;
  }

  async ping(): Promise<PingResponse> {
    const f = this.account.figures();
    const res = await this.http.send('POST', `${this.base}/ping`, PingResponse, {
      session_id: this.session(),
      balance: f.balance,
      equity: f.equity,
      margin: f.margin,
      margin_free: f.margin_free,
      margin_level: f.margin_level,
      profit: f.profit,
    });
    this.emit({ type: 'ping', pendingSignals: res.pending_signals, equity: f.equity });
    return res;
  }

  /** GET /signals/pending, then executes and reports each signal (once). Returns what was executed now. */
  async pollSignals(): Promise<{ signal: Signal; result: OrderResult | undefined; reported: Signal }[]> {
    const query = new URLSearchParams({ session_id: this.session() });
    const pending = await this.http.send('GET', `${this.base}/signals/pending?${query}`, PendingSignals);
    const done: { signal: Signal; result: OrderResult | undefined; reported: Signal }[] = [];
    for (const signal of pending.signals) {
      if (this.reported.has(signal.id)) continue;
      let result: OrderResult | undefined;
      if (!this.unreported.has(signal.id)) {
        this.counters.signals_received++;
        this.emit({ type: 'signal_received', signal });
        result = this.execute(signal);
        if (result.ok) this.counters.orders_executed++;
        this.unreported.set(signal.id, this.reportOf(result));
      }
      const reported = await this.report(signal.id);
      if (result) {
        this.emit({ type: 'signal_executed', signal, result, reported });
        done.push({ signal, result, reported });
      }
    }
    return done;
  }

  /** Sends the kept report of a signal; forgets it once the server has it. */
  private async report(signalId: string): Promise<Signal> {
    const body = this.unreported.get(signalId);
    if (!body) throw new Error(`no report kept for signal ${signalId}`);
    const reported = await this.http.send('POST', `${this.base}/signals/${signalId}/status`, Signal, body);
    this.unreported.delete(signalId);
    this.reported.add(signalId);
    return reported;
  }

  /** Places the order a signal asks for on the simulated account. */
  execute(signal: Signal): OrderResult {
    if (!this.account.feed.has(signal.symbol)) return { ok: false, retcode: 0, message: `symbol ${signal.symbol} is not in Market Watch` };
    if (signal.type === 'CLOSE_BUY' || signal.type === 'CLOSE_SELL') {
      return this.account.closeAll(signal.symbol, signal.type === 'CLOSE_BUY' ? 'BUY' : 'SELL');
    }
    if (signal.volume === null) return { ok: false, retcode: 0, message: 'the signal carries no volume' };
    return this.account.marketOrder({
      symbol: signal.symbol,
      type: signal.type,
      volume: signal.volume,
      stop_loss: signal.stop_loss,
      take_profit: signal.take_profit,
      magic: 20261121,
      comment: `rubi ${signal.id.slice(0, 8)}`,
    });
  }

  private reportOf(result: OrderResult): ReportSignalStatusRequest {
    if (result.ok) {
      return { status: 'EXECUTED', order_ticket: result.order, price: result.price, volume: result.volume, retcode: result.retcode, executed_at: result.time.toISOString() };
    }
    // retcode 0: the EA could not even send the order (no such symbol, nothing to size): FAILED.
    // Anything else is the trade server saying no: REJECTED, with its retcode.
    return { status: result.retcode === 0 ? 'FAILED' : 'REJECTED', retcode: result.retcode || null, message: result.message };
  }

  /** POST /positions/update with every open position; skipped when nothing changed unless forced. */
  async pushPositions(force = false): Promise<UpdatePositionsResponse | undefined> {
    const positions = this.account.positionList();
    const shape = JSON.stringify(positions.map((p) => [p.ticket, p.volume, p.stop_loss, p.take_profit]));
    if (!force && shape === this.lastPushed) return undefined;
    const res = await this.http.send('POST', `${this.base}/positions/update`, UpdatePositionsResponse, { session_id: this.session(), positions });
    this.lastPushed = shape;
    this.emit({ type: 'positions_pushed', open: res.open, closed: res.closed, ticketsClosed: res.tickets_closed });
    return res;
  }

  /**
   * One timer tick of the EA: the market moves, the broker applies stops, then ping; poll and
   * execute when signals wait (or a report is still owed), and push positions when they changed.
   */
  async tick(): Promise<void> {
    this.account.feed.step();
    this.account.checkStops();
    let pending = 0;
    try {
      pending = (await this.ping()).pending_signals;
    } catch (error) {
      if (error instanceof EaHttpError && (error.status === 404 || error.status === 409)) {
        // The session was closed or swept away: open a new one (the server hands it the signals
        // that were still waiting).
        await this.connect();
        pending = (await this.ping()).pending_signals;
      } else throw error;
    }
    if (pending > 0 || this.unreported.size > 0) await this.pollSignals();
    await this.pushPositions();
  }

  /**
   * POST /connect/disconnect. Not idempotent (a second one is a 409), so after a lost answer the
   * retry's replayed-id 401 is taken as the proof it was applied: undefined is returned then.
   */
  async disconnect(): Promise<DisconnectResponse | undefined> {
    const sessionId = this.session();
    let res: DisconnectResponse | undefined;
    try {
      res = await this.http.send(
        'POST',
        `${this.base}/connect/disconnect`,
        DisconnectResponse,
        { session_id: sessionId, signals_received: this.counters.signals_received, orders_executed: this.counters.orders_executed, errors: this.counters.errors },
        { idempotent: false },
      );
    } catch (error) {
      if (!(error instanceof EaHttpError && error.appliedEarlier)) throw error;
    }
    this.sessionId = undefined;
    this.emit({ type: 'disconnected', sessionId });
    return res;
  }

  /**
   * Runs the EA: connect, then tick every `intervalMs` (default: the ping interval the server
   * gave) until `ticks` have run or `signal` aborts; disconnects at the end. Failures the server
   * may recover from (no response, 429, 5xx) that outlast a request's own retries are counted and
   * tried again on the next tick; a clock more than 300 s off is corrected within the request;
   * anything else (a revoked key: 401 'unknown or revoked EA key') ends the run with the error.
   */
  async run(options: { ticks?: number; intervalMs?: number; signal?: AbortSignal } = {}): Promise<ConnectorCounters> {
    await this.connect();
    await this.pushPositions(true);
    for (let n = 0; options.ticks === undefined || n < options.ticks; n++) {
      if (options.signal?.aborted) break;
      await sleep(options.intervalMs ?? this.pingIntervalSeconds * 1000, options.signal);
      if (options.signal?.aborted) break;
      try {
        await this.tick();
      } catch (error) {
        this.counters.errors++;
        const err = error instanceof Error ? error : new Error(String(error));
        this.emit({ type: 'error', during: 'tick', error: err });
        if (!(err instanceof EaHttpError) || !err.retryable) throw err;
      }
    }
    await this.disconnect();
    return this.counters;
  }
}
