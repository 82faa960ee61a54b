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
  disconnected: 'muted',
  closed: 'muted',
  CANCELLED: 'muted',
  EXPIRED: 'muted',
  error: 'bad',
  REJECTED: 'bad',
  FAILED: 'bad',
};

const LABELS: Record<string, string> = { pending_vps_setup: 'waiting for a VPS' };

export function StatusBadge({ status, testId }: { status: string; testId?: string }) {
  return (
    <span class={`badge ${TONES[status] ?? 'muted'}`} data-testid={testId} data-status={status}>
      {LABELS[status] ?? status}
    </span>
  );
}
