// The dashboard's risk-sizing preview agrees with the server's sizing (functions/signals/risk.ts),
// which decides: same lots, same refusals, on random specifications and prices.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { sizeByRisk } from '../../../functions/signals/risk.ts';
import { previewRisk } from '../src/risk.ts';

const decimal = (places: number, min: number, max: number) => fc.integer({ min: Math.round(min * 10 ** places), max: Math.round(max * 10 ** places) }).map((n) => n / 10 ** places);

describe('risk preview', () => {
  it('sizes the demo signal as the server does: 1% of 10,000 with a 20-pip stop on EURUSD is 0.5 lots', () => {
    const spec = { tick_size: 0.00001, tick_value: 1, volume_min: 0.01, volume_max: 100, volume_step: 0.01 };
    expect(previewRisk(10_000, 1, 1.08503, 1.08303, spec)).toMatchObject({ ok: true, volume: 0.5, riskAmount: 100, cappedAtMax: false });
    expect(previewRisk(10_000, 1, 1.085, 1.085, spec)).toMatchObject({ ok: false });
    expect(previewRisk(10, 0.01, 1.085, 1.0, spec)).toMatchObject({ ok: false });
  });

  it('agrees with functions/signals/risk.ts on random inputs', () => {
    fc.assert(
      fc.property(
        decimal(2, 1, 1_000_000),
        decimal(2, 0.01, 10),
        decimal(5, 0.5, 2),
        decimal(5, 0.00001, 0.05),
        fc.constantFrom(0.00001, 0.0001, 0.01, 0.1),
        decimal(2, 0.1, 10),
        fc.constantFrom({ min: 0.01, step: 0.01, max: 100 }, { min: 0.1, step: 0.1, max: 50 }, { min: 1, step: 1, max: 1000 }),
        (equity, risk, entry, gap, tickSize, tickValue, v) => {
          const spec = { tick_size: tickSize, tick_value: tickValue, volume_min: v.min, volume_max: v.max, volume_step: v.step };
          const server = sizeByRisk({ equity, riskPercent: risk, entryPrice: entry, stopLoss: Number((entry - gap).toFixed(5)), spec });
          const page = previewRisk(equity, risk, entry, Number((entry - gap).toFixed(5)), spec);
          expect(page.ok).toBe(server.ok);
          if (page.ok && server.ok) {
            expect(page.volume).toBe(server.volume);
            expect(page.cappedAtMax).toBe(server.cappedAtMax);
          }
        },
      ),
      { numRuns: 500 },
    );
  });
});
