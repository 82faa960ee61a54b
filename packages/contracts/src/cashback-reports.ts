import { createRoute, z } from '@hono/zod-openapi';
import { errorResponses, Timestamp, Uuid } from './common.ts';
import { VOCABULARY } from './vocabulary.ts';

export { reportFilename } from './cashback-report-file.ts';

// GET /accounts/cashback/report: the signed-in user's closed trades and cashback, summed by period
// and (optionally) symbol group, per payout currency; one account or all of them; JSON or CSV.
// The figures come from private.cashback_report (supabase/schemas/097_cashback_reports.sql),
// which reads only the caller's own trades (auth.uid()).

export const REPORT_PERIODS = ['day', 'week', 'month'] as const;
export const ReportPeriod = z.enum(REPORT_PERIODS).openapi('CashbackReportPeriod');
export type ReportPeriod = z.infer<typeof ReportPeriod>;

/** The default range when `from` is omitted: this many days before `to`, by period. */
export const DEFAULT_REPORT_DAYS: Record<ReportPeriod, number> = { day: 31, week: 91, month: 365 };

export const WithheldReason = z.enum(VOCABULARY.cashback_withheld_reason);

export const CashbackReportQuery = z.object({
  period: ReportPeriod.default('month').openapi({ description: 'day, week (ISO: from Monday) or month of the trade\'s close_time in `tz`' }),
  from: Timestamp.optional().openapi({ description: `Start of the range (inclusive); default: ${DEFAULT_REPORT_DAYS.day}, ${DEFAULT_REPORT_DAYS.week} or ${DEFAULT_REPORT_DAYS.month} days (day, week, month) before \`to\`` }),
  to: Timestamp.optional().openapi({ description: 'End of the range (exclusive); default: now. The range may span at most private.settings cashback_report_max_days (400)' }),
  group_by: z.enum(['none', 'symbol_group']).default('none').openapi({ description: 'symbol_group: one row per period, symbol group and currency' }),
  account_id: Uuid.optional().openapi({ description: 'One of your trading accounts; default: all of them' }),
  tz: z
    .string()
    .min(1)
    .max(64)
    .regex(/^[A-Za-z0-9_+\-/:]+$/, 'an IANA time zone name, e.g. Europe/Berlin')
    .default('UTC')
    .openapi({ description: 'Time zone the periods are cut in (IANA name); default UTC' }),
  format: z.enum(['json', 'csv']).optional().openapi({ description: 'csv: the rows as RFC 4180 CSV (also chosen by `Accept: text/csv`)' }),
});
export type CashbackReportQuery = z.infer<typeof CashbackReportQuery>;

export const CashbackReportRow = z
  .object({
    period_start: z.iso.date().openapi({ description: 'First day of the period (in `tz`)' }),
    symbol_group: z.string().nullable().openapi({ description: 'forex, metals, indices, energies, crypto, stocks or other; null unless group_by=symbol_group' }),
    currency: z.string().openapi({ description: 'The payout currency of the amounts' }),
    trades: z.number().int(),
    lots: z.number(),
    cashback_accrued: z.number().openapi({ description: 'Cashback accrued on these trades' }),
    cashback_settled: z.number().openapi({ description: 'The part of it already settled into the ledger' }),
    withheld: z.partialRecord(WithheldReason, z.number().int()).openapi({ description: 'Trades that earned nothing, by reason (cashback_withheld); absent reasons are 0' }),
  })
  .openapi('CashbackReportRow');
export type CashbackReportRow = z.infer<typeof CashbackReportRow>;

export const CashbackReport = z
  .object({
    account_id: Uuid.nullable().openapi({ description: 'The account reported on; null: all your accounts' }),
    period: ReportPeriod,
    group_by: z.enum(['none', 'symbol_group']),
    tz: z.string(),
    from: Timestamp,
    to: Timestamp,
    rows: z.array(CashbackReportRow).openapi({ description: 'Oldest period first, then symbol group, then currency; periods without trades are omitted' }),
  })
  .openapi('CashbackReport');
export type CashbackReport = z.infer<typeof CashbackReport>;

export const cashbackReportRoute = createRoute({
  method: 'get',
  path: '/cashback/report',
  summary: 'Your closed trades and cashback by day, week or month and symbol group (JSON or CSV)',
  security: [{ userJwt: [] }],
  request: { query: CashbackReportQuery },
  responses: {
    200: {
      description: 'The report. As CSV (format=csv or Accept: text/csv): a header row, one line per row, withheld as one column per reason, an attachment',
      content: { 'application/json': { schema: CashbackReport }, 'text/csv': { schema: z.string() } },
    },
    ...errorResponses,
  },
});
