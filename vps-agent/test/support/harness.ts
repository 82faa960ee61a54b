import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Agent } from '../../src/agent.ts';
import { parseConfig, type AgentConfig } from '../../src/config.ts';
import { createLogger, SecretRegistry, type Logger } from '../../src/log.ts';
import { createMetrics, type AgentMetrics } from '../../src/metrics.ts';
import { isAlive, sleep } from '../../src/process.ts';

export const fixtures = join(dirname(fileURLToPath(import.meta.url)), '..', 'fixtures');
export const agentRoot = join(fixtures, '..', '..');
export const MT5_BASE = join(fixtures, 'mt5-base');
export const MT4_BASE = join(fixtures, 'mt4-base');
export const MT5_EA = join(fixtures, 'ea', 'RubiEA.ex5');
export const MT4_EA = join(fixtures, 'ea', 'RubiEA.ex4');
/** EA sources in the repository's mql/ layout: Experts/*.mq5|.mq4, Include/Rubi/*.mqh. */
export const MQL_SOURCES = join(fixtures, 'mql');

export function tempDir(prefix = 'rubi-agent-'): { path: string; cleanup(): void } {
  const path = mkdtempSync(join(tmpdir(), prefix));
  return { path, cleanup: () => rmSync(path, { recursive: true, force: true }) };
}

/** The environment of an agent that runs the fake terminal through `node` as its "Wine". */
export function testEnv(backendUrl: string, apiKey: string, terminalsBasePath: string, extra: Record<string, string> = {}): Record<string, string> {
  return {
    BACKEND_URL: backendUrl,
    VPS_API_KEY: apiKey,
    MT5_PATH: MT5_BASE,
    MT5_EA_PATH: MT5_EA,
    MT4_PATH: MT4_BASE,
    MT4_EA_PATH: MT4_EA,
    TERMINALS_BASE_PATH: terminalsBasePath,
    WINE_COMMAND: process.execPath,
    WINEPREFIX: join(terminalsBasePath, '..', 'wineprefix'),
    CAPACITY: '5',
    POLL_INTERVAL_SECONDS: '3600',
    METRICS_PORT: 'off',
    LOG_LEVEL: 'debug',
    LOGIN_TIMEOUT_SECONDS: '20',
    RESTART_BACKOFF_INITIAL_SECONDS: '0.2',
    RESTART_BACKOFF_MAX_SECONDS: '1',
    CRASH_LOOP_MAX_RESTARTS: '3',
    CRASH_LOOP_WINDOW_SECONDS: '60',
    STOP_TIMEOUT_SECONDS: '3',
    ...extra,
  };
}

/**
 * Private copies of the base installs and of the EA sources (a compile writes into the base
 * install's build area, and a test may break a source): `<dir>/mt5-base`, `<dir>/mt4-base`,
 * `<dir>/mql`. Returns the settings that compile from them.
 */
export function sourcedInstalls(dir: string): { mt5Base: string; mt4Base: string; mql: string; mt5Source: string; mt4Source: string; env: Record<string, string> } {
  const mt5Base = join(dir, 'mt5-base');
  const mt4Base = join(dir, 'mt4-base');
  const mql = join(dir, 'mql');
  cpSync(MT5_BASE, mt5Base, { recursive: true });
  cpSync(MT4_BASE, mt4Base, { recursive: true });
  cpSync(MQL_SOURCES, mql, { recursive: true });
  const mt5Source = join(mql, 'Experts', 'RubiTradeSync.mq5');
  const mt4Source = join(mql, 'Experts', 'RubiTradeSync.mq4');
  return {
    mt5Base,
    mt4Base,
    mql,
    mt5Source,
    mt4Source,
    env: { MT5_PATH: mt5Base, MT5_EA_PATH: '', MT5_EA_SOURCE: mt5Source, MT4_PATH: mt4Base, MT4_EA_PATH: '', MT4_EA_SOURCE: mt4Source },
  };
}

export interface EditorRun {
  pid: number;
  at: string;
  exe: string;
  args: string[];
  cues: string[];
}

/** Every start of the fake MetaEditor of a base install. */
export function editorRuns(basePath: string): EditorRun[] {
  const file = join(basePath, 'fake-metaeditor-runs.jsonl');
  if (!existsSync(file)) return [];
  return readFileSync(file, 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as EditorRun);
}

export interface CapturedLog {
  lines: string[];
  logger: Logger;
  secrets: SecretRegistry;
  entries(): Record<string, unknown>[];
  text(): string;
}

export function captureLogger(secrets = new SecretRegistry()): CapturedLog {
  const lines: string[] = [];
  const logger = createLogger({ level: 'trace', secrets, destination: { write: (s: string) => void lines.push(s) } });
  return {
    lines,
    logger,
    secrets,
    entries: () => lines.map((l) => JSON.parse(l) as Record<string, unknown>),
    text: () => lines.join(''),
  };
}

export interface TestAgent {
  agent: Agent;
  config: AgentConfig;
  metrics: AgentMetrics;
  log: CapturedLog;
}

export async function startAgent(env: Record<string, string>, options: { start?: boolean; log?: CapturedLog } = {}): Promise<TestAgent> {
  const config = parseConfig(env, 'linux');
  const log = options.log ?? captureLogger();
  const metrics = createMetrics({ defaultMetrics: false });
  const agent = new Agent({ config, log: log.logger, metrics, secrets: log.secrets, tickMs: 100, serveMetrics: false });
  if (options.start ?? true) {
    await agent.start();
    await agent.idle();
  }
  return { agent, config, metrics, log };
}

export async function waitFor<T>(what: string, probe: () => T | Promise<T>, timeoutMs = 15_000): Promise<NonNullable<T>> {
  const deadline = Date.now() + timeoutMs;
  let last: T | undefined;
  while (Date.now() < deadline) {
    last = await probe();
    if (last) return last as NonNullable<T>;
    await sleep(50);
  }
  throw new Error(`timed out waiting for ${what} (last: ${JSON.stringify(last)})`);
}

/** Cues for the fake terminal by login (read from <TERMINALS_BASE_PATH>/fake-terminal-cues.json). */
export function cue(terminalsBasePath: string, login: number, cues: string): void {
  mkdirSync(terminalsBasePath, { recursive: true });
  const file = join(terminalsBasePath, 'fake-terminal-cues.json');
  const map = existsSync(file) ? (JSON.parse(readFileSync(file, 'utf8')) as Record<string, string>) : {};
  map[String(login)] = cues;
  writeFileSync(file, JSON.stringify(map));
}

export interface Launch {
  pid: number;
  at: string;
  platform: string;
  args: string[];
  login: string;
  server: string;
  had_password: boolean;
}

export function launches(folder: string): Launch[] {
  const file = join(folder, 'fake-terminal-launches.jsonl');
  if (!existsSync(file)) return [];
  return readFileSync(file, 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as Launch);
}

/** Every fake terminal process started under a terminals base folder: [pid, folder name]. */
export function allLaunched(terminalsBasePath: string): { pid: number; folder: string }[] {
  const file = join(terminalsBasePath, 'fake-terminal-pids.txt');
  if (!existsSync(file)) return [];
  return readFileSync(file, 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((l) => {
      const [pid, folder] = l.split(' ');
      return { pid: Number(pid), folder: folder ?? '' };
    });
}

/** Fake terminals of that base folder that are still alive. */
export function aliveLaunched(terminalsBasePath: string): { pid: number; folder: string }[] {
  return allLaunched(terminalsBasePath).filter((l) => isAlive(l.pid));
}

/** Kills whatever fake terminals a test left behind (by PID, never by name). */
export function killLaunched(terminalsBasePath: string): void {
  for (const l of aliveLaunched(terminalsBasePath)) {
    try {
      process.kill(l.pid, 'SIGKILL');
    } catch {
      // gone
    }
  }
}
