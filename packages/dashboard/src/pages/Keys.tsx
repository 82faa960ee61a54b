// EA keys: create one (its secret is shown once, copyable, and kept only in this component's state
// until dismissed: never stored), list and revoke.
import { useState } from 'preact/hooks';
import { api, type NewEaKey } from '../api.ts';
import { Async, ErrorNote } from '../components/Async.tsx';
import { CopyField } from '../components/CopyField.tsx';
import { ago, time } from '../format.ts';
import { useAction, useReconciled } from '../hooks.ts';

export function Keys() {
  const keys = useReconciled(() => api.keys(), ['mt5_sessions']);
  const [name, setName] = useState('');
  const [created, setCreated] = useState<NewEaKey | undefined>(undefined);
  const create = useAction(async () => {
    setCreated(await api.createKey(name.trim()));
    setName('');
  }, keys.reload);
  const revoke = useAction((id: string) => api.revokeKey(id), keys.reload);

  return (
    <>
      <hgroup>
        <h2>EA keys</h2>
        <p>The connector EA in your MetaTrader terminal signs every request with a key.</p>
      </hgroup>
      {created && (
        <article class="secret" data-testid="new-key">
          <header>
            <strong>Key “{created.name}” created.</strong> Copy the secret now: it is shown once and cannot be read again.
          </header>
          <label>
            Key id
            <CopyField value={created.id} label="Key id" testId="new-key-id" />
          </label>
          <label>
            Secret
            <CopyField value={created.secret} label="Secret" testId="new-key-secret" />
          </label>
          <footer>
            <button onClick={() => setCreated(undefined)}>I stored it</button>
          </footer>
        </article>
      )}
      <form class="inline" onSubmit={(e) => (e.preventDefault(), create.run())}>
        <fieldset role="group">
          <input name="key-name" placeholder="Name, e.g. IC Markets live terminal" required maxLength={100} value={name} onInput={(e) => setName(e.currentTarget.value)} />
          <button type="submit" aria-busy={create.pending} disabled={create.pending}>
            Create key
          </button>
        </fieldset>
        {create.error && <ErrorNote error={create.error} />}
      </form>
      <Async state={keys} isEmpty={(d) => d.keys.length === 0} empty="No EA key yet.">
        {(d) => (
          <div class="overflow-auto">
            <table class="striped">
              <thead>
                <tr>
                  <th>Name</th>
                  <th>Key id</th>
                  <th>Created</th>
                  <th>Last used</th>
                  <th />
                </tr>
              </thead>
              <tbody>
                {d.keys.map((k) => (
                  <tr key={k.id} data-testid={`key-${k.name}`}>
                    <td>{k.name}</td>
                    <td>
                      <code>{k.id}</code>
                    </td>
                    <td>{time(k.created_at)}</td>
                    <td>{ago(k.last_used_at)}</td>
                    <td>
                      {k.revoked_at ? (
                        <span class="badge muted">revoked</span>
                      ) : (
                        <button class="secondary outline small" onClick={() => revoke.run(k.id)} aria-busy={revoke.pending}>
                          Revoke
                        </button>
                      )}
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        )}
      </Async>
      {revoke.error && <ErrorNote error={revoke.error} />}
    </>
  );
}
