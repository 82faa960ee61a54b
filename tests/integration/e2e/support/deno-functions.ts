import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { freePort } from '../../../../scripts/lib/free-port.ts';
import { repoRoot } from '../../support/paths.ts';

/**
 * Serves the real Edge Functions (functions/<name>/index.ts, unchanged) under plain Deno, one
 * process per function, the way Supabase's Edge Runtime serves them: each app sees requests at
 * `/<name>/...`.
 *
 * How Deno is launched, and why:
 *
 *   deno run --cached-only --no-lock --no-prompt --allow-net --allow-env --allow-read functions/<name>/index.ts
 *
 * - cwd = the repository root, so Deno discovers ./deno.json by itself (no --config needed): its
 *   import map resolves @rubi/* to packages/<pkg>/src and the bare npm names (hono, zod, jose,
 *   postgres, ...) to `npm:` specifiers. Because package.json sits next to deno.json, Deno 2 reads
 *   those packages from the node_modules that `npm install` created (its default when a package.json
 *   is present: no nodeModulesDir setting, no --node-modules-dir flag needed).
 * - --cached-only: Deno must never reach a registry here. Reading node_modules, it has no reason to
 *   (DENO_DIR/npm stays empty); if an import-map pin ever drifts from the installed version, Deno
 *   fails at once with a clear error instead of trying to download.
 * - --no-lock: no deno.lock is read or written. npm's package-lock.json already pins what is in
 *   node_modules, which is what Deno executes; a second lockfile would only drift. (Deno 2.9 did not
 *   write one for these entry points even without the flag; the flag makes that a decision.)
 * - --no-prompt: a missing permission fails instead of waiting for a TTY answer.
 * - No type checking (`deno run` does not check by default); `npx tsc` covers types.
 * - The listening address comes from DENO_SERVE_ADDRESS=tcp:127.0.0.1:<port>, which Deno 2 honours
 *   as an override of Deno.serve's address. So index.ts stays exactly what the Edge Runtime runs
 *   (`Deno.serve(app.fetch)`), with no test-only PORT handling.
 * - The environment is built from scratch (PATH, HOME, DENO_DIR plus the function's config) so
 *   nothing from the developer's shell leaks into the functions; NO_COLOR keeps stderr plain and
 *   DENO_NO_UPDATE_CHECK keeps Deno off the network.
 *
 * Startup is fast (about 0.2 s warm, 0.4 s with an empty DENO_DIR): Deno transpiles and caches the
 * TypeScript in DENO_DIR (gen/, v8_code_cache) on the first run and reuses it afterwards. The first
 * function is started alone as the warm-up that fills that cache; the rest start in parallel.
 */

export const denoBin: string = join(repoRoot, 'node_modules', '.bin', 'deno');

export const DENO_RUN_FLAGS = ['--cached-only', '--no-lock', '--no-prompt', '--allow-net', '--allow-env', '--allow-read'] as const;

export interface LogLine {
  fn: string;
  stream: 'stdout' | 'stderr';
  line: string;
}

export interface ServedFunction {
  name: string;
  port: number;
  /** `http://127.0.0.1:<port>/<name>`: append the route (`/keys` + `''`, `/connect` + `/disconnect`). */
  baseUrl: string;
  /** Milliseconds from spawn until GET /<name>/openapi.json answered 200. */
  startupMs: number;
  pid: number;
}

export interface DenoFunctions {
  functions: Record<string, ServedFunction>;
  /** Every line any Deno process wrote so far. */
  logs: LogLine[];
  /** The URL for a path whose first segment is the function name, e.g. `/signals/pending`. */
  url(path: string): string;
  /**
   * The first captured line matching `predicate`, waiting up to `timeoutMs` for it: output travels
   * through a pipe and may arrive a moment after the HTTP response.
   */
  waitForLog(predicate: (line: LogLine) => boolean, timeoutMs?: number): Promise<LogLine | undefined>;
  /** Stops every process (SIGTERM, then SIGKILL) and waits for them to exit. Idempotent. */
  stop(): Promise<void>;
}

interface Running {
  name: string;
  child: ChildProcess;
  exited: Promise<void>;
  exitCode: () => number | null | undefined;
}

const live = new Set<ChildProcess>();
let exitHookInstalled = false;
let watchdog: ChildProcess | undefined;

function kill(child: ChildProcess, signal: NodeJS.Signals): void {
  try {
    child.kill(signal);
  } catch {
    // already gone
  }
}

// The watchdog: a tiny Node process that reads Deno pids on its stdin. When this process dies
// without cleaning up (SIGKILL, a crashed vitest worker), the kernel closes the pipe and the
// watchdog kills every pid it was told about. `-<pid>` lines mean "exited, forget it".
const WATCHDOG_SOURCE = `
const pids = new Set();
let buf = '';
process.stdin.setEncoding('utf8');
process.stdin.on('data', (chunk) => {
  buf += chunk;
  const lines = buf.split('\\n');
  buf = lines.pop();
  for (const line of lines) {
    if (line.startsWith('-')) pids.delete(line.slice(1)); else if (line) pids.add(line);
  }
});
process.stdin.on('end', () => {
  for (const pid of pids) { try { process.kill(Number(pid), 'SIGKILL'); } catch {} }
  process.exit(0);
});
`;

function watch(pid: number | undefined): void {
  if (pid === undefined) return;
  if (!watchdog || watchdog.exitCode !== null) {
    watchdog = spawn(process.execPath, ['-e', WATCHDOG_SOURCE], { stdio: ['pipe', 'ignore', 'ignore'] });
    watchdog.on('error', () => {});
    watchdog.unref(); // never keeps this process alive
    (watchdog.stdin as { unref?: () => void } | null)?.unref?.();
  }
  watchdog.stdin?.write(`${pid}\n`);
}

function unwatch(pid: number | undefined): void {
  if (pid === undefined || !watchdog || watchdog.exitCode !== null) return;
  watchdog.stdin?.write(`-${pid}\n`);
}

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  // Safety net when the worker exits before afterAll ran: never leave a Deno process behind.
  process.once('exit', () => {
    for (const child of live) kill(child, 'SIGKILL');
    watchdog?.stdin?.end();
  });
}

/**
 * The environment a Deno child serving on `port` gets: nothing of ours leaks in but PATH, HOME and
 * Deno's cache, plus `env` (the function's own settings). Shared with bench/ so it measures the
 * processes the tests run.
 */
export function denoChildEnv(port: number, env: Record<string, string>, home = repoRoot): Record<string, string> {
  return {
    PATH: process.env.PATH ?? '/usr/bin:/bin',
    HOME: process.env.HOME ?? home,
    ...(process.env.DENO_DIR ? { DENO_DIR: process.env.DENO_DIR } : {}),
    NO_COLOR: '1',
    DENO_NO_UPDATE_CHECK: '1',
    DENO_SERVE_ADDRESS: `tcp:127.0.0.1:${port}`,
    ...env,
  };
}

function spawnFunction(name: string, port: number, env: Record<string, string>, logs: LogLine[]): Running {
  const entry = join('functions', name, 'index.ts');
  if (!existsSync(join(repoRoot, entry))) throw new Error(`no ${entry}`);
  const childEnv = denoChildEnv(port, env);
  const child = spawn(denoBin, ['run', ...DENO_RUN_FLAGS, entry], {
    cwd: repoRoot,
    env: childEnv,
    // Not detached: node_modules/.bin/deno is the Deno binary itself (no wrapper process), and in
    // the terminal's process group a Ctrl-C reaches Deno too.
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  live.add(child);
  watch(child.pid);
  let code: number | null | undefined;
  const exited = new Promise<void>((resolveExit) => {
    child.on('exit', (c) => {
      code = c;
      live.delete(child);
      unwatch(child.pid);
      resolveExit();
    });
    child.on('error', (error) => {
      logs.push({ fn: name, stream: 'stderr', line: `spawn error: ${error.message}` });
      live.delete(child);
      code = -1;
      resolveExit();
    });
  });
  for (const stream of ['stdout', 'stderr'] as const) {
    let pending = '';
    child[stream]?.setEncoding('utf8');
    child[stream]?.on('data', (chunk: string) => {
      pending += chunk;
      const lines = pending.split('\n');
      pending = lines.pop() ?? '';
      for (const line of lines) if (line !== '') logs.push({ fn: name, stream, line });
    });
    child[stream]?.on('end', () => {
      if (pending !== '') logs.push({ fn: name, stream, line: pending });
      pending = '';
    });
  }
  return { name, child, exited, exitCode: () => code };
}

async function waitUntilServing(run: Running, url: string, logs: LogLine[], timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (run.exitCode() !== undefined) {
      const output = logs.filter((l) => l.fn === run.name).map((l) => `  [${l.stream}] ${l.line}`).join('\n');
      throw new Error(`deno (${run.name}) exited with ${String(run.exitCode())} before serving\n${output}`);
    }
    try {
      const res = await fetch(url, { signal: AbortSignal.timeout(1000) });
      await res.arrayBuffer();
      if (res.status === 200) return;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) throw new Error(`deno (${run.name}) did not answer ${url} within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

/**
 * Starts one Deno process per function with `env` (the function config: SUPABASE_URL, ...), waits
 * until each answers its OpenAPI document, and returns their URLs and captured output. On any
 * failure every process already started is stopped before the error is rethrown.
 */
export async function startDenoFunctions(
  names: readonly string[],
  env: Record<string, string>,
  opts: { timeoutMs?: number } = {},
): Promise<DenoFunctions> {
  installExitHook();
  const timeoutMs = opts.timeoutMs ?? 30_000;
  const logs: LogLine[] = [];
  const running: Running[] = [];
  const functions: Record<string, ServedFunction> = {};

  let stopped = false;
  const stop = async (): Promise<void> => {
    if (stopped) return;
    stopped = true;
    for (const r of running) if (r.exitCode() === undefined) kill(r.child, 'SIGTERM');
    await Promise.all(
      running.map(async (r) => {
        const timer = setTimeout(() => kill(r.child, 'SIGKILL'), 3000);
        await r.exited;
        clearTimeout(timer);
      }),
    );
    if (live.size === 0) {
      watchdog?.stdin?.end(); // nothing left to guard: the watchdog exits
      watchdog = undefined;
    }
  };

  const start = async (name: string): Promise<void> => {
    const port = await freePort();
    const started = performance.now();
    const run = spawnFunction(name, port, env, logs);
    running.push(run);
    const baseUrl = `http://127.0.0.1:${port}/${name}`;
    await waitUntilServing(run, `${baseUrl}/openapi.json`, logs, timeoutMs);
    functions[name] = { name, port, baseUrl, startupMs: Math.round(performance.now() - started), pid: run.child.pid ?? -1 };
  };

  try {
    const [first, ...rest] = names;
    if (first !== undefined) await start(first); // warm-up: fills DENO_DIR's transpile cache for the shared code
    await Promise.all(rest.map(start));
  } catch (error) {
    await stop();
    throw error;
  }

  return {
    functions,
    logs,
    url(path) {
      const name = /^\/([^/?]+)/.exec(path)?.[1];
      const fn = name === undefined ? undefined : functions[name];
      if (!fn) throw new Error(`no served function for ${path} (serving: ${Object.keys(functions).join(', ')})`);
      return `http://127.0.0.1:${fn.port}${path}`;
    },
    async waitForLog(predicate, waitMs = 2000) {
      const deadline = Date.now() + waitMs;
      for (;;) {
        const found = logs.find(predicate);
        if (found || Date.now() > deadline) return found;
        await new Promise((r) => setTimeout(r, 20));
      }
    },
    stop,
  };
}
