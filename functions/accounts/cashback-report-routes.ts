import type { OpenAPIHono } from '@hono/zod-openapi';
import { cashbackReportRoute, DEFAULT_REPORT_DAYS, reportFilename, type CashbackReport } from '@rubi/contracts/cashback-reports.ts';
import { VOCABULARY } from '@rubi/contracts/vocabulary.ts';
import { requireUser, withDb, type EdgeEnv } from '@rubi/edge';
import { reportCsv, type ReportCsvRow } from './cashback-report-csv.ts';

const DAY_MS = 86_400_000;

// As the user: the function reads only auth.uid()'s trades; another user's account is P0002 (404),
// a bad period, range or time zone is class 22 naming the query field (400).
const REPORT_SQL = `
select to_char(r.period_start, 'YYYY-MM-DD') as period_start, r.symbol_group, r.currency, r.trades::text as trades,
       r.lots::text as lots, r.cashback_accrued::text as cashback_accrued, r.cashback_settled::text as cashback_settled, r.withheld
from private.cashback_report($1, $2, $3, $4, $5, $6) r`;

export function registerCashbackReportRoutes(app: OpenAPIHono<EdgeEnv>): void {
  app.openapi({ ...cashbackReportRoute, middleware: [requireUser()] }, async (c) => {
    const q = c.req.valid('query');
    const to = q.to ? new Date(q.to) : c.get('deps').now();
    const from = q.from ? new Date(q.from) : new Date(to.getTime() - DEFAULT_REPORT_DAYS[q.period] * DAY_MS);
    const rows = await withDb(c, (tx) =>
      tx.query<ReportCsvRow>(REPORT_SQL, [q.account_id ?? null, from.toISOString(), to.toISOString(), q.period, q.group_by === 'symbol_group', q.tz]),
    );
    const reasons = VOCABULARY.cashback_withheld_reason;
    const head = { account_id: q.account_id ?? null, period: q.period, group_by: q.group_by, tz: q.tz, from: from.toISOString(), to: to.toISOString() };
    const csv = q.format === 'csv' || (q.format === undefined && (c.req.header('accept') ?? '').toLowerCase().includes('text/csv'));
    if (csv) {
      return c.body(reportCsv(rows, reasons), 200, {
        'content-type': 'text/csv; charset=utf-8',
        'content-disposition': `attachment; filename="${reportFilename(head)}"`,
      });
    }
    const report: CashbackReport = {
      ...head,
      rows: rows.map((r) => ({
        period_start: r.period_start,
        symbol_group: r.symbol_group,
        currency: r.currency,
        trades: Number(r.trades),
        lots: Number(r.lots),
        cashback_accrued: Number(r.cashback_accrued),
        cashback_settled: Number(r.cashback_settled),
        withheld: Object.fromEntries(reasons.map((reason) => [reason, Number(r.withheld[reason] ?? 0)])),
      })),
    };
    return c.json(report, 200);
  });
}
