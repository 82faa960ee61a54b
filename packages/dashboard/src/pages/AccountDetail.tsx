// One trading account: status, its cashback settings, a cumulative cashback chart, the settlement
// ledger and the closed trades (with why a trade earned nothing).
import { useMemo } from 'preact/hooks';
import { api, type ClosedTrade } from '../api.ts';
import { Async } from '../components/Async.tsx';
import { Chart } from '../components/Chart.tsx';
import { StatusBadge } from '../components/StatusBadge.tsx';
import { CashbackSettings } from './CashbackSettings.tsx';
import { lots, money, price, time } from '../format.ts';
import { useReconciled } from '../hooks.ts';

export function AccountDetail({ id }: { id: string }) {
  const account = useReconciled(() => api.account(id), ['trading_accounts', 'closed_trades', 'cashback_ledger'], [id]);
  const trades = useReconciled(() => api.trades(id), ['closed_trades'], [id]);
  const ledger = useReconciled(() => api.ledger(id), ['cashback_ledger'], [id]);
  return (
    <>
      <p>
        <a href="#/accounts">← Accounts</a>
      </p>
      <Async state={account}>
        {(a) => (
          <hgroup class="row">
            <div>
              <h2>
                {a.login} <small>{a.server}</small>
              </h2>
              <p>
                {a.broker.name} · {a.platform} · {a.figures.trades} trades · {money(a.figures.cashback_accrued, a.figures.currency)} accrued ·{' '}
                {money(a.figures.cashback_settled, a.figures.currency)} settled
              </p>
            </div>
            <StatusBadge status={a.status} testId="account-status" />
          </hgroup>
        )}
      </Async>
      <section>
        <h3>Cashback</h3>
        <p>
          <a href={`#/report/${id}`} data-testid="account-report-link">
            Cashback report
          </a>{' '}
          by day, week or month and symbol group, with a CSV download.
        </p>
        <Async state={account}>{(a) => <CashbackSettings account={a} onSaved={account.reload} />}</Async>
        <Async state={trades} isEmpty={(d) => d.trades.length === 0} empty="No closed trade reported yet.">
          {(d) => <CashbackChart trades={d.trades} />}
        </Async>
      </section>
      <section>
        <h3>Ledger</h3>
        <Async state={ledger} isEmpty={(d) => d.entries.length === 0} empty="Nothing settled yet: settlement runs nightly at 00:05 UTC.">
          {(d) => (
            <div class="overflow-auto">
              <table class="striped">
                <thead>
                  <tr>
                    <th>Day</th>
                    <th>Trades</th>
                    <th>Lots</th>
                    <th>Amount</th>
                  </tr>
                </thead>
                <tbody>
                  {d.entries.map((e) => (
                    <tr key={e.settlement_day}>
                      <td>{e.settlement_day}</td>
                      <td>{e.trades}</td>
                      <td>{lots(e.lots)}</td>
                      <td>{money(e.amount, e.currency)}</td>
                    </tr>
                  ))}
                </tbody>
              </table>
            </div>
          )}
        </Async>
      </section>
      <section>
        <h3>Closed trades</h3>
        <Async state={trades} isEmpty={(d) => d.trades.length === 0} empty="No closed trade reported yet.">
          {(d) => <TradesTable trades={d.trades} />}
        </Async>
      </section>
    </>
  );
}

function CashbackChart({ trades }: { trades: ClosedTrade[] }) {
  const { times, series } = useMemo(() => {
    const sorted = [...trades].sort((a, b) => Date.parse(a.close_time) - Date.parse(b.close_time));
    let accrued = 0;
    let settled = 0;
    const times: number[] = [];
    const acc: number[] = [];
    const set: number[] = [];
    for (const t of sorted) {
      accrued += t.cashback_amount;
      if (t.settled_on) settled += t.cashback_amount;
      times.push(Math.floor(Date.parse(t.close_time) / 1000));
      acc.push(Number(accrued.toFixed(4)));
      set.push(Number(settled.toFixed(4)));
    }
    return {
      times,
      series: [
        { label: 'Settled', color: '#6b5bd6', values: set, stepped: true },
        { label: `Accrued (${sorted[0]?.currency ?? ''})`, color: '#1f7a4d', values: acc, stepped: true },
      ],
    };
  }, [trades]);
  return <Chart times={times} series={series} testId="cashback-chart" />;
}

function TradesTable({ trades }: { trades: ClosedTrade[] }) {
  return (
    <div class="overflow-auto">
      <table class="striped" data-testid="trades-table">
        <thead>
          <tr>
            <th>Ticket</th>
            <th>Symbol</th>
            <th>Type</th>
            <th>Lots</th>
            <th>Open → close</th>
            <th>Profit</th>
            <th>Cashback</th>
            <th>Closed</th>
          </tr>
        </thead>
        <tbody>
          {trades.map((t) => (
            <tr key={t.ticket}>
              <td>{t.ticket}</td>
              <td>{t.symbol}</td>
              <td>{t.type}</td>
              <td>{lots(t.lots)}</td>
              <td>
                {price(t.open_price)} → {price(t.close_price)}
              </td>
              <td>{money(t.profit)}</td>
              <td>
                {money(t.cashback_amount, t.currency)}
                {t.settled_on ? ' ✓' : ''}
                {t.cashback_withheld && (
                  <>
                    {' '}
                    <small class="muted" data-testid={`withheld-${t.ticket}`}>
                      withheld: {t.cashback_withheld.replace(/_/g, ' ')}
                    </small>
                  </>
                )}
              </td>
              <td>{time(t.close_time)}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}
