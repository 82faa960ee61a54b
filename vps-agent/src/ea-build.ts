import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { copyFile, cp, mkdir, readdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { basename, dirname, extname, join, relative, resolve, sep } from 'node:path';
import type { AgentConfig, Platform, PlatformInstall } from './config.ts';
import type { Logger } from './log.ts';
import { BUILD_NAMESPACE, LAYOUTS } from './layout.ts';
import type { AgentMetrics } from './metrics.ts';
import { fromEditorPath, metaEditorCommand, parseCompileLog, runMetaEditor, type CompileDiagnostic, type CompileLog } from './metaeditor.ts';

/**
 * Compiling the EA from its sources (MT5_EA_SOURCE / MT4_EA_SOURCE) with the base install's own
 * MetaEditor, and publishing the result for the terminal folders.
 *
 * Sources: the repository's `mql/` layout. The EA is `<dir>/Experts/<Name>.mq5` (`.mq4`) and
 * its includes are `<dir>/Include/Rubi/*.mqh`, referenced as `#include <Rubi/X.mqh>`. MetaEditor
 * resolves `<...>` in the data folder's `MQL5/Include`, so the build happens in the base install
 * (portable: its data folder is the install folder), where the standard library is too:
 *
 *   <base>/MQL5/Include/Rubi/…                         the includes, replaced on every compile
 *   <base>/MQL5/Experts/Rubi/build/<Name>.mq5          the source, compiled there
 *   <base>/MQL5/Experts/Rubi/build/<Name>.log          MetaEditor's log (UTF-16LE)
 *   <base>/MQL5/Experts/Rubi/<Name>.ex5                the published EA: renamed from build/ after a
 *                                                      clean compile (readers never see half a file)
 *   <base>/MQL5/Experts/Rubi/<Name>.build.json         what it was built from (a fingerprint)
 *
 * Terminal folders skip `Experts/Rubi` and `Include/Rubi` and get the published EA as
 * `<folder>/MQL5/Experts/<Name>.ex5`, so the start-up file's `Expert=<Name>` finds it.
 *
 * The fingerprint hashes the source, every include and MetaEditor's size and date: the agent
 * compiles at start only when it differs from the published EA's (or there is none).
 */

export interface BuildPaths {
  platform: Platform;
  source: string;
  /** The source tree's `Include/Rubi` (may not exist: an EA without includes). */
  sourceIncludes: string;
  editor: string;
  mqlDir: string;
  includeDir: string;
  buildDir: string;
  buildSource: string;
  buildOutput: string;
  log: string;
  published: string;
  stamp: string;
}

export function buildPaths(platform: Platform, basePath: string, source: string): BuildPaths {
  const layout = LAYOUTS[platform];
  const name = basename(source, extname(source));
  const mqlDir = join(basePath, layout.mqlDir);
  const area = join(mqlDir, 'Experts', BUILD_NAMESPACE);
  const buildDir = join(area, 'build');
  return {
    platform,
    source,
    sourceIncludes: resolve(dirname(source), '..', 'Include', BUILD_NAMESPACE),
    editor: join(basePath, layout.editor),
    mqlDir,
    includeDir: join(mqlDir, 'Include', BUILD_NAMESPACE),
    buildDir,
    buildSource: join(buildDir, basename(source)),
    buildOutput: join(buildDir, name + layout.eaExt),
    log: join(buildDir, `${name}.log`),
    published: join(area, name + layout.eaExt),
    stamp: join(area, `${name}.build.json`),
  };
}

/** Where the compiled EA of a source is published (what terminal folders get). */
export function publishedEaPath(platform: Platform, basePath: string, source: string): string {
  return buildPaths(platform, basePath, source).published;
}

async function filesUnder(dir: string): Promise<string[]> {
  if (!existsSync(dir)) return [];
  const entries = await readdir(dir, { recursive: true, withFileTypes: true });
  return entries
    .filter((e) => e.isFile())
    .map((e) => join(e.parentPath, e.name))
    .sort();
}

/** Hash of everything a compile depends on; throws when the source cannot be read. */
export async function sourceFingerprint(paths: BuildPaths): Promise<string> {
  const hash = createHash('sha256');
  hash.update(`${paths.platform}\0${basename(paths.source)}\0`);
  hash.update(await readFile(paths.source));
  for (const file of await filesUnder(paths.sourceIncludes)) {
    hash.update(`\0${relative(paths.sourceIncludes, file).split(sep).join('/')}\0`);
    hash.update(await readFile(file));
  }
  try {
    const s = await stat(paths.editor);
    hash.update(`\0editor:${s.size}:${Math.trunc(s.mtimeMs)}`);
  } catch {
    hash.update('\0editor:none');
  }
  return hash.digest('hex');
}

interface Stamp {
  fingerprint: string;
  source: string;
  compiled_at: string;
  warnings: number;
}

async function readStamp(file: string): Promise<Stamp | null> {
  try {
    return JSON.parse(await readFile(file, 'utf8')) as Stamp;
  } catch {
    return null;
  }
}

/** A log line of the compile, with the file named as the operator knows it (the source tree). */
export interface Diagnostic extends CompileDiagnostic {
  /** `<file>:<line>:<col>: error 256: <message>` with `file` mapped back to the source tree. */
  text: string;
}

export interface CompileOutcome {
  platform: Platform;
  source: string;
  /** The published EA (valid when `ok`). */
  eaPath: string;
  ok: boolean;
  /** Up to date: nothing was compiled. */
  upToDate: boolean;
  errors: number;
  warnings: number;
  diagnostics: Diagnostic[];
  elapsedMs: number | null;
  /** Why it failed, one sentence; null when ok. */
  problem: string | null;
  /** MetaEditor's log (host path), null when nothing ran. */
  logFile: string | null;
  editor: string;
  fingerprint: string | null;
  /** Something worth saying about a successful run (MetaEditor had to be stopped). */
  note: string | null;
}

export interface CompileOptions {
  platform: Platform;
  basePath: string;
  source: string;
  launcher: AgentConfig['launcher'];
  timeoutMs: number;
  /** Compile even when the published EA is up to date (`rubi-vps-agent compile`, `doctor`). */
  force?: boolean;
  /** Grace for a MetaEditor that does not exit after finishing its log (tests shorten it). */
  graceMs?: number;
}

/** Maps a file named in the log (the build area, Windows path) back to the source tree. */
export function sourceFileFor(paths: BuildPaths, launcher: AgentConfig['launcher'], logged: string): string {
  const host = fromEditorPath(launcher, logged);
  const same = (a: string, b: string) => (launcher.kind === 'direct' ? a.toLowerCase() === b.toLowerCase() : a === b);
  const bare = !/[\\/]/.test(host);
  if (same(host, paths.buildSource) || (bare && same(host, basename(paths.source)))) return paths.source;
  const inIncludes = host.length > paths.includeDir.length && same(host.slice(0, paths.includeDir.length), paths.includeDir);
  if (inIncludes) return join(paths.sourceIncludes, ...host.slice(paths.includeDir.length + 1).split(/[\\/]/));
  return host;
}

function describe(d: CompileDiagnostic, file: string): string {
  const where = d.line !== null ? `${file}:${d.line}:${d.column ?? 0}` : file;
  return `${where}: ${d.severity}${d.code ? ` ${d.code}` : ''}: ${d.message}`;
}

const plural = (n: number, word: string) => `${n} ${word}${n === 1 ? '' : 's'}`;

function emptyOutcome(paths: BuildPaths): CompileOutcome {
  return {
    platform: paths.platform,
    source: paths.source,
    eaPath: paths.published,
    ok: false,
    upToDate: false,
    errors: 0,
    warnings: 0,
    diagnostics: [],
    elapsedMs: null,
    problem: null,
    logFile: null,
    editor: paths.editor,
    fingerprint: null,
    note: null,
  };
}

/**
 * Compiles one platform's EA: copies the sources into the build area, runs MetaEditor, reads the
 * log, and publishes the output when the log says 0 errors and a fresh output file exists.
 */
export async function compileEa(options: CompileOptions): Promise<CompileOutcome> {
  const { platform, basePath, source, launcher } = options;
  const paths = buildPaths(platform, basePath, source);
  const layout = LAYOUTS[platform];
  const outcome = emptyOutcome(paths);
  const failed = (problem: string) => ({ ...outcome, problem });

  try {
    outcome.fingerprint = await sourceFingerprint(paths);
  } catch (error) {
    return failed(`cannot read the EA source: ${(error as Error).message}`);
  }
  if (!options.force) {
    const stamp = await readStamp(paths.stamp);
    if (stamp?.fingerprint === outcome.fingerprint && existsSync(paths.published)) {
      return { ...outcome, ok: true, upToDate: true, warnings: stamp.warnings };
    }
  }
  if (!existsSync(paths.editor)) {
    return failed(`${paths.editor} not found: every ${platform} install ships ${layout.editor} next to ${layout.exe}; reinstall ${platform} into ${basePath}`);
  }

  // A clean build area: includes removed from the sources must not linger, and the output must be
  // this run's (MetaEditor may leave an old one in place when it fails).
  try {
    await rm(paths.buildDir, { recursive: true, force: true });
    await rm(paths.includeDir, { recursive: true, force: true });
    await mkdir(paths.buildDir, { recursive: true });
    await mkdir(paths.includeDir, { recursive: true });
    await copyFile(source, paths.buildSource);
    if (existsSync(paths.sourceIncludes)) await cp(paths.sourceIncludes, paths.includeDir, { recursive: true });
  } catch (error) {
    return failed(`the build area in ${paths.mqlDir} could not be prepared: ${(error as Error).message}`);
  }

  const cmd = metaEditorCommand(launcher, platform, basePath, { source: paths.buildSource, mqlDir: paths.mqlDir, log: paths.log });
  const run = await runMetaEditor(cmd, paths.log, { timeoutMs: options.timeoutMs, ...(options.graceMs !== undefined ? { graceMs: options.graceMs } : {}) });
  const what = launcher.kind === 'wine' ? `${cmd.command} ${layout.editor} (WINE_COMMAND)` : cmd.command;
  if (run.spawnError) return failed(`MetaEditor could not be started: ${what} failed with ${run.spawnError}`);

  let log: CompileLog | null = null;
  try {
    log = parseCompileLog(await readFile(paths.log));
    outcome.logFile = paths.log;
  } catch {
    log = null;
  }
  const exit = run.signal ? `signal ${run.signal}` : `exit code ${run.exitCode}`;
  const seconds = `${options.timeoutMs / 1000} s`;
  if (!log) {
    return failed(
      run.timedOut
        ? `MetaEditor did not finish within ${seconds} (COMPILE_TIMEOUT_SECONDS) and wrote no log; it was stopped`
        : `MetaEditor exited (${exit}) without writing its log ${paths.log}${run.output.trim() ? `; it said: ${run.output.trim().split('\n').slice(-3).join(' | ')}` : ''}`,
    );
  }
  outcome.errors = log.errors;
  outcome.warnings = log.warnings;
  outcome.elapsedMs = log.elapsedMs;
  outcome.diagnostics = log.diagnostics.map((d) => {
    const file = sourceFileFor(paths, launcher, d.file);
    return { ...d, file, text: describe(d, file) };
  });
  if (!log.finished) {
    return failed(
      run.timedOut
        ? `MetaEditor did not finish within ${seconds} (COMPILE_TIMEOUT_SECONDS); it was stopped`
        : `MetaEditor stopped (${exit}) before finishing: its log has no Result line`,
    );
  }
  if (log.errors > 0) {
    const first = outcome.diagnostics.find((d) => d.severity === 'error');
    return failed(`${plural(log.errors, 'error')}${first ? `, first: ${basename(first.file)}${first.line !== null ? `:${first.line}` : ''}: ${first.message}` : ''}`);
  }
  if (!existsSync(paths.buildOutput)) {
    return failed(`MetaEditor reported 0 errors but wrote no ${basename(paths.buildOutput)} (${exit})`);
  }
  try {
    await rename(paths.buildOutput, paths.published);
    const stamp: Stamp = { fingerprint: outcome.fingerprint, source, compiled_at: new Date().toISOString(), warnings: log.warnings };
    await writeFile(paths.stamp, JSON.stringify(stamp, null, 2) + '\n');
  } catch (error) {
    return failed(`the compiled EA could not be published to ${paths.published}: ${(error as Error).message}`);
  }
  if (run.timedOut || run.lingered) outcome.note = 'MetaEditor finished its log but did not exit; it was stopped';
  return { ...outcome, ok: true };
}

/** What `rubi-vps-agent compile` prints for one platform. */
export function formatCompile(o: CompileOutcome): string {
  const lines: string[] = [];
  for (const d of o.diagnostics) lines.push(`  ${d.text}`);
  const counts = `${plural(o.errors, 'error')}, ${plural(o.warnings, 'warning')}${o.elapsedMs !== null ? ` (${o.elapsedMs} msec)` : ''}`;
  if (o.ok && o.upToDate) lines.push(`${o.platform}: up to date -> ${o.eaPath}`);
  else if (o.ok) lines.push(`${o.platform}: compiled, ${counts} -> ${o.eaPath}${o.note ? ` (${o.note})` : ''}`);
  else lines.push(`${o.platform}: FAILED: ${o.problem}${o.logFile ? `\n${o.platform}: MetaEditor's log: ${o.logFile}` : ''}`);
  return lines.join('\n') + '\n';
}

/** The message an account gets when this host cannot build its EA (error code E_LAUNCH). */
export function compileFailureMessage(o: CompileOutcome): string {
  return `The terminal could not be started on the VPS host: the Rubi EA for ${o.platform} does not compile there (${o.problem}). The account will be retried.`.slice(0, 1000);
}

type BuildState = { status: 'compiling'; job: Promise<CompileOutcome> } | { status: 'done'; outcome: CompileOutcome };

export interface EaBuildsOptions {
  config: AgentConfig;
  log: Logger;
  metrics: AgentMetrics;
  /** A platform's EA became usable (the agent claims for it on its next pass). */
  onReady(platform: Platform): void;
}

/**
 * The agent's view of its EAs. A platform with a compiled EA (`<P>_EA_PATH`) is always ready. A
 * platform with sources is compiled once at start (only when the published EA is missing or was
 * built from other sources: the fingerprint); until that succeeded the agent claims no account of that platform,
 * and an account it already holds goes to `error` instead of a terminal. A failed compile is
 * tried again when the sources change (a later pass notices), never in a loop; a successful one
 * is kept until the agent restarts.
 */
export class EaBuilds {
  private readonly states = new Map<Platform, BuildState>();

  constructor(private readonly options: EaBuildsOptions) {}

  private sourced(): [Platform, PlatformInstall & { eaSource: string }][] {
    return (Object.entries(this.options.config.platforms) as [Platform, PlatformInstall][]).filter(
      (e): e is [Platform, PlatformInstall & { eaSource: string }] => typeof e[1].eaSource === 'string',
    );
  }

  /** Starts compiling every platform configured with sources; resolves when all are done. */
  start(): Promise<unknown> {
    return Promise.all(this.sourced().map(([p]) => this.compile(p)));
  }

  /** May the agent claim accounts of this platform? */
  ready(platform: Platform): boolean {
    const install = this.options.config.platforms[platform];
    if (!install) return false;
    if (install.eaSource === undefined) return true;
    const s = this.states.get(platform);
    return s?.status === 'done' && s.outcome.ok;
  }

  /** The platform's compile, once it is over (null: a compiled EA is configured, nothing to build). */
  async settled(platform: Platform): Promise<CompileOutcome | null> {
    const install = this.options.config.platforms[platform];
    if (!install?.eaSource) return null;
    const s = this.states.get(platform);
    if (!s) return this.compile(platform);
    return s.status === 'compiling' ? s.job : s.outcome;
  }

  /** Failed platforms whose sources changed since: compile again. */
  async retryChanged(): Promise<void> {
    for (const [platform, install] of this.sourced()) {
      const s = this.states.get(platform);
      if (s?.status !== 'done' || s.outcome.ok) continue;
      let fingerprint: string | null;
      try {
        fingerprint = await sourceFingerprint(buildPaths(platform, install.basePath, install.eaSource));
      } catch {
        fingerprint = null;
      }
      if (fingerprint !== s.outcome.fingerprint) await this.compile(platform);
    }
  }

  private compile(platform: Platform): Promise<CompileOutcome> {
    const current = this.states.get(platform);
    if (current?.status === 'compiling') return current.job;
    const { config, log, metrics } = this.options;
    const install = config.platforms[platform]!;
    const plog = log.child({ platform });
    const job = (async () => {
      plog.info({ source: install.eaSource }, 'compiling the EA');
      const outcome = await compileEa({
        platform,
        basePath: install.basePath,
        source: install.eaSource!,
        launcher: config.launcher,
        timeoutMs: config.compileTimeoutMs,
      }).catch((error: unknown) => ({ ...emptyOutcome(buildPaths(platform, install.basePath, install.eaSource!)), problem: `the compile failed: ${(error as Error).message}` }));
      this.states.set(platform, { status: 'done', outcome });
      metrics.eaCompiles.inc({ platform, result: outcome.upToDate ? 'up_to_date' : outcome.ok ? 'compiled' : 'failed' });
      const lines = outcome.diagnostics.slice(0, 20).map((d) => d.text);
      if (outcome.ok) {
        plog.info(
          { ea: outcome.eaPath, up_to_date: outcome.upToDate, warnings: outcome.warnings, elapsed_ms: outcome.elapsedMs, ...(lines.length ? { diagnostics: lines } : {}), ...(outcome.note ? { note: outcome.note } : {}) },
          outcome.upToDate ? 'the compiled EA is up to date' : 'EA compiled',
        );
        this.options.onReady(platform);
      } else {
        plog.error(
          { source: outcome.source, problem: outcome.problem, errors: outcome.errors, diagnostics: lines, log_file: outcome.logFile },
          `the EA does not compile: no ${platform} account is launched on this host until its sources are fixed (run "rubi-vps-agent compile")`,
        );
      }
      return outcome;
    })();
    this.states.set(platform, { status: 'compiling', job });
    return job;
  }
}
