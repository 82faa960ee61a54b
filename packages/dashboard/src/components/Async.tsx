// Loading, error and empty states for anything loaded with useReconciled, in one place.
import type { ComponentChildren } from 'preact';
import type { Reconciled } from '../hooks.ts';

interface Props<T> {
  state: Reconciled<T>;
  /** When the data is there but has nothing to show. */
  isEmpty?: (data: T) => boolean;
  empty?: ComponentChildren;
  children: (data: T) => ComponentChildren;
}

export function Async<T>({ state, isEmpty, empty, children }: Props<T>) {
  if (state.data === undefined) {
    if (state.error) return <ErrorNote error={state.error} retry={state.reload} />;
    return <p aria-busy="true">Loading…</p>;
  }
  return (
    <>
      {state.error && <ErrorNote error={state.error} retry={state.reload} stale />}
      {isEmpty?.(state.data) ? <p class="empty">{empty ?? 'Nothing here yet.'}</p> : children(state.data)}
    </>
  );
}

export function ErrorNote({ error, retry, stale }: { error: Error; retry?: () => void; stale?: boolean }) {
  return (
    <p class="error-note" role="alert">
      {stale ? 'Could not refresh (showing the last data): ' : ''}
      {error.message}
      {retry && (
        <>
          {' '}
          <a href="#" onClick={(e) => (e.preventDefault(), retry())}>
            Try again
          </a>
        </>
      )}
    </p>
  );
}
