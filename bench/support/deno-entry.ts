import { spawn, type ChildProcess } from 'node:child_process';
import { freePort } from '../../scripts/lib/free-port.ts';
import { denoBin, denoChildEnv, DENO_RUN_FLAGS } from '../../tests/integration/e2e/support/deno-functions.ts';
import { repoRoot } from '../../tests/integration/support/paths.ts';

/**
 * Serves one Deno entry point that is not a function (bench/support/ceiling-function.ts) exactly
 * as tests/integration/e2e/support/deno-functions.ts serves functions/<name>/index.ts: the same
 * binary and `deno run` flags, cwd = the repository root (./deno.json's import map, node_modules),
 * a from-scratch environment plus the function config, DENO_SERVE_ADDRESS for the port, stdout and
 * stderr piped and read (the per-request JSON log lines cost what they cost the functions).
 */
export interface ServedEntry {
  /** `http://127.0.0.1:<port><path>` */
  url(path: string): string;
  pid: number;
  stop(): Promise<void>;
}

const live = new Set<ChildProcess>();
let exitHook = false;

export async function serveDenoEntry(
  entry: string,
  readyPath: string,
  env: Record<string, string>,
  timeoutMs = 30_000,
  /** Where Deno runs (its deno.json and node_modules): the repository root, or an older tree (./legacy-tree.ts). */
  cwd: string = repoRoot,
): Promise<ServedEntry> {
  if (!exitHook) {
    exitHook = true;
    process.once('exit', () => {
      for (const child of live) child.kill('SIGKILL');
    });
  }
  const port = await freePort();
  const child = spawn(denoBin, ['run', ...DENO_RUN_FLAGS, entry], {
    cwd,
    env: denoChildEnv(port, env),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  live.add(child);
  // The last lines only, for an error message; the rest is read and dropped.
  let tail = '';
  for (const stream of [child.stdout, child.stderr]) {
    stream?.setEncoding('utf8');
    stream?.on('data', (chunk: string) => (tail = (tail + chunk).slice(-4000)));
  }
  const exited = new Promise<void>((resolve) =>
    child.once('exit', () => {
      live.delete(child);
      resolve();
    }),
  );
  const running = () => child.exitCode === null && child.signalCode === null;
  const stop = async (): Promise<void> => {
    if (!running()) return;
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), 3000);
    await exited;
    clearTimeout(timer);
  };
  const url = (path: string) => `http://127.0.0.1:${port}${path}`;

  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (!running()) throw new Error(`deno (${entry}) exited before serving:\n${tail}`);
    try {
      const res = await fetch(url(readyPath), { signal: AbortSignal.timeout(1000) });
      await res.arrayBuffer();
      if (res.status === 200) break;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) {
      await stop();
      throw new Error(`deno (${entry}) did not answer ${readyPath} within ${timeoutMs} ms:\n${tail}`);
    }
    await new Promise((r) => setTimeout(r, 25));
  }
  return { url, pid: child.pid ?? -1, stop };
}
