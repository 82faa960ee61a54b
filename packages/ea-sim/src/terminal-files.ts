import { Buffer } from 'node:buffer';
import { existsSync } from 'node:fs';
import { appendFile, mkdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { Vocabulary } from '@rubi/contracts/vocabulary.ts';

/**
 * Reading what the VPS agent wrote into a terminal folder, the way the EA reads it: line by line,
 * skipping blank lines and lines starting with `;`, `#` or `[`, splitting at the first `=`. This is
 * deliberately not the agent's own parser: the simulator checks the agent's files from the EA's side.
 */

export const EA_CONFIG_FILE = 'rendr_ea_config.ini';

/** rendr_ea_config.ini: what the provisioned EA needs to register and report. */
export interface EaConfigFile {
  external_account_id: string;
  register_url: string;
  trades_url: string;
  provisioning_token: string;
  token_expires_at: string | undefined;
}

/** Text as MetaTrader writes it: UTF-16LE with a byte order mark (MT5), UTF-8, or ANSI. */
export function decodeTerminalText(bytes: Uint8Array): string {
  if (bytes[0] === 0xff && bytes[1] === 0xfe) return new TextDecoder('utf-16le').decode(bytes.subarray(2));
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(bytes).replace(/^\uFEFF/, '');
  } catch {
    return new TextDecoder('latin1').decode(bytes);
  }
}

/** Key=value pairs of a file, keys lower-cased; the first occurrence of a key wins. */
export function readKeyValues(text: string): Map<string, string> {
  const values = new Map<string, string>();
  for (const raw of text.split(/\r?\n/)) {
    const line = raw.trim();
    if (line === '' || line.startsWith(';') || line.startsWith('#') || line.startsWith('[')) continue;
    const eq = line.indexOf('=');
    if (eq <= 0) continue;
    const key = line.slice(0, eq).trim().toLowerCase();
    if (!values.has(key)) values.set(key, line.slice(eq + 1).trim());
  }
  return values;
}

export function parseEaConfigFile(text: string, source = EA_CONFIG_FILE): EaConfigFile {
  const values = readKeyValues(text);
  const missing = ['external_account_id', 'register_url', 'trades_url', 'provisioning_token'].filter((k) => !values.get(k));
  if (missing.length > 0) throw new Error(`${source}: missing ${missing.join(', ')}`);
  return {
    external_account_id: values.get('external_account_id')!,
    register_url: values.get('register_url')!,
    trades_url: values.get('trades_url')!,
    provisioning_token: values.get('provisioning_token')!,
    token_expires_at: values.get('token_expires_at'),
  };
}

export async function readEaConfigFile(path: string): Promise<EaConfigFile> {
  return parseEaConfigFile(decodeTerminalText(await readFile(path)), path);
}

/** What the EA learns from its terminal (AccountInfoInteger(ACCOUNT_LOGIN), ACCOUNT_SERVER, ...). */
export interface TerminalIdentity {
  platform: Vocabulary<'platform'>;
  login: number;
  server: string;
  eaConfigPath: string;
}

/**
 * The identity of the terminal in a portable folder the agent built: MT5 if it has `MQL5/`, else
 * MT4; login and server from the start-up file the terminal was launched with
 * (`config/rubi-startup.ini`), which is where the terminal itself got them.
 */
export async function readTerminalFolder(folder: string): Promise<TerminalIdentity> {
  const platform = existsSync(join(folder, 'MQL5')) ? 'MT5' : 'MT4';
  const startup = join(folder, 'config', 'rubi-startup.ini');
  if (!existsSync(startup)) throw new Error(`${startup} not found: is ${folder} a terminal folder made by rubi-vps-agent?`);
  const values = readKeyValues(decodeTerminalText(await readFile(startup)));
  const login = Number(values.get('login'));
  const server = values.get('server');
  if (!Number.isInteger(login) || login <= 0 || !server) throw new Error(`${startup}: no Login/Server`);
  return { platform, login, server, eaConfigPath: join(folder, platform === 'MT5' ? 'MQL5' : 'MQL4', 'Files', EA_CONFIG_FILE) };
}

const pad = (n: number, w = 2) => String(n).padStart(w, '0');

/**
 * Appends a line to the EA's log in the terminal folder, as the terminal writes what an EA
 * prints (`MQL5/Logs/YYYYMMDD.log`, local time; MT5: UTF-16LE with a byte order mark and
 * `CS\t<level>\t<time>\t<EA (symbol,period)>\t<message>`; MT4: ANSI `<level>\t<time>\t<message>`).
 * The VPS agent reads these logs: "registered" there is how it learns the EA is up.
 */
export async function appendEaLog(folder: string, platform: Vocabulary<'platform'>, message: string, now = new Date()): Promise<void> {
  const dir = join(folder, platform === 'MT5' ? 'MQL5' : 'MQL4', 'Logs');
  await mkdir(dir, { recursive: true });
  const file = join(dir, `${now.getFullYear()}${pad(now.getMonth() + 1)}${pad(now.getDate())}.log`);
  const time = `${pad(now.getHours())}:${pad(now.getMinutes())}:${pad(now.getSeconds())}.${pad(now.getMilliseconds(), 3)}`;
  if (platform === 'MT5') {
    const body = new Uint8Array(Buffer.from(`CS\t0\t${time}\tRubiEA (EURUSD,H1)\t${message}\r\n`, 'utf16le'));
    const fresh = !existsSync(file) || (await stat(file)).size === 0;
    await appendFile(file, fresh ? Buffer.concat([Buffer.from([0xff, 0xfe]), body]) : body);
  } else {
    await appendFile(file, Buffer.from(`0\t${time}\t${message}\r\n`, 'latin1'));
  }
}
