// The frame of every signed-in page: navigation with the unread badge, the live indicator, sign out.
import type { ComponentChildren } from 'preact';
import { api } from '../api.ts';
import { useLiveStatus, useReconciled } from '../hooks.ts';
import type { Route } from '../router.ts';

const LINKS: { href: string; label: string; pages: Route['page'][] }[] = [
  { href: '#/accounts', label: 'Accounts', pages: ['accounts', 'account'] },
  { href: '#/keys', label: 'EA keys', pages: ['keys'] },
  { href: '#/signals', label: 'Signals', pages: ['signals'] },
  { href: '#/sessions', label: 'Sessions', pages: ['sessions', 'session'] },
];

export function Layout({ route, email, onSignOut, children }: { route: Route; email: string; onSignOut: () => void; children: ComponentChildren }) {
  const live = useLiveStatus();
  const unread = useReconciled(() => api.notifications({ unread: true, limit: 1 }), ['notifications']);
  const count = unread.data?.unread_count ?? 0;
  return (
    <>
      <header class="container">
        <nav>
          <ul>
            <li>
              <strong>Rubi</strong>
            </li>
            <li>
              <span class={`live ${live}`} title={`Realtime: ${live}`} data-testid="live-status">
                {live === 'live' ? 'live' : live}
              </span>
            </li>
          </ul>
          <ul class="links">
            {LINKS.map((l) => (
              <li key={l.href}>
                <a href={l.href} aria-current={l.pages.includes(route.page) ? 'page' : undefined}>
                  {l.label}
                </a>
              </li>
            ))}
            <li>
              <a href="#/notifications" aria-current={route.page === 'notifications' ? 'page' : undefined} data-testid="nav-notifications">
                Notifications
                {count > 0 && (
                  <span class="count" data-testid="unread-badge">
                    {count}
                  </span>
                )}
              </a>
            </li>
          </ul>
        </nav>
      </header>
      <main class="container">{children}</main>
      <footer class="container">
        <small>
          Signed in as {email} ·{' '}
          <a href="#" onClick={(e) => (e.preventDefault(), onSignOut())}>
            Sign out
          </a>
        </small>
      </footer>
    </>
  );
}
