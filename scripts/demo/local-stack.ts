import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import process from 'node:process';
import { fileURLToPath } from 'node:url';
import { freePort } from '../lib/free-port.ts';
import { Backend } from './backend.ts';
import { waitFor } from './story.ts';

/** The processes the demo talks to: the local server (found or started) and a VPS agent. */

export const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');

function stopChild(child: ChildProcess, timeoutMs = 10_000): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((done) => {
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.once('exit', () => {
      clearTimeout(timer);
      done();
    });
    child.kill('SIGTERM');
  });
}

export interface StartedServer {
  backend: Backend;
  dataDir: string;
  output: string[];
  stop(): Promise<void>;
}

/**
 * Starts `npm start`'s server (the same main.ts, under the same Deno) on a free port with a
 * throwaway data folder, and waits until it answers.
 */
export async function startLocalServer(): Promise<StartedServer> {
  const port = await freePort();
  const dataDir = await mkdtemp(join(tmpdir(), 'rubi-demo-server-'));
  // Under Deno, process.execPath is the deno binary running this script.
  const child = spawn(
    process.execPath,
    ['run', '--allow-net', '--allow-read', '--allow-write', '--allow-env', '--allow-sys', 'packages/local-server/src/main.ts', '--port', String(port), '--data-dir', dataDir, '--quiet'],
    { cwd: repoRoot, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  const output: string[] = [];
  child.stdout?.on('data', (d: Buffer) => output.push(d.toString()));
  child.stderr?.on('data', (d: Buffer) => output.push(d.toString()));
  const backend = new Backend(`http://127.0.0.1:${port}`);
  const stop = async () => {
    await stopChild(child);
    await rm(dataDir, { recursive: true, force: true });
  };
  try {
    await waitFor(
      'the local server to answer',
      async () => {
        if (child.exitCode !== null) throw new Error(`the local server exited (${child.exitCode}):\n${output.join('').slice(-2000)}`);
        return backend.localInfo();
      },
      180_000,
    );
  } catch (error) {
    await stop();
    throw error;
  }
  return { backend, dataDir, output, stop };
}

/** The service_role key of a local server: given, from the environment, or from its data folder. */
export async function serviceRoleKeyFor(options: { given?: string | undefined; dataDirs: (string | null | undefined)[] }): Promise<string> {
  if (options.given) return options.given;
  if (process.env.SUPABASE_SERVICE_ROLE_KEY) return process.env.SUPABASE_SERVICE_ROLE_KEY;
  for (const dir of options.dataDirs) {
    if (!dir) continue;
    const file = join(dir, 'local-secrets.json');
    if (existsSync(file)) {
      const stored = JSON.parse(await readFile(file, 'utf8')) as { service_role_key?: string };
      if (stored.service_role_key) return stored.service_role_key;
    }
  }
  throw new Error(
    'no service_role key for the local server: it runs in memory or its data folder is elsewhere. ' +
      'Pass --service-role-key <key> (printed in its banner) or SUPABASE_SERVICE_ROLE_KEY, or --data-dir <its data folder>',
  );
}

/** The absolute path of `node` (the agent and the fake terminals run under Node, not Deno). */
export function nodeBinary(): string {
  const r = spawnSync('node', ['-p', 'process.execPath'], { encoding: 'utf8' });
  if (r.status !== 0 || !r.stdout.trim()) throw new Error('node is not on PATH: the VPS agent needs Node 24');
  return r.stdout.trim();
}

export interface AgentLogLine {
  level: number;
  msg: string;
  [key: string]: unknown;
}

export interface RunningAgent {
  terminalsDir: string;
  lines: AgentLogLine[];
  stop(): Promise<void>;
}

/**
 * Starts `rubi-vps-agent run` (vps-agent/dist/cli.js, built by `npm install`) as a VPS host would,
 * with the fake MetaTrader terminal of the agent's tests standing in for terminal64.exe (run
 * through `node` as its "Wine": no MetaTrader can run here). Its JSON log lines go to `onLine`.
 */
export async function startAgent(options: { functionsUrl: string; apiKey: string; onLine: (line: AgentLogLine) => void }): Promise<RunningAgent> {
  const cli = join(repoRoot, 'vps-agent', 'dist', 'cli.js');
  if (!existsSync(cli)) throw new Error(`${cli} is missing: run npm install (it builds the agent)`);
  const fixtures = join(repoRoot, 'vps-agent', 'test', 'fixtures');
  const home = await mkdtemp(join(tmpdir(), 'rubi-demo-agent-'));
  const terminalsDir = join(home, 'terminals');
  const node = nodeBinary();
  const env: Record<string, string> = {
    PATH: process.env.PATH ?? '',
    HOME: home,
    BACKEND_URL: options.functionsUrl,
    VPS_API_KEY: options.apiKey,
    MT5_PATH: join(fixtures, 'mt5-base'),
    MT5_EA_PATH: join(fixtures, 'ea', 'RubiEA.ex5'),
    MT4_PATH: join(fixtures, 'mt4-base'),
    MT4_EA_PATH: join(fixtures, 'ea', 'RubiEA.ex4'),
    TERMINALS_BASE_PATH: terminalsDir,
    WINE_COMMAND: node,
    WINEPREFIX: join(home, 'wineprefix'),
    CAPACITY: '5',
    POLL_INTERVAL_SECONDS: '1',
    METRICS_PORT: 'off',
    LOG_LEVEL: 'info',
    LOGIN_TIMEOUT_SECONDS: '30',
    STOP_TERMINALS_ON_EXIT: 'true',
    FAKE_TERMINAL_CUE: 'ok',
  };
  const child = spawn(node, [cli, 'run'], { cwd: home, env, stdio: ['ignore', 'pipe', 'pipe'] });
  const lines: AgentLogLine[] = [];
  let buffer = '';
  const take = (d: Buffer) => {
    buffer += d.toString();
    let nl: number;
    while ((nl = buffer.indexOf('\n')) >= 0) {
      const raw = buffer.slice(0, nl).trim();
      buffer = buffer.slice(nl + 1);
      if (!raw) continue;
      let line: AgentLogLine;
      try {
        line = JSON.parse(raw) as AgentLogLine;
      } catch {
        line = { level: 50, msg: raw };
      }
      lines.push(line);
      options.onLine(line);
    }
  };
  child.stdout?.on('data', take);
  child.stderr?.on('data', take);
  return {
    terminalsDir,
    lines,
    async stop() {
      await stopChild(child, 20_000);
      await rm(home, { recursive: true, force: true });
    },
  };
}
