// Notifications: what the backend told the user (connected, silent, errors with their code,
// cashback settled), newest first; mark one or all read.
import { api } from '../api.ts';
import { Async, ErrorNote } from '../components/Async.tsx';
import { time } from '../format.ts';
import { useAction, useReconciled } from '../hooks.ts';

const ICONS: Record<string, string> = { account_connected: '●', account_disconnected: '○', account_error: '!', account_credentials_rejected: '!', account_verified: '✓', account_verification_required: '?', cashback_settled: '$' };

export function Notifications() {
  const list = useReconciled(() => api.notifications({ limit: 100 }), ['notifications']);
  const markOne = useAction((id: string) => api.markRead(id), list.reload);
  const markAll = useAction(() => api.markAllRead(), list.reload);
  return (
    <>
      <hgroup class="row">
        <div>
          <h2>Notifications</h2>
          <p>{list.data ? `${list.data.unread_count} unread` : ' '}</p>
        </div>
        <button class="secondary outline" disabled={!list.data?.unread_count} onClick={() => markAll.run()} aria-busy={markAll.pending}>
          Mark all read
        </button>
      </hgroup>
      {(markOne.error ?? markAll.error) && <ErrorNote error={(markOne.error ?? markAll.error)!} />}
      <Async state={list} isEmpty={(d) => d.notifications.length === 0} empty="Nothing yet: you will hear about your accounts here.">
        {(d) => (
          <ul class="notifications" data-testid="notifications">
            {d.notifications.map((n) => (
              <li key={n.id} class={n.read_at ? 'read' : 'unread'} data-kind={n.kind}>
                <span class={`icon ${n.kind}`} aria-hidden="true">
                  {ICONS[n.kind] ?? '•'}
                </span>
                <div>
                  <strong>{n.title}</strong>
                  <p>{n.body}</p>
                  <small class="muted">
                    {time(n.created_at)}
                    {n.account_id && (
                      <>
                        {' · '}
                        <a href={`#/accounts/${n.account_id}`}>account</a>
                      </>
                    )}
                  </small>
                </div>
                {!n.read_at && (
                  <button class="secondary outline small" onClick={() => markOne.run(n.id)}>
                    Mark read
                  </button>
                )}
              </li>
            ))}
          </ul>
        )}
      </Async>
    </>
  );
}
