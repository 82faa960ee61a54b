import { describe, expect, it } from 'vitest';
import { decimalDistance, decimalPlaces, floorToStep, isMultipleOfStep, sizeByRisk, stepsToVolume, volumeProblem, wholeSteps, type RiskSpec } from './risk.ts';

// Specifications as MetaTrader 5 reports them for a USD account (SYMBOL_TRADE_TICK_SIZE,
// SYMBOL_TRADE_TICK_VALUE, SYMBOL_VOLUME_MIN/MAX/STEP).
const EURUSD: RiskSpec = { tick_size: 0.00001, tick_value: 1, volume_min: 0.01, volume_max: 100, volume_step: 0.01 }; // contract 100 000: 100 000 × 0.00001 = 1 USD per tick per lot
const XAUUSD: RiskSpec = { tick_size: 0.01, tick_value: 1, volume_min: 0.01, volume_max: 50, volume_step: 0.01 }; // contract 100 oz: 100 × 0.01 = 1 USD per tick per lot
const USDJPY: RiskSpec = { tick_size: 0.001, tick_value: 0.67, volume_min: 0.01, volume_max: 100, volume_step: 0.01 }; // 100 000 × 0.001 = 100 JPY per tick ≈ 0.67 USD at 149.25
const US500_STEP_01: RiskSpec = { tick_size: 0.01, tick_value: 0.01, volume_min: 0.1, volume_max: 1000, volume_step: 0.1 }; // contract 1: 1 × 0.01 = 0.01 USD per tick per lot
const US500_STEP_1: RiskSpec = { ...US500_STEP_01, volume_min: 1, volume_step: 1 };

function lots(equity: number, riskPercent: number, entryPrice: number, stopLoss: number, spec: RiskSpec): number {
  const sizing = sizeByRisk({ equity, riskPercent, entryPrice, stopLoss, spec });
  if (!sizing.ok) throw new Error(sizing.message);
  return sizing.volume;
}

describe('sizeByRisk: worked examples', () => {
  it('EURUSD', () => {
    // 10 000 × 1 % = 100 USD at risk. |1.10000 − 1.09500| = 0.00500 = 500 ticks × 1 USD = 500 USD per lot.
    // 100 / 500 = 0.20 lots.
    expect(lots(10_000, 1, 1.1, 1.095, EURUSD)).toBe(0.2);
    // 10 000 × 1.5 % = 150 USD. |1.25000 − 1.24800| = 200 ticks → 200 USD per lot. 150 / 200 = 0.75 lots.
    expect(lots(10_000, 1.5, 1.25, 1.248, EURUSD)).toBe(0.75);
    // 10 123.45 × 2 % = 202.469 USD. SELL 1.08000, SL 1.08300: 300 ticks → 300 USD per lot.
    // 202.469 / 300 = 0.674896… → floored to the 0.01 step: 0.67 lots (never rounded up: that would risk more).
    expect(lots(10_123.45, 2, 1.08, 1.083, EURUSD)).toBe(0.67);
  });

  it('EURUSD: the float trap of 0.58 lots', () => {
    // 5 800 × 1 % = 58 USD. |1.10000 − 1.09900| = 100 ticks → 100 USD per lot. 58 / 100 = 0.58 lots.
    // In IEEE-754, 0.58 / 0.01 = 57.99999999999999: a naive floor gives 57 steps = 0.57 lots.
    expect(Math.floor(0.58 / 0.01)).toBe(57);
    expect(lots(5_800, 1, 1.1, 1.099, EURUSD)).toBe(0.58);
    // 1.1 − 1.099 is 0.0010000000000001119 in floats; the decimal distance is exactly 0.001.
    expect(1.1 - 1.099).not.toBe(0.001);
    expect(decimalDistance(1.1, 1.099)).toBe(0.001);
  });

  it('XAUUSD', () => {
    // 10 000 × 1 % = 100 USD. |2000.00 − 1990.00| = 10.00 = 1 000 ticks × 1 USD = 1 000 USD per lot. 100 / 1000 = 0.10 lots.
    expect(lots(10_000, 1, 2000, 1990, XAUUSD)).toBe(0.1);
    // 25 000 × 0.8 % = 200 USD. SELL 2350.55, SL 2362.30: 11.75 = 1 175 ticks → 1 175 USD per lot.
    // 200 / 1175 = 0.170212… → 0.17 lots.
    expect(lots(25_000, 0.8, 2350.55, 2362.3, XAUUSD)).toBe(0.17);
  });

  it('USDJPY on a USD account', () => {
    // 10 000 × 1 % = 100 USD. |150.000 − 149.500| = 0.500 = 500 ticks × 0.67 USD = 335 USD per lot.
    // 100 / 335 = 0.298507… → 0.29 lots.
    expect(lots(10_000, 1, 150, 149.5, USDJPY)).toBe(0.29);
    // 50 000 × 2 % = 1 000 USD. SELL 151.234, SL 151.634: 400 ticks × 0.67 = 268 USD per lot. 1000 / 268 = 3.731343… → 3.73 lots.
    expect(lots(50_000, 2, 151.234, 151.634, USDJPY)).toBe(3.73);
  });

  it('US500 index CFD with a 0.1 and a 1 lot step', () => {
    // 10 000 × 1 % = 100 USD. |5000.00 − 4950.00| = 50.00 = 5 000 ticks × 0.01 USD = 50 USD per lot. 100 / 50 = 2 lots.
    expect(lots(10_000, 1, 5000, 4950, US500_STEP_01)).toBe(2);
    // 10 000 × 0.5 % = 50 USD. |5000.00 − 4970.00| = 30.00 = 3 000 ticks → 30 USD per lot. 50 / 30 = 1.666…
    // step 0.1 → 1.6 lots; step 1 → 1 lot.
    expect(lots(10_000, 0.5, 5000, 4970, US500_STEP_01)).toBe(1.6);
    expect(lots(10_000, 0.5, 5000, 4970, US500_STEP_1)).toBe(1);
    // 3 000 × 1 % = 30 USD. |5000.00 − 4900.00| = 100 → 10 000 ticks → 100 USD per lot. 30 / 100 = 0.3 → 0.3 lots
    // (0.3 / 0.1 = 2.9999999999999996 in floats, a naive floor gives 0.2; and 3 × 0.1 = 0.30000000000000004).
    expect(Math.floor(0.3 / 0.1)).toBe(2);
    expect(lots(3_000, 1, 5000, 4900, US500_STEP_01)).toBe(0.3);
  });

  it('caps at volume_max and says so', () => {
    // 1 000 000 × 2 % = 20 000 USD. 100 ticks → 100 USD per lot. 20 000 / 100 = 200 lots > 100 → 100 lots.
    const sizing = sizeByRisk({ equity: 1_000_000, riskPercent: 2, entryPrice: 1.1, stopLoss: 1.099, spec: EURUSD });
    expect(sizing).toMatchObject({ ok: true, volume: 100, cappedAtMax: true, rawVolume: 200, riskAmount: 20_000, ticks: 100, lossPerLot: 100 });
  });

  it('refuses a size below the minimum lot instead of rounding up', () => {
    // 100 × 0.5 % = 0.50 USD. 500 ticks → 500 USD per lot. 0.5 / 500 = 0.001 lots < 0.01.
    const sizing = sizeByRisk({ equity: 100, riskPercent: 0.5, entryPrice: 1.1, stopLoss: 1.095, spec: EURUSD });
    expect(sizing.ok).toBe(false);
    if (!sizing.ok) {
      expect(sizing.reason).toBe('below_minimum');
      expect(sizing.message).toMatch(/risk too small for the minimum lot/);
      expect(sizing.rawVolume).toBeCloseTo(0.001, 12);
    }
    // US500 step 1: 10 000 × 0.25 % = 25 USD, 30 USD per lot → 0.83 lots < 1.
    expect(sizeByRisk({ equity: 10_000, riskPercent: 0.25, entryPrice: 5000, stopLoss: 4970, spec: US500_STEP_1 })).toMatchObject({ ok: false, reason: 'below_minimum' });
  });

  it('refuses no equity and no stop distance', () => {
    expect(sizeByRisk({ equity: 0, riskPercent: 1, entryPrice: 1.1, stopLoss: 1.09, spec: EURUSD })).toMatchObject({ ok: false, reason: 'no_equity' });
    expect(sizeByRisk({ equity: -50, riskPercent: 1, entryPrice: 1.1, stopLoss: 1.09, spec: EURUSD })).toMatchObject({ ok: false, reason: 'no_equity' });
    expect(sizeByRisk({ equity: 1000, riskPercent: 1, entryPrice: 1.1, stopLoss: 1.1, spec: EURUSD })).toMatchObject({ ok: false, reason: 'no_stop_distance' });
  });
});

describe('decimal helpers', () => {
  it('counts decimal places, including exponent notation', () => {
    expect(decimalPlaces(0.01)).toBe(2);
    expect(decimalPlaces(0.00001)).toBe(5);
    expect(decimalPlaces(1e-7)).toBe(7);
    expect(decimalPlaces(1.5e-7)).toBe(8);
    expect(decimalPlaces(150)).toBe(0);
    expect(decimalPlaces(1e21)).toBe(0);
    expect(() => decimalPlaces(Number.NaN)).toThrow(RangeError);
  });

  it('floors to the step without losing a step to representation noise', () => {
    expect(wholeSteps(0.3, 0.01)).toBe(30);
    expect(wholeSteps(0.58, 0.01)).toBe(58);
    expect(wholeSteps(4.35, 0.01)).toBe(435);
    expect(wholeSteps(0.7, 0.1)).toBe(7);
    expect(wholeSteps(0.30000000000000004, 0.01)).toBe(30);
    expect(wholeSteps(0.29999999999999993, 0.01)).toBe(30);
    expect(wholeSteps(0.299, 0.01)).toBe(29);
    expect(wholeSteps(0, 0.01)).toBe(0);
    expect(wholeSteps(-1, 0.01)).toBe(0);
    expect(floorToStep(0.674896, 0.01)).toBe(0.67);
    expect(floorToStep(1.7, 0.1)).toBe(1.7);
    expect(floorToStep(0.7, 0.25)).toBe(0.5);
    expect(stepsToVolume(3, 0.1)).toBe(0.3);
    expect(stepsToVolume(7, 0.01)).toBe(0.07);
    expect(() => wholeSteps(1, 0)).toThrow(RangeError);
  });

  it('checks multiples of the step on decimal values', () => {
    expect(isMultipleOfStep(0.3, 0.1)).toBe(true); // 0.3 % 0.1 is 0.09999999999999998 in floats
    expect(0.3 % 0.1).not.toBe(0);
    expect(isMultipleOfStep(0.07, 0.01)).toBe(true);
    expect(isMultipleOfStep(0.015, 0.01)).toBe(false);
    expect(isMultipleOfStep(1.5, 0.5)).toBe(true);
    expect(isMultipleOfStep(1.2, 0.5)).toBe(false);
  });

  it('explains why a volume cannot be traded', () => {
    expect(volumeProblem(0.05, EURUSD)).toBeNull();
    expect(volumeProblem(100, EURUSD)).toBeNull();
    expect(volumeProblem(0.001, EURUSD)).toMatch(/below the symbol's minimum of 0.01/);
    expect(volumeProblem(150, EURUSD)).toMatch(/above the symbol's maximum of 100/);
    expect(volumeProblem(0.015, EURUSD)).toMatch(/not a multiple of the symbol's volume step 0.01/);
    expect(volumeProblem(1.5, US500_STEP_1)).toMatch(/not a multiple/);
  });
});
