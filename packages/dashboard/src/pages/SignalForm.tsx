// The signal form: terminal (an active session), side, symbol (from the specifications the EA
// reported), and either lots or a risk percent with the size previewed by the server's formula.
import { VOCABULARY, type Vocabulary } from '@rubi/contracts/vocabulary.ts';
import { useMemo, useState } from 'preact/hooks';
import { api, type CreateSignalRequest } from '../api.ts';
import { ErrorNote } from '../components/Async.tsx';
import { money } from '../format.ts';
import { useAction, useReconciled } from '../hooks.ts';
import { previewRisk } from '../risk.ts';

type Side = Vocabulary<'signal_type'>;
const num = (s: string): number | undefined => (s.trim() === '' || !Number.isFinite(Number(s)) ? undefined : Number(s));

export function SignalForm({ onCreated }: { onCreated: () => void }) {
  const sessions = useReconciled(() => api.sessions(), ['mt5_sessions']);
  const active = (sessions.data?.sessions ?? []).filter((s) => s.status !== 'disconnected');
  const [sessionId, setSessionId] = useState('');
  const chosen = active.find((s) => s.id === sessionId) ?? active[0];
  const detail = useReconciled(() => (chosen ? api.session(chosen.id) : Promise.resolve(undefined)), ['mt5_sessions'], [chosen?.id]);
  const [f, setF] = useState({ type: 'BUY' as Side, symbol: 'EURUSD', sizing: 'risk' as 'risk' | 'volume', volume: '0.1', risk: '1', entry: '', sl: '', tp: '' });
  const set = (k: keyof typeof f) => (e: Event) => setF({ ...f, [k]: (e.currentTarget as HTMLInputElement).value });
  const opening = f.type === 'BUY' || f.type === 'SELL';
  const spec = detail.data?.symbols.find((s) => s.symbol === f.symbol);
  const equity = detail.data?.session.equity;

  const preview = useMemo(() => {
    const entry = num(f.entry);
    const sl = num(f.sl);
    const risk = num(f.risk);
    if (!opening || f.sizing !== 'risk' || !spec || equity === undefined || entry === undefined || sl === undefined || risk === undefined) return undefined;
    return previewRisk(equity, risk, entry, sl, spec);
  }, [f, spec, equity, opening]);

  const submit = useAction(async () => {
    if (!chosen) throw new Error('no connected terminal to send the signal to');
    const body: Partial<CreateSignalRequest> = { session_id: chosen.id, type: f.type, symbol: f.symbol.trim(), client_signal_id: crypto.randomUUID() };
    if (opening) {
      if (num(f.entry) !== undefined) body.entry_price = num(f.entry);
      if (num(f.sl) !== undefined) body.stop_loss = num(f.sl);
      if (num(f.tp) !== undefined) body.take_profit = num(f.tp);
      if (f.sizing === 'risk') body.risk_percent = num(f.risk);
      else body.volume = num(f.volume);
    }
    await api.createSignal(body);
  }, onCreated);

  if (sessions.data && active.length === 0) {
    return <p class="empty">No terminal is connected: start the connector EA with one of your EA keys to send signals.</p>;
  }
  return (
    <form onSubmit={(e) => (e.preventDefault(), submit.run())} data-testid="signal-form">
      <div class="grid">
        <label>
          Terminal
          <select name="session" value={chosen?.id ?? ''} onChange={(e) => setSessionId(e.currentTarget.value)}>
            {active.map((s) => (
              <option key={s.id} value={s.id}>
                {s.account_number} @ {s.server} ({money(s.equity, s.currency)})
              </option>
            ))}
          </select>
        </label>
        <label>
          Side
          <select name="type" value={f.type} onChange={set('type')}>
            {VOCABULARY.signal_type.map((t) => (
              <option key={t}>{t}</option>
            ))}
          </select>
        </label>
        <label>
          Symbol
          <input name="symbol" list="symbols" required value={f.symbol} onInput={set('symbol')} />
          <datalist id="symbols">
            {detail.data?.symbols.map((s) => (
              <option key={s.symbol} value={s.symbol} />
            ))}
          </datalist>
        </label>
      </div>
      {opening && (
        <>
          <div class="grid">
            <label>
              Size by
              <select name="sizing" value={f.sizing} onChange={set('sizing')}>
                <option value="risk">risk % of equity</option>
                <option value="volume">lots</option>
              </select>
            </label>
            {f.sizing === 'risk' ? (
              <label>
                Risk %
                <input name="risk" inputMode="decimal" value={f.risk} onInput={set('risk')} />
              </label>
            ) : (
              <label>
                Lots
                <input name="volume" inputMode="decimal" value={f.volume} onInput={set('volume')} />
              </label>
            )}
          </div>
          <div class="grid">
            <label>
              Entry {f.sizing === 'risk' ? '' : '(empty: market)'}
              <input name="entry" inputMode="decimal" value={f.entry} onInput={set('entry')} />
            </label>
            <label>
              Stop-loss
              <input name="sl" inputMode="decimal" value={f.sl} onInput={set('sl')} />
            </label>
            <label>
              Take-profit
              <input name="tp" inputMode="decimal" value={f.tp} onInput={set('tp')} />
            </label>
          </div>
          {f.sizing === 'risk' && (
            <p class="preview" data-testid="risk-preview">
              {!spec
                ? `No specification for ${f.symbol} from this terminal yet.`
                : !preview
                  ? 'Enter the entry and the stop-loss to see the size.'
                  : preview.ok
                    ? `${preview.volume} lots: ${money(preview.riskAmount)} at risk, ${money(preview.lossPerLot)} per lot at the stop-loss${preview.cappedAtMax ? ' (capped at the maximum volume)' : ''}.`
                    : `Cannot size: ${preview.message}.`}
            </p>
          )}
        </>
      )}
      {submit.error && <ErrorNote error={submit.error} />}
      <button type="submit" aria-busy={submit.pending} disabled={submit.pending || !chosen}>
        Send signal
      </button>
    </form>
  );
}
