import { isAlive } from './process.ts';
import type { StateFile } from './state-store.ts';

/**
 * `rubi-vps-agent status`: this host's terminals, from the state file (no backend call).
 * `agentPid`: who holds the folder's lock (src/agent-lock.ts `lockHolder`, asked by the CLI); without
 * it, the state file's `host_pid` if that process is alive.
 */
export function formatStatus(
  state: StateFile,
  statePath: string,
  alive: (pid: number) => boolean = isAlive,
  agentPid?: number | null,
): string {
  const lines: string[] = [];
  const agent = agentPid !== undefined ? agentPid : state.host_pid !== null && alive(state.host_pid) ? state.host_pid : null;
  lines.push(`State file: ${statePath} (updated ${state.updated_at})`);
  lines.push(agent !== null ? `Agent: running (pid ${agent})` : 'Agent: not running');
  const records = Object.values(state.terminals).sort((a, b) => a.folder.localeCompare(b.folder));
  if (records.length === 0) {
    lines.push('No terminals.');
    return lines.join('\n') + '\n';
  }
  const rows = records.map((r) => [
    `${r.platform}-${r.external_account_id}`,
    String(r.login),
    r.server,
    r.state,
    r.pid === null ? '-' : String(r.pid),
    r.pid === null ? '-' : alive(r.pid) ? 'yes' : 'NO',
    String(r.restarts),
    r.launched_at ?? '-',
    r.error_code ? `${r.error_code}: ${r.error_message ?? ''}`.slice(0, 80) : '',
  ]);
  const header = ['TERMINAL', 'LOGIN', 'SERVER', 'STATE', 'PID', 'ALIVE', 'RESTARTS', 'LAUNCHED', 'ERROR'];
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const fmt = (cells: string[]) => cells.map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i]!))).join('  ').trimEnd();
  lines.push(fmt(header), ...rows.map(fmt));
  const counts = new Map<string, number>();
  for (const r of records) counts.set(r.state, (counts.get(r.state) ?? 0) + 1);
  lines.push(`${records.length} terminal(s): ${[...counts].map(([s, n]) => `${n} ${s}`).join(', ')}`);
  return lines.join('\n') + '\n';
}
