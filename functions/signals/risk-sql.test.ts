// The server sizes risk-based signals in SQL (private.size_by_risk, private.volume_problem: the
// rule lives where the write is). functions/signals/risk.ts is the same formula in TypeScript, the
// reference the dashboard's preview and the MQL EA (Rubi/Risk.mqh) are checked against. This proves
// the two agree: on the worked examples and on random specifications and prices.
import { asOwner } from '@rubi/db';
import type { PgliteDb } from '@rubi/db/pglite';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createMigratedPglite } from '../../tests/support/pglite-schema.ts';
import { sizeByRisk, volumeProblem, type RiskSpec } from './risk.ts';

let db: PgliteDb;
beforeAll(async () => {
  ({ db } = await createMigratedPglite());
});
afterAll(() => db.close());

const EURUSD: RiskSpec = { tick_size: 0.00001, tick_value: 1, volume_min: 0.01, volume_max: 100, volume_step: 0.01 };
const XAUUSD: RiskSpec = { tick_size: 0.01, tick_value: 1, volume_min: 0.01, volume_max: 50, volume_step: 0.01 };
const USDJPY: RiskSpec = { tick_size: 0.001, tick_value: 0.67, volume_min: 0.01, volume_max: 100, volume_step: 0.01 };
const US500: RiskSpec = { tick_size: 0.01, tick_value: 0.01, volume_min: 0.1, volume_max: 1000, volume_step: 0.1 };
const US500_STEP_1: RiskSpec = { ...US500, volume_min: 1, volume_step: 1 };

type Sized = { volume: number } | { refused: string };

async function sqlSize(equity: number, riskPercent: number, entry: number, stop: number, spec: RiskSpec): Promise<Sized> {
  try {
    const [row] = await db.query<{ volume: string }>(asOwner(), 'select private.size_by_risk($1, $2, $3, $4, $5, $6, $7, $8, $9)::text as volume', [
      String(equity),
      String(riskPercent),
      String(entry),
      String(stop),
      String(spec.tick_size),
      String(spec.tick_value),
      String(spec.volume_min),
      String(spec.volume_max),
      String(spec.volume_step),
    ]);
    return { volume: Number(row!.volume) };
  } catch (error) {
    return { refused: (error as Error).message };
  }
}

function tsSize(equity: number, riskPercent: number, entryPrice: number, stopLoss: number, spec: RiskSpec): Sized {
  const sizing = sizeByRisk({ equity, riskPercent, entryPrice, stopLoss, spec });
  return sizing.ok ? { volume: sizing.volume } : { refused: sizing.message };
}

describe('private.size_by_risk agrees with risk.ts', () => {
  it.each([
    ['EURUSD 1 %', 10_000, 1, 1.1, 1.095, EURUSD, 0.2],
    ['EURUSD floored, never rounded up', 10_123.45, 2, 1.08, 1.083, EURUSD, 0.67],
    ['EURUSD: the float trap of 0.58 lots', 5_800, 1, 1.1, 1.099, EURUSD, 0.58],
    ['XAUUSD', 25_000, 0.8, 2350.55, 2362.3, XAUUSD, 0.17],
    ['USDJPY on a USD account', 50_000, 2, 151.234, 151.634, USDJPY, 3.73],
    ['US500 step 0.1', 10_000, 0.5, 5000, 4970, US500, 1.6],
    ['US500: 0.3 / 0.1 is 2.999… in floats', 3_000, 1, 5000, 4900, US500, 0.3],
    ['US500 step 1', 10_000, 0.5, 5000, 4970, US500_STEP_1, 1],
    ['capped at volume_max', 1_000_000, 2, 1.1, 1.099, EURUSD, 100],
  ] as const)('%s', async (_name, equity, risk, entry, stop, spec, volume) => {
    expect(await sqlSize(equity, risk, entry, stop, spec)).toEqual({ volume });
    expect(tsSize(equity, risk, entry, stop, spec)).toEqual({ volume });
  });

  it('refuses with the same words: below the minimum lot, no equity, no stop distance', async () => {
    for (const [equity, risk, entry, stop, spec] of [
      [100, 0.5, 1.1, 1.095, EURUSD],
      [10_000, 0.25, 5000, 4970, US500_STEP_1],
      [0, 1, 1.1, 1.09, EURUSD],
      [1000, 1, 1.1, 1.1, EURUSD],
    ] as const) {
      expect(await sqlSize(equity, risk, entry, stop, spec)).toEqual(tsSize(equity, risk, entry, stop, spec));
    }
  });

  it('on random specifications, equities, risks and stop distances', async () => {
    const specs = [EURUSD, XAUUSD, USDJPY, US500, US500_STEP_1];
    const cents = (min: number, max: number) => fc.integer({ min: min * 100, max: max * 100 }).map((n) => n / 100);
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom(...specs),
        cents(50, 1_000_000),
        cents(0.01, 10),
        fc.integer({ min: 1, max: 5_000_000 }),
        fc.integer({ min: 1, max: 20_000 }),
        fc.boolean(),
        async (spec, equity, risk, entryTicks, stopTicks, sell) => {
          // Prices on the symbol's tick grid, as MetaTrader quotes them.
          const digits = Math.round(-Math.log10(spec.tick_size));
          const entry = Number(((entryTicks + 20_000) * spec.tick_size).toFixed(digits));
          const stop = Number(((entryTicks + 20_000 + (sell ? stopTicks : -stopTicks)) * spec.tick_size).toFixed(digits));
          // Same volume, or refused for the same reason. (The figures quoted in a refusal may differ
          // in the last cent: SQL rounds 0.045 to 0.05 in decimal, JavaScript's toFixed to 0.04.)
          const reason = (s: Sized) => ('volume' in s ? s : { refused: s.refused.split(':')[0] });
          expect(reason(await sqlSize(equity, risk, entry, stop, spec))).toEqual(reason(tsSize(equity, risk, entry, stop, spec)));
        },
      ),
      { numRuns: 300 },
    );
  });
});

describe('private.volume_problem agrees with risk.ts', () => {
  it.each([
    [0.05, EURUSD],
    [100, EURUSD],
    [0.001, EURUSD],
    [150, EURUSD],
    [0.015, EURUSD],
    [0.3, US500],
    [1.5, US500_STEP_1],
    [0.07, XAUUSD],
  ] as const)('%s lots', async (volume, spec) => {
    const [row] = await db.query<{ problem: string | null }>(asOwner(), 'select private.volume_problem($1, $2, $3, $4) as problem', [
      String(volume),
      String(spec.volume_min),
      String(spec.volume_max),
      String(spec.volume_step),
    ]);
    expect(row!.problem).toBe(volumeProblem(volume, spec));
  });
});
