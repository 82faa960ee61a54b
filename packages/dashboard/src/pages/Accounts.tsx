// Trading accounts: register one (broker picker from GET /accounts/brokers), and each account's live
// status (with the error code and message), health (issue #16: terminal, broker connection, last
// report, history, last error), figures, and retry / pause / resume / delete, and a
// password change (which relaunches an account whose password the broker refused).
import { api, type TradingAccount } from '../api.ts';
import { Async, ErrorNote } from '../components/Async.tsx';
import { StatusBadge } from '../components/StatusBadge.tsx';
import { ago, lots, money } from '../format.ts';
import { healthDetails, healthReason } from '../health.ts';
import { useAction, useReconciled } from '../hooks.ts';
import { RegisterAccountForm } from './RegisterAccountForm.tsx';
import { useState } from 'preact/hooks';

export function Accounts() {
  const accounts = useReconciled(() => api.accounts(), ['trading_accounts', 'closed_trades', 'cashback_ledger']);
  return (
    <>
      <hgroup>
        <h2>Trading accounts</h2>
        <p>
          Registered accounts are started on a VPS by an agent; cashback accrues on every closed trade.{' '}
          <a href="#/report" data-testid="all-report-link">
            Cashback report of all accounts
          </a>
        </p>
      </hgroup>
      <RegisterAccountForm onRegistered={accounts.reload} />
      <Async state={accounts} isEmpty={(d) => d.accounts.length === 0} empty="No trading account yet: register one above.">
        {(d) => (
          <div class="cards">
            {d.accounts.map((a) => (
              <AccountCard key={a.id} account={a} onChanged={accounts.reload} />
            ))}
          </div>
        )}
      </Async>
    </>
  );
}

function AccountCard({ account: a, onChanged }: { account: TradingAccount; onChanged: () => void }) {
  const action = useAction((what: 'pause' | 'resume' | 'retry') => api.accountAction(a.id, what), onChanged);
  const remove = useAction(() => api.deleteAccount(a.id), onChanged);
  const [confirming, setConfirming] = useState(false);
  const [changingPassword, setChangingPassword] = useState(false);
  const f = a.figures;
  return (
    <article class="account" data-testid={`account-${a.login}`}>
      <header class="row">
        <div>
          <a href={`#/accounts/${a.id}`}>
            <strong>{a.login}</strong>
          </a>{' '}
          <small>
            {a.server} · {a.broker.name} · {a.platform}
          </small>
        </div>
        <StatusBadge status={a.paused ? 'disconnected' : a.status} testId="account-status" />
      </header>
      {a.paused && <p class="muted">Paused by you.</p>}
      {a.ownership.verified_at === null && a.ownership.code !== null && (
        <p class="ownership-note" data-testid="account-ownership">
          <strong>Unverified:</strong> {a.ownership.instruction} <code data-testid="ownership-code">{a.ownership.code}</code>
        </p>
      )}
      {a.status === 'error' && (
        <p class="error-note" data-testid="account-error">
          <strong>{a.error_code}</strong> {a.error_message}
          {a.credentials_rejected
            ? ' The broker rejected the investor password: the account is not started again until you update it.'
            : a.next_retry_at
              ? ` Next attempt ${new Date(a.next_retry_at).toLocaleTimeString()}.`
              : ' No automatic retry left.'}
        </p>
      )}
      {a.credentials_rejected && a.status !== 'error' && (
        <p class="error-note" data-testid="account-credentials-rejected">
          The broker rejected the investor password: update it to start the account again.
        </p>
      )}
      {(a.credentials_rejected || changingPassword) && (
        <PasswordForm account={a} onDone={() => (setChangingPassword(false), onChanged())} />
      )}
      <section class="health" data-testid="account-health" data-status={a.health.status}>
        <p>
          <StatusBadge status={a.health.status} testId="account-health-status" /> <span data-testid="account-health-reason">{healthReason(a.health)}</span>
        </p>
        <dl class="health-details">
          {healthDetails(a.health).map((d) => (
            <div key={d.label}>
              <dt>{d.label}</dt>
              <dd>{d.text}</dd>
            </div>
          ))}
        </dl>
      </section>
      <dl class="figures">
        <div>
          <dt>Trades</dt>
          <dd data-testid="figure-trades">{f.trades}</dd>
        </div>
        <div>
          <dt>Lots</dt>
          <dd>{lots(f.lots)}</dd>
        </div>
        <div>
          <dt>Cashback accrued</dt>
          <dd data-testid="figure-accrued">{money(f.cashback_accrued, f.currency)}</dd>
        </div>
        <div>
          <dt>Settled</dt>
          <dd data-testid="figure-settled">{money(f.cashback_settled, f.currency)}</dd>
        </div>
      </dl>
      <footer class="row">
        <small class="muted">{a.status === 'connected' ? `Last report ${ago(a.last_seen_at)}` : `Registered ${ago(a.created_at)}`}</small>
        <div class="actions">
          {a.status === 'error' && !a.paused && !a.credentials_rejected && (
            <button class="secondary" onClick={() => action.run('retry')} aria-busy={action.pending}>
              Retry
            </button>
          )}
          {!a.credentials_rejected && !changingPassword && (
            <button class="secondary outline" onClick={() => setChangingPassword(true)}>
              Change password
            </button>
          )}
          {a.paused ? (
            <button class="secondary" onClick={() => action.run('resume')} aria-busy={action.pending}>
              Resume
            </button>
          ) : (
            <button class="secondary outline" onClick={() => action.run('pause')} aria-busy={action.pending}>
              Pause
            </button>
          )}
          {confirming ? (
            <button class="danger" onClick={() => remove.run()} aria-busy={remove.pending}>
              Really delete?
            </button>
          ) : (
            <button class="secondary outline" onClick={() => setConfirming(true)}>
              Delete
            </button>
          )}
        </div>
      </footer>
      {(action.error ?? remove.error) && <ErrorNote error={(action.error ?? remove.error)!} />}
    </article>
  );
}

/** Replaces the investor password (PUT .../password): the account is queued again with it. */
function PasswordForm({ account: a, onDone }: { account: TradingAccount; onDone: () => void }) {
  const [password, setPassword] = useState('');
  const save = useAction(async () => {
    await api.changePassword(a.id, password);
    setPassword('');
  }, onDone);
  return (
    <form
      class="password-form"
      data-testid="password-form"
      onSubmit={(e) => {
        e.preventDefault();
        void save.run();
      }}
    >
      <label>
        New investor password
        <input
          type="password"
          name="investor_password"
          autocomplete="off"
          required
          maxLength={128}
          value={password}
          onInput={(e) => setPassword((e.target as HTMLInputElement).value)}
        />
      </label>
      <button type="submit" aria-busy={save.pending}>
        Update password and relaunch
      </button>
      {save.error && <ErrorNote error={save.error} />}
    </form>
  );
}
