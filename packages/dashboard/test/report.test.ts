// The report page's figures (packages/dashboard/src/report.ts).
import { reportFilename } from '@rubi/contracts/cashback-report-file.ts';
import { describe, expect, it } from 'vitest';
import { reportTotals, withheldSummary, type ReportRow } from '../src/report.ts';

const row = (over: Partial<ReportRow>): ReportRow => ({
  period_start: '2026-01-01',
  symbol_group: null,
  currency: 'USD',
  trades: 1,
  lots: 0.1,
  cashback_accrued: 0.1,
  cashback_settled: 0,
  withheld: { unverified: 0, paused: 0, owned_elsewhere: 0 },
  ...over,
});

describe('report figures', () => {
  it('totals per currency, never across currencies, rounded', () => {
    expect(
      reportTotals([
        row({ lots: 0.1, cashback_accrued: 0.1 }),
        row({ period_start: '2026-02-01', lots: 0.2, cashback_accrued: 0.2, cashback_settled: 0.2, withheld: { paused: 2 } }),
        row({ currency: 'EUR', trades: 3, lots: 2, cashback_accrued: 4 }),
      ]),
    ).toEqual([
      { currency: 'EUR', trades: 3, lots: 2, cashback_accrued: 4, cashback_settled: 0, withheld: 0 },
      { currency: 'USD', trades: 2, lots: 0.3, cashback_accrued: 0.3, cashback_settled: 0.2, withheld: 2 },
    ]);
    expect(reportTotals([])).toEqual([]);
  });

  it('summarises withheld trades by reason', () => {
    expect(withheldSummary({ unverified: 0, paused: 1, owned_elsewhere: 2 })).toBe('paused 1 · owned elsewhere 2');
    expect(withheldSummary({ paused: 0 })).toBe('–');
  });

  it('names the CSV file as the API does (the contract\'s reportFilename)', () => {
    const range = { period: 'month', from: '2026-01-01T00:00:00.000Z', to: '2026-03-01T12:30:00.000Z' } as const;
    expect(reportFilename({ ...range, account_id: null })).toBe('cashback-report-all-month-2026-01-01-2026-03-01.csv');
    expect(reportFilename({ ...range, account_id: 'abc' })).toBe('cashback-report-abc-month-2026-01-01-2026-03-01.csv');
  });
});
