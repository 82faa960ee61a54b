import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { access, constants, mkdir, readlink, rm, statfs, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { TerminalState } from '@rubi/contracts/vps.ts';
import { ApiError, VpsApi } from './api.ts';
import { ConfigError, loadConfig, type AgentConfig, type LoadOptions, type Platform } from './config.ts';
import { compileEa } from './ea-build.ts';
import { LAYOUTS } from './layout.ts';
import { heartbeatState } from './agent.ts';
import { lockHolder } from './agent-lock.ts';
import { StateStore } from './state-store.ts';
import { VERSION } from './version.ts';

const execFileAsync = promisify(execFile);

/**
 * `rubi-vps-agent doctor`: checks what the agent needs and says what to fix. Every check runs
 * (one failure does not hide the next); the exit code is 1 when anything failed.
 */

export type CheckResult = { status: 'ok' | 'warn' | 'fail'; name: string; detail: string; fix?: string };

export interface DoctorOptions extends LoadOptions {
  /** Probes that touch the outside world; tests replace them. */
  fetch?: typeof fetch;
  realtimeProbe?: (config: AgentConfig) => Promise<string | null>;
  /** Grace for a MetaEditor that does not exit after its log is finished (tests shorten it). */
  compileGraceMs?: number;
}

export async function runDoctor(options: DoctorOptions = {}): Promise<CheckResult[]> {
  const results: CheckResult[] = [];
  const ok = (name: string, detail: string) => results.push({ status: 'ok', name, detail });
  const warn = (name: string, detail: string, fix: string) => results.push({ status: 'warn', name, detail, fix });
  const fail = (name: string, detail: string, fix: string) => results.push({ status: 'fail', name, detail, fix });

  let config: AgentConfig;
  try {
    config = loadConfig(options);
    ok('configuration', 'every setting is valid');
  } catch (error) {
    if (error instanceof ConfigError) {
      for (const p of error.problems) fail('configuration', p, 'set it in the environment or in .env (see vps-agent/README.md)');
      return results;
    }
    throw error;
  }

  // Terminals folder: exists (or can be created), writable, room for terminals.
  try {
    await mkdir(config.terminalsBasePath, { recursive: true });
    const probe = join(config.terminalsBasePath, `.doctor-${process.pid}`);
    await writeFile(probe, 'ok');
    await rm(probe);
    const fs = await statfs(config.terminalsBasePath);
    const freeGb = (fs.bavail * fs.bsize) / 1024 ** 3;
    const needGb = config.capacity * 1.5;
    if (freeGb < needGb) {
      warn('terminals folder', `${config.terminalsBasePath}: ${freeGb.toFixed(1)} GB free`, `each terminal is a full copy of the base install (about 1 GB for MT5): free space for ${config.capacity} terminals`);
    } else {
      ok('terminals folder', `${config.terminalsBasePath} is writable, ${freeGb.toFixed(1)} GB free`);
    }
  } catch (error) {
    fail('terminals folder', `${config.terminalsBasePath}: ${(error as Error).message}`, 'create it and make it writable by the agent\'s user');
  }

  // Base installs and EAs.
  for (const [platform, install] of Object.entries(config.platforms)) {
    const layout = LAYOUTS[platform as Platform];
    const exe = join(install.basePath, layout.exe);
    if (!existsSync(exe)) {
      fail(`${platform} base install`, `${exe} not found`, `install ${platform} into ${install.basePath} (portable) or point ${platform}_PATH at its folder`);
    } else if (!existsSync(join(install.basePath, layout.mqlDir))) {
      warn(
        `${platform} base install`,
        `${install.basePath} has no ${layout.mqlDir} folder: it has not run in portable mode yet`,
        `start it once with "${layout.exe} /portable", log in to nothing, close it, so the data folder lives next to the executable`,
      );
    } else {
      ok(`${platform} base install`, `${exe}`);
    }
    if (install.eaSource === undefined) {
      try {
        await access(install.eaPath, constants.R_OK);
        ok(`${platform} EA`, install.eaPath);
      } catch {
        fail(`${platform} EA`, `${install.eaPath} is not readable`, `compile the EA in MetaEditor and copy the ${layout.eaExt} file there, or set ${platform}_EA_SOURCE`);
      }
      continue;
    }
    // EA sources: a real compile with the base install's MetaEditor (what the agent does at start).
    const name = `${platform} EA compile`;
    const outcome = await compileEa({
      platform: platform as Platform,
      basePath: install.basePath,
      source: install.eaSource,
      launcher: config.launcher,
      timeoutMs: config.compileTimeoutMs,
      force: true,
      ...(options.compileGraceMs !== undefined ? { graceMs: options.compileGraceMs } : {}),
    });
    const firstLines = (severity: 'error' | 'warning') =>
      outcome.diagnostics
        .filter((d) => d.severity === severity)
        .slice(0, 3)
        .map((d) => `\n    ${d.text}`)
        .join('');
    if (!outcome.ok) {
      fail(name, `${install.eaSource}: ${outcome.problem}${firstLines('error')}`, `fix the EA sources (\`rubi-vps-agent compile --platform ${platform}\` prints every line), or set ${platform}_EA_PATH to a compiled EA instead`);
    } else if (outcome.warnings > 0) {
      warn(name, `${install.eaSource} compiled with ${outcome.warnings} warning(s) -> ${install.eaPath}${firstLines('warning')}`, `\`rubi-vps-agent compile --platform ${platform}\` prints every warning`);
    } else {
      ok(name, `${install.eaSource} compiled with 0 errors, 0 warnings -> ${install.eaPath}`);
    }
  }
  if (!config.platforms.MT4) warn('MT4', 'no MT4 install configured', 'MT4 accounts claimed by this host will fail with E_LAUNCH: set MT4_PATH and MT4_EA_PATH (or MT4_EA_SOURCE), or run MT4 elsewhere');
  if (!config.platforms.MT5) warn('MT5', 'no MT5 install configured', 'MT5 accounts claimed by this host will fail with E_LAUNCH: set MT5_PATH and MT5_EA_PATH (or MT5_EA_SOURCE)');

  // Wine.
  if (config.launcher.kind === 'wine') {
    const [cmd, ...pre] = config.launcher.command.split(/\s+/).filter(Boolean);
    try {
      const { stdout } = await execFileAsync(cmd ?? 'wine', [...pre, '--version'], {
        timeout: 30_000,
        env: { ...process.env, WINEPREFIX: config.launcher.prefix, WINEDEBUG: '-all' },
      });
      ok('wine', `${config.launcher.command}: ${stdout.trim().split('\n')[0]}`);
    } catch (error) {
      fail('wine', `${config.launcher.command} --version failed: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`, 'install Wine (e.g. apt-get install wine64) or set WINE_COMMAND to its path');
    }
    if (!existsSync(join(config.launcher.prefix, 'system.reg'))) {
      fail('wine prefix', `${config.launcher.prefix} is not an initialised Wine prefix (no system.reg)`, `run: WINEPREFIX=${config.launcher.prefix} wineboot --init`);
    } else {
      ok('wine prefix', config.launcher.prefix);
    }
    if (Object.values(config.platforms).some((p) => p.eaSource !== undefined)) {
      // MetaEditor is told Linux paths on the Z: drive (src/metaeditor.ts): the prefix must map it to /.
      const z = join(config.launcher.prefix, 'dosdevices', 'z:');
      let target: string | null = null;
      try {
        target = await readlink(z);
      } catch {
        target = null;
      }
      if (target === '/') ok('wine Z: drive', `${z} -> /`);
      else {
        warn(
          'wine Z: drive',
          target === null ? `${z} does not exist` : `${z} points to ${target}, not /`,
          `MetaEditor gets the EA sources as Z:\\<path>: run "ln -sfn / ${z}" (the default of every Wine prefix)`,
        );
      }
    }
    if (!process.env.DISPLAY) warn('display', 'DISPLAY is not set', 'MetaTrader needs an X display: run Xvfb (see README) and set DISPLAY=:99 for the agent');
    else ok('display', `DISPLAY=${process.env.DISPLAY}`);
  }

  // Backend URL and key: a real heartbeat (it only records this host's state).
  const store = new StateStore(config.terminalsBasePath);
  let terminals: { account_id: string; state: TerminalState; pid?: number }[] = [];
  try {
    const state = await store.load();
    terminals = Object.values(state.terminals).map((r) => ({ account_id: r.account_id, state: heartbeatState(r), ...(r.pid !== null ? { pid: r.pid } : {}) }));
    // The running agent is whoever holds the folder's lock (doctor never takes it: it works beside a running agent).
    const agentPid = await lockHolder(config.terminalsBasePath);
    ok('state file', `${store.path}: ${terminals.length} terminal(s)${agentPid !== null ? `, agent running (pid ${agentPid})` : ''}`);
  } catch (error) {
    fail('state file', (error as Error).message, `move ${store.path} away; the next agent rebuilds it from GET /vps/accounts`);
  }
  const api = new VpsApi({ backendUrl: config.backendUrl, apiKey: config.vpsApiKey, version: VERSION, ...(options.fetch ? { fetch: options.fetch } : {}) });
  try {
    const beat = await api.heartbeat({ version: VERSION, capacity: config.capacity, terminals });
    ok('backend', `${config.backendUrl}/vps accepted the host key (lease ${beat.lease_seconds} s)`);
    if (config.pollIntervalMs > (beat.lease_seconds * 1000) / 3) {
      warn('poll interval', `POLL_INTERVAL_SECONDS=${config.pollIntervalMs / 1000} with a ${beat.lease_seconds} s lease`, `use at most ${Math.floor(beat.lease_seconds / 3)} s`);
    }
  } catch (error) {
    if (error instanceof ApiError && error.status === 401) {
      fail('backend', `${config.backendUrl}/vps rejected VPS_API_KEY (${error.message})`, 'create a host key with `npm run vps-host -- create <name>` (scripts/vps-host.ts) and set VPS_API_KEY');
    } else if (error instanceof ApiError && error.status === 404) {
      fail('backend', `${config.backendUrl}/vps/heartbeat answered 404`, 'BACKEND_URL must be the functions base, e.g. https://<ref>.supabase.co/functions/v1, and the vps function must be deployed');
    } else if (error instanceof ApiError && error.status === 0) {
      fail('backend', error.message, 'check BACKEND_URL, DNS and the firewall (outbound HTTPS)');
    } else {
      fail('backend', (error as Error).message, 'check BACKEND_URL and the vps function logs');
    }
  }

  // Realtime doorbell.
  if (config.realtime) {
    const probe = options.realtimeProbe ?? ((c: AgentConfig) => probeRealtime(c, api));
    const problem = await probe(config);
    if (problem) warn('realtime', problem, 'check SUPABASE_URL and SUPABASE_PUBLISHABLE_KEY; the agent still works by polling');
    else ok('realtime', `subscribed to vps:doorbell at ${config.realtime.supabaseUrl}`);
  } else {
    warn('realtime', 'not configured: the agent polls every ' + config.pollIntervalMs / 1000 + ' s', 'set SUPABASE_URL and SUPABASE_PUBLISHABLE_KEY to be woken at once');
  }

  // Metrics port.
  if (config.metrics) {
    const { host, port } = config.metrics;
    const problem = await new Promise<string | null>((resolveProbe) => {
      const srv = createServer();
      srv.once('error', (e: NodeJS.ErrnoException) => resolveProbe(e.code ?? e.message));
      srv.listen(port, host, () => srv.close(() => resolveProbe(null)));
    });
    if (problem === 'EADDRINUSE') warn('metrics', `${host}:${port} is in use`, 'fine if the agent is running; otherwise set METRICS_PORT to a free port');
    else if (problem) fail('metrics', `cannot listen on ${host}:${port}: ${problem}`, 'set METRICS_HOST/METRICS_PORT (or METRICS_PORT=off)');
    else ok('metrics', `http://${host}:${port}/metrics is available`);
  }
  return results;
}

/** Joins the private doorbell as the agent does: with this host's token from POST /vps/realtime-token. */
async function probeRealtime(config: AgentConfig, api: VpsApi): Promise<string | null> {
  let token: string;
  try {
    token = (await api.realtimeToken()).accessToken;
  } catch (error) {
    return `no doorbell token: ${(error as Error).message}`;
  }
  const { createClient } = await import('@supabase/supabase-js');
  const client = createClient(config.realtime!.supabaseUrl, config.realtime!.publishableKey, {
    auth: { persistSession: false, autoRefreshToken: false },
    accessToken: async () => token,
  });
  try {
    await client.realtime.setAuth();
    return await new Promise<string | null>((resolveProbe) => {
      const timer = setTimeout(() => resolveProbe('no subscription within 10 s'), 10_000);
      client.channel('vps:doorbell', { config: { private: true } }).subscribe((status) => {
        if (status === 'SUBSCRIBED') {
          clearTimeout(timer);
          resolveProbe(null);
        } else if (status === 'CHANNEL_ERROR' || status === 'TIMED_OUT') {
          clearTimeout(timer);
          resolveProbe(`subscription ${status}`);
        }
      });
    });
  } finally {
    await client.removeAllChannels();
    client.realtime.disconnect();
  }
}

export function formatDoctor(results: CheckResult[]): string {
  const mark = { ok: '✔', warn: '!', fail: '✖' } as const;
  const lines = results.map((r) => `${mark[r.status]} ${r.name}: ${r.detail}${r.fix ? `\n    → ${r.fix}` : ''}`);
  const failed = results.filter((r) => r.status === 'fail').length;
  const warned = results.filter((r) => r.status === 'warn').length;
  lines.push('', failed ? `${failed} problem(s) to fix, ${warned} warning(s).` : `All checks passed${warned ? ` (${warned} warning(s))` : ''}.`);
  return lines.join('\n') + '\n';
}
