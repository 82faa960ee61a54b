import { spawn, type ChildProcess } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { AgentConfig, Platform } from './config.ts';
import { decodeText } from './ini.ts';
import { LAYOUTS } from './layout.ts';
import { forceStop, WINEDLLOVERRIDES, type LaunchCommand } from './process.ts';

/**
 * Running MetaEditor, the compiler every MetaTrader install ships (metaeditor64.exe for MT5,
 * metaeditor.exe for MT4), and reading its compile log.
 *
 * Command line (cwd = the base install; under Wine prefixed with WINE_COMMAND like a terminal):
 *   metaeditor64.exe /portable /compile:<source> /inc:<base>\MQL5 /log:<log file>
 * Paths are Windows paths. Under Wine the agent maps a Linux path to the Z: drive every Wine
 * prefix has by default (`/srv/x` -> `Z:\srv\x`): no `winepath` process per path, and the same
 * mapping back for the paths in the log. Each path is one argument without quotes: Node (or
 * Wine) quotes an argument that holds a space when it builds the Windows command line, which is
 * what MetaEditor's own parser takes apart again.
 *
 * The log MetaEditor writes (UTF-16LE with a byte order mark, CRLF) reads like:
 *   Z:\srv\base\mt5\MQL5\Experts\Rubi\build\RubiTradeSync.mq5 : information: compiling 'RubiTradeSync.mq5'
 *   Z:\srv\base\mt5\MQL5\Experts\Rubi\build\RubiTradeSync.mq5 : information: including Z:\...\Include\Rubi\Http.mqh
 *   Z:\...\Include\Rubi\Http.mqh(42,5) : error 256: undeclared identifier 'x'
 *   Z:\...\RubiTradeSync.mq5(17,12) : warning 43: possible loss of data due to type conversion
 *    : information: generating code
 *   Result: 1 errors, 1 warnings, 123 msec elapsed, cpu='X64 Regular'
 * (some builds say `1 error(s), 1 warning(s)`; an error without a position, such as a missing
 * file, has no `(line,col)`). MetaEditor's exit code means nothing reliable (builds return 0, 1
 * or the number of errors): a compile is judged by the log and by a fresh output file only.
 */

export interface CompileDiagnostic {
  severity: 'error' | 'warning';
  /** As the log names it (a Windows path; src/ea-build.ts maps it back to the source). */
  file: string;
  line: number | null;
  column: number | null;
  /** MetaEditor's numeric code, e.g. "256"; null when the line has none. */
  code: string | null;
  message: string;
}

export interface CompileLog {
  diagnostics: CompileDiagnostic[];
  /** From the `Result:` line, or counted from the lines when there is none. */
  errors: number;
  warnings: number;
  /** The `Result:` line was there: MetaEditor finished. */
  finished: boolean;
  elapsedMs: number | null;
}

const DIAGNOSTIC = /^(.*?)\s:\s(information|error|warning)\b\s*(\d+)?\s*:\s?(.*)$/i;
const POSITION = /^(.*?)\((\d+),(\d+)\)$/;
const RESULT = /^(?:result:?\s*)?(\d+)\s+errors?(?:\(s\))?\s*,\s*(\d+)\s+warnings?(?:\(s\))?(.*)$/i;
const ELAPSED = /(\d+)\s*(?:msec|ms)\b/i;

/** Parses a compile log: bytes as MetaEditor wrote them (any of its encodings) or decoded text. */
export function parseCompileLog(input: Buffer | string): CompileLog {
  const text = typeof input === 'string' ? input.replace(/^\uFEFF/, '') : decodeText(input).text;
  const diagnostics: CompileDiagnostic[] = [];
  let result: { errors: number; warnings: number; elapsedMs: number | null } | null = null;
  for (const raw of text.split(/\r?\n/)) {
    const line = raw.trim();
    if (!line) continue;
    const d = DIAGNOSTIC.exec(line);
    const severity = d?.[2]!.toLowerCase();
    if (d && (severity === 'error' || severity === 'warning')) {
      const where = d[1]!.trim();
      const pos = POSITION.exec(where);
      diagnostics.push({
        severity,
        file: pos ? pos[1]!.trim() : where,
        line: pos ? Number(pos[2]) : null,
        column: pos ? Number(pos[3]) : null,
        code: d[3] ?? null,
        message: d[4]!.trim(),
      });
      continue;
    }
    // "Result: ..." on a line of its own, or as an information line in some builds.
    const r = RESULT.exec(d ? d[4]!.trim() : line);
    if (r) {
      const elapsed = ELAPSED.exec(r[3]!);
      result = { errors: Number(r[1]), warnings: Number(r[2]), elapsedMs: elapsed ? Number(elapsed[1]) : null };
    }
  }
  const counted = (s: CompileDiagnostic['severity']) => diagnostics.filter((x) => x.severity === s).length;
  return {
    diagnostics,
    errors: Math.max(result?.errors ?? 0, counted('error')),
    warnings: Math.max(result?.warnings ?? 0, counted('warning')),
    finished: result !== null,
    elapsedMs: result?.elapsedMs ?? null,
  };
}

/** A host path as MetaEditor is told it: as it is on Windows, on the Z: drive under Wine. */
export function toEditorPath(launcher: AgentConfig['launcher'], path: string): string {
  if (launcher.kind === 'direct') return path;
  return `Z:${path.replace(/\//g, '\\')}`;
}

/** The reverse, for paths in the log; other drives (and relative paths) stay as they are. */
export function fromEditorPath(launcher: AgentConfig['launcher'], path: string): string {
  if (launcher.kind === 'direct') return path;
  const z = /^z:([\\/].*)$/i.exec(path);
  return z ? z[1]!.replace(/\\/g, '/') : path;
}

export interface MetaEditorFiles {
  /** The source to compile (host path). */
  source: string;
  /** The folder holding `Include` (the data folder's MQL5/MQL4; host path). */
  mqlDir: string;
  /** Where MetaEditor writes its log (host path). */
  log: string;
}

export function metaEditorCommand(
  launcher: AgentConfig['launcher'],
  platform: Platform,
  basePath: string,
  files: MetaEditorFiles,
  baseEnv: NodeJS.ProcessEnv = process.env,
): LaunchCommand {
  const editor = LAYOUTS[platform].editor;
  const args = [
    '/portable',
    `/compile:${toEditorPath(launcher, files.source)}`,
    `/inc:${toEditorPath(launcher, files.mqlDir)}`,
    `/log:${toEditorPath(launcher, files.log)}`,
  ];
  if (launcher.kind === 'direct') return { command: join(basePath, editor), args, cwd: basePath, env: { ...baseEnv } };
  const [command, ...pre] = launcher.command.split(/\s+/).filter(Boolean);
  return {
    command: command ?? 'wine',
    args: [...pre, editor, ...args],
    cwd: basePath,
    env: { ...baseEnv, WINEPREFIX: launcher.prefix, WINEDEBUG: '-all', WINEDLLOVERRIDES },
  };
}

export interface MetaEditorRun {
  exitCode: number | null;
  signal: NodeJS.Signals | null;
  /** Killed after the timeout without a finished log. */
  timedOut: boolean;
  /** The log was finished but the process did not exit (seen under Wine): stopped after a grace. */
  lingered: boolean;
  /** The executable could not be started (ENOENT, EACCES, ...). */
  spawnError: string | null;
  /** Its stdout and stderr (Wine's messages), the last 8 KB. */
  output: string;
  durationMs: number;
}

export interface RunOptions {
  timeoutMs: number;
  /** After the log's `Result:` line appears, how long MetaEditor gets to exit on its own. */
  graceMs?: number;
  pollMs?: number;
}

/**
 * Runs MetaEditor and waits until it exits, or until its log is finished and it still has not
 * exited after a grace (then it is stopped: the compile is done), or until the timeout (then it is
 * killed and `timedOut`). It runs in its own process group so that the kill reaches what it started.
 */
export function runMetaEditor(cmd: LaunchCommand, logFile: string, options: RunOptions): Promise<MetaEditorRun> {
  const started = Date.now();
  const graceMs = options.graceMs ?? 5000;
  const pollMs = options.pollMs ?? 200;
  return new Promise((resolveRun) => {
    let output = '';
    const keep = (d: Buffer) => {
      output = (output + d.toString('utf8')).slice(-8192);
    };
    let child: ChildProcess;
    try {
      child = spawn(cmd.command, cmd.args, { cwd: cmd.cwd, env: cmd.env, detached: true, stdio: ['ignore', 'pipe', 'pipe'], windowsHide: true });
    } catch (error) {
      resolveRun({ exitCode: null, signal: null, timedOut: false, lingered: false, spawnError: (error as NodeJS.ErrnoException).code ?? (error as Error).message, output: '', durationMs: 0 });
      return;
    }
    child.stdout?.on('data', keep);
    child.stderr?.on('data', keep);
    let timedOut = false;
    let lingered = false;
    let finishedAt: number | null = null;
    let done = false;
    const finish = (run: Omit<MetaEditorRun, 'timedOut' | 'lingered' | 'output' | 'durationMs'>) => {
      if (done) return;
      done = true;
      clearInterval(poll);
      clearTimeout(timer);
      resolveRun({ ...run, timedOut, lingered, output, durationMs: Date.now() - started });
    };
    const kill = () => {
      if (child.pid !== undefined) void forceStop(child.pid);
    };
    const timer = setTimeout(() => {
      timedOut = true;
      kill();
    }, options.timeoutMs);
    const poll = setInterval(() => {
      if (finishedAt === null) {
        readFile(logFile)
          .then((buf) => {
            if (finishedAt === null && parseCompileLog(buf).finished) finishedAt = Date.now();
          })
          .catch(() => undefined);
      } else if (Date.now() - finishedAt >= graceMs && !lingered && !timedOut) {
        lingered = true;
        kill();
      }
    }, pollMs);
    child.once('error', (error: NodeJS.ErrnoException) => finish({ exitCode: null, signal: null, spawnError: error.code ?? error.message }));
    child.once('exit', (code, signal) => finish({ exitCode: code, signal, spawnError: null }));
  });
}
