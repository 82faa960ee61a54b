/**
 * The INI dialect MetaTrader reads: `[Section]`, `Key=Value`, `;` comments, CRLF line ends.
 * MetaTrader 5 writes its own ini files (config/common.ini, terminal.ini) as UTF-16LE with a byte
 * order mark; MetaTrader 4 writes single-byte ANSI. Both read either form, so the agent keeps the
 * encoding of a file it edits and writes new MT5 files as UTF-16LE (like MT5 itself) and new MT4 /
 * EA files as plain ASCII.
 */

export type TextEncodingName = 'utf16le' | 'utf8' | 'latin1';

export interface IniSection {
  name: string;
  entries: [string, string][];
}

export const CRLF = '\r\n';

/** Decodes MetaTrader text: UTF-16LE with BOM, UTF-8 with or without BOM, else Latin-1. */
export function decodeText(buf: Buffer): { text: string; encoding: TextEncodingName } {
  if (buf.length >= 2 && buf[0] === 0xff && buf[1] === 0xfe) return { text: buf.subarray(2).toString('utf16le'), encoding: 'utf16le' };
  if (buf.length >= 3 && buf[0] === 0xef && buf[1] === 0xbb && buf[2] === 0xbf) return { text: buf.subarray(3).toString('utf8'), encoding: 'utf8' };
  // UTF-16LE without BOM: every other byte of ASCII text is zero.
  if (buf.length >= 4 && buf[1] === 0 && buf[3] === 0 && buf[0] !== 0) return { text: buf.toString('utf16le'), encoding: 'utf16le' };
  const utf8 = buf.toString('utf8');
  if (!utf8.includes('\uFFFD')) return { text: utf8, encoding: 'utf8' };
  return { text: buf.toString('latin1'), encoding: 'latin1' };
}

export function encodeText(text: string, encoding: TextEncodingName): Buffer {
  if (encoding === 'utf16le') return Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from(text, 'utf16le')]);
  return Buffer.from(text, encoding);
}

export function parseIni(text: string): IniSection[] {
  const sections: IniSection[] = [{ name: '', entries: [] }];
  for (const raw of text.split(/\r?\n/)) {
    const line = raw.trim();
    if (line === '' || line.startsWith(';') || line.startsWith('#')) continue;
    const header = /^\[(.+)\]$/.exec(line);
    if (header) {
      sections.push({ name: header[1]!.trim(), entries: [] });
      continue;
    }
    const eq = line.indexOf('=');
    if (eq <= 0) continue;
    sections[sections.length - 1]!.entries.push([line.slice(0, eq).trim(), line.slice(eq + 1).trim()]);
  }
  return sections.filter((s) => s.name !== '' || s.entries.length > 0);
}

export function formatIni(sections: IniSection[], header?: string): string {
  const lines: string[] = [];
  if (header) for (const h of header.split('\n')) lines.push(`; ${h}`.trimEnd());
  for (const s of sections) {
    if (s.name) lines.push(`[${s.name}]`);
    for (const [k, v] of s.entries) lines.push(`${k}=${v}`);
  }
  return lines.join(CRLF) + CRLF;
}

/** Sets keys in a section (case-insensitive names, MetaTrader's reading), keeping everything else. */
export function setIniValues(sections: IniSection[], section: string, values: [string, string][]): IniSection[] {
  const out = sections.map((s) => ({ name: s.name, entries: [...s.entries] }));
  let target = out.find((s) => s.name.toLowerCase() === section.toLowerCase());
  if (!target) {
    target = { name: section, entries: [] };
    out.push(target);
  }
  for (const [k, v] of values) {
    const i = target.entries.findIndex(([ek]) => ek.toLowerCase() === k.toLowerCase());
    if (i >= 0) target.entries[i] = [target.entries[i]![0], v];
    else target.entries.push([k, v]);
  }
  return out;
}

/** A value goes on one line: no line breaks (a password with a newline could inject keys). */
export function iniValue(value: string | number, what: string): string {
  const s = String(value);
  if (/[\r\n\0]/.test(s)) throw new Error(`${what} cannot contain a line break`);
  return s;
}
