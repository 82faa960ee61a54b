// Connector sessions (one per terminal connection): status, account figures, open positions.
import { api } from '../api.ts';
import { Async } from '../components/Async.tsx';
import { StatusBadge } from '../components/StatusBadge.tsx';
import { ago, money } from '../format.ts';
import { useReconciled } from '../hooks.ts';

export function Sessions() {
  const sessions = useReconciled(() => api.sessions(), ['mt5_sessions', 'positions']);
  return (
    <>
      <hgroup>
        <h2>Sessions</h2>
        <p>Each terminal running the connector EA opens a session and pings with its balance and equity.</p>
      </hgroup>
      <Async state={sessions} isEmpty={(d) => d.sessions.length === 0} empty="No terminal has connected yet: create an EA key and start the connector EA.">
        {(d) => (
          <div class="cards">
            {d.sessions.map((s) => (
              <article key={s.id} data-testid={`session-${s.account_number}`}>
                <header class="row">
                  <a href={`#/sessions/${s.id}`}>
                    <strong>{s.account_number}</strong> <small>{s.server}</small>
                  </a>
                  <StatusBadge status={s.status} testId="session-status" />
                </header>
                <dl class="figures">
                  <div>
                    <dt>Balance</dt>
                    <dd>{money(s.balance, s.currency)}</dd>
                  </div>
                  <div>
                    <dt>Equity</dt>
                    <dd>{money(s.equity, s.currency)}</dd>
                  </div>
                  <div>
                    <dt>Open positions</dt>
                    <dd>{s.open_positions}</dd>
                  </div>
                  <div>
                    <dt>Pending signals</dt>
                    <dd>{s.pending_signals}</dd>
                  </div>
                </dl>
                <small class="muted">
                  {s.broker} · leverage 1:{s.leverage} · last ping {ago(s.last_ping_at)}
                </small>
              </article>
            ))}
          </div>
        )}
      </Async>
    </>
  );
}
