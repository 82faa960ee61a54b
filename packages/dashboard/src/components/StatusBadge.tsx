// A coloured badge for any status the API returns (accounts, sessions, signals, positions).
const TONES: Record<string, string> = {
  connected: 'good',
  active: 'good',
  EXECUTED: 'good',
  open: 'good',
  provisioning: 'busy',
  pending_vps_setup: 'busy',
  PENDING: 'busy',
  DELIVERED: 'busy',
  stale: 'warn',
  UNKNOWN: 'warn',
  disconnected: 'muted',
  closed: 'muted',
  CANCELLED: 'muted',
  EXPIRED: 'muted',
  error: 'bad',
  REJECTED: 'bad',
  FAILED: 'bad',
  // account health (issue #16)
  healthy: 'good',
  degraded: 'warn',
  down: 'bad',
  not_started: 'busy',
  paused: 'muted',
};

const LABELS: Record<string, string> = { pending_vps_setup: 'waiting for a VPS', UNKNOWN: 'outcome unknown', not_started: 'not started' };

// A tooltip where the label alone does not say what to do.
const HINTS: Record<string, string> = {
  UNKNOWN: 'The EA could not tell whether the order reached the trade server: it may or may not exist. Check the terminal before sending the signal again.',
};

export function StatusBadge({ status, testId }: { status: string; testId?: string }) {
  return (
    <span class={`badge ${TONES[status] ?? 'muted'}`} data-testid={testId} data-status={status} title={HINTS[status]}>
      {LABELS[status] ?? status}
    </span>
  );
}
