import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { closeSync, openSync, readFileSync } from 'node:fs';
import { readdir, readFile } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { promisify } from 'node:util';
import type { AgentConfig, Platform } from './config.ts';
import { LAYOUTS, STARTUP_CONFIG_ARG } from './layout.ts';

const execFileAsync = promisify(execFile);

/**
 * Starting, identifying and stopping terminal processes. A terminal is tracked by its PID only,
 * never by name: under Wine every terminal is "terminal64.exe" (or a wine-preloader), and
 * several run on one host.
 *
 * Command lines (cwd = the terminal folder, so the relative config path works on both):
 *   MT5  terminal64.exe /portable /config:config\rubi-startup.ini
 *   MT4  terminal.exe /portable config\rubi-startup.ini
 * On Linux the same, prefixed with WINE_COMMAND (default `wine`), with WINEPREFIX, WINEDEBUG=-all
 * and WINEDLLOVERRIDES=winedbg.exe=d;winemenubuilder.exe=d: with winedbg disabled a crashing
 * terminal simply exits (no "Program Error" dialog waiting for a click on a headless host), and the
 * agent sees the exit and restarts it. `wine <exe>` runs the program in the process it was started
 * as, so the PID the agent got is the terminal's.
 *
 * Processes are started detached (their own process group on POSIX, no console on Windows) so a
 * restart of the agent does not take them down: the next agent adopts them from the state file.
 */

export interface LaunchCommand {
  command: string;
  args: string[];
  cwd: string;
  env: NodeJS.ProcessEnv;
}

export function terminalArgs(platform: Platform): string[] {
  return platform === 'MT5' ? ['/portable', `/config:${STARTUP_CONFIG_ARG}`] : ['/portable', STARTUP_CONFIG_ARG];
}

export const WINEDLLOVERRIDES = 'winedbg.exe=d;winemenubuilder.exe=d';

/**
 * Every terminal the agent starts carries `RUBI_TERMINAL=<folder name>` in its environment. If the
 * state file is ever lost while terminals run, the agent can still find the process of a folder
 * (on Linux, through /proc/<pid>/environ) before it starts that account again: no duplicate.
 */
export const TERMINAL_MARKER = 'RUBI_TERMINAL';

export function launchCommand(
  launcher: AgentConfig['launcher'],
  platform: Platform,
  folder: string,
  baseEnv: NodeJS.ProcessEnv = process.env,
): LaunchCommand {
  const exe = LAYOUTS[platform].exe;
  const marker = { [TERMINAL_MARKER]: basename(folder) };
  if (launcher.kind === 'direct') {
    return { command: join(folder, exe), args: terminalArgs(platform), cwd: folder, env: { ...baseEnv, ...marker } };
  }
  // WINE_COMMAND may carry arguments (e.g. "wine64" or "/opt/wine/bin/wine"); split on spaces.
  const [command, ...pre] = launcher.command.split(/\s+/).filter(Boolean);
  return {
    command: command ?? 'wine',
    args: [...pre, exe, ...terminalArgs(platform)],
    cwd: folder,
    env: {
      ...baseEnv,
      WINEPREFIX: launcher.prefix,
      WINEDEBUG: '-all',
      WINEDLLOVERRIDES: WINEDLLOVERRIDES,
      ...marker,
    },
  };
}

/**
 * Processes started for a terminal folder that the agent does not track (Linux only: reads
 * /proc/<pid>/environ of this user's processes; elsewhere returns nothing).
 */
export async function findTerminalProcesses(folderName: string): Promise<number[]> {
  if (process.platform !== 'linux') return [];
  const needle = `${TERMINAL_MARKER}=${folderName}`;
  const found: number[] = [];
  let entries: string[];
  try {
    entries = await readdir('/proc');
  } catch {
    return [];
  }
  for (const entry of entries) {
    if (!/^\d+$/.test(entry) || Number(entry) === process.pid) continue;
    try {
      const environ = await readFile(`/proc/${entry}/environ`, 'latin1');
      if (environ.split('\0').includes(needle) && isAlive(Number(entry))) found.push(Number(entry));
    } catch {
      // another user's process, or gone
    }
  }
  return found;
}

export interface Spawned {
  child: ChildProcess;
  pid: number;
}

/**
 * Spawns a terminal detached, its stdout/stderr appended to `<folder>/logs/rubi-agent-terminal.out`
 * (Wine's and a fake terminal's chatter; MetaTrader itself writes nothing there). Rejects when the
 * executable cannot be started (ENOENT, EACCES, ...).
 */
export function spawnTerminal(cmd: LaunchCommand, outputFile: string): Promise<Spawned> {
  return new Promise((resolveSpawn, reject) => {
    let fd: number | undefined;
    try {
      fd = openSync(outputFile, 'a', 0o600);
    } catch {
      fd = undefined;
    }
    const stdio = fd === undefined ? 'ignore' : (['ignore', fd, fd] as const);
    let child: ChildProcess;
    try {
      child = spawn(cmd.command, cmd.args, {
        cwd: cmd.cwd,
        env: cmd.env,
        detached: true,
        stdio: stdio as 'ignore',
        windowsHide: true,
      });
    } catch (error) {
      if (fd !== undefined) closeSync(fd);
      reject(error);
      return;
    }
    if (fd !== undefined) closeSync(fd);
    child.once('error', reject);
    child.once('spawn', () => {
      child.off('error', reject);
      child.unref();
      resolveSpawn({ child, pid: child.pid! });
    });
  });
}

/** Is a process with this PID alive (and not a zombie)? */
export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
  if (process.platform === 'linux') {
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
      if (state === 'Z' || state === 'X') return false;
    } catch {
      return false;
    }
  }
  return true;
}

/**
 * Something that tells this process apart from a later process that reuses its PID: on Linux the
 * start time in clock ticks since boot (/proc/<pid>/stat field 22) and the boot id; on Windows the
 * creation time from PowerShell. null where neither is available (then adoption trusts the PID).
 */
export async function processIdentity(pid: number): Promise<string | null> {
  if (process.platform === 'linux') {
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      const startTicks = fields[19]; // field 22 overall; fields[0] is field 3 (state)
      let boot = '';
      try {
        boot = readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim();
      } catch {
        boot = '';
      }
      return startTicks ? `linux:${boot}:${startTicks}` : null;
    } catch {
      return null;
    }
  }
  if (process.platform === 'win32') {
    try {
      const { stdout } = await execFileAsync(
        'powershell.exe',
        ['-NoProfile', '-NonInteractive', '-Command', `(Get-Process -Id ${pid}).StartTime.ToUniversalTime().Ticks`],
        { timeout: 15_000, windowsHide: true },
      );
      const ticks = stdout.trim();
      return /^\d+$/.test(ticks) ? `win32:${ticks}` : null;
    } catch {
      return null;
    }
  }
  return null;
}

/** Alive and the same process that was recorded (when an identity was recorded). */
export async function isSameProcess(pid: number, identity: string | null | undefined): Promise<boolean> {
  if (!isAlive(pid)) return false;
  if (!identity) return true;
  const now = await processIdentity(pid);
  return now === null || now === identity;
}

/** Asks a terminal to exit: SIGTERM to its process group (POSIX) or WM_CLOSE via taskkill (Windows). */
export async function requestStop(pid: number): Promise<void> {
  if (process.platform === 'win32') {
    await execFileAsync('taskkill', ['/PID', String(pid), '/T'], { windowsHide: true }).catch(() => undefined);
    return;
  }
  try {
    process.kill(-pid, 'SIGTERM');
  } catch {
    try {
      process.kill(pid, 'SIGTERM');
    } catch {
      // already gone
    }
  }
}

export async function forceStop(pid: number): Promise<void> {
  if (process.platform === 'win32') {
    await execFileAsync('taskkill', ['/PID', String(pid), '/T', '/F'], { windowsHide: true }).catch(() => undefined);
    return;
  }
  try {
    process.kill(-pid, 'SIGKILL');
  } catch {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** Stops a terminal and waits until it is gone: polite first, forced after `timeoutMs`. */
export async function stopProcess(pid: number, timeoutMs: number): Promise<void> {
  if (!isAlive(pid)) return;
  await requestStop(pid);
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (!isAlive(pid)) return;
    await sleep(100);
  }
  await forceStop(pid);
  const hard = Date.now() + 5000;
  while (Date.now() < hard && isAlive(pid)) await sleep(100);
}
