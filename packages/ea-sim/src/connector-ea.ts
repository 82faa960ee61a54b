import { ConnectResponse, DisconnectResponse } from '@rubi/contracts/connect.ts';
import { PingResponse } from '@rubi/contracts/ping.ts';
import { UpdatePositionsResponse } from '@rubi/contracts/positions.ts';
import type { z } from 'zod';
import { PendingSignals, Signal, type ReportSignalStatusRequest } from '@rubi/contracts/signals.ts';
import { connectorTag, ConnectorJournal, type JournalRecord } from './connector-journal.ts';
import { EaHttpError, SignedHttp, type HttpEvent, type HttpOptions } from './signed-http.ts';
import { RETCODE, type OrderResult, type SimulatedAccount } from './simulated-account.ts';
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
 * A signal is executed once, across restarts too, as the MQL EA does it (Connector.mqh): every order
 * carries magic = the EA's magic number and the comment tag "rubi:<first 20 hex digits of the
 * signal id>" (connectorTag), and the journal (connector-journal.ts; durable with the `journal`
 * option) records the signal as "sending" BEFORE the order is sent, "sent" with the report to
 * send after it returned, "reported" once the server has the report. A signal in the journal is
 * never executed again: a redelivered one (the server redelivers DELIVERED-but-unreported
 * signals, also to the terminal's next session) gets the kept report. A "sending" record left by
 * a crash is settled from the account: an IN deal or an open position with the magic and the tag
 * means EXECUTED with that order; none means UNKNOWN "outcome unknown: ..." and nothing is sent
 * again. A signal the journal does not know (a lost journal) is looked up by its tag in the
 * account's deals before an order is sent. A session the server no longer knows (404 or 409 on
 * ping) is reopened. Each request is retried and its clock resynced as signed-http.ts describes.
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
  /** A signal settled without sending an order: found in the account after a restart, or outcome unknown. */
  | { type: 'signal_recovered'; signalId: string; report: ReportSignalStatusRequest }
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
  /**
   * The journal file (the MQL EA's Files/Rubi/connector-<magic>.journal, same line format). With
   * it, an EA restarted over the same file (and the same account: SimulatedAccount's `stateFile`)
   * never executes a signal twice; without it the journal is in memory only.
   */
  journal?: string;
  /** The magic number on this EA's orders (the MQL EA's input). Default 20261121. */
  magic?: number;
  /**
   * Test seams: called right after the "sending" record is written and before the order is sent
   * (`beforeOrder`), and right after the order returned, before its outcome is journaled
   * (`afterOrder`). A hook that throws stops the EA at that point, as a crash would.
   */
  hooks?: { beforeOrder?(signal: Signal): void; afterOrder?(signal: Signal, result: OrderResult): void };
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
  readonly journal: ConnectorJournal;
  readonly magic: number;
  private lastPushed = '';

  constructor(private readonly o: ConnectorEaOptions) {
    this.account = o.account;
    this.journal = new ConnectorJournal(o.journal);
    this.magic = o.magic ?? 20261121;
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

  /**
   * GET /signals/pending, then each signal once: a journaled one gets its kept report (settled
   * from the account first when it was being sent), a new one is executed and reported. Returns
   * what was executed now.
   */
  async pollSignals(): Promise<{ signal: Signal; result: OrderResult | undefined; reported: Signal }[]> {
    const query = new URLSearchParams({ session_id: this.session() });
    const pending = await this.http.send('GET', `${this.base}/signals/pending?${query}`, PendingSignals);
    // The backend's clock decides expiry (this computer's may be off).
    const backendNow = Date.parse(pending.server_time);
    const done: { signal: Signal; result: OrderResult | undefined; reported: Signal }[] = [];
    for (const signal of pending.signals) {
      const state = this.journal.stateOf(signal.id);
      if (state === 'reported') continue;
      if (state === 'sending') this.recover();
      let result: OrderResult | undefined;
      if (state === undefined) {
        this.counters.signals_received++;
        this.emit({ type: 'signal_received', signal });
        result = this.executeOnce(signal, backendNow);
      }
      const reported = await this.report(signal.id);
      if (result) {
        this.emit({ type: 'signal_executed', signal, result, reported });
        done.push({ signal, result, reported });
      }
    }
    return done;
  }

  /**
   * Executes a signal the journal does not know, leaving its outcome in the journal ("sent").
   * Undefined when no order was sent: the account already has one with the signal's tag, or the
   * signal expired (by `backendNow`) before it was seen here.
   */
  private executeOnce(signal: Signal, backendNow: number): OrderResult | undefined {
    const tag = connectorTag(signal.id);
    // `at`: the terminal's (trade server's) time, the clock of the account's deals.
    const record = { tag, type: signal.type, symbol: signal.symbol, at: Math.floor(this.account.feed.clock().getTime() / 1000) };
    const opening = signal.type === 'BUY' || signal.type === 'SELL';
    if (opening) {
      // A lost or reset journal: the order may already be in the terminal. Never send it twice.
      const deal = this.account.findDeal(this.magic, tag);
      const position = deal ? undefined : this.account.findPosition(this.magic, tag);
      if (deal || position) {
        const report: ReportSignalStatusRequest = {
          status: 'EXECUTED',
          order_ticket: deal ? deal.order : position!.ticket,
          price: deal ? deal.price : position!.open_price,
          volume: deal ? deal.volume : position!.volume,
          retcode: RETCODE.DONE,
          message: `an order with comment ${tag} is already in the terminal: not sent again`,
          executed_at: (deal ? deal.time : position!.opened_at).toISOString(),
        };
        this.journal.put(signal.id, { ...record, state: 'sent', report });
        this.emit({ type: 'signal_recovered', signalId: signal.id, report });
        return undefined;
      }
    }
    // Delivered before its expiry but seen only after it (a lost poll answer, then an outage: the
    // backend hands a DELIVERED signal back until it is reported): REJECTED, not executed.
    const expiresAt = signal.expires_at ? Date.parse(signal.expires_at) : Number.NaN;
    if (expiresAt <= backendNow) {
      const utc = (ms: number) => new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');
      const report: ReportSignalStatusRequest = {
        status: 'REJECTED',
        retcode: null,
        message: `the signal expired at ${utc(expiresAt)} UTC before it was executed (backend time ${utc(backendNow)} UTC): not executed`,
      };
      this.journal.put(signal.id, { ...record, state: 'sent', report });
      return undefined;
    }
    // The durable promise: from here on, a restart settles this signal from the account's history.
    this.journal.put(signal.id, { ...record, state: 'sending' });
    this.o.hooks?.beforeOrder?.(signal);
    const result = this.execute(signal);
    if (result.ok) this.counters.orders_executed++;
    else if (result.retcode === 0) this.counters.errors++;
    this.o.hooks?.afterOrder?.(signal, result);
    this.journal.put(signal.id, { ...record, state: 'sent', report: this.reportOf(result) });
    return result;
  }

  /**
   * Settles every "sending" record (left by a crash) from the account: an IN deal or an open
   * position with the magic and the signal's tag is EXECUTED with that order (a CLOSE_*: closing
   * deals on its symbol since the record); none is UNKNOWN "outcome unknown" (the order may or may
   * not exist: the trader checks the terminal), never sent again; counted in `errors`, as FAILED is.
   */
  recover(): void {
    for (const [id, record] of this.journal.entries()) {
      if (record.state !== 'sending') continue;
      const report = this.reconcile(record);
      if (report.status === 'FAILED' || report.status === 'UNKNOWN') this.counters.errors++;
      this.journal.put(id, { ...record, state: 'sent', report });
      this.emit({ type: 'signal_recovered', signalId: id, report });
    }
  }

  private reconcile(record: JournalRecord): ReportSignalStatusRequest {
    const { tag } = record;
    const since = new Date((record.at - 300) * 1000);
    const closing = record.type === 'CLOSE_BUY' || record.type === 'CLOSE_SELL';
    if (!closing) {
      const deal = this.account.findDeal(this.magic, tag, since);
      if (deal) {
        return {
          status: 'EXECUTED',
          order_ticket: deal.order,
          price: deal.price,
          volume: deal.volume,
          retcode: RETCODE.DONE,
          message: `order found in the terminal's history after a restart (deal ${deal.ticket}, comment ${tag}): not sent again`,
          executed_at: deal.time.toISOString(),
        };
      }
      const position = this.account.findPosition(this.magic, tag);
      if (position) {
        return {
          status: 'EXECUTED',
          order_ticket: position.ticket,
          price: position.open_price,
          volume: position.volume,
          retcode: RETCODE.DONE,
          message: `open position ${position.ticket} with comment ${tag} found after a restart: not sent again`,
          executed_at: position.opened_at.toISOString(),
        };
      }
    } else {
      // Closing deals on the symbol, on the side that closes `type`, since the record was written.
      const want = record.type === 'CLOSE_BUY' ? 'SELL' : 'BUY';
      const deals = this.account.deals.filter((d) => d.entry === 'OUT' && d.symbol === record.symbol && d.type === want && d.time.getTime() >= record.at * 1000);
      const first = deals[0];
      if (first) {
        return {
          status: 'EXECUTED',
          order_ticket: first.order,
          price: first.price,
          volume: Math.round(deals.reduce((sum, d) => sum + d.volume, 0) * 1e8) / 1e8,
          retcode: RETCODE.DONE,
          message: `${deals.length} closing deal(s) found in the terminal's history after a restart; positions still open were not closed again`,
          executed_at: first.time.toISOString(),
        };
      }
    }
    return {
      status: 'UNKNOWN',
      retcode: null,
      message:
        `outcome unknown: ${record.note ? `the trade server answered ${record.note}` : 'the EA restarted while this signal was being sent'}` +
        `; no ${closing ? 'closing deal' : 'order'} with magic ${this.magic}${closing ? ` on ${record.symbol}` : ` and comment ${tag}`}` +
        " was found in the terminal's history or positions; the order was not sent again - check the account before sending the signal again",
    };
  }

  /** Sends the kept report of a signal; the journal marks it reported once the server has it. */
  private async report(signalId: string): Promise<Signal> {
    const record = this.journal.get(signalId);
    if (!record?.report) throw new Error(`no report kept for signal ${signalId}`);
    const reported = await this.http.send('POST', `${this.base}/signals/${signalId}/status`, Signal, record.report);
    this.journal.put(signalId, { ...record, state: 'reported' });
    return reported;
  }

  /** Resends every kept report (sent, not acknowledged), e.g. from before a restart. */
  async flushReports(): Promise<void> {
    for (const [id, record] of this.journal.entries()) if (record.state === 'sent') await this.report(id);
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
      magic: this.magic,
      comment: connectorTag(signal.id),
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
    this.recover();
    await this.flushReports();
    if (pending > 0 || this.journal.unsettled() > 0) await this.pollSignals();
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
    this.recover();
    await this.connect();
    await this.flushReports();
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
