// `npm start` (the local backend, packages/local-server) as a child process for the end-to-end
// files that test the product the way a developer runs it: started on a free port in its own
// process group, ready once its banner says "local backend ready", its output kept for
// assertions and failure messages, stopped with a signal to the whole group (npm, sh and Deno).
import { spawn, type ChildProcess } from 'node:child_process';
import { freePort } from '../../../../scripts/lib/free-port.ts';
import { repoRoot } from '../../support/paths.ts';

/** The environment every npm run in the e2e files gets: no colours, no update checks. */
export const quietNpmEnv: Readonly<Record<string, string>> = { NO_COLOR: '1', DENO_NO_UPDATE_CHECK: '1', npm_config_update_notifier: 'false' };

export interface NpmStartOptions {
  /** Arguments after `npm start --` besides `--port` (e.g. `--in-memory`, `--data-dir <dir>`, `--quiet`). */
  args?: string[];
  /** The port to listen on; a free one when omitted. */
  port?: number;
  /** Added to the environment (over process.env and quietNpmEnv). */
  env?: Record<string, string>;
  /** How long the banner may take (default 120 s). */
  timeoutMs?: number;
  /** Where `npm start` runs: the repository root unless told (bench/support/legacy-tree.ts runs an older tree). */
  cwd?: string;
}

export interface NpmExit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

export interface NpmStart {
  /** `http://127.0.0.1:<port>` */
  url: string;
  port: number;
  /** The service_role key the banner prints with --in-memory ("for this run: …"); undefined otherwise. */
  serviceRoleKey: string | undefined;
  child: ChildProcess;
  pid: number;
  /** Everything printed so far, stdout and stderr interleaved. */
  output(): string;
  /** Resolves when the npm process exits. */
  exited: Promise<NpmExit>;
  /** Sends a signal to the process group, as a terminal's Ctrl-C does; throws like process.kill if the group is gone. */
  signalGroup(signal: NodeJS.Signals): void;
  /** Signals the group (SIGKILL unless told) if it still runs and waits for the exit; does nothing once it exited. */
  stop(signal?: NodeJS.Signals): Promise<void>;
}

const READY = 'local backend ready';

/** Starts `npm start -- --port <port> ...args` and resolves once it is ready; on failure it is killed and the error carries its output. */
export async function startNpmStart(options: NpmStartOptions = {}): Promise<NpmStart> {
  const port = options.port ?? (await freePort());
  const timeoutMs = options.timeoutMs ?? 120_000;
  const args = options.args ?? [];
  // Detached: its own process group, so a signal reaches npm and everything it started.
  const child = spawn('npm', ['start', '--', '--port', String(port), ...args], {
    cwd: options.cwd ?? repoRoot,
    env: { ...process.env, ...quietNpmEnv, ...options.env },
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  const exited = new Promise<NpmExit>((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
  const running = () => child.pid !== undefined && child.exitCode === null && child.signalCode === null;
  const signalGroup = (signal: NodeJS.Signals) => {
    if (child.pid === undefined) throw new Error(`npm start has no pid (it did not start):\n${output}`);
    process.kill(-child.pid, signal);
  };
  const stop = async (signal: NodeJS.Signals = 'SIGKILL') => {
    if (!running()) return;
    try {
      signalGroup(signal);
    } catch {
      return; // already gone
    }
    await exited;
  };

  await new Promise<void>((resolve, reject) => {
    let settled = false;
    let timer: NodeJS.Timeout | undefined;
    const settle = (error?: Error) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      child.stdout?.off('data', check);
      child.stderr?.off('data', check);
      if (error) void stop().then(() => reject(error), () => reject(error));
      else resolve();
    };
    const check = () => {
      if (output.includes(READY)) settle();
    };
    child.stdout?.on('data', (d: Buffer) => (output += d.toString()));
    child.stderr?.on('data', (d: Buffer) => (output += d.toString()));
    child.stdout?.on('data', check);
    child.stderr?.on('data', check);
    child.on('error', (error) => settle(new Error(`npm start could not be started: ${error.message}\n${output}`)));
    void exited.then(async ({ code, signal }) => {
      if (settled) return;
      child.stdout?.off('data', check);
      child.stderr?.off('data', check);
      // Let the pipes drain, so the message shows what it printed last.
      await Promise.race([new Promise((r) => child.once('close', r)), new Promise((r) => setTimeout(r, 1000))]);
      settle(new Error(`npm start exited (${code ?? signal}) before it was ready:\n${output}`));
    });
    timer = setTimeout(() => settle(new Error(`npm start did not become ready within ${timeoutMs / 1000} s:\n${output}`)), timeoutMs);
  });

  return {
    url: `http://127.0.0.1:${port}`,
    port,
    serviceRoleKey: args.includes('--in-memory') ? /service_role key for this run: ([^\s)]+)/.exec(output)?.[1] : undefined,
    child,
    pid: child.pid!,
    output: () => output,
    exited,
    signalGroup,
    stop,
  };
}
