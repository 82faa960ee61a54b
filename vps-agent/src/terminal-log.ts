import { open, readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { Platform } from './config.ts';
import { LAYOUTS } from './layout.ts';

/**
 * Reading what a terminal says about itself. MetaTrader writes one journal file per day,
 * `logs/YYYYMMDD.log` in the terminal folder (portable mode), and the EA's prints go to
 * `MQL5/Logs/YYYYMMDD.log` (`MQL4/Logs`). MT5 writes them as UTF-16LE, MT4 as ANSI. The agent reads
 * only what was appended since a baseline (the sizes at launch), so an old file never decides
 * about a new run.
 *
 * The phrases below are MetaTrader's journal wording as seen in terminal logs (MT5:
 * "'<login>': authorized on <server> through <access point>", "'<login>': authorization on <server>
 * failed (Invalid account)"; MT4: "'<login>': login on <server> through ...", "'<login>': invalid
 * account"). They are heuristics: matching is case-insensitive and loose on purpose, and the
 * EA's own log is read with the same rules, so an EA can print "authorization failed" or
 * "WebRequest not allowed (4014)" and be understood.
 */

export type LogEventKind =
  | 'authorized'
  | 'auth_failed'
  | 'server_not_found'
  | 'no_connection'
  | 'webrequest_blocked'
  | 'ea_registered';

export interface LogEvent {
  kind: LogEventKind;
  source: 'terminal' | 'ea';
  file: string;
  line: string;
}

const RULES: { kind: LogEventKind; pattern: RegExp }[] = [
  // Failures first: "authorization on X failed" also contains "authoriz...on X".
  { kind: 'auth_failed', pattern: /authoriz\w* (?:on .+ )?failed|authorization failed|invalid account|invalid password|incorrect password|wrong password|login failed/i },
  { kind: 'server_not_found', pattern: /server not found|unknown server|not found in (?:the )?server(?:s)? list|invalid server|no such server/i },
  { kind: 'no_connection', pattern: /no connection to|connect(?:ion)? failed|cannot connect to|common error/i },
  { kind: 'webrequest_blocked', pattern: /\b4014\b|webrequest.*(?:not allowed|blocked|disabled|forbidden)/i },
  { kind: 'authorized', pattern: /\bauthorized on\b|\blogin(?: datacenter)? on .+ through\b/i },
  { kind: 'ea_registered', pattern: /\bregistered\b/i },
];

export function classifyLine(line: string): LogEventKind | null {
  for (const r of RULES) {
    if (!r.pattern.test(line)) continue;
    if (r.kind === 'ea_registered' && /not registered|unregistered|register(?:ed)? failed|fail/i.test(line)) return null;
    return r.kind;
  }
  return null;
}

export type LogBaseline = Record<string, number>;

interface FileCursor {
  offset: number;
  utf16: boolean | null;
  partial: string;
}

/** The folders (relative to the terminal folder) whose *.log files are read. */
export function logDirs(platform: Platform): { dir: string; source: 'terminal' | 'ea' }[] {
  return [
    { dir: 'logs', source: 'terminal' },
    { dir: join(LAYOUTS[platform].mqlDir, 'Logs'), source: 'ea' },
  ];
}

async function listLogs(folder: string, platform: Platform): Promise<{ rel: string; source: 'terminal' | 'ea' }[]> {
  const out: { rel: string; source: 'terminal' | 'ea' }[] = [];
  for (const { dir, source } of logDirs(platform)) {
    let names: string[] = [];
    try {
      names = await readdir(join(folder, dir));
    } catch {
      continue;
    }
    for (const n of names.sort()) if (n.toLowerCase().endsWith('.log')) out.push({ rel: join(dir, n), source });
  }
  return out;
}

/** Current sizes of every log file: what a new run's reading starts from. */
export async function snapshotBaseline(folder: string, platform: Platform): Promise<LogBaseline> {
  const baseline: LogBaseline = {};
  for (const { rel } of await listLogs(folder, platform)) {
    try {
      baseline[rel] = (await stat(join(folder, rel))).size;
    } catch {
      // vanished between readdir and stat
    }
  }
  return baseline;
}

export class LogWatcher {
  private readonly cursors = new Map<string, FileCursor>();

  constructor(
    private readonly folder: string,
    private readonly platform: Platform,
    baseline: LogBaseline,
  ) {
    for (const [rel, offset] of Object.entries(baseline)) this.cursors.set(rel, { offset, utf16: null, partial: '' });
  }

  /** Reads what was appended since the last call and returns the recognised lines. */
  async poll(): Promise<LogEvent[]> {
    const events: LogEvent[] = [];
    for (const { rel, source } of await listLogs(this.folder, this.platform)) {
      let cursor = this.cursors.get(rel);
      if (!cursor) {
        cursor = { offset: 0, utf16: null, partial: '' };
        this.cursors.set(rel, cursor);
      }
      for (const line of await this.readNew(rel, cursor)) {
        const kind = classifyLine(line);
        if (kind) events.push({ kind, source, file: rel, line: line.trim().slice(0, 500) });
      }
    }
    return events;
  }

  private async readNew(rel: string, cursor: FileCursor): Promise<string[]> {
    let handle;
    try {
      handle = await open(join(this.folder, rel), 'r');
    } catch {
      return [];
    }
    try {
      const { size } = await handle.stat();
      if (size < cursor.offset) {
        cursor.offset = 0; // truncated or replaced
        cursor.partial = '';
      }
      if (cursor.utf16 === null) {
        const head = Buffer.alloc(Math.min(4, size));
        if (head.length >= 2) {
          await handle.read(head, 0, head.length, 0);
          cursor.utf16 = (head[0] === 0xff && head[1] === 0xfe) || (head.length >= 4 && head[1] === 0 && head[3] === 0);
        } else if (size === 0) {
          return [];
        }
      }
      if (cursor.offset === 0 && cursor.utf16 && size >= 2) cursor.offset = 2; // skip the BOM
      let length = size - cursor.offset;
      if (cursor.utf16) length -= length % 2; // whole UTF-16 code units only
      if (length <= 0) return [];
      const buf = Buffer.alloc(length);
      await handle.read(buf, 0, length, cursor.offset);
      cursor.offset += length;
      const text = cursor.partial + (cursor.utf16 ? buf.toString('utf16le') : buf.toString('latin1'));
      const lines = text.split(/\r?\n/);
      cursor.partial = lines.pop() ?? '';
      return lines.filter((l) => l.trim() !== '');
    } finally {
      await handle.close();
    }
  }
}
