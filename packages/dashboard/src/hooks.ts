// The two hooks every page is built from: `useLiveFeed` (the Realtime feed of the signed-in user,
// from context) and `useReconciled` (data loaded from the API, reloaded on the live events it cares
// about, on every (re)subscribe, on a timer and on focus; stale answers are dropped).
import { createContext } from 'preact';
import { useCallback, useContext, useEffect, useRef, useState } from 'preact/hooks';
import type { LiveEvent, LiveFeed, LiveStatus } from './live.ts';

export const LiveContext = createContext<LiveFeed | null>(null);

export function useLiveFeed(): LiveFeed | null {
  return useContext(LiveContext);
}

export function useLiveStatus(): LiveStatus {
  const feed = useLiveFeed();
  const [status, setStatus] = useState<LiveStatus>(feed?.status ?? 'offline');
  useEffect(() => {
    if (!feed) return;
    setStatus(feed.status);
    return feed.onStatus(setStatus);
  }, [feed]);
  return status;
}

export interface Reconciled<T> {
  data: T | undefined;
  error: Error | undefined;
  loading: boolean;
  reload: () => void;
}

/** Reconcile timer: Realtime is at most once, so a missed message is repaired within this. */
export const RECONCILE_MS = 15_000;

export function useReconciled<T>(load: () => Promise<T>, events: readonly LiveEvent[], deps: readonly unknown[] = []): Reconciled<T> {
  const feed = useLiveFeed();
  const [state, setState] = useState<{ data: T | undefined; error: Error | undefined; loading: boolean }>({ data: undefined, error: undefined, loading: true });
  const seq = useRef(0);
  const timer = useRef<ReturnType<typeof setTimeout> | undefined>(undefined);
  const loadRef = useRef(load);
  loadRef.current = load;

  const reload = useCallback(() => {
    const mine = ++seq.current;
    loadRef.current().then(
      (data) => mine === seq.current && setState({ data, error: undefined, loading: false }),
      (error: unknown) => mine === seq.current && setState((s) => ({ ...s, error: error instanceof Error ? error : new Error(String(error)), loading: false })),
    );
  }, []);

  useEffect(() => {
    setState({ data: undefined, error: undefined, loading: true });
    reload();
    // A burst of messages (a batch of trades, a settlement) is one reload.
    const soon = () => {
      clearTimeout(timer.current);
      timer.current = setTimeout(reload, 120);
    };
    const off = feed?.subscribe((signal) => {
      if (signal.kind === 'subscribed' || (events as readonly string[]).includes(signal.event)) soon();
    });
    const interval = setInterval(reload, RECONCILE_MS);
    const onFocus = () => document.visibilityState === 'visible' && soon();
    document.addEventListener('visibilitychange', onFocus);
    return () => {
      off?.();
      clearInterval(interval);
      clearTimeout(timer.current);
      document.removeEventListener('visibilitychange', onFocus);
      seq.current++;
    };
  }, [feed, reload, ...deps]);

  return { ...state, reload };
}

/** Runs an action, keeping its pending state and error for the button that started it. */
export function useAction<A extends unknown[]>(action: (...args: A) => Promise<unknown>, after?: () => void) {
  const [pending, setPending] = useState(false);
  const [error, setError] = useState<Error | undefined>(undefined);
  const run = useCallback(
    async (...args: A) => {
      setPending(true);
      setError(undefined);
      try {
        await action(...args);
        after?.();
      } catch (e) {
        setError(e instanceof Error ? e : new Error(String(e)));
      } finally {
        setPending(false);
      }
    },
    [action, after],
  );
  return { run, pending, error };
}
