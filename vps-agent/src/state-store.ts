import { chmod, mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { VOCABULARY, type Vocabulary } from '@rubi/contracts/vocabulary.ts';
import { z } from 'zod';
import type { LogBaseline } from './terminal-log.ts';

/**
 * What the agent knows about its terminals, on disk so that a restarted agent adopts the
 * terminals that still run instead of launching duplicates:
 * `<TERMINALS_BASE_PATH>/rubi-vps-agent-state.json`, written atomically (temp file + rename),
 * mode 0600. It holds no secret: no password, no token, no key.
 */

export const STATE_FILE = 'rubi-vps-agent-state.json';

export const LocalState = z.enum(['launching', 'running', 'connected', 'restarting', 'error', 'stopped']);
export type LocalState = z.infer<typeof LocalState>;

export const TerminalRecord = z.object({
  account_id: z.string(),
  external_account_id: z.string(),
  platform: z.enum(VOCABULARY.platform),
  login: z.union([z.number(), z.string()]),
  server: z.string(),
  folder: z.string(),
  state: LocalState,
  pid: z.number().int().nullable(),
  /** Tells the process apart from a later one with the same PID (see process.ts). */
  pid_identity: z.string().nullable(),
  launched_at: z.string().nullable(),
  authorized_at: z.string().nullable(),
  connected_at: z.string().nullable(),
  password_removed: z.boolean(),
  /** Launches so far (the first one included). */
  launches: z.number().int(),
  restarts: z.number().int(),
  /** Times (ms) of recent unplanned exits, for crash-loop detection. */
  exits: z.array(z.number()),
  error_code: z.string().nullable(),
  error_message: z.string().nullable(),
  /** Log sizes when the current process was launched: where reading its logs starts. */
  log_baseline: z.record(z.string(), z.number()),
  updated_at: z.string(),
});
export type TerminalRecord = z.infer<typeof TerminalRecord>;

export const StateFile = z.object({
  version: z.literal(1),
  host_pid: z.number().int().nullable(),
  updated_at: z.string(),
  terminals: z.record(z.string(), TerminalRecord),
});
export type StateFile = z.infer<typeof StateFile>;

export function emptyState(): StateFile {
  return { version: 1, host_pid: null, updated_at: new Date().toISOString(), terminals: {} };
}

export function newRecord(input: {
  account_id: string;
  external_account_id: string;
  platform: Vocabulary<'platform'>;
  login: number | string;
  server: string;
  folder: string;
  log_baseline?: LogBaseline;
}): TerminalRecord {
  return {
    ...input,
    state: 'launching',
    pid: null,
    pid_identity: null,
    launched_at: null,
    authorized_at: null,
    connected_at: null,
    password_removed: false,
    launches: 0,
    restarts: 0,
    exits: [],
    error_code: null,
    error_message: null,
    log_baseline: input.log_baseline ?? {},
    updated_at: new Date().toISOString(),
  };
}

export class StateStore {
  readonly path: string;
  private writing: Promise<void> = Promise.resolve();

  constructor(terminalsBasePath: string) {
    this.path = join(terminalsBasePath, STATE_FILE);
  }

  async load(): Promise<StateFile> {
    let text: string;
    try {
      text = await readFile(this.path, 'utf8');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return emptyState();
      throw error;
    }
    const parsed = StateFile.safeParse(JSON.parse(text));
    if (!parsed.success) throw new Error(`${this.path} is not a valid state file: ${parsed.error.message}`);
    return parsed.data;
  }

  /** Writes are serialised; each one replaces the file atomically. */
  save(state: StateFile): Promise<void> {
    const snapshot = JSON.stringify({ ...state, updated_at: new Date().toISOString() }, null, 2) + '\n';
    this.writing = this.writing
      .catch(() => undefined)
      .then(async () => {
        await mkdir(join(this.path, '..'), { recursive: true });
        const tmp = `${this.path}.${process.pid}.tmp`;
        await writeFile(tmp, snapshot, { mode: 0o600 });
        await chmod(tmp, 0o600);
        await rename(tmp, this.path);
      });
    return this.writing;
  }
}
