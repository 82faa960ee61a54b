import type { CashbackReport } from './cashback-reports.ts';

// The CSV download's file name, declared once: the API sends it as the Content-Disposition of
// GET /accounts/cashback/report?format=csv, and the dashboard names its download with it. This
// module has no runtime dependency (no zod), so the dashboard imports it without the schemas;
// cashback-reports.ts re-exports it.

/** cashback-report-<account id or all>-<period>-<from day>-<to day>.csv (only [A-Za-z0-9._-]). */
export function reportFilename(report: Pick<CashbackReport, 'account_id' | 'period' | 'from' | 'to'>): string {
  const day = (iso: string) => iso.slice(0, 10);
  return `cashback-report-${report.account_id ?? 'all'}-${report.period}-${day(report.from)}-${day(report.to)}.csv`.replace(/[^A-Za-z0-9._-]/g, '_');
}
