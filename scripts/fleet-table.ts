// Plain-text tables for a terminal (the admin commands), and the fleet view (GET /ops/fleet) as tables: `npm run vps-host -- fleet`.
import type { FleetResponse } from '@rubi/contracts/ops.ts';

export function table(rows: string[][]): string {
  const widths = rows[0]?.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length))) ?? [];
  return rows.map((r) => r.map((cell, i) => cell.padEnd(widths[i] ?? 0)).join('  ').trimEnd()).join('\n');
}

/** `42s ago`, `5m ago`, `3h ago`, `2d ago`; `-` for never. */
export function ago(at: string | null, now: Date): string {
  if (at === null) return '-';
  const s = Math.max(0, Math.round((now.getTime() - Date.parse(at)) / 1000));
  if (s < 120) return `${s}s ago`;
  if (s < 7200) return `${Math.round(s / 60)}m ago`;
  if (s < 172800) return `${Math.round(s / 3600)}h ago`;
  return `${Math.round(s / 86400)}d ago`;
}

/** One line per cell at most: a message with line feeds or a long one is cut. */
const cell = (text: string | null, max = 60): string => {
  if (text === null || text === '') return '-';
  const flat = text.replace(/\s+/g, ' ').trim();
  return flat.length > max ? `${flat.slice(0, max - 1)}…` : flat;
};

export function formatFleet(fleet: FleetResponse): string {
  const now = new Date(fleet.server_time);
  const out: string[] = [];
  if (fleet.hosts.length === 0) {
    out.push('No VPS hosts. Create one with: npm run vps-host -- create <name> --capacity N');
  } else {
    out.push(
      `HOSTS (${fleet.hosts.length})`,
      table([
        ['NAME', 'STATUS', 'HEARTBEAT', 'VERSION', 'CAPACITY', 'HELD', 'DEDICATED'],
        ...fleet.hosts.map((h) => [
          h.name,
          h.revoked ? 'revoked' : 'active',
          ago(h.last_heartbeat_at, now),
          cell(h.version, 20),
          String(h.capacity),
          String(h.accounts_held),
          h.dedicated ? 'yes' : 'no',
        ]),
      ]),
    );
    const terminals = fleet.hosts.flatMap((h) => h.terminals.map((t) => ({ host: h.name, ...t })));
    out.push('', `TERMINALS (${terminals.length})`);
    out.push(
      terminals.length === 0
        ? 'none'
        : table([
            ['HOST', 'ACCOUNT', 'PLATFORM', 'STATUS', 'TERMINAL', 'LAST SEEN', 'ERROR', 'NOTE'],
            ...terminals.map((t) => [
              t.host,
              `${t.login}@${cell(t.server, 40)}`,
              t.platform,
              t.status,
              t.terminal_state ?? '-',
              ago(t.last_seen_at, now),
              t.error_code ?? '-',
              t.deleted ? 'deleted' : t.paused ? 'paused' : '',
            ]),
          ]),
    );
  }
  out.push('', `ACCOUNTS IN ERROR (${fleet.accounts_in_error.length})`);
  out.push(
    fleet.accounts_in_error.length === 0
      ? 'none'
      : table([
          ['ACCOUNT', 'ID', 'HOST', 'ERROR', 'ATTEMPTS', 'NEXT RETRY', 'PASSWORD', 'MESSAGE'],
          ...fleet.accounts_in_error.map((a) => [
            `${a.login}@${cell(a.server, 40)}`,
            a.account_id,
            a.host ?? '-',
            a.error_code ?? '-',
            String(a.attempts),
            a.next_retry_at === null ? '-' : a.next_retry_at.replace(/\.\d+/, ''),
            a.credentials_rejected ? 'rejected' : 'ok',
            cell(a.error_message),
          ]),
        ]),
  );
  return out.join('\n');
}
