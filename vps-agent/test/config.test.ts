import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { ConfigError, loadConfig, parseConfig } from '../src/config.ts';
import { MT4_BASE, MT4_EA, MT5_BASE, MT5_EA, tempDir } from './support/harness.ts';

const KEY = 'vpsk_0123456789abcdefghijklmnop';

const minimal = (extra: Record<string, string | undefined> = {}) => ({
  BACKEND_URL: 'https://abc.supabase.co/functions/v1/',
  VPS_API_KEY: KEY,
  MT5_PATH: MT5_BASE,
  MT5_EA_PATH: MT5_EA,
  TERMINALS_BASE_PATH: '/srv/rubi/terminals',
  ...extra,
});

function problems(env: Record<string, string | undefined>, platform: NodeJS.Platform = 'linux'): string[] {
  try {
    parseConfig(env, platform);
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return (error as ConfigError).problems;
  }
  throw new Error('expected a ConfigError');
}

describe('configuration', () => {
  const dirs: { cleanup(): void }[] = [];
  afterEach(() => {
    for (const d of dirs.splice(0)) d.cleanup();
  });

  it('applies the documented defaults', () => {
    const c = parseConfig(minimal(), 'linux');
    expect(c).toMatchObject({
      backendUrl: 'https://abc.supabase.co/functions/v1',
      vpsApiKey: KEY,
      pollIntervalMs: 30_000,
      capacity: 5,
      terminalsBasePath: '/srv/rubi/terminals',
      logLevel: 'info',
      metrics: { host: '127.0.0.1', port: 9464 },
      loginTimeoutMs: 300_000,
      restartBackoffInitialMs: 5_000,
      restartBackoffMaxMs: 300_000,
      crashLoopMaxRestarts: 5,
      crashLoopWindowMs: 600_000,
      eaSymbol: 'EURUSD',
      eaPeriod: 'H1',
      stopTerminalsOnExit: false,
      platforms: { MT5: { basePath: MT5_BASE, eaPath: MT5_EA } },
    });
    expect(c.realtime).toBeUndefined();
    expect(c.launcher).toMatchObject({ kind: 'wine', command: 'wine' });
    expect(c.platforms.MT4).toBeUndefined();
  });

  it('runs terminals directly on Windows and through Wine elsewhere', () => {
    expect(parseConfig(minimal({ WINE_COMMAND: 'wine64' }), 'win32').launcher).toEqual({ kind: 'direct' });
    expect(parseConfig(minimal({ WINE_COMMAND: '/opt/wine/bin/wine', WINEPREFIX: '/srv/wine' }), 'linux').launcher).toEqual({
      kind: 'wine',
      command: '/opt/wine/bin/wine',
      prefix: '/srv/wine',
    });
  });

  it('parses every tunable', () => {
    const c = parseConfig(
      minimal({
        SUPABASE_URL: 'https://abc.supabase.co',
        SUPABASE_PUBLISHABLE_KEY: 'sb_publishable_abc',
        POLL_INTERVAL_SECONDS: '10',
        CAPACITY: '12',
        LOG_LEVEL: 'DEBUG',
        METRICS_PORT: 'off',
        MT4_PATH: MT4_BASE,
        MT4_EA_PATH: MT4_EA,
        EA_PERIOD: 'm15',
        STOP_TERMINALS_ON_EXIT: 'yes',
        LOGIN_TIMEOUT_SECONDS: '600',
      }),
      'linux',
    );
    expect(c).toMatchObject({
      realtime: { supabaseUrl: 'https://abc.supabase.co', publishableKey: 'sb_publishable_abc' },
      pollIntervalMs: 10_000,
      capacity: 12,
      logLevel: 'debug',
      metrics: null,
      eaPeriod: 'M15',
      stopTerminalsOnExit: true,
      loginTimeoutMs: 600_000,
      platforms: { MT4: { basePath: MT4_BASE, eaPath: MT4_EA }, MT5: { basePath: MT5_BASE, eaPath: MT5_EA } },
    });
  });

  it('names every missing value and says what to put there', () => {
    const p = problems({});
    expect(p).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/^BACKEND_URL is required, e\.g\. https:\/\/<project-ref>\.supabase\.co\/functions\/v1/),
        expect.stringMatching(/^VPS_API_KEY is required: the host key/),
        expect.stringMatching(/^TERMINALS_BASE_PATH is required/),
        expect.stringMatching(/^MT5_PATH and MT5_EA_PATH \(and\/or MT4_PATH and MT4_EA_PATH\) are required/),
      ]),
    );
  });

  it('says what is wrong with each bad value, without echoing secrets', () => {
    const p = problems(
      minimal({
        BACKEND_URL: 'ftp://nope',
        VPS_API_KEY: 'short-secret',
        POLL_INTERVAL_SECONDS: 'soon',
        CAPACITY: '2.5',
        LOG_LEVEL: 'loud',
        METRICS_PORT: '70000',
        EA_PERIOD: 'H2',
      }),
    );
    expect(p).toEqual(
      expect.arrayContaining([
        'BACKEND_URL must be an http(s) URL, e.g. https://<project-ref>.supabase.co/functions/v1 (got "ftp://nope")',
        'VPS_API_KEY is too short to be a host key (at least 16 characters)',
        'POLL_INTERVAL_SECONDS must be a number of seconds (got "soon")',
        'CAPACITY must be a whole number (the number of terminals this host may run) (got "2.5")',
        'LOG_LEVEL must be one of fatal, error, warn, info, debug, trace, silent (got "loud")',
        'METRICS_PORT must be a TCP port (1-65535) or "off" (got "70000")',
        'EA_PERIOD must be a timeframe: M1, M5, M15, M30, H1, H4, D1, W1 or MN1 (got "H2")',
      ]),
    );
    expect(p.join('\n')).not.toContain('short-secret');
  });

  it('wants Realtime settings in pairs', () => {
    expect(problems(minimal({ SUPABASE_URL: 'https://abc.supabase.co' }))).toEqual([
      expect.stringMatching(/^SUPABASE_PUBLISHABLE_KEY is required when SUPABASE_URL is set/),
    ]);
    expect(problems(minimal({ SUPABASE_PUBLISHABLE_KEY: 'sb_publishable_x' }))).toEqual([
      expect.stringMatching(/^SUPABASE_URL is required when SUPABASE_PUBLISHABLE_KEY is set/),
    ]);
  });

  it('wants a base install and a compiled EA per platform, and checks they exist', () => {
    expect(problems({ ...minimal(), MT5_PATH: undefined, MT5_EA_PATH: undefined })).toEqual([
      expect.stringMatching(/^MT5_PATH and MT5_EA_PATH \(and\/or MT4_PATH and MT4_EA_PATH\) are required/),
    ]);
    expect(problems(minimal({ MT4_PATH: MT4_BASE }))).toEqual([expect.stringMatching(/^MT4_EA_PATH or MT4_EA_SOURCE is required when MT4_PATH is set/)]);
    expect(problems(minimal({ MT5_PATH: '/nowhere/mt5' }))).toEqual([
      'MT5_PATH must be a MT5 install folder containing terminal64.exe; not found: /nowhere/mt5/terminal64.exe',
    ]);
    expect(problems(minimal({ MT5_EA_PATH: MT4_EA }))).toEqual([expect.stringMatching(/^MT5_EA_PATH must be a compiled MT5 EA ending in \.ex5/)]);
    expect(problems(minimal({ MT5_PATH: 'relative/mt5' }))).toEqual(['MT5_PATH must be an absolute path (got "relative/mt5")']);
    expect(problems(minimal({ TERMINALS_BASE_PATH: 'terminals' }))).toEqual(['TERMINALS_BASE_PATH must be an absolute path (got "terminals")']);
  });

  it('reads a .env file for what the environment does not set; the environment wins', () => {
    const dir = tempDir();
    dirs.push(dir);
    const file = join(dir.path, '.env');
    writeFileSync(
      file,
      [`BACKEND_URL=http://from-file.test/functions/v1`, `VPS_API_KEY="${KEY}"`, `MT5_PATH=${MT5_BASE}`, `MT5_EA_PATH=${MT5_EA}`, `TERMINALS_BASE_PATH=/from/file`, 'CAPACITY=7', '# comment'].join('\n'),
    );
    const c = loadConfig({ env: { CAPACITY: '3' }, envFile: file, hostPlatform: 'linux' });
    expect(c.backendUrl).toBe('http://from-file.test/functions/v1');
    expect(c.vpsApiKey).toBe(KEY);
    expect(c.terminalsBasePath).toBe('/from/file');
    expect(c.capacity).toBe(3);
    // A missing .env file is not an error.
    expect(loadConfig({ env: minimal(), envFile: join(dir.path, 'absent.env'), hostPlatform: 'linux' }).capacity).toBe(5);
  });
});
