// Hash routes (#/accounts/<id>): they work from any static host and any folder, with no server rewrite.
import { useEffect, useState } from 'preact/hooks';

export type Route =
  | { page: 'accounts' }
  | { page: 'account'; id: string }
  | { page: 'keys' }
  | { page: 'signals' }
  | { page: 'sessions' }
  | { page: 'session'; id: string }
  | { page: 'notifications' }
  | { page: 'report'; accountId?: string };

export function parseRoute(hash: string): Route {
  const parts = hash.replace(/^#\/?/, '').split('/').filter(Boolean);
  const [first, id] = parts;
  if (first === 'accounts' && id) return { page: 'account', id };
  if (first === 'sessions' && id) return { page: 'session', id };
  if (first === 'report') return id ? { page: 'report', accountId: id } : { page: 'report' };
  if (first === 'keys' || first === 'signals' || first === 'sessions' || first === 'notifications') return { page: first };
  return { page: 'accounts' };
}

export function useRoute(): Route {
  const [route, setRoute] = useState(() => parseRoute(location.hash));
  useEffect(() => {
    const onChange = () => setRoute(parseRoute(location.hash));
    addEventListener('hashchange', onChange);
    return () => removeEventListener('hashchange', onChange);
  }, []);
  return route;
}
