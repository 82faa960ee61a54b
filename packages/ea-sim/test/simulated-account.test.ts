import { describe, expect, it } from 'vitest';
import { PriceFeed, RETCODE, SimulatedAccount, STANDARD_SYMBOLS } from '../src/index.ts';

const T0 = new Date('2026-11-20T10:00:00Z');

function account(balance = 10_000, leverage = 500) {
  let now = T0;
  const feed = new PriceFeed(STANDARD_SYMBOLS, { seed: 7, clock: () => now });
  feed.set('EURUSD', 1.1);
  feed.set('XAUUSD', 2650);
  const a = new SimulatedAccount({ login: 5001, server: 'Sim-Demo', broker: 'Sim', balance, leverage, feed, firstTicket: 1000 });
  return { a, feed, at: (d: Date) => (now = d) };
}

describe('price feed', () => {
  it('replays the same prices for the same seed, on the tick grid, bid below ask', () => {
    const walk = (seed: number) => {
      const feed = new PriceFeed(STANDARD_SYMBOLS, { seed });
      return Array.from({ length: 20 }, () => (feed.step(), feed.quote('EURUSD')!));
    };
    const a = walk(1);
    expect(walk(1).map((q) => q.bid)).toEqual(a.map((q) => q.bid));
    expect(walk(2).map((q) => q.bid)).not.toEqual(a.map((q) => q.bid));
    for (const q of a) {
      expect(q.bid).toBeLessThan(q.ask);
      expect(Math.abs(q.bid * 1e5 - Math.round(q.bid * 1e5))).toBeLessThan(1e-6);
      expect(Number((q.ask - q.bid).toFixed(5))).toBe(0.00006);
    }
  });
});

describe('simulated account', () => {
  it('fills a BUY at the ask and values it at the bid with the tick value', () => {
    const { a, feed } = account();
    const r = a.marketOrder({ symbol: 'EURUSD', type: 'BUY', volume: 1, stop_loss: 1.09, take_profit: 1.12 });
    expect(r).toMatchObject({ ok: true, retcode: RETCODE.DONE, order: 1000, price: 1.10003 });
    // Opened at the ask: one lot loses the spread (6 points x $1) at once, plus the commission.
    expect(a.profitOf(a.positions[0]!)).toBe(-6);
    expect(a.figures()).toMatchObject({ balance: 10_000, equity: 10_000 - 6 - 3.5, margin: 220.01 });
    feed.set('EURUSD', 1.101);
    expect(a.profitOf(a.positions[0]!)).toBe(94);
  });

  it('books a closed trade with both commissions when a position closes', () => {
    const { a, feed, at } = account();
    a.marketOrder({ symbol: 'XAUUSD', type: 'SELL', volume: 0.5 });
    at(new Date(T0.getTime() + 3600_000));
    feed.set('XAUUSD', 2640);
    const r = a.closeAll('XAUUSD', 'SELL');
    expect(r.ok).toBe(true);
    const [trade] = a.history;
    // Sold at the bid 2649.90, bought back at the ask 2640.10: 980 points x $1 x 0.5 lots.
    expect(trade).toMatchObject({ type: 'SELL', lots: 0.5, open_price: 2649.9, close_price: 2640.1, profit: 490, commission: -3.5 });
    expect(trade?.open_time).toBe(T0.toISOString());
    expect(trade?.close_time).toBe('2026-11-20T11:00:00.000Z');
    expect(a.balance).toBe(10_000 + 490 - 3.5);
    expect(a.positions).toEqual([]);
  });

  it('refuses what a trade server refuses, with its retcode', () => {
    const { a } = account(100, 30);
    expect(a.marketOrder({ symbol: 'EURUSD', type: 'BUY', volume: 0.015 })).toMatchObject({ ok: false, retcode: RETCODE.INVALID_VOLUME });
    expect(a.marketOrder({ symbol: 'EURUSD', type: 'BUY', volume: 200 })).toMatchObject({ ok: false, retcode: RETCODE.INVALID_VOLUME });
    expect(a.marketOrder({ symbol: 'EURUSD', type: 'BUY', volume: 0.01, stop_loss: 1.2 })).toMatchObject({ ok: false, retcode: RETCODE.INVALID_STOPS });
    expect(a.marketOrder({ symbol: 'EURUSD', type: 'SELL', volume: 0.01, take_profit: 1.2 })).toMatchObject({ ok: false, retcode: RETCODE.INVALID_STOPS });
    expect(a.marketOrder({ symbol: 'EURUSD', type: 'BUY', volume: 1 })).toMatchObject({ ok: false, retcode: RETCODE.NO_MONEY });
    expect(a.marketOrder({ symbol: 'NOPE', type: 'BUY', volume: 1 })).toMatchObject({ ok: false, retcode: RETCODE.INVALID });
    expect(a.closeAll('EURUSD', 'BUY')).toMatchObject({ ok: false, retcode: RETCODE.POSITION_CLOSED });
    expect(a.positions).toEqual([]);
  });

  it('closes positions that reach their stop-loss or take-profit, and lists open ones as the API takes them', () => {
    const { a, feed } = account();
    a.marketOrder({ symbol: 'EURUSD', type: 'BUY', volume: 0.1, stop_loss: 1.095 });
    a.marketOrder({ symbol: 'EURUSD', type: 'SELL', volume: 0.2, take_profit: 1.09 });
    expect(a.positionList().map((p) => [p.ticket, p.type, p.volume, p.stop_loss, p.take_profit])).toEqual([
      [1000, 'BUY', 0.1, 1.095, null],
      [1001, 'SELL', 0.2, null, 1.09],
    ]);
    feed.set('EURUSD', 1.0949);
    expect(a.checkStops().map((t) => t.ticket)).toEqual([1000]);
    feed.set('EURUSD', 1.0899);
    expect(a.checkStops().map((t) => t.ticket)).toEqual([1001]);
    expect(a.history).toHaveLength(2);
  });
});
