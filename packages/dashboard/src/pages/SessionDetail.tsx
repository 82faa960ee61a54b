// One session: figures, an equity/balance chart from the snapshots the EA's pings store, and the
// live open positions.
import { useMemo } from 'preact/hooks';
import { api, type AccountSnapshot } from '../api.ts';
import { Async } from '../components/Async.tsx';
import { Chart } from '../components/Chart.tsx';
import { StatusBadge } from '../components/StatusBadge.tsx';
import { ago, lots, money, price, time } from '../format.ts';
import { useReconciled } from '../hooks.ts';

export function SessionDetail({ id }: { id: string }) {
  const detail = useReconciled(() => api.session(id), ['mt5_sessions', 'positions'], [id]);
  const positions = useReconciled(() => api.positions(id), ['positions'], [id]);
  return (
    <>
      <p>
        <a href="#/sessions">← Sessions</a>
      </p>
      <Async state={detail}>
        {(d) => (
          <>
            <hgroup class="row">
              <div>
                <h2>
                  {d.session.account_number} <small>{d.session.server}</small>
                </h2>
                <p>
                  Balance {money(d.session.balance, d.session.currency)} · equity {money(d.session.equity, d.session.currency)} · last ping{' '}
                  {ago(d.session.last_ping_at)}
                </p>
              </div>
              <StatusBadge status={d.session.status} testId="session-status" />
            </hgroup>
            <section>
              <h3>Equity and balance</h3>
              {d.history.points.length < 2 ? (
                <p class="empty">The chart appears after the EA's second ping.</p>
              ) : (
                <EquityChart points={d.history.points} />
              )}
              <small class="muted">
                {d.history.total} snapshots in the last 24 h{d.history.downsampled ? ` (downsampled to ${d.history.points.length})` : ''}
              </small>
            </section>
          </>
        )}
      </Async>
      <section>
        <h3>Open positions</h3>
        <Async state={positions} isEmpty={(d) => d.positions.length === 0} empty="No open position.">
          {(d) => (
            <div class="overflow-auto">
              <table class="striped" data-testid="positions-table">
                <thead>
                  <tr>
                    <th>Ticket</th>
                    <th>Symbol</th>
                    <th>Type</th>
                    <th>Lots</th>
                    <th>Open / now</th>
                    <th>SL / TP</th>
                    <th>Profit</th>
                    <th>Opened</th>
                  </tr>
                </thead>
                <tbody>
                  {d.positions.map((p) => (
                    <tr key={p.ticket}>
                      <td>{p.ticket}</td>
                      <td>{p.symbol}</td>
                      <td>{p.type}</td>
                      <td>{lots(p.volume)}</td>
                      <td>
                        {price(p.open_price)} / {price(p.current_price)}
                      </td>
                      <td>
                        {price(p.stop_loss)} / {price(p.take_profit)}
                      </td>
                      <td>{money(p.profit)}</td>
                      <td>{time(p.opened_at)}</td>
                    </tr>
                  ))}
                </tbody>
              </table>
            </div>
          )}
        </Async>
      </section>
    </>
  );
}

function EquityChart({ points }: { points: AccountSnapshot[] }) {
  const { times, series } = useMemo(
    () => ({
      times: points.map((p) => Math.floor(Date.parse(p.captured_at) / 1000)),
      series: [
        { label: 'Equity', color: '#1f6feb', values: points.map((p) => p.equity) },
        { label: 'Balance', color: '#8c8c8c', values: points.map((p) => p.balance), stepped: true },
      ],
    }),
    [points],
  );
  return <Chart times={times} series={series} testId="equity-chart" />;
}
