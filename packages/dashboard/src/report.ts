// The cashback report's figures for display: totals per currency and the withheld summary.
import type { CashbackReport } from '@rubi/contracts/cashback-reports.ts';

export type ReportRow = CashbackReport['rows'][number];

export interface CurrencyTotal {
  currency: string;
  trades: number;
  lots: number;
  cashback_accrued: number;
  cashback_settled: number;
  withheld: number;
}

/** One total per currency (amounts in different currencies are never added), by currency. */
export function reportTotals(rows: readonly ReportRow[]): CurrencyTotal[] {
  const by = new Map<string, CurrencyTotal>();
  for (const r of rows) {
    const t = by.get(r.currency) ?? { currency: r.currency, trades: 0, lots: 0, cashback_accrued: 0, cashback_settled: 0, withheld: 0 };
    t.trades += r.trades;
    t.lots += r.lots;
    t.cashback_accrued += r.cashback_accrued;
    t.cashback_settled += r.cashback_settled;
    t.withheld += Object.values(r.withheld).reduce((n, c) => n + c, 0);
    by.set(r.currency, t);
  }
  // Sums of decimals: rounded to the cent (lots to 1/100 000) so 0.1 + 0.2 shows as 0.3.
  return [...by.values()]
    .sort((a, b) => a.currency.localeCompare(b.currency))
    .map((t) => ({ ...t, lots: Math.round(t.lots * 1e5) / 1e5, cashback_accrued: Math.round(t.cashback_accrued * 1e8) / 1e8, cashback_settled: Math.round(t.cashback_settled * 1e8) / 1e8 }));
}

/** "paused 1 · filtered 2", or "–" when nothing was withheld. */
export function withheldSummary(withheld: Record<string, number>): string {
  const parts = Object.entries(withheld)
    .filter(([, n]) => n > 0)
    .map(([reason, n]) => `${reason.replaceAll('_', ' ')} ${n}`);
  return parts.length ? parts.join(' · ') : '–';
}

