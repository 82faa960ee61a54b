// Signals: send one to a connected terminal (volume, or sized by risk with a live preview), and
// follow each signal's status live (PENDING → DELIVERED → EXECUTED / REJECTED / FAILED / UNKNOWN); cancel a pending one.
import { api, type Signal } from '../api.ts';
import { Async, ErrorNote } from '../components/Async.tsx';
import { StatusBadge } from '../components/StatusBadge.tsx';
import { lots, price, time } from '../format.ts';
import { useAction, useReconciled } from '../hooks.ts';
import { SignalForm } from './SignalForm.tsx';

export function Signals() {
  const signals = useReconciled(() => api.signals(), ['trading_signals']);
  return (
    <>
      <hgroup>
        <h2>Signals</h2>
        <p>Sent to one terminal; its connector EA executes them and reports the order.</p>
      </hgroup>
      <SignalForm onCreated={signals.reload} />
      <Async state={signals} isEmpty={(d) => d.signals.length === 0} empty="No signal yet.">
        {(d) => <SignalTable signals={d.signals} onChanged={signals.reload} />}
      </Async>
    </>
  );
}

function SignalTable({ signals, onChanged }: { signals: Signal[]; onChanged: () => void }) {
  const cancel = useAction((id: string) => api.cancelSignal(id), onChanged);
  return (
    <div class="overflow-auto">
      {cancel.error && <ErrorNote error={cancel.error} />}
      <table class="striped" data-testid="signals-table">
        <thead>
          <tr>
            <th>Signal</th>
            <th>Lots</th>
            <th>Entry / SL / TP</th>
            <th>Status</th>
            <th>Created</th>
            <th />
          </tr>
        </thead>
        <tbody>
          {signals.map((s) => (
            <tr key={s.id} data-testid={`signal-${s.id}`}>
              <td>
                <strong>{s.type}</strong> {s.symbol}
                {s.risk_percent != null && <small class="muted"> ({s.risk_percent}% risk)</small>}
              </td>
              <td>{lots(s.volume)}</td>
              <td>
                {s.entry_price == null ? 'market' : price(s.entry_price)} / {price(s.stop_loss)} / {price(s.take_profit)}
              </td>
              <td>
                <StatusBadge status={s.status} testId="signal-status" />
                {s.order_ticket != null && <small> order #{s.order_ticket}</small>}
                {s.status_message && <small class="muted"> {s.status_message}</small>}
              </td>
              <td>{time(s.created_at)}</td>
              <td>
                {s.status === 'PENDING' && (
                  <button class="secondary outline small" onClick={() => cancel.run(s.id)} aria-busy={cancel.pending}>
                    Cancel
                  </button>
                )}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}
