import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import type { SymbolSpec } from '@rubi/contracts/connect.ts';
import type { PositionInput } from '@rubi/contracts/positions.ts';
import type { ClosedTradeInput } from '@rubi/contracts/trades.ts';
import { roundToTick, type PriceFeed } from './price-feed.ts';

/** MetaTrader 5 trade server return codes (MqlTradeResult.retcode) the simulation produces. */
export const RETCODE = {
  DONE: 10009,
  INVALID: 10013,
  INVALID_VOLUME: 10014,
  INVALID_STOPS: 10016,
  NO_MONEY: 10019,
  POSITION_CLOSED: 10036,
  CONNECTION: 10031,
} as const;

export type Side = 'BUY' | 'SELL';

export interface SimPosition {
  ticket: number;
  symbol: string;
  type: Side;
  volume: number;
  open_price: number;
  stop_loss: number | null;
  take_profit: number | null;
  opened_at: Date;
  commission: number;
  swap: number;
  magic: number;
  comment: string;
}

/**
 * A deal of the account's history (MT5 HistoryDealGet*): IN when a position opens, OUT when it
 * closes. `order` and `position_id` are the position's ticket (the simulation gives the order,
 * its position and the position's ticket one number).
 */
export interface SimDeal {
  ticket: number;
  order: number;
  position_id: number;
  symbol: string;
  /** The side of the deal: a BUY position closes with a SELL deal. */
  type: Side;
  entry: 'IN' | 'OUT';
  volume: number;
  price: number;
  time: Date;
  magic: number;
  comment: string;
}

/** The pending order types (MT5 ORDER_TYPE_BUY_LIMIT..SELL_STOP, MT4 OP_BUYLIMIT..OP_SELLSTOP). */
export type PendingType = 'BUY_LIMIT' | 'SELL_LIMIT' | 'BUY_STOP' | 'SELL_STOP';

/**
 * A pending order of the account: open while `done_at` is null (MT5 OrdersTotal, MT4 MODE_TRADES), then
 * in the order history once deleted (MT5 HistoryOrders*, MT4 MODE_HISTORY). The ownership proof
 * (issue #15) reads their comments.
 */
export interface SimOrder {
  ticket: number;
  symbol: string;
  type: PendingType;
  volume: number;
  price: number;
  comment: string;
  placed_at: Date;
  done_at: Date | null;
}

export interface PendingOrderRequest {
  symbol: string;
  /** Default BUY_LIMIT. */
  type?: PendingType;
  /** Default the symbol's minimum volume. */
  volume?: number;
  /** Default far from the market, on the tick grid: half the bid (BUY_LIMIT, SELL_STOP) or twice the ask (SELL_LIMIT, BUY_STOP). */
  price?: number;
  comment?: string;
}

export interface OrderRequest {
  symbol: string;
  type: Side;
  volume: number;
  stop_loss?: number | null | undefined;
  take_profit?: number | null | undefined;
  magic?: number;
  comment?: string;
}

export type OrderResult =
  | { ok: true; retcode: typeof RETCODE.DONE; order: number; price: number; volume: number; time: Date; closed: ClosedTradeInput[] }
  | { ok: false; retcode: number; message: string };

export interface SimulatedAccountOptions {
  login: number;
  server: string;
  broker: string;
  currency?: string;
  leverage?: number;
  balance: number;
  feed: PriceFeed;
  /** Commission charged per lot per side (negative, as MetaTrader reports it). Default -3.5. */
  commissionPerLotSide?: number;
  /** First ticket number the "broker" hands out. */
  firstTicket?: number;
  /**
   * Keep the account (balance, open positions, closed trades, deals, ticket counter) in this JSON
   * file, written at every fill and close: the broker's side of the account outlives the
   * terminal, so a restarted simulator finds its positions and history as a restarted terminal
   * does. An existing file of the same login is loaded (its balance wins over `balance`); a
   * missing one is written at once.
   */
  stateFile?: string;
}

interface StoredAccount {
  login: number;
  balance: number;
  next_ticket: number;
  next_deal: number;
  positions: SimPosition[];
  history: ClosedTradeInput[];
  deals: SimDeal[];
  /** Absent in files written before pending orders existed. */
  pending_orders?: SimOrder[];
  order_history?: SimOrder[];
}

const round2 = (n: number) => Math.round(n * 100) / 100;

/**
 * A MetaTrader account at a simulated broker: market orders fill at the feed's ask (BUY) or bid
 * (SELL), positions are netted per ticket (hedging account, like most MT5 retail accounts),
 * floating profit and margin follow the feed, closing books a closed trade into the history.
 * Profit uses the symbol's tick value (already in the account currency), so XAUUSD and USDJPY
 * come out right without a currency table; margin converts the notional the same way.
 */
export class SimulatedAccount {
  readonly login: number;
  readonly server: string;
  readonly broker: string;
  readonly currency: string;
  readonly leverage: number;
  readonly feed: PriceFeed;
  balance: number;
  private readonly commissionPerLotSide: number;
  private nextTicket: number;
  private nextDeal: number;
  private readonly open = new Map<number, SimPosition>();
  readonly history: ClosedTradeInput[] = [];
  /** Every deal, oldest first. */
  readonly deals: SimDeal[] = [];
  private readonly pending = new Map<number, SimOrder>();
  /** Finished orders (deleted pending orders), oldest first. */
  readonly orderHistory: SimOrder[] = [];
  private readonly stateFile: string | undefined;
  private connected = true;

  constructor(o: SimulatedAccountOptions) {
    this.login = o.login;
    this.server = o.server;
    this.broker = o.broker;
    this.currency = o.currency ?? 'USD';
    this.leverage = o.leverage ?? 500;
    this.balance = o.balance;
    this.feed = o.feed;
    this.commissionPerLotSide = o.commissionPerLotSide ?? -3.5;
    this.nextTicket = o.firstTicket ?? 100_000_000 + Math.floor(Math.random() * 800_000_000);
    this.nextDeal = this.nextTicket + 1_000_000;
    this.stateFile = o.stateFile;
    if (o.stateFile && existsSync(o.stateFile)) {
      const stored = JSON.parse(readFileSync(o.stateFile, 'utf8')) as StoredAccount;
      if (stored.login === this.login) {
        this.balance = stored.balance;
        this.nextTicket = stored.next_ticket;
        this.nextDeal = stored.next_deal;
        for (const p of stored.positions) this.open.set(p.ticket, { ...p, opened_at: new Date(p.opened_at) });
        this.history.push(...stored.history);
        this.deals.push(...stored.deals.map((d) => ({ ...d, time: new Date(d.time) })));
        const revive = (o: SimOrder): SimOrder => ({ ...o, placed_at: new Date(o.placed_at), done_at: o.done_at === null ? null : new Date(o.done_at) });
        for (const o of stored.pending_orders ?? []) this.pending.set(o.ticket, revive(o));
        this.orderHistory.push(...(stored.order_history ?? []).map(revive));
      }
    } else this.save();
  }

  /** Writes the state file (temp file + rename: a crash never leaves half of it). */
  private save(): void {
    if (!this.stateFile) return;
    const stored: StoredAccount = {
      login: this.login,
      balance: this.balance,
      next_ticket: this.nextTicket,
      next_deal: this.nextDeal,
      positions: this.positions,
      history: this.history,
      deals: this.deals,
      pending_orders: this.pendingOrders,
      order_history: this.orderHistory,
    };
    mkdirSync(dirname(this.stateFile), { recursive: true });
    const tmp = `${this.stateFile}.tmp`;
    writeFileSync(tmp, JSON.stringify(stored));
    renameSync(tmp, this.stateFile);
  }

  private deal(p: SimPosition, entry: 'IN' | 'OUT', price: number, time: Date): void {
    const type: Side = entry === 'IN' ? p.type : p.type === 'BUY' ? 'SELL' : 'BUY';
    this.deals.push({ ticket: this.nextDeal++, order: p.ticket, position_id: p.ticket, symbol: p.symbol, type, entry, volume: p.volume, price, time, magic: p.magic, comment: p.comment });
  }

  /**
   * The newest IN deal with this magic number whose comment carries `tag` (equal to it or
   * starting with it), at or after `since` (RubiFindDeal).
   */
  findDeal(magic: number, tag: string, since = new Date(0)): SimDeal | undefined {
    let found: SimDeal | undefined;
    for (const d of this.deals) {
      if (d.entry !== 'IN' || d.magic !== magic || d.time < since || tag === '' || !d.comment.startsWith(tag)) continue;
      if (!found || d.time >= found.time) found = d;
    }
    return found;
  }

  /** An open position with this magic number whose comment carries `tag` (RubiFindPosition). */
  findPosition(magic: number, tag: string): SimPosition | undefined {
    return this.positions.find((p) => p.magic === magic && tag !== '' && p.comment.startsWith(tag));
  }

  get positions(): SimPosition[] {
    return [...this.open.values()];
  }

  /** Floating profit of one position at the current quote, in the account currency. */
  profitOf(p: SimPosition): number {
    const spec = this.feed.spec(p.symbol);
    const quote = this.feed.quote(p.symbol);
    if (!spec || !quote) return 0;
    const exit = p.type === 'BUY' ? quote.bid : quote.ask;
    const points = (p.type === 'BUY' ? exit - p.open_price : p.open_price - exit) / spec.tick_size;
    return round2(points * spec.tick_value * p.volume);
  }

  floatingProfit(): number {
    return round2(this.positions.reduce((sum, p) => sum + this.profitOf(p) + p.swap + p.commission, 0));
  }

  equity(): number {
    return round2(this.balance + this.floatingProfit());
  }

  /** Margin of `volume` lots at `price`: notional / leverage, converted by tick value / (tick size x contract). */
  marginFor(spec: SymbolSpec, volume: number, price: number): number {
    const toAccount = spec.tick_value / (spec.tick_size * spec.contract_size);
    return round2((volume * spec.contract_size * price * toAccount) / this.leverage);
  }

  margin(): number {
    return round2(
      this.positions.reduce((sum, p) => {
        const spec = this.feed.spec(p.symbol);
        return spec ? sum + this.marginFor(spec, p.volume, p.open_price) : sum;
      }, 0),
    );
  }

  figures(): { balance: number; equity: number; margin: number; margin_free: number; margin_level: number | null; profit: number } {
    const equity = this.equity();
    const margin = this.margin();
    return {
      balance: round2(this.balance),
      equity,
      margin,
      margin_free: round2(equity - margin),
      margin_level: margin > 0 ? round2((equity / margin) * 100) : null,
      profit: this.floatingProfit(),
    };
  }

  /**
   * Whether the terminal is connected to the broker's trade server (MT5 TERMINAL_CONNECTED, MT4
   * IsConnected()): what the provisioned EA reports as broker_connected (a BrokerLink).
   */
  get brokerConnected(): boolean {
    return this.connected;
  }

  /** A simulated loss of the connection to the trade server: orders fail until reconnectToBroker(). */
  disconnectFromBroker(): void {
    this.connected = false;
  }

  reconnectToBroker(): void {
    this.connected = true;
  }

  /** A market order, checked the way a trade server checks it. */
  marketOrder(req: OrderRequest): OrderResult {
    if (!this.connected) return { ok: false, retcode: RETCODE.CONNECTION, message: 'no connection with the trade server' };
    const spec = this.feed.spec(req.symbol);
    const quote = this.feed.quote(req.symbol);
    if (!spec || !quote) return { ok: false, retcode: RETCODE.INVALID, message: `unknown symbol ${req.symbol}` };
    const steps = req.volume / spec.volume_step;
    if (req.volume < spec.volume_min || req.volume > spec.volume_max || Math.abs(steps - Math.round(steps)) > 1e-7) {
      return {
        ok: false,
        retcode: RETCODE.INVALID_VOLUME,
        message: `invalid volume ${req.volume} (min ${spec.volume_min}, max ${spec.volume_max}, step ${spec.volume_step})`,
      };
    }
    const price = req.type === 'BUY' ? quote.ask : quote.bid;
    const exitSide = req.type === 'BUY' ? quote.bid : quote.ask;
    const sl = req.stop_loss || null;
    const tp = req.take_profit || null;
    if ((sl !== null && (req.type === 'BUY' ? sl >= exitSide : sl <= exitSide)) || (tp !== null && (req.type === 'BUY' ? tp <= exitSide : tp >= exitSide))) {
      return { ok: false, retcode: RETCODE.INVALID_STOPS, message: `invalid stops (sl ${sl ?? '-'}, tp ${tp ?? '-'}) at ${quote.bid}/${quote.ask}` };
    }
    const required = this.marginFor(spec, req.volume, price);
    const free = this.equity() - this.margin();
    if (required > free) return { ok: false, retcode: RETCODE.NO_MONEY, message: `not enough money: margin ${required} > free margin ${round2(free)}` };

    const ticket = this.nextTicket++;
    const position: SimPosition = {
      ticket,
      symbol: req.symbol,
      type: req.type,
      volume: req.volume,
      open_price: price,
      stop_loss: sl === null ? null : roundToTick(sl, spec),
      take_profit: tp === null ? null : roundToTick(tp, spec),
      opened_at: quote.time,
      commission: round2(this.commissionPerLotSide * req.volume),
      swap: 0,
      magic: req.magic ?? 0,
      comment: (req.comment ?? '').slice(0, 31), // brokers keep at most 31 characters
    };
    this.open.set(ticket, position);
    this.deal(position, 'IN', price, quote.time);
    this.save();
    return { ok: true, retcode: RETCODE.DONE, order: ticket, price, volume: req.volume, time: quote.time, closed: [] };
  }

  get pendingOrders(): SimOrder[] {
    return [...this.pending.values()];
  }

  /**
   * A pending order, as a trader places one by hand (the ownership proof: far from the market, the
   * dashboard's code as its comment). The comment keeps 31 characters, as brokers do.
   */
  placePendingOrder(req: PendingOrderRequest): { ok: true; order: number } | { ok: false; retcode: number; message: string } {
    const spec = this.feed.spec(req.symbol);
    const quote = this.feed.quote(req.symbol);
    if (!spec || !quote) return { ok: false, retcode: RETCODE.INVALID, message: `unknown symbol ${req.symbol}` };
    const type = req.type ?? 'BUY_LIMIT';
    const below = type === 'BUY_LIMIT' || type === 'SELL_STOP';
    const price = req.price ?? roundToTick(below ? quote.bid / 2 : quote.ask * 2, spec);
    const volume = req.volume ?? spec.volume_min;
    const wrongSide =
      type === 'BUY_LIMIT' ? price >= quote.ask : type === 'SELL_LIMIT' ? price <= quote.bid : type === 'BUY_STOP' ? price <= quote.ask : price >= quote.bid;
    if (!(price > 0) || wrongSide) return { ok: false, retcode: RETCODE.INVALID_STOPS, message: `invalid price ${price} for a ${type} at ${quote.bid}/${quote.ask}` };
    if (volume < spec.volume_min || volume > spec.volume_max) return { ok: false, retcode: RETCODE.INVALID_VOLUME, message: `invalid volume ${volume}` };
    const order: SimOrder = { ticket: this.nextTicket++, symbol: req.symbol, type, volume, price, comment: (req.comment ?? '').slice(0, 31), placed_at: quote.time, done_at: null };
    this.pending.set(order.ticket, order);
    this.save();
    return { ok: true, order: order.ticket };
  }

  /** Deletes a pending order: it moves to the order history. False when no such order is pending. */
  deletePendingOrder(ticket: number): boolean {
    const order = this.pending.get(ticket);
    if (!order) return false;
    this.pending.delete(ticket);
    this.orderHistory.push({ ...order, done_at: this.feed.clock() });
    this.save();
    return true;
  }

  /**
   * The comments (non-empty) of the pending orders open now, then of the history orders placed or
   * finished at or after `since`: what the provisioned EA reads for ownership codes (TermOrderComments).
   */
  orderComments(since: Date): string[] {
    const open = this.pendingOrders.map((o) => o.comment);
    const done = this.orderHistory.filter((o) => o.placed_at >= since || (o.done_at !== null && o.done_at >= since)).map((o) => o.comment);
    return [...open, ...done].filter((c) => c !== '');
  }

  /** Closes one position at market; books the closed trade (MT5: the position id is the ticket). */
  closePosition(ticket: number): ClosedTradeInput | undefined {
    const p = this.open.get(ticket);
    const quote = p && this.feed.quote(p.symbol);
    if (!p || !quote) return undefined;
    const profit = this.profitOf(p);
    const commission = round2(p.commission + this.commissionPerLotSide * p.volume);
    this.open.delete(ticket);
    this.balance = round2(this.balance + profit + commission + p.swap);
    const trade: ClosedTradeInput = {
      ticket: p.ticket,
      symbol: p.symbol,
      type: p.type,
      lots: p.volume,
      open_time: p.opened_at.toISOString(),
      close_time: (quote.time < p.opened_at ? p.opened_at : quote.time).toISOString(),
      open_price: p.open_price,
      close_price: p.type === 'BUY' ? quote.bid : quote.ask,
      commission,
      swap: p.swap,
      profit,
      magic: p.magic,
      comment: p.comment || null,
    };
    this.history.push(trade);
    this.deal(p, 'OUT', trade.close_price, new Date(trade.close_time));
    this.save();
    return trade;
  }

  /** CLOSE_BUY / CLOSE_SELL: closes every position of that side on the symbol. */
  closeAll(symbol: string, type: Side): OrderResult {
    const targets = this.positions.filter((p) => p.symbol === symbol && p.type === type);
    if (targets.length === 0) return { ok: false, retcode: RETCODE.POSITION_CLOSED, message: `no open ${type} position on ${symbol}` };
    const closed = targets.map((p) => this.closePosition(p.ticket)).filter((t): t is ClosedTradeInput => t !== undefined);
    const volume = round2(closed.reduce((s, t) => s + t.lots, 0));
    const first = closed[0]!;
    return { ok: true, retcode: RETCODE.DONE, order: first.ticket, price: first.close_price, volume, time: new Date(first.close_time), closed };
  }

  /** Positions hit by their stop-loss or take-profit at the current quotes are closed (the broker does this). */
  checkStops(): ClosedTradeInput[] {
    const closed: ClosedTradeInput[] = [];
    for (const p of this.positions) {
      const quote = this.feed.quote(p.symbol);
      if (!quote) continue;
      const exit = p.type === 'BUY' ? quote.bid : quote.ask;
      const hitSl = p.stop_loss !== null && (p.type === 'BUY' ? exit <= p.stop_loss : exit >= p.stop_loss);
      const hitTp = p.take_profit !== null && (p.type === 'BUY' ? exit >= p.take_profit : exit <= p.take_profit);
      if (hitSl || hitTp) {
        const t = this.closePosition(p.ticket);
        if (t) closed.push(t);
      }
    }
    return closed;
  }

  /** The full list of open positions as POST /positions/update takes it. */
  positionList(): PositionInput[] {
    return this.positions.map((p) => {
      const quote = this.feed.quote(p.symbol);
      return {
        ticket: p.ticket,
        symbol: p.symbol,
        type: p.type,
        volume: p.volume,
        open_price: p.open_price,
        current_price: quote ? (p.type === 'BUY' ? quote.bid : quote.ask) : null,
        stop_loss: p.stop_loss,
        take_profit: p.take_profit,
        profit: this.profitOf(p),
        swap: p.swap,
        commission: p.commission,
        magic: p.magic,
        comment: p.comment || null,
        opened_at: p.opened_at.toISOString(),
      };
    });
  }
}
