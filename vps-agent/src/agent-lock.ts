import { createHash } from 'node:crypto';
import { realpath, stat, unlink } from 'node:fs/promises';
import { createConnection, createServer, type Server } from 'node:net';
import { join } from 'node:path';

/**
 * One agent per terminals folder, held by the operating system.
 *
 * The agent listens on a local socket whose name is derived from the folder's identity: an abstract
 * Unix socket on Linux (`\0rubi-vps-agent/<hash>`), a named pipe on Windows
 * (`\\.\pipe\rubi-vps-agent-<hash>`). Binding a name is atomic in the kernel: of two agents started at
 * the same moment exactly one binds, the other gets EADDRINUSE (on Windows libuv creates the first
 * pipe instance with FILE_FLAG_FIRST_PIPE_INSTANCE, so a second server gets the same error). Both
 * kinds of name live in the kernel only, with no file behind them: they are released when the
 * process ends, however it ends (exit, SIGTERM, a crash, SIGKILL), so a killed agent never blocks
 * the next start, and there is no staleness to guess. The socket is close-on-exec (non-inheritable
 * on Windows): terminals the agent launched do not keep it.
 *
 * Node has no flock/LockFileEx in core; the npm packages that add one are native addons compiled at
 * install (a C toolchain on every Windows VPS), and the pure-JS lock files (proper-lockfile, a pid
 * file opened with `wx`) decide staleness by a timestamp or a pid, which a killed agent or a
 * recycled pid gets wrong. This needs nothing but `node:net`.
 *
 * The holder answers every connection with its pid, so the agent that lost names it. `status` and
 * `doctor` never take the lock (they only read the state file) and work while an agent runs.
 *
 * The folder's identity is its device and inode numbers (Windows: volume serial and file index), so
 * two spellings of one folder (a symlink, a bind mount, another letter case) share one lock. Scope:
 * one machine (and, on Linux, one network namespace); a terminals folder is never shared between
 * hosts. Other systems (macOS, only for development) use a socket file in the folder, removed when
 * nobody answers on it.
 */

export class AgentLockedError extends Error {
  readonly folder: string;
  readonly pid: number | null;

  // No parameter properties: tests run this file with Node's own type stripping.
  constructor(folder: string, pid: number | null) {
    super(
      `another agent (${pid === null ? 'pid unknown' : `pid ${pid}`}) is running on ${folder}: two agents on one terminals folder would launch duplicates`,
    );
    this.name = 'AgentLockedError';
    this.folder = folder;
    this.pid = pid;
  }
}

export interface AgentLock {
  /** Where the lock lives (for logs and tests). */
  readonly address: string;
  release(): Promise<void>;
}

/** The lock's address for a folder (which must exist). */
export async function lockAddress(folder: string, platform: NodeJS.Platform = process.platform): Promise<string> {
  const s = await stat(folder, { bigint: true });
  // A file system without stable file ids reports 0: fall back to the resolved path.
  const identity = s.ino !== 0n ? `${s.dev}:${s.ino}` : (await realpath(folder)).toLowerCase();
  const hash = createHash('sha256').update(identity).digest('hex').slice(0, 32);
  if (platform === 'linux') return `\0rubi-vps-agent/${hash}`;
  if (platform === 'win32') return `\\\\.\\pipe\\rubi-vps-agent-${hash}`;
  return join(folder, '.rubi-vps-agent.sock');
}

/** Takes the folder's lock for the life of this process, or throws AgentLockedError at once. */
export async function acquireAgentLock(folder: string): Promise<AgentLock> {
  const address = await lockAddress(folder);
  const fileSocket = !address.startsWith('\0') && !address.startsWith('\\\\.\\pipe\\');
  for (let attempt = 0; ; attempt++) {
    const server = createServer((socket) => {
      socket.on('error', () => {});
      socket.end(`${process.pid}\n`);
    });
    try {
      await listen(server, address);
      // The lock must not keep a process alive on its own, nor fail it later.
      server.unref();
      server.on('error', () => {});
      let released = false;
      return {
        address,
        release: async () => {
          if (released) return;
          released = true;
          await new Promise<void>((r) => server.close(() => r()));
        },
      };
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EADDRINUSE') throw error;
      const pid = await lockHolder(folder, address);
      // A socket file left by a killed agent: nobody answers on it. Remove it and bind once more.
      if (pid === null && fileSocket && attempt === 0 && !(await answers(address))) {
        await unlink(address).catch(() => {});
        continue;
      }
      throw new AgentLockedError(folder, pid);
    }
  }
}

/** The pid of the agent holding the folder's lock, or null when none answers within timeoutMs. */
export async function lockHolder(folder: string, address?: string, timeoutMs = 2_000): Promise<number | null> {
  const where = address ?? (await lockAddress(folder).catch(() => null));
  if (where === null) return null;
  return new Promise((resolve) => {
    let data = '';
    const socket = createConnection(where);
    const done = (pid: number | null) => {
      clearTimeout(timer);
      socket.destroy();
      resolve(pid);
    };
    const timer = setTimeout(() => done(null), timeoutMs);
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => (data += chunk));
    socket.on('end', () => {
      const pid = Number(data.trim());
      done(Number.isSafeInteger(pid) && pid > 0 ? pid : null);
    });
    socket.on('error', () => done(null));
  });
}

function answers(address: string): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = createConnection(address);
    socket.on('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.on('error', () => resolve(false));
  });
}

function listen(server: Server, address: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const onError = (error: Error) => reject(error);
    server.once('error', onError);
    server.listen(address, () => {
      server.off('error', onError);
      resolve();
    });
  });
}
