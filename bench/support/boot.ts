import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { freePort } from '../../scripts/lib/free-port.ts';
import { denoBin, denoChildEnv, DENO_RUN_FLAGS } from '../../tests/integration/e2e/support/deno-functions.ts';
import { repoRoot } from '../../tests/integration/support/paths.ts';

/**
 * One cold start of one Deno entry point, timed the way the e2e stack launches the functions
 * (tests/integration/e2e/support/deno-functions.ts: same binary, same `deno run` flags, cwd = the
 * repository root so ./deno.json's import map and node_modules are used, a from-scratch
 * environment, DENO_SERVE_ADDRESS for the port).
 *
 * - listenMs: spawn → Deno.serve's "Listening on" line (stderr): process start, module loading and
 *   evaluation, the entry point's top-level work (config, key import, app construction).
 * - readyMs: spawn → the first response to `path`, which must be 200. The request is sent as soon as
 *   the "Listening on" line arrives (no polling), so readyMs = listenMs + the first request: for a
 *   function's `GET /<name>/health`, Hono's first dispatch, the first pool connection to PostgreSQL
 *   (TCP, SCRAM auth) and one transaction (`select 1` as anon).
 */
export interface BootTarget {
  /** Label in the table. */
  label: string;
  /** Entry point relative to the repository root (`functions/ping/index.ts`). */
  entry: string;
  /** Route answered 200 once booted (`/ping/health`). */
  path: string;
  /** Function configuration (SUPABASE_URL, SUPABASE_DB_URL, ...). */
  env: Record<string, string>;
  /** The checkout to run it from (default: this repository); another one (with node_modules) compares two versions in one run. */
  root?: string;
}

export interface BootSample {
  listenMs: number;
  readyMs: number;
}

const live = new Set<ChildProcess>();
let exitHookInstalled = false;

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.once('exit', () => {
    for (const child of live) child.kill('SIGKILL');
  });
}

async function stopChild(child: ChildProcess, exited: Promise<void>): Promise<void> {
  if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 3000);
  await exited;
  clearTimeout(timer);
}

/** Starts `target` once, times it, stops it (and waits for it to exit) before returning. */
export async function bootOnce(target: BootTarget, timeoutMs = 30_000): Promise<BootSample> {
  const root = target.root ?? repoRoot;
  if (!existsSync(join(root, target.entry))) throw new Error(`no ${join(root, target.entry)}`);
  installExitHook();
  const port = await freePort();
  const env = denoChildEnv(port, target.env ?? {}, root);
  const output: string[] = [];
  let onListening: () => void = () => {};
  const listening = new Promise<void>((resolveListening) => {
    onListening = resolveListening;
  });

  const started = performance.now();
  const child = spawn(denoBin, ['run', ...DENO_RUN_FLAGS, target.entry], { cwd: root, env, stdio: ['ignore', 'pipe', 'pipe'] });
  live.add(child);
  const exited = new Promise<void>((resolveExit) => {
    child.on('exit', () => {
      live.delete(child);
      resolveExit();
    });
    child.on('error', (error) => {
      output.push(`spawn error: ${error.message}`);
      live.delete(child);
      resolveExit();
    });
  });
  for (const stream of [child.stdout, child.stderr]) {
    stream?.setEncoding('utf8');
    stream?.on('data', (chunk: string) => {
      output.push(chunk);
      if (output.join('').includes('Listening on')) onListening();
    });
  }

  let timer: ReturnType<typeof setTimeout> | undefined;
  const fail = (why: string): Error => new Error(`${target.label}: ${why}\n${output.join('').trimEnd()}`);
  try {
    await Promise.race([
      listening,
      exited.then(() => Promise.reject(fail(`deno exited (${String(child.exitCode ?? child.signalCode)}) before listening`))),
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(fail(`not listening within ${timeoutMs} ms`)), timeoutMs);
      }),
    ]);
    const listenMs = performance.now() - started;
    const res = await fetch(`http://127.0.0.1:${port}${target.path}`, { signal: AbortSignal.timeout(timeoutMs) });
    const body = await res.text();
    const readyMs = performance.now() - started;
    if (res.status !== 200) throw fail(`GET ${target.path} answered ${res.status}: ${body.slice(0, 300)}`);
    return { listenMs, readyMs };
  } finally {
    clearTimeout(timer);
    await stopChild(child, exited);
  }
}

export function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  if (sorted.length === 0) return Number.NaN;
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? (sorted[mid] ?? Number.NaN) : ((sorted[mid - 1] ?? 0) + (sorted[mid] ?? 0)) / 2;
}

export interface BootRow {
  label: string;
  samples: BootSample[];
}

const ms = (value: number): string => (Number.isFinite(value) ? value.toFixed(0) : '–');

/** The summary as a Markdown table (pasted as is into bench/README.md); ratios against `baseline`'s medians. */
export function formatBootTable(rows: readonly BootRow[], baseline: BootRow): string {
  const baseListen = median(baseline.samples.map((s) => s.listenMs));
  const baseReady = median(baseline.samples.map((s) => s.readyMs));
  const header = ['entry point', 'listen p50 ms', 'ready p50 ms', 'ready min–max ms', 'listen / bare', 'ready / bare'];
  const lines = rows.map((row) => {
    const listen = median(row.samples.map((s) => s.listenMs));
    const ready = median(row.samples.map((s) => s.readyMs));
    const readies = row.samples.map((s) => s.readyMs);
    return [
      row.label,
      ms(listen),
      ms(ready),
      `${ms(Math.min(...readies))}–${ms(Math.max(...readies))}`,
      `${(listen / baseListen).toFixed(2)}×`,
      `${(ready / baseReady).toFixed(2)}×`,
    ];
  });
  const widths = header.map((h, i) => Math.max(h.length, ...lines.map((l) => (l[i] ?? '').length)));
  const fmt = (cells: readonly string[]) => `| ${cells.map((c, i) => (i === 0 ? c.padEnd(widths[i] ?? 0) : c.padStart(widths[i] ?? 0))).join(' | ')} |`;
  const rule = `| ${widths.map((w, i) => (i === 0 ? '-'.repeat(w) : `${'-'.repeat(w - 1)}:`)).join(' | ')} |`;
  return [fmt(header), rule, ...lines.map(fmt)].join('\n');
}
