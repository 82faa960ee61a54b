/** One row as the database returned it: amounts as exact numeric text. */
export interface ReportCsvRow {
  period_start: string;
  symbol_group: string | null;
  currency: string;
  trades: string;
  lots: string;
  cashback_accrued: string;
  cashback_settled: string;
  withheld: Record<string, number>;
}

/** RFC 4180: a field with a comma, quote, CR or LF is quoted, its quotes doubled. */
export function csvField(value: string): string {
  return /[",\r\n]/.test(value) ? `"${value.replaceAll('"', '""')}"` : value;
}

/**
 * The report as RFC 4180 CSV: a header row, CRLF line ends, one line per row; amounts are the
 * database's exact decimals (no float rounding); withheld is one column per reason.
 */
export function reportCsv(rows: readonly ReportCsvRow[], reasons: readonly string[]): string {
  const header = ['period_start', 'symbol_group', 'currency', 'trades', 'lots', 'cashback_accrued', 'cashback_settled', ...reasons.map((r) => `withheld_${r}`)];
  const lines = [header, ...rows.map((r) => [
    r.period_start,
    r.symbol_group ?? '',
    r.currency,
    r.trades,
    r.lots,
    r.cashback_accrued,
    r.cashback_settled,
    ...reasons.map((reason) => String(r.withheld[reason] ?? 0)),
  ])];
  return lines.map((line) => line.map(csvField).join(',')).join('\r\n') + '\r\n';
}
