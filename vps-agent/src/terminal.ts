import type { ChildProcess } from 'node:child_process';
import type { ReportedState } from '@rubi/contracts/vps.ts';
import { join } from 'node:path';
import type { AgentConfig } from './config.ts';
import type { Logger } from './log.ts';
import { removePasswordFromStartup } from './layout.ts';
import type { AgentMetrics } from './metrics.ts';
import { isAlive, isSameProcess, launchCommand, processIdentity, spawnTerminal, stopProcess } from './process.ts';
import type { TerminalRecord } from './state-store.ts';
import { LogWatcher, snapshotBaseline, type LogEvent } from './terminal-log.ts';

/**
 * Supervises one account's terminal process:
 *
 *   launching ──spawn──▶ running ──EA heard from──▶ connected
 *       │                  │  ▲
 *       │                  │  └── restart after backoff (initial · 2^(n-1), capped)
 *       │                  ▼
 *       │              restarting (it exited; reported `crashed`)
 *       ▼                  │ more than CRASH_LOOP_MAX_RESTARTS exits inside the window
 *     error ◀──────────────┘ (E_CRASH_LOOP), or E_LAUNCH, E_AUTH, E_SRV_NOT_FOUND, ... from the logs
 *
 * An error is final for this host: the terminal is stopped, the backend is told (the account
 * leaves this host and is retried later, maybe elsewhere) and the folder, which holds the
 * password, is removed by the agent.
 */

export type ErrorCode = 'E_AUTH' | 'E_SRV_NOT_FOUND' | 'E_LAUNCH' | 'E_CRASH_LOOP' | 'E_LOGIN_TIMEOUT' | 'E_WEBREQUEST_BLOCKED';

export interface TerminalHooks {
  /** The record changed: persist the state file. */
  changed(): void;
  /** A state for the backend (best effort for launching/running/crashed; the agent retries the rest). */
  report(record: TerminalRecord, state: Extract<ReportedState, 'launching' | 'running' | 'crashed' | 'connected'>): void;
  /** The terminal failed for good and is already stopped: report the error, remove the folder. */
  failed(record: TerminalRecord): void;
}

export interface TerminalOptions {
  config: AgentConfig;
  log: Logger;
  metrics: AgentMetrics;
  hooks: TerminalHooks;
  /** How often the process and its logs are checked. */
  tickMs?: number;
}

export class Terminal {
  private child: ChildProcess | null = null;
  private watcher: LogWatcher;
  private tickTimer: NodeJS.Timeout | null = null;
  private restartTimer: NodeJS.Timeout | null = null;
  private stopping = false;
  private ticking = false;
  private lastNoConnection: string | null = null;
  private backendConnected = false;
  private readonly log: Logger;

  constructor(
    readonly record: TerminalRecord,
    private readonly options: TerminalOptions,
  ) {
    this.log = options.log.child({ account_id: record.account_id, external_account_id: record.external_account_id, platform: record.platform });
    this.watcher = new LogWatcher(record.folder, record.platform, record.log_baseline);
  }

  get accountId(): string {
    return this.record.account_id;
  }

  /** launching/running/connected/restarting: it occupies a slot of this host. */
  get active(): boolean {
    return !['error', 'stopped'].includes(this.record.state);
  }

  /** Starts a fresh terminal (first launch, or a restart after backoff). */
  async launch(): Promise<void> {
    if (this.stopping) return;
    const { config } = this.options;
    this.set({ state: 'launching' });
    this.options.hooks.report(this.record, 'launching');
    const baseline = await snapshotBaseline(this.record.folder, this.record.platform);
    this.watcher = new LogWatcher(this.record.folder, this.record.platform, baseline);
    this.lastNoConnection = null;
    const cmd = launchCommand(config.launcher, this.record.platform, this.record.folder);
    let spawned;
    try {
      spawned = await spawnTerminal(cmd, join(this.record.folder, 'logs', 'rubi-agent-terminal.out'));
    } catch (error) {
      const reason = (error as NodeJS.ErrnoException).code ?? (error as Error).message;
      const what = config.launcher.kind === 'wine' ? `${cmd.command} (WINE_COMMAND)` : cmd.command;
      await this.fail('E_LAUNCH', `The terminal could not be started on the VPS host: ${what} failed with ${reason}.`);
      return;
    }
    this.child = spawned.child;
    const pid = spawned.pid;
    // Recorded before anything else is awaited, so an immediate exit is seen as this process's.
    this.set({
      state: 'running',
      pid,
      pid_identity: null,
      launched_at: new Date().toISOString(),
      launches: this.record.launches + 1,
      log_baseline: baseline,
    });
    spawned.child.once('exit', (code, signal) => {
      if (this.child === spawned.child) this.child = null;
      if (this.record.pid === pid) void this.exited(code, signal);
    });
    const identity = await processIdentity(pid);
    if (this.record.pid === pid) this.set({ pid_identity: identity });
    this.log.info({ pid, launches: this.record.launches, command: cmd.command, args: cmd.args }, 'terminal started');
    this.options.hooks.report(this.record, 'running');
    this.startTicking();
  }

  /**
   * After an agent restart: takes over the recorded process if it still runs (same PID and same
   * start time), else treats it as an exit (restart with backoff). Never starts a second process
   * while the first one lives.
   */
  async adopt(): Promise<void> {
    const r = this.record;
    if (r.state === 'error' || r.state === 'stopped') return;
    if (r.pid !== null && (await isSameProcess(r.pid, r.pid_identity))) {
      this.log.info({ pid: r.pid, state: r.state }, 'adopted a running terminal');
      this.options.hooks.report(this.record, r.state === 'connected' ? 'connected' : 'running');
      this.startTicking();
      return;
    }
    if (r.state === 'restarting' || r.pid === null) {
      this.log.info({ state: r.state }, 'resuming a terminal that was not running');
      this.scheduleRestart(false);
      return;
    }
    this.log.warn({ pid: r.pid }, 'recorded terminal is gone (it exited while the agent was down)');
    this.unplannedExit('exited while the agent was down');
  }

  /** The backend's view (GET /vps/accounts): status `connected` means the EA registered and reports. */
  setBackendStatus(status: string): void {
    this.backendConnected = status === 'connected';
    if (this.backendConnected && (this.record.state === 'running' || this.record.state === 'launching') && this.record.pid !== null) {
      void this.loggedIn('backend reports the account connected');
      this.markConnected('backend reports the account connected');
    }
  }

  /** Starts a stopped terminal again (the account is still held and wanted). */
  async resume(): Promise<void> {
    if (this.record.state !== 'stopped') return;
    this.stopping = false;
    await this.launch();
  }

  /** Stops the process (planned: no restart). Idempotent. */
  async stop(): Promise<void> {
    this.stopping = true;
    this.clearTimers();
    const pid = this.record.pid;
    if (pid !== null) {
      this.log.info({ pid }, 'stopping terminal');
      await stopProcess(pid, this.options.config.stopTimeoutMs);
    }
    this.child = null;
    if (this.record.state !== 'error') this.set({ state: 'stopped', pid: null, pid_identity: null });
    else this.set({ pid: null, pid_identity: null });
  }

  /** Detaches without stopping the process (agent shutdown; the next agent adopts it). */
  detach(): void {
    this.stopping = true;
    this.clearTimers();
    this.child?.removeAllListeners('exit');
    this.child = null;
  }

  private clearTimers(): void {
    if (this.tickTimer) clearInterval(this.tickTimer);
    if (this.restartTimer) clearTimeout(this.restartTimer);
    this.tickTimer = null;
    this.restartTimer = null;
  }

  private startTicking(): void {
    if (this.tickTimer) clearInterval(this.tickTimer);
    this.tickTimer = setInterval(() => void this.tick(), this.options.tickMs ?? 1000);
    this.tickTimer.unref();
    void this.tick();
  }

  private async tick(): Promise<void> {
    if (this.ticking || this.stopping) return;
    this.ticking = true;
    try {
      const pid = this.record.pid;
      // Our own child reports its exit through the 'exit' event; an adopted process is polled.
      if (pid !== null && this.child === null && !isAlive(pid)) {
        this.unplannedExit('process is gone');
        return;
      }
      for (const event of await this.watcher.poll()) {
        await this.onLogEvent(event);
        if (this.stopping || this.record.state === 'error') return;
      }
      this.checkLoginTimeout();
    } catch (error) {
      this.log.warn({ err: error }, 'supervision tick failed');
    } finally {
      this.ticking = false;
    }
  }

  private async onLogEvent(event: LogEvent): Promise<void> {
    const { login, server } = this.record;
    const said = shortLine(event.line);
    switch (event.kind) {
      case 'auth_failed':
        this.log.warn({ log: event.file, line: said }, 'terminal authorization failed');
        await this.fail('E_AUTH', `The trade server ${server} rejected login ${login}: check the login and the investor password. Terminal log: "${said}"`);
        return;
      case 'server_not_found':
        this.log.warn({ log: event.file, line: said }, 'trade server not found');
        await this.fail('E_SRV_NOT_FOUND', `The trade server "${server}" was not found: check the server name. Terminal log: "${said}"`);
        return;
      case 'no_connection':
        this.lastNoConnection = said;
        this.log.info({ log: event.file, line: said }, 'terminal has no connection yet');
        return;
      case 'webrequest_blocked':
        if (event.source !== 'ea') return;
        this.log.warn({ log: event.file, line: said }, 'EA cannot call the backend (WebRequest blocked)');
        await this.fail(
          'E_WEBREQUEST_BLOCKED',
          `The EA cannot reach the backend: WebRequest is not allowed for it in the terminal (MQL error 4014). EA log: "${said}"`,
        );
        return;
      case 'authorized':
        await this.loggedIn(said);
        return;
      case 'ea_registered':
        if (event.source !== 'ea') return;
        await this.loggedIn(said);
        this.markConnected(said);
        return;
    }
  }

  /** The terminal logged in: note it and take the password out of the start-up file. */
  private async loggedIn(evidence: string): Promise<void> {
    if (this.record.authorized_at === null) {
      this.set({ authorized_at: new Date().toISOString() });
      this.log.info({ evidence }, 'terminal logged in');
    }
    if (!this.record.password_removed) {
      try {
        await removePasswordFromStartup(this.record.folder);
        this.set({ password_removed: true });
        this.log.info('password removed from the start-up file');
      } catch (error) {
        this.log.warn({ err: error }, 'could not remove the password from the start-up file (will retry)');
      }
    }
  }

  private markConnected(evidence: string): void {
    if (this.record.state !== 'running') return;
    this.set({ state: 'connected', connected_at: new Date().toISOString() });
    this.log.info({ evidence }, 'terminal connected');
    this.options.hooks.report(this.record, 'connected');
  }

  private checkLoginTimeout(): void {
    const r = this.record;
    if (r.authorized_at !== null || this.backendConnected || r.launched_at === null || r.state !== 'running') return;
    const since = Date.now() - Date.parse(r.launched_at);
    if (since < this.options.config.loginTimeoutMs) return;
    const within = duration(this.options.config.loginTimeoutMs);
    if (this.lastNoConnection) {
      void this.fail(
        'E_SRV_NOT_FOUND',
        `The terminal could not connect to the trade server "${r.server}" within ${within}: check the server name. Terminal log: "${this.lastNoConnection}"`,
      );
    } else {
      void this.fail('E_LOGIN_TIMEOUT', `The terminal did not log in to ${r.server} within ${within}.`);
    }
  }

  private exited(code: number | null, signal: NodeJS.Signals | null): void {
    if (this.stopping || this.record.state === 'error' || this.record.state === 'stopped') return;
    this.unplannedExit(signal ? `killed by ${signal}` : `exit code ${code}`);
  }

  private unplannedExit(how: string): void {
    if (this.stopping || this.record.state === 'error' || this.record.state === 'restarting') return;
    if (this.tickTimer) clearInterval(this.tickTimer);
    this.tickTimer = null;
    this.child = null;
    const now = Date.now();
    const { crashLoopWindowMs, crashLoopMaxRestarts } = this.options.config;
    const exits = [...this.record.exits.filter((t) => now - t < crashLoopWindowMs), now];
    this.set({ exits, pid: null, pid_identity: null });
    if (exits.length > crashLoopMaxRestarts) {
      this.log.error({ how, exits: exits.length }, 'terminal is crash looping');
      void this.fail(
        'E_CRASH_LOOP',
        `The terminal exited ${exits.length} times within ${duration(crashLoopWindowMs)} (last: ${how}); it was not restarted again.`,
      );
      return;
    }
    this.log.warn({ how, exits: exits.length }, 'terminal exited unexpectedly');
    this.scheduleRestart(true);
  }

  private scheduleRestart(count: boolean): void {
    const { restartBackoffInitialMs, restartBackoffMaxMs } = this.options.config;
    const n = Math.max(1, this.record.exits.length);
    const delay = Math.min(restartBackoffInitialMs * 2 ** (n - 1), restartBackoffMaxMs);
    this.set({ state: 'restarting', pid: null, pid_identity: null });
    this.options.hooks.report(this.record, 'crashed');
    this.log.info({ delay_ms: delay }, 'restarting terminal after backoff');
    if (this.restartTimer) clearTimeout(this.restartTimer);
    this.restartTimer = setTimeout(() => {
      this.restartTimer = null;
      if (this.stopping) return;
      if (count) {
        this.set({ restarts: this.record.restarts + 1 });
        this.options.metrics.restarts.inc({ platform: this.record.platform });
      }
      void this.launch();
    }, delay);
  }

  /** Final failure on this host: stop the process, record the error, hand over to the agent. */
  async fail(code: ErrorCode, message: string): Promise<void> {
    if (this.record.state === 'error') return;
    this.stopping = true;
    this.clearTimers();
    this.set({ state: 'error', error_code: code, error_message: message.slice(0, 1000) });
    this.options.metrics.terminalErrors.inc({ code });
    this.log.error({ error_code: code, error_message: message }, 'terminal failed');
    const pid = this.record.pid;
    if (pid !== null) await stopProcess(pid, this.options.config.stopTimeoutMs);
    this.child = null;
    this.set({ pid: null, pid_identity: null });
    this.options.hooks.failed(this.record);
  }

  private set(patch: Partial<TerminalRecord>): void {
    Object.assign(this.record, patch, { updated_at: new Date().toISOString() });
    this.options.hooks.changed();
  }
}

/** The message column of a MetaTrader log line (MT5: code, level, time, source, message). */
export function shortLine(line: string): string {
  const cols = line.split('\t');
  const msg = cols.length >= 4 ? cols[cols.length - 1]! : line;
  return msg.trim().slice(0, 300);
}

/** 90 s, 5 min, 1.5 h: for messages a user reads. */
export function duration(ms: number): string {
  const s = Math.round(ms / 1000);
  if (s < 120) return `${s} s`;
  if (s < 7200) return `${Math.round(s / 6) / 10} min`;
  return `${Math.round(s / 360) / 10} h`;
}
