import { readdirSync, readFileSync } from 'node:fs';

/**
 * Where the CPU went during one measurement, in percent of one core (the machine has
 * `nproc` × 100 %), read from /proc (Linux only; NaN elsewhere):
 *
 * - client: this process (autocannon, the SQL loops, postgres.js), from process.cpuUsage();
 * - deno: the Deno process serving the requests and its descendants (`npm start`: npm, sh, Deno);
 * - postgres: the cluster's postmaster and every backend under it;
 * - others: the machine's busy time (/proc/stat) minus the three above: everything else that ran,
 *   including other people's work on a shared machine.
 *
 * A process that exits during the measurement takes its ticks with it (pools keep their
 * connections, so this is rare).
 */
export interface CpuUse {
  client: number;
  deno: number;
  postgres: number;
  others: number;
}

/** USER_HZ: /proc reports times in ticks of 1/100 s on Linux. */
const TICKS_PER_SECOND = 100;

interface Proc {
  ppid: number;
  ticks: number;
}

function processes(): Map<number, Proc> {
  const all = new Map<number, Proc>();
  let entries: string[];
  try {
    entries = readdirSync('/proc');
  } catch {
    return all;
  }
  for (const entry of entries) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      // The command name may contain spaces and parentheses: fields start after the last ')'.
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      all.set(Number(entry), { ppid: Number(fields[1]), ticks: Number(fields[11]) + Number(fields[12]) });
    } catch {
      // gone meanwhile
    }
  }
  return all;
}

/** Ticks of `root` and all its descendants (NaN when `root` is not a process here). */
function treeTicks(all: Map<number, Proc>, root: number | undefined): number {
  if (root === undefined || !all.has(root)) return Number.NaN;
  const children = new Map<number, number[]>();
  for (const [pid, p] of all) children.set(p.ppid, [...(children.get(p.ppid) ?? []), pid]);
  let sum = 0;
  const stack = [root];
  while (stack.length > 0) {
    const pid = stack.pop() as number;
    sum += all.get(pid)?.ticks ?? 0;
    stack.push(...(children.get(pid) ?? []));
  }
  return sum;
}

function machineBusyTicks(): number {
  try {
    const [cpu] = readFileSync('/proc/stat', 'utf8').split('\n');
    const [, user, nice, system, , , irq, softirq, steal] = (cpu ?? '').trim().split(/\s+/).map(Number);
    return (user ?? 0) + (nice ?? 0) + (system ?? 0) + (irq ?? 0) + (softirq ?? 0) + (steal ?? 0);
  } catch {
    return Number.NaN;
  }
}

/** The postmaster of the backend with pid `backendPid` (its parent), when it runs on this machine. */
export function postmasterOf(backendPid: number): number | undefined {
  return processes().get(backendPid)?.ppid;
}

/** Starts measuring; the returned function stops and reports. */
export function startCpu(roots: { deno?: number; postgres?: number }): () => CpuUse {
  const t0 = performance.now();
  const client0 = process.cpuUsage();
  const all0 = processes();
  const deno0 = treeTicks(all0, roots.deno);
  const pg0 = treeTicks(all0, roots.postgres);
  const machine0 = machineBusyTicks();
  return () => {
    const wallSeconds = (performance.now() - t0) / 1000;
    const client = process.cpuUsage(client0);
    const all = processes();
    const pct = (ticks: number) => (ticks / TICKS_PER_SECOND / wallSeconds) * 100;
    const use = {
      client: ((client.user + client.system) / 1e6 / wallSeconds) * 100,
      deno: roots.deno === undefined ? 0 : pct(treeTicks(all, roots.deno) - deno0),
      postgres: roots.postgres === undefined ? 0 : pct(treeTicks(all, roots.postgres) - pg0),
    };
    const machine = pct(machineBusyTicks() - machine0);
    const known = use.client + (Number.isNaN(use.deno) ? 0 : use.deno) + (Number.isNaN(use.postgres) ? 0 : use.postgres);
    return { ...use, others: Math.max(0, machine - known) };
  };
}
