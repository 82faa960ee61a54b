import type { Server } from 'node:http';
import type { TerminalState } from '@rubi/contracts/vps.ts';
import { mkdir, rm } from 'node:fs/promises';
import { basename } from 'node:path';
import { acquireAgentLock, type AgentLock } from './agent-lock.ts';
import { ApiError, VpsApi, type ClaimedAccount, type HeldAccount, type StateReport } from './api.ts';
import type { AgentConfig, Platform } from './config.ts';
import { compileFailureMessage, EaBuilds } from './ea-build.ts';
import type { Logger, SecretRegistry } from './log.ts';
import { provisionFolder, terminalFolder } from './layout.ts';
import { serveMetrics, TERMINAL_STATES, type AgentMetrics } from './metrics.ts';
import { findTerminalProcesses, stopProcess } from './process.ts';
import { subscribeDoorbell, type Doorbell } from './realtime.ts';
import { newRecord, StateStore, type StateFile, type TerminalRecord } from './state-store.ts';
import { Terminal } from './terminal.ts';
import { VERSION } from './version.ts';

/**
 * The agent: reconciles this host's terminals with what the backend says it holds.
 *
 * A reconcile pass (on start, on every Realtime (re)subscribe, on every doorbell, and every
 * POLL_INTERVAL_SECONDS; passes never overlap, requests during a pass coalesce into one more):
 *   1. heartbeat with the state of every terminal (renews the leases); stop the ones the backend
 *      says this host no longer holds (`not_held`);
 *   2. tear down what GET /vps/teardown lists (paused or deleted accounts): stop, remove the
 *      folder, report `stopped`;
 *   3. GET /vps/accounts: launch held accounts that have no terminal here (an agent that died
 *      between claim and launch), stop terminals of accounts no longer held, pass each account's
 *      status to its terminal (`connected` once the EA has registered and reports);
 *   4. claim up to the free capacity and provision each claimed account in the background (only
 *      for platforms whose EA is ready: with EA sources, once they compiled, see src/ea-build.ts);
 *   5. retry state reports that did not get through (errors and teardowns must be told).
 */

export interface AgentOptions {
  config: AgentConfig;
  log: Logger;
  metrics: AgentMetrics;
  secrets: SecretRegistry;
  api?: VpsApi;
  /** Supervision tick (ms); tests shorten it. */
  tickMs?: number;
  /** Skip the metrics HTTP server (tests). */
  serveMetrics?: boolean;
}

type PendingReport = { report: StateReport; then: 'forget' | 'teardown' };

export class Agent {
  readonly terminals = new Map<string, Terminal>();
  readonly api: VpsApi;
  private readonly store: StateStore;
  private state: StateFile | null = null;
  private readonly provisioning = new Set<string>();
  private readonly pending = new Map<string, PendingReport>();
  private readonly log: Logger;
  private timer: NodeJS.Timeout | null = null;
  private doorbell: Doorbell | null = null;
  private metricsServer: Server | null = null;
  private lock: AgentLock | null = null;
  private running: Promise<void> | null = null;
  private again = false;
  private stopped = false;
  private saveQueued = false;
  private leaseWarned = false;
  private readonly background = new Set<Promise<unknown>>();
  private readonly reportChains = new Map<string, Promise<void>>();
  /** Folder copies run two at a time: a base install is large, and copies share libuv's thread pool with DNS. */
  private readonly folderSlots = new Semaphore(2);
  private readonly builds: EaBuilds;

  constructor(private readonly options: AgentOptions) {
    this.log = options.log;
    this.store = new StateStore(options.config.terminalsBasePath);
    this.api =
      options.api ??
      new VpsApi({ backendUrl: options.config.backendUrl, apiKey: options.config.vpsApiKey, version: VERSION, metrics: options.metrics });
    options.secrets.add(options.config.vpsApiKey);
    if (options.config.realtime) options.secrets.add(options.config.realtime.publishableKey);
    this.builds = new EaBuilds({
      config: options.config,
      log: options.log,
      metrics: options.metrics,
      onReady: (platform) => void this.requestReconcile(`${platform} EA ready`),
    });
  }

  get stateFile(): string {
    return this.store.path;
  }

  async start(): Promise<void> {
    const { config } = this.options;
    await mkdir(config.terminalsBasePath, { recursive: true });
    // One agent per terminals folder: an OS-held lock, taken before the state file is read (throws
    // AgentLockedError at once when another agent holds it; released however this process ends).
    this.lock = await acquireAgentLock(config.terminalsBasePath);
    try {
      await this.startLocked();
    } catch (error) {
      await this.releaseLock();
      throw error;
    }
  }

  private async releaseLock(): Promise<void> {
    const lock = this.lock;
    this.lock = null;
    await lock?.release();
  }

  private async startLocked(): Promise<void> {
    const { config } = this.options;
    this.state = await this.store.load();
    // host_pid is for `status` and `doctor`; the lock, not this field, keeps a second agent out.
    this.state.host_pid = process.pid;
    this.options.metrics.capacity.set(config.capacity);
    this.log.info(
      {
        version: VERSION,
        backend: config.backendUrl,
        capacity: config.capacity,
        platforms: Object.keys(config.platforms),
        terminals_base_path: config.terminalsBasePath,
        launcher: config.launcher.kind === 'wine' ? { wine: config.launcher.command, prefix: config.launcher.prefix } : 'direct',
      },
      'agent starting',
    );

    // Adopt what the previous agent left: running terminals are taken over, never relaunched.
    for (const record of Object.values(this.state.terminals)) {
      const terminal = this.createTerminal(record);
      this.terminals.set(record.account_id, terminal);
      if (record.state === 'error' && record.error_code) {
        this.pending.set(record.account_id, {
          report: { state: 'error', error_code: record.error_code, ...(record.error_message ? { error_message: record.error_message } : {}) },
          then: 'forget',
        });
      } else if (record.state === 'stopped') {
        // Stopped by STOP_TERMINALS_ON_EXIT or an interrupted teardown: the first pass decides
        // (held and wanted: started again; paused, deleted or not held: removed).
      } else {
        await terminal.adopt();
      }
    }
    this.persist();

    // EA sources compile in the background: the first passes heartbeat (adopted terminals keep
    // their leases) and claim only for platforms that are ready; a finished compile asks for a pass.
    this.track(this.builds.start());

    if (config.metrics && this.options.serveMetrics !== false) {
      this.metricsServer = await serveMetrics(this.options.metrics, config.metrics.host, config.metrics.port);
      this.log.info({ url: `http://${config.metrics.host}:${config.metrics.port}/metrics` }, 'metrics served');
    }

    if (config.realtime) {
      this.doorbell = await subscribeDoorbell({
        supabaseUrl: config.realtime.supabaseUrl,
        publishableKey: config.realtime.publishableKey,
        log: this.log,
        fetchToken: () => this.api.realtimeToken(),
        onWake: (reason) => {
          if (reason === 'doorbell') this.options.metrics.doorbells.inc();
          this.requestReconcile(reason);
        },
      });
    } else {
      this.log.info(
        { poll_interval_seconds: config.pollIntervalMs / 1000 },
        'no SUPABASE_URL/SUPABASE_PUBLISHABLE_KEY: polling only (set them to be woken by the Realtime doorbell)',
      );
    }
    this.timer = setInterval(() => this.requestReconcile('timer'), config.pollIntervalMs);
    this.requestReconcile('start');
  }

  /** Coalesces: a request during a pass schedules exactly one more pass. */
  requestReconcile(reason: string): Promise<void> {
    if (this.stopped) return Promise.resolve();
    this.options.metrics.reconciles.inc({ reason });
    if (this.running) {
      this.again = true;
      return this.running;
    }
    this.running = (async () => {
      try {
        do {
          this.again = false;
          await this.reconcileOnce(reason);
        } while (this.again && !this.stopped);
      } finally {
        this.running = null;
      }
    })();
    return this.running;
  }

  /** Resolves when the current pass (if any) and the provisioning it started are done. */
  async idle(): Promise<void> {
    while (this.running || this.background.size > 0) {
      await this.running;
      await Promise.allSettled([...this.background]);
    }
  }

  private async reconcileOnce(reason: string): Promise<void> {
    const { config } = this.options;
    this.log.debug({ reason }, 'reconcile');
    try {
      // 1. heartbeat
      const beat = await this.api.heartbeat({
        version: VERSION,
        capacity: config.capacity,
        terminals: [...this.terminals.values()].map((t) => ({
          account_id: t.accountId,
          state: heartbeatState(t.record),
          ...(t.record.pid !== null ? { pid: t.record.pid } : {}),
        })),
      });
      if (!this.leaseWarned && config.pollIntervalMs > (beat.lease_seconds * 1000) / 3) {
        this.leaseWarned = true;
        this.log.warn(
          { poll_interval_seconds: config.pollIntervalMs / 1000, lease_seconds: beat.lease_seconds },
          'POLL_INTERVAL_SECONDS is more than a third of the lease: a slow pass could lose the leases',
        );
      }
      for (const id of beat.not_held) await this.forget(id, 'the backend says this host no longer holds the account');

      // 2. teardown
      for (const t of await this.api.teardown()) await this.teardown(t.account_id, t.external_account_id, t.platform, t.reason);

      // 3. held accounts
      const known = new Set(this.terminals.keys());
      const held = await this.api.heldAccounts();
      const heldIds = new Set(held.map((a) => a.account_id));
      for (const id of known) {
        if (!heldIds.has(id) && !this.provisioning.has(id) && !this.pending.has(id)) {
          await this.forget(id, 'the account is no longer held by this host');
        }
      }
      for (const account of held) {
        if (account.teardown) continue; // step 2 handles it (and lists it again until `stopped`)
        const terminal = this.terminals.get(account.account_id);
        if (terminal?.record.state === 'stopped') this.track(terminal.resume());
        else if (terminal) terminal.setBackendStatus(account.status);
        else if (!this.provisioning.has(account.account_id) && !this.pending.has(account.account_id)) this.startProvisioning(account);
      }

      // 4. claim
      const free = config.capacity - this.activeCount();
      const platforms = (Object.keys(config.platforms) as Platform[]).filter((p) => this.builds.ready(p));
      if (free > 0 && platforms.length > 0) {
        const claimed = await this.api.claim(Math.min(free, 50), platforms);
        if (claimed.length > 0) {
          this.options.metrics.claims.inc(claimed.length);
          this.log.info({ claimed: claimed.map((a) => a.external_account_id), free }, 'claimed accounts');
        }
        for (const account of claimed) this.startProvisioning(account);
      }

      // 5. reports that must get through
      await this.flushReports();

      // EA sources that failed to compile: once they change, compile again (in the background).
      this.track(this.builds.retryChanged());
    } catch (error) {
      this.apiFailure(error, 'reconcile');
    } finally {
      this.updateGauges();
    }
  }

  /** Terminals that use a slot: everything alive or about to be, plus provisioning in flight. */
  activeCount(): number {
    let n = this.provisioning.size;
    for (const t of this.terminals.values()) if (t.active && !this.provisioning.has(t.accountId)) n++;
    return n;
  }

  private startProvisioning(account: ClaimedAccount | HeldAccount): void {
    this.provisioning.add(account.account_id);
    const job = this.provision(account).finally(() => {
      this.provisioning.delete(account.account_id);
      this.background.delete(job);
      this.updateGauges();
    });
    this.background.add(job);
  }

  private async provision(account: ClaimedAccount | HeldAccount): Promise<void> {
    const { config } = this.options;
    const platform = account.platform as Platform;
    const install = config.platforms[platform];
    const log = this.log.child({ account_id: account.account_id, external_account_id: account.external_account_id, platform });
    if (!install) {
      this.options.metrics.provisionings.inc({ platform, result: 'unsupported' });
      await this.sendReport(account.account_id, {
        state: 'error',
        error_code: 'E_LAUNCH',
        error_message: `This VPS host has no ${platform} terminal installed; the account will be retried.`,
      });
      return;
    }
    // With EA sources: wait for the compile; an EA that does not compile launches no terminal.
    const build = await this.builds.settled(platform);
    if (build && !build.ok) {
      log.error({ problem: build.problem }, 'not launching: the EA does not compile');
      this.options.metrics.provisionings.inc({ platform, result: 'ea_failed' });
      await this.sendReport(account.account_id, { state: 'error', error_code: 'E_LAUNCH', error_message: compileFailureMessage(build) });
      return;
    }
    if (this.stopped) return;
    let pkg;
    try {
      pkg = await this.api.launchPackage(account.account_id);
    } catch (error) {
      if (error instanceof ApiError && (error.status === 404 || error.status === 409)) {
        log.info({ status: error.status, reason: error.message }, 'account not launchable now; skipped');
        return;
      }
      this.apiFailure(error, 'launch package');
      return;
    }
    this.options.secrets.add(pkg.investor_password);
    this.options.secrets.add(pkg.provisioning_token);
    const folder = terminalFolder(config.terminalsBasePath, platform, pkg.external_account_id);
    // A process still running from this folder that the agent does not track (the state file was
    // lost, or a crash between launch and save) would become a duplicate: stop it first.
    for (const pid of await findTerminalProcesses(basename(folder))) {
      log.warn({ pid, folder }, 'an untracked terminal runs from this folder: stopping it before launching');
      await stopProcess(pid, config.stopTimeoutMs);
    }
    const release = await this.folderSlots.acquire();
    try {
      await provisionFolder({
        platform,
        basePath: install.basePath,
        eaPath: install.eaPath,
        terminalsBasePath: config.terminalsBasePath,
        externalAccountId: pkg.external_account_id,
        login: pkg.login,
        password: pkg.investor_password,
        server: pkg.server,
        symbol: config.eaSymbol,
        period: config.eaPeriod,
        ea: {
          external_account_id: pkg.external_account_id,
          register_url: pkg.register_url,
          trades_url: pkg.trades_url,
          provisioning_token: pkg.provisioning_token,
          token_expires_at: pkg.token_expires_at,
        },
      });
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code ?? 'error';
      log.error({ err: error }, 'could not prepare the terminal folder');
      this.options.metrics.provisionings.inc({ platform, result: 'folder_failed' });
      await rm(folder, { recursive: true, force: true }).catch(() => undefined);
      await this.sendReport(account.account_id, {
        state: 'error',
        error_code: 'E_LAUNCH',
        error_message: `The VPS host could not prepare the terminal folder (${code}).`,
      });
      return;
    } finally {
      release();
    }
    if (this.stopped) return;
    const record = newRecord({
      account_id: pkg.account_id,
      external_account_id: pkg.external_account_id,
      platform,
      login: pkg.login,
      server: pkg.server,
      folder,
    });
    const terminal = this.createTerminal(record);
    this.terminals.set(record.account_id, terminal);
    this.persist();
    log.info({ folder, login: pkg.login, server: pkg.server }, 'terminal folder ready; launching');
    await terminal.launch();
    this.options.metrics.provisionings.inc({ platform, result: terminal.record.state === 'error' ? 'launch_failed' : 'launched' });
  }

  private createTerminal(record: TerminalRecord): Terminal {
    return new Terminal(record, {
      config: this.options.config,
      log: this.log,
      metrics: this.options.metrics,
      ...(this.options.tickMs ? { tickMs: this.options.tickMs } : {}),
      hooks: {
        changed: () => {
          this.persist();
          this.updateGauges();
        },
        report: (r, state) => {
          void this.sendReport(r.account_id, { state }, true);
        },
        failed: (r) => {
          this.pending.set(r.account_id, {
            report: { state: 'error', error_code: r.error_code ?? 'E_LAUNCH', ...(r.error_message ? { error_message: r.error_message } : {}) },
            then: 'forget',
          });
          this.track(this.flushReports());
        },
      },
    });
  }

  private track(p: Promise<unknown>): void {
    const job = p.finally(() => this.background.delete(job));
    this.background.add(job);
  }

  /** Sends the queued reports; on success the account is forgotten here (folder removed). */
  private async flushReports(): Promise<void> {
    for (const [id, item] of [...this.pending]) {
      if (this.pending.get(id) !== item) continue;
      try {
        const res = await this.api.reportState(id, item.report);
        this.log.info({ account_id: id, state: item.report.state, error_code: item.report.error_code, status: res.status, held: res.held }, 'state reported');
      } catch (error) {
        if (!(error instanceof ApiError && error.status === 404)) {
          this.apiFailure(error, `report ${item.report.state}`);
          continue; // retried on the next pass
        }
      }
      if (this.pending.get(id) === item) this.pending.delete(id);
      await this.removeLocal(id);
    }
  }

  /** Reports of one account go out in order (a late `launching` must not overwrite `running`). */
  private sendReport(accountId: string, report: StateReport, bestEffort = false): Promise<void> {
    const previous = this.reportChains.get(accountId) ?? Promise.resolve();
    const next = previous.then(() => this.sendReportNow(accountId, report, bestEffort));
    this.reportChains.set(accountId, next);
    void next.finally(() => {
      if (this.reportChains.get(accountId) === next) this.reportChains.delete(accountId);
    });
    this.track(next);
    return next;
  }

  private async sendReportNow(accountId: string, report: StateReport, bestEffort: boolean): Promise<void> {
    try {
      await this.api.reportState(accountId, report);
    } catch (error) {
      if (error instanceof ApiError && error.status === 404) return;
      if (bestEffort) this.log.debug({ err: error, state: report.state }, 'state report failed (the heartbeat carries it)');
      else this.apiFailure(error, `report ${report.state}`);
    }
  }

  /** Paused or deleted by the owner: stop, remove, report `stopped` (which releases/removes it). */
  private async teardown(accountId: string, externalId: string, platform: Platform, reason: string): Promise<void> {
    const terminal = this.terminals.get(accountId);
    this.log.info({ account_id: accountId, external_account_id: externalId, reason }, 'tearing down terminal');
    if (terminal) await terminal.stop();
    await rm(terminal?.record.folder ?? terminalFolder(this.options.config.terminalsBasePath, platform, externalId), {
      recursive: true,
      force: true,
    });
    this.pending.set(accountId, { report: { state: 'stopped' }, then: 'teardown' });
    await this.flushReports();
  }

  /** Not ours any more: stop and remove locally, tell nobody (the backend already knows). */
  private async forget(accountId: string, why: string): Promise<void> {
    if (this.provisioning.has(accountId)) return;
    const terminal = this.terminals.get(accountId);
    if (!terminal) return;
    if (this.pending.has(accountId)) return; // a report is still owed; it removes the folder when sent
    this.log.warn({ account_id: accountId, external_account_id: terminal.record.external_account_id, why }, 'stopping terminal');
    await terminal.stop();
    await this.removeLocal(accountId);
  }

  private async removeLocal(accountId: string): Promise<void> {
    const terminal = this.terminals.get(accountId);
    if (!terminal) return;
    await terminal.stop();
    await rm(terminal.record.folder, { recursive: true, force: true });
    this.terminals.delete(accountId);
    this.persist();
    this.updateGauges();
  }

  private apiFailure(error: unknown, what: string): void {
    if (error instanceof ApiError) {
      if (error.status === 401) {
        this.log.error({ route: error.route }, `${what}: the backend rejected VPS_API_KEY (unknown or revoked host key): create a new one with scripts/vps-host.ts`);
      } else {
        this.log.warn({ route: error.route, status: error.status, code: error.code, reason: error.message }, `${what} failed; retrying on the next pass`);
      }
      return;
    }
    this.log.error({ err: error }, `${what} failed`);
  }

  private persist(): void {
    if (!this.state || this.saveQueued) return;
    this.saveQueued = true;
    setImmediate(() => {
      this.saveQueued = false;
      if (!this.state) return;
      this.state.terminals = Object.fromEntries([...this.terminals.values()].map((t) => [t.accountId, t.record]));
      this.store.save(this.state).catch((error: unknown) => this.log.error({ err: error, path: this.store.path }, 'cannot write the state file'));
    });
  }

  private async saveNow(): Promise<void> {
    if (!this.state) return;
    this.state.terminals = Object.fromEntries([...this.terminals.values()].map((t) => [t.accountId, t.record]));
    await this.store.save(this.state);
  }

  private updateGauges(): void {
    const counts = Object.fromEntries(TERMINAL_STATES.map((s) => [s, 0])) as Record<string, number>;
    for (const t of this.terminals.values()) {
      const s = t.record.state === 'restarting' ? 'launching' : t.record.state;
      counts[s] = (counts[s] ?? 0) + 1;
    }
    for (const [state, n] of Object.entries(counts)) this.options.metrics.terminals.set({ state }, n);
  }

  /**
   * SIGTERM/SIGINT. By default the terminals keep running (detached) and the next agent adopts
   * them from the state file: upgrading or restarting the agent does not log every account out.
   * With STOP_TERMINALS_ON_EXIT=true every terminal is stopped and reported `stopped` (the host
   * keeps its accounts while its leases last; the next agent starts them again).
   */
  async shutdown(signal = 'shutdown'): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    this.log.info({ signal, terminals: this.terminals.size, stop_terminals: this.options.config.stopTerminalsOnExit }, 'agent stopping');
    if (this.timer) clearInterval(this.timer);
    await this.doorbell?.close();
    await Promise.race([this.idle(), new Promise((r) => setTimeout(r, 10_000).unref())]);
    if (this.options.config.stopTerminalsOnExit) {
      for (const t of this.terminals.values()) {
        await t.stop();
        await this.sendReport(t.accountId, { state: 'stopped' }, true);
      }
    } else {
      for (const t of this.terminals.values()) t.detach();
    }
    if (this.state) this.state.host_pid = null;
    await this.saveNow().catch((error: unknown) => this.log.error({ err: error }, 'cannot write the state file'));
    if (this.metricsServer) await new Promise<void>((r) => this.metricsServer!.close(() => r()));
    await this.releaseLock();
    this.log.info('agent stopped');
  }
}

/** The heartbeat knows launching, running, stopped and crashed. */
export function heartbeatState(r: TerminalRecord): TerminalState {
  switch (r.state) {
    case 'launching':
      return 'launching';
    case 'running':
    case 'connected':
      return 'running';
    case 'restarting':
      return 'crashed';
    default:
      return 'stopped';
  }
}

class Semaphore {
  private readonly waiting: (() => void)[] = [];
  constructor(private free: number) {}

  async acquire(): Promise<() => void> {
    if (this.free > 0) this.free--;
    else await new Promise<void>((r) => this.waiting.push(r));
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const next = this.waiting.shift();
      if (next) next();
      else this.free++;
    };
  }
}
