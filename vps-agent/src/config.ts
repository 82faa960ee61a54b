import { existsSync, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { isAbsolute, join, resolve } from 'node:path';
import { parseEnv } from 'node:util';
import { VOCABULARY, type Vocabulary } from '@rubi/contracts/vocabulary.ts';
import { z } from 'zod';
import { publishedEaPath } from './ea-build.ts';

/**
 * The agent's configuration: the process environment, then a `.env` file for what the environment
 * does not set (the environment wins, as with every dotenv loader). Every value is validated here,
 * once, and every problem is reported at once with the variable's name and what to put there.
 */

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

export type Platform = Vocabulary<'platform'>;

/** `a, b or c`, for messages that list a vocabulary. */
export const orList = (values: readonly string[]): string =>
  values.length > 1 ? `${values.slice(0, -1).join(', ')} or ${values.at(-1)}` : (values[0] ?? '');

export interface PlatformInstall {
  basePath: string;
  /**
   * The compiled EA each terminal folder gets: `<P>_EA_PATH`, or with sources the EA the agent
   * publishes after compiling them (`<base>/MQL5/Experts/Rubi/<Name>.ex5`, src/ea-build.ts).
   */
  eaPath: string;
  /** `<P>_EA_SOURCE`: the .mq5/.mq4 to compile with the base install's MetaEditor. */
  eaSource?: string;
}

export interface AgentConfig {
  /** Functions base URL without a trailing slash, e.g. `https://<ref>.supabase.co/functions/v1`. */
  backendUrl: string;
  vpsApiKey: string;
  /** Realtime doorbell; absent means the agent only polls. */
  realtime?: { supabaseUrl: string; publishableKey: string };
  pollIntervalMs: number;
  /** Base installs and EAs per platform; a platform without both is not served. */
  platforms: Partial<Record<Platform, PlatformInstall>>;
  /** How long MetaEditor may take to compile an EA before it is killed. */
  compileTimeoutMs: number;
  terminalsBasePath: string;
  capacity: number;
  /** How terminals are started: directly (Windows) or through Wine (anything else). */
  launcher: { kind: 'direct' } | { kind: 'wine'; command: string; prefix: string };
  logLevel: LogLevel;
  /** null: no metrics endpoint. */
  metrics: { host: string; port: number } | null;
  /** How long a terminal may take to log in before the agent gives up on it. */
  loginTimeoutMs: number;
  restartBackoffInitialMs: number;
  restartBackoffMaxMs: number;
  /** This many unplanned exits inside the window is a crash loop (E_CRASH_LOOP). */
  crashLoopMaxRestarts: number;
  crashLoopWindowMs: number;
  /** How long a terminal gets to exit after SIGTERM / WM_CLOSE before it is killed. */
  stopTimeoutMs: number;
  /** Chart the EA is attached to at start-up. */
  eaSymbol: string;
  eaPeriod: string;
  /** SIGTERM: leave terminals running for the next agent to adopt (default), or stop them. */
  stopTerminalsOnExit: boolean;
  hostPlatform: NodeJS.Platform;
}

export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`Invalid configuration:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'ConfigError';
  }
}

const empty = (v: unknown) => (typeof v === 'string' && v.trim() === '' ? undefined : v);
const optionalString = z.preprocess(empty, z.string().trim().optional());
const seconds = (def: number, max: number) =>
  z.preprocess(
    empty,
    z.coerce
      .number({ error: 'must be a number of seconds' })
      .positive({ error: 'must be more than 0 seconds' })
      .max(max, { error: `must be at most ${max} seconds` })
      .default(def),
  );
const int = (def: number, min: number, max: number, what: string) =>
  z.preprocess(
    empty,
    z.coerce
      .number({ error: `must be ${what}` })
      .int({ error: `must be a whole number (${what})` })
      .min(min, { error: `must be at least ${min}` })
      .max(max, { error: `must be at most ${max}` })
      .default(def),
  );
const httpUrl = (example: string) =>
  z
    .string({ error: `is required, e.g. ${example}` })
    .trim()
    .min(1, { error: `is required, e.g. ${example}` })
    .refine((v) => {
      try {
        const u = new URL(v);
        return u.protocol === 'http:' || u.protocol === 'https:';
      } catch {
        return false;
      }
    }, { error: `must be an http(s) URL, e.g. ${example}` });
const bool = (def: boolean) =>
  z.preprocess(
    empty,
    z
      .enum(['1', '0', 'true', 'false', 'yes', 'no'], { error: 'must be true or false' })
      .default(def ? 'true' : 'false')
      .transform((v) => v === '1' || v === 'true' || v === 'yes'),
  );

const EnvSchema = z.object({
  BACKEND_URL: httpUrl('https://<project-ref>.supabase.co/functions/v1'),
  VPS_API_KEY: z
    .string({ error: 'is required: the host key printed by `npm run vps-host -- create <name>`' })
    .trim()
    .min(16, { error: 'is too short to be a host key (at least 16 characters)' })
    .max(256, { error: 'is too long to be a host key (at most 256 characters)' }),
  SUPABASE_URL: z.preprocess(empty, httpUrl('https://<project-ref>.supabase.co').optional()),
  SUPABASE_PUBLISHABLE_KEY: optionalString,
  POLL_INTERVAL_SECONDS: seconds(30, 3600),
  MT4_PATH: optionalString,
  MT5_PATH: optionalString,
  MT4_EA_PATH: optionalString,
  MT5_EA_PATH: optionalString,
  MT4_EA_SOURCE: optionalString,
  MT5_EA_SOURCE: optionalString,
  COMPILE_TIMEOUT_SECONDS: seconds(120, 3600),
  TERMINALS_BASE_PATH: z
    .string({ error: 'is required: the folder where one portable terminal per account is created' })
    .trim()
    .min(1, { error: 'is required: the folder where one portable terminal per account is created' }),
  CAPACITY: int(5, 0, 500, 'the number of terminals this host may run'),
  WINE_COMMAND: optionalString,
  WINEPREFIX: optionalString,
  LOG_LEVEL: z.preprocess(
    (v) => (typeof v === 'string' ? empty(v.trim().toLowerCase()) : v),
    z.enum(LOG_LEVELS, { error: `must be one of ${LOG_LEVELS.join(', ')}` }).default('info'),
  ),
  METRICS_PORT: z.preprocess(
    (v) => (typeof v === 'string' ? empty(v.trim().toLowerCase()) : v),
    z
      .string()
      .default('9464')
      .refine((v) => v === 'off' || (/^\d{1,5}$/.test(v) && Number(v) >= 1 && Number(v) <= 65535), {
        error: 'must be a TCP port (1-65535) or "off"',
      })
      .transform((v) => (v === 'off' ? ('off' as const) : Number(v))),
  ),
  METRICS_HOST: z.preprocess(empty, z.string().trim().default('127.0.0.1')),
  LOGIN_TIMEOUT_SECONDS: seconds(300, 3600),
  RESTART_BACKOFF_INITIAL_SECONDS: seconds(5, 3600),
  RESTART_BACKOFF_MAX_SECONDS: seconds(300, 86400),
  CRASH_LOOP_MAX_RESTARTS: int(5, 1, 1000, 'a number of restarts'),
  CRASH_LOOP_WINDOW_SECONDS: seconds(600, 86400),
  STOP_TIMEOUT_SECONDS: seconds(15, 600),
  EA_SYMBOL: z.preprocess(empty, z.string().trim().regex(/^[A-Za-z0-9._#+-]{1,32}$/, { error: 'must be a symbol name such as EURUSD' }).default('EURUSD')),
  EA_PERIOD: z.preprocess(
    (v) => (typeof v === 'string' ? empty(v.trim().toUpperCase()) : v),
    z.enum(VOCABULARY.timeframe, { error: `must be a timeframe: ${orList(VOCABULARY.timeframe)}` }).default('H1'),
  ),
  STOP_TERMINALS_ON_EXIT: bool(false),
});

const NO_PLATFORM =
  'MT5_PATH and MT5_EA_PATH (and/or MT4_PATH and MT4_EA_PATH) are required: a base install and a compiled EA for at least one platform ' +
  '(or MT5_EA_SOURCE / MT4_EA_SOURCE instead of the EA path: its source, compiled by the agent)';

/** Reads `.env`-style text; a missing file is not an error (the environment may hold it all). */
export function readEnvFile(path: string): Record<string, string> {
  if (!existsSync(path)) return {};
  const parsed = parseEnv(readFileSync(path, 'utf8'));
  return Object.fromEntries(Object.entries(parsed).filter((e): e is [string, string] => typeof e[1] === 'string'));
}

export interface LoadOptions {
  /** Defaults to process.env. */
  env?: Record<string, string | undefined>;
  /** A `.env` file to fill in what `env` lacks; `false` for none. Defaults to `./.env`. */
  envFile?: string | false;
  /** Defaults to process.platform (tests pass 'linux' or 'win32'). */
  hostPlatform?: NodeJS.Platform;
  /** Check that paths exist (the CLI does; unit tests of pure parsing may not). Defaults to true. */
  checkPaths?: boolean;
}

export function loadConfig(options: LoadOptions = {}): AgentConfig {
  const env = options.env ?? process.env;
  const fileValues = options.envFile === false ? {} : readEnvFile(resolve(options.envFile ?? '.env'));
  const merged: Record<string, string | undefined> = { ...fileValues };
  for (const [k, v] of Object.entries(env)) if (v !== undefined) merged[k] = v;
  return parseConfig(merged, options.hostPlatform ?? process.platform, options.checkPaths ?? true);
}

export function parseConfig(
  raw: Record<string, string | undefined>,
  hostPlatform: NodeJS.Platform = process.platform,
  checkPaths = true,
): AgentConfig {
  const problems: string[] = [];
  const result = EnvSchema.safeParse(raw);
  if (!result.success) {
    for (const issue of result.error.issues) {
      const name = String(issue.path[0] ?? '?');
      const shown = name === 'VPS_API_KEY' || name === 'SUPABASE_PUBLISHABLE_KEY' || raw[name] === undefined ? '' : ` (got "${raw[name]}")`;
      problems.push(`${name} ${issue.message}${shown}`);
    }
    if (!raw.MT4_PATH?.trim() && !raw.MT5_PATH?.trim()) problems.push(NO_PLATFORM);
    throw new ConfigError(problems);
  }
  const e = result.data;

  // Realtime needs both halves.
  if (Boolean(e.SUPABASE_URL) !== Boolean(e.SUPABASE_PUBLISHABLE_KEY)) {
    problems.push(
      e.SUPABASE_URL
        ? 'SUPABASE_PUBLISHABLE_KEY is required when SUPABASE_URL is set (the project\'s publishable or anon key), or unset SUPABASE_URL to poll only'
        : 'SUPABASE_URL is required when SUPABASE_PUBLISHABLE_KEY is set (e.g. https://<project-ref>.supabase.co), or unset the key to poll only',
    );
  }

  const platforms: AgentConfig['platforms'] = {};
  for (const p of VOCABULARY.platform) {
    const base = e[`${p}_PATH`];
    const ea = e[`${p}_EA_PATH`];
    const src = e[`${p}_EA_SOURCE`];
    const exe = p === 'MT5' ? 'terminal64.exe' : 'terminal.exe';
    const editor = p === 'MT5' ? 'metaeditor64.exe' : 'metaeditor.exe';
    const ext = p === 'MT5' ? '.ex5' : '.ex4';
    const srcExt = p === 'MT5' ? '.mq5' : '.mq4';
    if (!base && !ea && !src) continue;
    if (!base) {
      problems.push(`${p}_PATH is required when ${p}_${ea ? 'EA_PATH' : 'EA_SOURCE'} is set: the folder of a ${p} base install (it holds ${exe})`);
      continue;
    }
    if (!ea && !src) {
      problems.push(`${p}_EA_PATH or ${p}_EA_SOURCE is required when ${p}_PATH is set: the compiled EA file (${ext}), or its source (${srcExt}) for the agent to compile`);
      continue;
    }
    if (ea && src) {
      problems.push(`${p}_EA_PATH and ${p}_EA_SOURCE are both set: set one, the compiled EA (${ext}) or its source (${srcExt}) for the agent to compile`);
      continue;
    }
    let baseOk = false;
    if (!isAbsolute(base)) problems.push(`${p}_PATH must be an absolute path (got "${base}")`);
    else if (checkPaths && !existsSync(join(base, exe))) problems.push(`${p}_PATH must be a ${p} install folder containing ${exe}; not found: ${join(base, exe)}`);
    else baseOk = true;
    if (ea) {
      if (!isAbsolute(ea)) problems.push(`${p}_EA_PATH must be an absolute path (got "${ea}")`);
      else if (!ea.toLowerCase().endsWith(ext)) problems.push(`${p}_EA_PATH must be a compiled ${p} EA ending in ${ext} (got "${ea}")`);
      else if (checkPaths && !existsSync(ea)) problems.push(`${p}_EA_PATH does not exist: ${ea} (compile the EA in MetaEditor and copy the ${ext} here, or set ${p}_EA_SOURCE instead)`);
      platforms[p] = { basePath: base, eaPath: ea };
    } else if (src) {
      if (!isAbsolute(src)) problems.push(`${p}_EA_SOURCE must be an absolute path (got "${src}")`);
      else if (!src.toLowerCase().endsWith(srcExt)) problems.push(`${p}_EA_SOURCE must be a ${p} EA source ending in ${srcExt} (got "${src}")`);
      else if (checkPaths && !existsSync(src)) problems.push(`${p}_EA_SOURCE does not exist: ${src} (the repository's mql/Experts/RubiTradeSync${srcExt})`);
      if (baseOk && checkPaths && !existsSync(join(base, editor))) {
        problems.push(`${p}_PATH must hold ${editor} to compile ${p}_EA_SOURCE (every ${p} install ships it); not found: ${join(base, editor)}`);
      }
      platforms[p] = { basePath: base, eaPath: publishedEaPath(p, base, src), eaSource: src };
    }
  }
  if (!platforms.MT4 && !platforms.MT5 && !problems.some((p) => /^MT[45]_/.test(p))) {
    problems.push(NO_PLATFORM);
  }

  if (!isAbsolute(e.TERMINALS_BASE_PATH)) problems.push(`TERMINALS_BASE_PATH must be an absolute path (got "${e.TERMINALS_BASE_PATH}")`);

  let launcher: AgentConfig['launcher'] = { kind: 'direct' };
  if (hostPlatform !== 'win32') {
    const prefix = e.WINEPREFIX ?? join(homedir(), '.wine');
    if (!isAbsolute(prefix)) problems.push(`WINEPREFIX must be an absolute path (got "${prefix}")`);
    launcher = { kind: 'wine', command: e.WINE_COMMAND ?? 'wine', prefix };
  }

  if (e.RESTART_BACKOFF_MAX_SECONDS < e.RESTART_BACKOFF_INITIAL_SECONDS) {
    problems.push('RESTART_BACKOFF_MAX_SECONDS must be at least RESTART_BACKOFF_INITIAL_SECONDS');
  }

  if (problems.length > 0) throw new ConfigError(problems);

  return {
    backendUrl: e.BACKEND_URL.replace(/\/+$/, ''),
    vpsApiKey: e.VPS_API_KEY,
    ...(e.SUPABASE_URL && e.SUPABASE_PUBLISHABLE_KEY
      ? { realtime: { supabaseUrl: e.SUPABASE_URL.replace(/\/+$/, ''), publishableKey: e.SUPABASE_PUBLISHABLE_KEY } }
      : {}),
    pollIntervalMs: e.POLL_INTERVAL_SECONDS * 1000,
    platforms,
    compileTimeoutMs: e.COMPILE_TIMEOUT_SECONDS * 1000,
    terminalsBasePath: e.TERMINALS_BASE_PATH,
    capacity: e.CAPACITY,
    launcher,
    logLevel: e.LOG_LEVEL,
    metrics: e.METRICS_PORT === 'off' ? null : { host: e.METRICS_HOST, port: e.METRICS_PORT },
    loginTimeoutMs: e.LOGIN_TIMEOUT_SECONDS * 1000,
    restartBackoffInitialMs: e.RESTART_BACKOFF_INITIAL_SECONDS * 1000,
    restartBackoffMaxMs: e.RESTART_BACKOFF_MAX_SECONDS * 1000,
    crashLoopMaxRestarts: e.CRASH_LOOP_MAX_RESTARTS,
    crashLoopWindowMs: e.CRASH_LOOP_WINDOW_SECONDS * 1000,
    stopTimeoutMs: e.STOP_TIMEOUT_SECONDS * 1000,
    eaSymbol: e.EA_SYMBOL,
    eaPeriod: e.EA_PERIOD,
    stopTerminalsOnExit: e.STOP_TERMINALS_ON_EXIT,
    hostPlatform,
  };
}
