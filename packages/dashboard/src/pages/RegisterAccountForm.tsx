// Register a trading account: broker (from GET /accounts/brokers), platform, login, server, investor password.
import { VOCABULARY } from '@rubi/contracts/vocabulary.ts';
import { useState } from 'preact/hooks';
import { api, type RegisterAccount } from '../api.ts';
import { ErrorNote } from '../components/Async.tsx';
import { money } from '../format.ts';
import { useAction, useReconciled } from '../hooks.ts';

export function RegisterAccountForm({ onRegistered }: { onRegistered: () => void }) {
  const brokers = useReconciled(() => api.brokers(), []);
  const [open, setOpen] = useState(false);
  const [form, setForm] = useState({ broker_id: '', platform: 'MT5' as RegisterAccount['platform'], login: '', server: '', investor_password: '' });
  const set = (k: keyof typeof form) => (e: Event) => setForm({ ...form, [k]: (e.currentTarget as HTMLInputElement).value });
  const list = brokers.data?.brokers ?? [];
  const broker = list.find((b) => b.id === form.broker_id);
  const submit = useAction(
    async () => {
      const body: RegisterAccount = { ...form, login: Number(form.login) };
      await api.registerAccount(body);
      setForm({ ...form, login: '', server: '', investor_password: '' });
      setOpen(false);
    },
    onRegistered,
  );

  return (
    <details open={open} onToggle={(e) => setOpen((e.currentTarget as HTMLDetailsElement).open)}>
      <summary role="button" class="secondary" data-testid="register-toggle">
        Register a trading account
      </summary>
      <form onSubmit={(e) => (e.preventDefault(), submit.run())} data-testid="register-form">
        <div class="grid">
          <label>
            Broker
            <select name="broker" required value={form.broker_id} onChange={set('broker_id')} aria-busy={brokers.loading}>
              <option value="" disabled>
                {brokers.loading ? 'Loading brokers…' : 'Choose a broker'}
              </option>
              {list.map((b) => (
                <option key={b.id} value={b.id}>
                  {b.name} ({b.platforms.join('/')}, {money(b.rebate_per_lot, b.currency)} per lot)
                </option>
              ))}
            </select>
          </label>
          <label>
            Platform
            <select name="platform" value={form.platform} onChange={set('platform')}>
              {(broker?.platforms ?? [...VOCABULARY.platform].reverse()).map((p) => (
                <option key={p} value={p}>
                  {p}
                </option>
              ))}
            </select>
          </label>
        </div>
        <div class="grid">
          <label>
            Login
            <input name="login" inputMode="numeric" pattern="[0-9]+" required value={form.login} onInput={set('login')} />
          </label>
          <label>
            Server
            <input name="server" required placeholder="Broker-Live01" value={form.server} onInput={set('server')} />
          </label>
          <label>
            Investor password
            <input name="investor_password" type="password" autocomplete="off" required value={form.investor_password} onInput={set('investor_password')} />
          </label>
        </div>
        <small class="muted">The read-only password is encrypted and handed only to the VPS host that runs the terminal.</small>
        {brokers.error && <ErrorNote error={brokers.error} retry={brokers.reload} />}
        {submit.error && <ErrorNote error={submit.error} />}
        <button type="submit" aria-busy={submit.pending} disabled={submit.pending}>
          Register
        </button>
      </form>
    </details>
  );
}
