import fc from 'fast-check';
import { beforeAll, describe, expect, it } from 'vitest';
import { decimalDistance, decimalPlaces, floorToStep, isMultipleOfStep, sizeByRisk, stepsToVolume, volumeProblem, wholeSteps, type RiskSpec } from '../../functions/signals/risk.ts';
import { buildHostProgram, runLines } from '../../mql/host/build.ts';

// Rubi/Risk.mqh compiled on the host (mql/host/tests/risk_test.cpp) against functions/signals/risk.ts:
// the same worked examples as risk.test.ts, then random inputs compared function by function.

const SEED = Number(process.env.FC_SEED ?? Date.now() % 2 ** 31);
let exe = '';
beforeAll(async () => {
  exe = await buildHostProgram('risk_test', 'MQL5');
}, 300_000);

const EURUSD: RiskSpec = { tick_size: 0.00001, tick_value: 1, volume_min: 0.01, volume_max: 100, volume_step: 0.01 };
const XAUUSD: RiskSpec = { tick_size: 0.01, tick_value: 1, volume_min: 0.01, volume_max: 50, volume_step: 0.01 };
const USDJPY: RiskSpec = { tick_size: 0.001, tick_value: 0.67, volume_min: 0.01, volume_max: 100, volume_step: 0.01 };
const US500_STEP_01: RiskSpec = { tick_size: 0.01, tick_value: 0.01, volume_min: 0.1, volume_max: 1000, volume_step: 0.1 };
const US500_STEP_1: RiskSpec = { ...US500_STEP_01, volume_min: 1, volume_step: 1 };

type SizeCase = [equity: number, riskPercent: number, entry: number, stopLoss: number, spec: RiskSpec];
const sizeLine = ([e, r, entry, sl, s]: SizeCase) => ['size', e, r, entry, sl, s.tick_size, s.tick_value, s.volume_min, s.volume_max, s.volume_step].map(String).join('\t');

/** What risk.ts says, in the program's output format. */
function sizeExpected([equity, riskPercent, entryPrice, stopLoss, spec]: SizeCase): string {
  const r = sizeByRisk({ equity, riskPercent, entryPrice, stopLoss, spec });
  return r.ok
    ? ['1', '', r.volume, r.riskAmount, r.ticks, r.lossPerLot, r.rawVolume, r.cappedAtMax ? 1 : 0, ''].join('\t')
    : ['0', r.reason, 0, 0, 0, 0, r.reason === 'below_minimum' ? r.rawVolume : 0, 0, r.message].join('\t');
}
/** Output numbers are %.17g: compare them as numbers. */
const normalise = (line: string) => line.split('\t').map((f) => (/^-?[\d.]+(e[-+]\d+)?$/.test(f) ? String(Number(f)) : f)).join('\t');

const WORKED: SizeCase[] = [
  [10_000, 1, 1.1, 1.095, EURUSD], // 0.2
  [10_000, 1.5, 1.25, 1.248, EURUSD], // 0.75
  [10_123.45, 2, 1.08, 1.083, EURUSD], // 0.67
  [5_800, 1, 1.1, 1.099, EURUSD], // 0.58, the float trap
  [10_000, 1, 2000, 1990, XAUUSD], // 0.1
  [25_000, 0.8, 2350.55, 2362.3, XAUUSD], // 0.17
  [10_000, 1, 150, 149.5, USDJPY], // 0.29
  [50_000, 2, 151.234, 151.634, USDJPY], // 3.73
  [10_000, 1, 5000, 4950, US500_STEP_01], // 2
  [10_000, 0.5, 5000, 4970, US500_STEP_01], // 1.6
  [10_000, 0.5, 5000, 4970, US500_STEP_1], // 1
  [3_000, 1, 5000, 4900, US500_STEP_01], // 0.3
  [1_000_000, 2, 1.1, 1.099, EURUSD], // capped at 100
  [100, 0.5, 1.1, 1.095, EURUSD], // below the minimum
  [10_000, 0.25, 5000, 4970, US500_STEP_1], // below the minimum
  [0, 1, 1.1, 1.09, EURUSD], // no equity
  [-50, 1, 1.1, 1.09, EURUSD], // no equity
  [1000, 1, 1.1, 1.1, EURUSD], // no stop distance
];

describe('lot sizing (Rubi/Risk.mqh) against functions/signals/risk.ts', () => {
  it('gives the worked examples of risk.test.ts', async () => {
    const out = await runLines(exe, WORKED.map(sizeLine));
    const volumes = out.map((l) => Number(l.split('\t')[2]));
    expect(volumes.slice(0, 13)).toEqual([0.2, 0.75, 0.67, 0.58, 0.1, 0.17, 0.29, 3.73, 2, 1.6, 1, 0.3, 100]);
    expect(out[12]!.split('\t')[7]).toBe('1'); // capped
    expect(out.slice(13).map((l) => l.split('\t')[1])).toEqual(['below_minimum', 'below_minimum', 'no_equity', 'no_equity', 'no_stop_distance']);
    expect(out[13]).toContain('risk too small for the minimum lot: 0.5% of 100 is 0.5 at risk, one lot loses 500 at the stop-loss, so the size would be 0.001 lots, below the minimum of 0.01');
    expect(out.map(normalise)).toEqual(WORKED.map(sizeExpected).map(normalise));
  });

  it('agrees with risk.ts on random accounts, prices and specs', async () => {
    const spec = fc.record({
      tick_size: fc.constantFrom(0.00001, 0.0001, 0.001, 0.01, 0.1, 0.25, 1),
      tick_value: fc.constantFrom(0.01, 0.1, 0.67, 1, 1.2345, 10),
      volume_min: fc.constantFrom(0.01, 0.1, 1),
      volume_max: fc.constantFrom(50, 100, 1000),
      volume_step: fc.constantFrom(0.01, 0.1, 0.5, 1),
    });
    const price = fc.integer({ min: 1, max: 10_000_000 }).chain((n) => fc.constantFrom(n / 100_000, n / 1000, n / 100));
    const cases = fc.sample(fc.tuple(fc.integer({ min: 0, max: 10_000_000 }).map((n) => n / 100), fc.integer({ min: 1, max: 1000 }).map((n) => n / 100), price, price, spec), {
      numRuns: 500,
      seed: SEED,
    }) as SizeCase[];
    const out = await runLines(exe, cases.map(sizeLine));
    expect(out.map(normalise), `seed ${SEED}`).toEqual(cases.map(sizeExpected).map(normalise));
  });
});

describe('decimal helpers and volume checks (Rubi/Risk.mqh)', () => {
  it('give the values of risk.test.ts', async () => {
    const lines = [
      'places\t0.01', 'places\t0.00001', 'places\t1e-7', 'places\t1.5e-7', 'places\t150', 'places\t1e+21',
      'steps\t0.3\t0.01', 'steps\t0.58\t0.01', 'steps\t4.35\t0.01', 'steps\t0.7\t0.1', 'steps\t0.30000000000000004\t0.01', 'steps\t0.29999999999999993\t0.01', 'steps\t0.299\t0.01', 'steps\t0\t0.01', 'steps\t-1\t0.01',
      'floor\t0.674896\t0.01', 'floor\t1.7\t0.1', 'floor\t0.7\t0.25', 'tovolume\t3\t0.1', 'tovolume\t7\t0.01',
      'multiple\t0.3\t0.1', 'multiple\t0.07\t0.01', 'multiple\t0.015\t0.01', 'multiple\t1.5\t0.5', 'multiple\t1.2\t0.5',
      'distance\t1.1\t1.099', 'distance\t1.1\t1.095',
    ];
    expect(await runLines(exe, lines)).toEqual([
      '2', '5', '7', '8', '0', '0',
      '30', '58', '435', '7', '30', '30', '29', '0', '0',
      '0.67000000000000004', '1.7', '0.5', '0.29999999999999999', '0.070000000000000007',
      '1', '1', '0', '1', '0',
      '0.001', '0.0050000000000000001',
    ]);
  });

  it('explain why a volume cannot be traded, in the words of risk.ts', async () => {
    const cases: [number, RiskSpec][] = [[0.05, EURUSD], [100, EURUSD], [0.001, EURUSD], [150, EURUSD], [0.015, EURUSD], [1.5, US500_STEP_1]];
    const out = await runLines(exe, cases.map(([v, s]) => `problem\t${v}\t${s.volume_min}\t${s.volume_max}\t${s.volume_step}`));
    expect(out).toEqual(cases.map(([v, s]) => volumeProblem(v, s) ?? ''));
    expect(out[2]).toBe("volume 0.001 is below the symbol's minimum of 0.01 lots");
  });

  it('agree with risk.ts on random values and steps', async () => {
    const value = fc.oneof(fc.integer({ min: 0, max: 1_000_000 }).map((n) => n / 1000), fc.double({ min: 0, max: 1000, noNaN: true }));
    const step = fc.constantFrom(0.01, 0.1, 0.25, 0.5, 1, 0.001, 0.05);
    const cases = fc.sample(fc.tuple(value, step), { numRuns: 400, seed: SEED });
    const lines = cases.flatMap(([v, s]) => [`steps\t${v}\t${s}`, `floor\t${v}\t${s}`, `multiple\t${v}\t${s}`, `places\t${v}`, `distance\t${v}\t${s}`]);
    const out = await runLines(exe, lines);
    const expected = cases.flatMap(([v, s]) => [wholeSteps(v, s), floorToStep(v, s), isMultipleOfStep(v, s) ? 1 : 0, Math.min(decimalPlaces(v), 17), decimalDistance(v, s)]);
    expect(out.map(Number), `seed ${SEED}`).toEqual(expected);
    expect(stepsToVolume(3, 0.1)).toBe(0.3);
  });

  it('normalise a signal volume to the broker symbol: floor to the step, cap at the maximum, never round up', async () => {
    const out = await runLines(exe, [
      'normalize\t0.58\t0.01\t100\t0.01',
      'normalize\t0.675\t0.01\t100\t0.01',
      'normalize\t250\t0.01\t100\t0.01',
      'normalize\t1.66\t0.1\t1000\t0.1',
      'normalize\t0.005\t0.01\t100\t0.01',
      'normalize\t0.9\t1\t1000\t1',
      'normalize\t1\t0.01\t100\t0',
    ]);
    expect(out).toEqual([
      '1\t0.57999999999999996\t',
      '1\t0.67000000000000004\t',
      '1\t100\t',
      '1\t1.6000000000000001\t',
      "0\t0\tvolume 0.005 is below the symbol's minimum of 0.01 lots",
      "0\t0\tvolume 0.9 is below the symbol's minimum of 1 lots",
      "0\t0\tthe symbol's volume specification is invalid",
    ]);
  });
});
