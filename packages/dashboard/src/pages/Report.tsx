// The cashback report: one account (#/report/<id>) or all of them (#/report), by day, week or month
// and optionally by symbol group, with totals per currency and a CSV download.
import { reportFilename } from '@rubi/contracts/cashback-report-file.ts';
import { useState } from 'preact/hooks';
import { api, type CashbackReport, type ReportParams } from '../api.ts';
import { Async, ErrorNote } from '../components/Async.tsx';
import { lots, money } from '../format.ts';
import { useAction, useReconciled } from '../hooks.ts';
import { reportTotals, withheldSummary } from '../report.ts';

const PERIODS: { value: CashbackReport['period']; label: string; range: string }[] = [
  { value: 'day', label: 'Day', range: 'the last 31 days' },
  { value: 'week', label: 'Week', range: 'the last 13 weeks' },
  { value: 'month', label: 'Month', range: 'the last 12 months' },
];

/** Hands the CSV text to the browser as a file download. */
function saveFile(text: string, name: string) {
  const url = URL.createObjectURL(new Blob([text], { type: 'text/csv;charset=utf-8' }));
  const a = document.createElement('a');
  a.href = url;
  a.download = name;
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 1000);
}

export function Report({ accountId }: { accountId?: string | undefined }) {
  const [period, setPeriod] = useState<CashbackReport['period']>('month');
  const [byGroup, setByGroup] = useState(true);
  const params: ReportParams = { period, group_by: byGroup ? 'symbol_group' : 'none', account_id: accountId };
  const report = useReconciled(() => api.cashbackReport(params), ['closed_trades', 'cashback_ledger'], [period, byGroup, accountId]);
  // The CSV of the range on screen (before it has loaded: the API's default range as of now),
  // named as the API's Content-Disposition names it.
  const download = useAction(async () => {
    const range = report.data ?? (await api.cashbackReport(params));
    saveFile(await api.cashbackReportCsv({ ...params, from: range.from, to: range.to }), reportFilename(range));
  });
  return (
    <>
      <p>{accountId ? <a href={`#/accounts/${accountId}`}>← Account</a> : <a href="#/accounts">← Accounts</a>}</p>
      <hgroup>
        <h2>Cashback report</h2>
        <p>
          {accountId ? 'This account' : 'All your accounts'}, {PERIODS.find((p) => p.value === period)?.range}, by close time (UTC).
        </p>
      </hgroup>
      <form class="row" onSubmit={(e) => e.preventDefault()}>
        <label>
          Period{' '}
          <select name="period" value={period} onChange={(e) => setPeriod((e.target as HTMLSelectElement).value as CashbackReport['period'])}>
            {PERIODS.map((p) => (
              <option key={p.value} value={p.value}>
                {p.label}
              </option>
            ))}
          </select>
        </label>
        <label>
          <input type="checkbox" name="by_group" checked={byGroup} onChange={(e) => setByGroup((e.target as HTMLInputElement).checked)} /> By symbol group
        </label>
        <a
          href="#"
          role="button"
          class="outline"
          data-testid="report-csv"
          aria-busy={download.pending}
          onClick={(e) => {
            e.preventDefault();
            void download.run();
          }}
        >
          Download CSV
        </a>
      </form>
      {download.error && <ErrorNote error={download.error} />}
      <Async state={report} isEmpty={(d) => d.rows.length === 0} empty="No closed trade in this range.">
        {(d) => <ReportTable report={d} />}
      </Async>
    </>
  );
}

function ReportTable({ report }: { report: CashbackReport }) {
  const grouped = report.group_by === 'symbol_group';
  return (
    <div class="overflow-auto">
      <table class="striped" data-testid="report-table">
        <thead>
          <tr>
            <th>{report.period === 'day' ? 'Day' : report.period === 'week' ? 'Week of' : 'Month'}</th>
            {grouped && <th>Group</th>}
            <th>Trades</th>
            <th>Lots</th>
            <th>Accrued</th>
            <th>Settled</th>
            <th>Withheld</th>
          </tr>
        </thead>
        <tbody>
          {report.rows.map((r) => (
            <tr key={`${r.period_start}/${r.symbol_group ?? ''}/${r.currency}`}>
              <td>{report.period === 'month' ? r.period_start.slice(0, 7) : r.period_start}</td>
              {grouped && <td>{r.symbol_group}</td>}
              <td>{r.trades}</td>
              <td>{lots(r.lots)}</td>
              <td>{money(r.cashback_accrued, r.currency)}</td>
              <td>{money(r.cashback_settled, r.currency)}</td>
              <td>{withheldSummary(r.withheld)}</td>
            </tr>
          ))}
        </tbody>
        <tfoot>
          {reportTotals(report.rows).map((t) => (
            <tr key={t.currency} data-testid={`report-total-${t.currency}`}>
              <th>Total</th>
              {grouped && <th />}
              <th data-testid="report-total-trades">{t.trades}</th>
              <th>{lots(t.lots)}</th>
              <th>{money(t.cashback_accrued, t.currency)}</th>
              <th>{money(t.cashback_settled, t.currency)}</th>
              <th>{t.withheld}</th>
            </tr>
          ))}
        </tfoot>
      </table>
    </div>
  );
}
