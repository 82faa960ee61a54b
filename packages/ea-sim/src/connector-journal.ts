import { Buffer } from 'node:buffer';
import { closeSync, existsSync, fsyncSync, mkdirSync, openSync, readFileSync, renameSync, writeFileSync, writeSync } from 'node:fs';
import { dirname } from 'node:path';
import type { ReportSignalStatusRequest } from '@rubi/contracts/signals.ts';

/**
 * The connector EA's journal of the signals it executes, as the MQL EA keeps it
 * (mql/Include/Rubi/Connector.mqh, RubiConnectorJournal): one record per signal id,
 *   sending   written and flushed BEFORE the order is sent
 *   sent      the outcome (the status report to send), written right after the order returned
 *   reported  the backend acknowledged the report
 * in append-only lines "<fnv1a-32 hex>\t<id>\t<json>\n"; the last valid line of an id wins, a torn
 * or damaged line is ignored. Without a file the journal lives in memory (a naive EA: a restart
 * forgets it).
 */

export type JournalState = 'sending' | 'sent' | 'reported';

export interface JournalRecord {
  state: JournalState;
  /** The order comment tag (connectorTag). */
  tag: string;
  type: string;
  symbol: string;
  /** When the record was first written, unix seconds. */
  at: number;
  /** Why a "sending" record stays unsettled although the order returned (e.g. a timeout). */
  note?: string;
  report?: ReportSignalStatusRequest;
}

export const CONNECTOR_TAG_PREFIX = 'rubi:';

/**
 * The order comment tag of a signal: "rubi:" + the first 20 hex digits of its id (dashes removed,
 * lower case), 25 characters (RubiConnectorTag).
 */
export function connectorTag(signalId: string): string {
  return CONNECTOR_TAG_PREFIX + signalId.replace(/-/g, '').slice(0, 20).toLowerCase();
}

/** A comment carries `tag` when equal to it or starting with it (some brokers append to comments). */
export function commentHasTag(comment: string, tag: string): boolean {
  return tag !== '' && comment.startsWith(tag);
}

/** 32-bit FNV-1a (RubiFnv1a). */
export function fnv1a(bytes: Uint8Array): number {
  let h = 0x811c9dc5;
  for (const b of bytes) h = Math.imul(h ^ b, 0x01000193) >>> 0;
  return h >>> 0;
}

function lineOf(id: string, record: JournalRecord): Buffer {
  const payload = Buffer.from(`${id}\t${JSON.stringify(record)}`, 'utf8');
  return Buffer.concat([Buffer.from(`${fnv1a(payload).toString(16).padStart(8, '0')}\t`, 'utf8'), payload, Buffer.from('\n')]);
}

function parseLine(line: Buffer): [string, JournalRecord] | undefined {
  let bytes = line;
  if (bytes.length > 0 && bytes[bytes.length - 1] === 0x0d) bytes = bytes.subarray(0, bytes.length - 1);
  if (bytes.length < 11 || bytes[8] !== 0x09) return undefined;
  const payload = bytes.subarray(9);
  if (bytes.subarray(0, 8).toString('utf8') !== fnv1a(payload).toString(16).padStart(8, '0')) return undefined;
  const text = payload.toString('utf8');
  const tab = text.indexOf('\t');
  if (tab <= 0) return undefined;
  try {
    const record = JSON.parse(text.slice(tab + 1)) as JournalRecord;
    return typeof record.state === 'string' ? [text.slice(0, tab), record] : undefined;
  } catch {
    return undefined;
  }
}

export class ConnectorJournal {
  private readonly records = new Map<string, JournalRecord>();
  /** Damaged or torn lines dropped when the file was read (a crash while writing). */
  readonly dropped: number = 0;

  /** Reads `file` (missing: empty); compacts it when it held damaged or superseded lines. */
  constructor(readonly file?: string) {
    if (!file || !existsSync(file)) return;
    const bytes = readFileSync(file);
    let lines = 0;
    let dropped = 0;
    let start = 0;
    for (let i = 0; i < bytes.length; i++) {
      if (bytes[i] !== 0x0a) continue;
      const parsed = parseLine(bytes.subarray(start, i));
      if (parsed) {
        this.records.set(parsed[0], parsed[1]);
        lines++;
      } else dropped++;
      start = i + 1;
    }
    if (start < bytes.length) dropped++; // a torn last line: that record was never acted on
    this.dropped = dropped;
    if (dropped > 0 || lines > this.records.size * 2 + 100) this.compact();
  }

  get(id: string): JournalRecord | undefined {
    return this.records.get(id);
  }

  stateOf(id: string): JournalState | undefined {
    return this.records.get(id)?.state;
  }

  entries(): [string, JournalRecord][] {
    return [...this.records.entries()];
  }

  /** Records not yet acknowledged by the backend (sending or sent). */
  unsettled(): number {
    let n = 0;
    for (const r of this.records.values()) if (r.state !== 'reported') n++;
    return n;
  }

  /** Appends the new record of `id`, flushed to disk before it returns (the EA acts on it next). */
  put(id: string, record: JournalRecord): void {
    if (this.file) {
      mkdirSync(dirname(this.file), { recursive: true });
      const fd = openSync(this.file, 'a');
      try {
        writeSync(fd, lineOf(id, record));
        fsyncSync(fd);
      } finally {
        closeSync(fd);
      }
    }
    this.records.set(id, record);
  }

  /** Rewrites the file with the latest record of each id (temp file + rename). */
  private compact(): void {
    if (!this.file) return;
    const tmp = `${this.file}.tmp`;
    writeFileSync(tmp, Buffer.concat(this.entries().map(([id, r]) => lineOf(id, r))));
    renameSync(tmp, this.file);
  }
}
