import type { SymbolSpec } from '@rubi/contracts/connect.ts';

/** A quote as MetaTrader's SymbolInfoTick gives it. */
export interface Quote {
  symbol: string;
  bid: number;
  ask: number;
  time: Date;
}

export interface FeedSymbol {
  spec: SymbolSpec;
  /** Mid price the walk starts from. */
  start: number;
  /** Spread in points (ticks). */
  spreadPoints: number;
  /** Standard deviation of one step of the walk, in points. */
  volatilityPoints: number;
}

/** Clock of the simulation: wall time by default, a fixed or stepped time in tests and the demo. */
export type Clock = () => Date;
export const wallClock: Clock = () => new Date();

/** mulberry32: a small seeded PRNG, so a given seed replays the same prices. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Rounds a price to the symbol's tick size (and its digits, to drop binary noise). */
export function roundToTick(price: number, spec: SymbolSpec): number {
  const ticks = Math.round(price / spec.tick_size);
  return Number((ticks * spec.tick_size).toFixed(spec.digits));
}

/**
 * A price feed: a seeded Gaussian random walk of the mid price per symbol, quoted as bid/ask on the
 * symbol's tick grid with a fixed spread. `step()` moves every symbol one step (the EA's timer);
 * `set()` pins a mid price (tests: move the market through a stop-loss).
 */
export class PriceFeed {
  private readonly symbols = new Map<string, FeedSymbol & { mid: number }>();
  private readonly random: () => number;
  readonly clock: Clock;

  constructor(
    symbols: FeedSymbol[],
    options: { seed?: number; clock?: Clock } = {},
  ) {
    for (const s of symbols) this.symbols.set(s.spec.symbol, { ...s, mid: s.start });
    this.random = seededRandom(options.seed ?? 42);
    this.clock = options.clock ?? wallClock;
  }

  has(symbol: string): boolean {
    return this.symbols.has(symbol);
  }

  spec(symbol: string): SymbolSpec | undefined {
    return this.symbols.get(symbol)?.spec;
  }

  specs(): SymbolSpec[] {
    return [...this.symbols.values()].map((s) => s.spec);
  }

  quote(symbol: string): Quote | undefined {
    const s = this.symbols.get(symbol);
    if (!s) return undefined;
    const half = (s.spreadPoints * s.spec.tick_size) / 2;
    return { symbol, bid: roundToTick(s.mid - half, s.spec), ask: roundToTick(s.mid + half, s.spec), time: this.clock() };
  }

  step(): void {
    for (const s of this.symbols.values()) {
      // Box-Muller: one standard normal draw per symbol and step.
      const u = Math.max(this.random(), Number.EPSILON);
      const v = this.random();
      const z = Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
      s.mid = Math.max(s.spec.tick_size * 10, s.mid + z * s.volatilityPoints * s.spec.tick_size);
    }
  }

  set(symbol: string, mid: number): void {
    const s = this.symbols.get(symbol);
    if (!s) throw new Error(`unknown symbol ${symbol}`);
    s.mid = mid;
  }
}

/** Specifications as a typical ECN broker's MT5 server reports them (USD account). */
export const STANDARD_SYMBOLS: FeedSymbol[] = [
  {
    spec: { symbol: 'EURUSD', tick_size: 0.00001, tick_value: 1, contract_size: 100000, volume_min: 0.01, volume_max: 100, volume_step: 0.01, digits: 5 },
    start: 1.0852,
    spreadPoints: 6,
    volatilityPoints: 8,
  },
  {
    spec: { symbol: 'GBPUSD', tick_size: 0.00001, tick_value: 1, contract_size: 100000, volume_min: 0.01, volume_max: 100, volume_step: 0.01, digits: 5 },
    start: 1.2671,
    spreadPoints: 9,
    volatilityPoints: 10,
  },
  {
    spec: { symbol: 'XAUUSD', tick_size: 0.01, tick_value: 1, contract_size: 100, volume_min: 0.01, volume_max: 50, volume_step: 0.01, digits: 2 },
    start: 2650,
    spreadPoints: 20,
    volatilityPoints: 40,
  },
];
