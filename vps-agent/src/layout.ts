import { chmod, copyFile, cp, mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { basename, extname, join } from 'node:path';
import type { Platform } from './config.ts';
import { EA_CONFIG_FILE, formatEaConfig, type EaConfig } from './ea-config.ts';
import { CRLF, decodeText, encodeText, formatIni, iniValue, parseIni, setIniValues, type IniSection, type TextEncodingName } from './ini.ts';

/**
 * One portable terminal per account: `<TERMINALS_BASE_PATH>/MT5-<external_account_id>` (or MT4-),
 * a copy of the base install (two terminals can never run from one folder). Everything the agent
 * writes there, and where, is decided here; the contents are pure functions so tests can assert
 * them byte for byte.
 *
 *   <folder>/terminal64.exe | terminal.exe      from the base install
 *   <folder>/MQL5|MQL4/Experts/<EA file>        the compiled EA (MT5_EA_PATH, or the one compiled
 *                                               from MT5_EA_SOURCE: src/ea-build.ts)
 *   <folder>/MQL5|MQL4/Files/rendr_ea_config.ini  the EA's config (token)            mode 0600
 *   <folder>/config/rubi-startup.ini            the start-up config (password)      mode 0600
 *   <folder>/config/common.ini                  [Experts] WebRequest allow-list, merged into the
 *                                               base install's own file if it has one
 *   <folder>/logs/*.log                         written by the terminal; the agent reads them
 */

export interface PlatformLayout {
  platform: Platform;
  exe: string;
  /** The MetaEditor every MetaTrader install ships, next to the terminal. */
  editor: 'metaeditor.exe' | 'metaeditor64.exe';
  mqlDir: 'MQL4' | 'MQL5';
  eaExt: '.ex4' | '.ex5';
  sourceExt: '.mq4' | '.mq5';
}

export const LAYOUTS: Record<Platform, PlatformLayout> = {
  MT4: { platform: 'MT4', exe: 'terminal.exe', editor: 'metaeditor.exe', mqlDir: 'MQL4', eaExt: '.ex4', sourceExt: '.mq4' },
  MT5: { platform: 'MT5', exe: 'terminal64.exe', editor: 'metaeditor64.exe', mqlDir: 'MQL5', eaExt: '.ex5', sourceExt: '.mq5' },
};

/**
 * The build area the agent compiles EA sources in, inside the base install's data folder
 * (src/ea-build.ts): `<mql>/Experts/Rubi` and `<mql>/Include/Rubi`. Terminal folders do not get
 * it: each gets the one compiled EA in `<mql>/Experts`.
 */
export const BUILD_NAMESPACE = 'Rubi';

/** The start-up config, relative to the terminal folder (the terminal runs with that folder as cwd). */
export const STARTUP_CONFIG = join('config', 'rubi-startup.ini');
/** The same path as the terminal is told it (Windows separators; relative to its folder). */
export const STARTUP_CONFIG_ARG = 'config\\rubi-startup.ini';
export const COMMON_INI = join('config', 'common.ini');

/**
 * Base-install folders that are not copied: logs of the base install would confuse log reading,
 * and the build area (sources, MetaEditor's log, the published EA) is not the terminal's business.
 */
const SKIP_ON_COPY = new Set([
  'logs',
  join('MQL5', 'Logs'),
  join('MQL4', 'Logs'),
  'Tester',
  ...(['MQL4', 'MQL5'] as const).flatMap((mql) => [join(mql, 'Experts', BUILD_NAMESPACE), join(mql, 'Include', BUILD_NAMESPACE)]),
]);

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export function terminalFolderName(platform: Platform, externalAccountId: string): string {
  // The id becomes a path segment: only a UUID is accepted, so nothing can escape the base folder.
  if (!UUID.test(externalAccountId)) throw new Error(`external account id is not a UUID: ${externalAccountId}`);
  return `${platform}-${externalAccountId.toLowerCase()}`;
}

export function terminalFolder(base: string, platform: Platform, externalAccountId: string): string {
  return join(base, terminalFolderName(platform, externalAccountId));
}

export interface StartupSettings {
  login: number | string;
  /** null: written without a password (after the terminal logged in and keeps its own copy). */
  password: string | null;
  server: string;
  /** EA name as the terminal wants it: the file name without extension, relative to Experts. */
  expert: string;
  symbol: string;
  period: string;
}

/**
 * MT5 `/config:` file. MetaTrader 5 documents only /login, /config, /profile and /portable on the
 * command line, so the credentials travel in [Common]. The investor password is read only:
 * AllowLiveTrading=0. Account=0 and Profile=0 keep the EA running when the account or profile
 * changes. The EA reads its own settings from rendr_ea_config.ini, so no ExpertParameters.
 */
export function mt5StartupConfig(s: StartupSettings): string {
  const common: [string, string][] = [['Login', iniValue(s.login, 'login')]];
  if (s.password !== null) common.push(['Password', iniValue(s.password, 'password')]);
  common.push(['Server', iniValue(s.server, 'server')], ['NewsEnable', '0']);
  return formatIni(
    [
      { name: 'Common', entries: common },
      {
        name: 'Experts',
        entries: [
          ['Enabled', '1'],
          ['AllowLiveTrading', '0'],
          ['AllowDllImport', '0'],
          ['Account', '0'],
          ['Profile', '0'],
        ],
      },
      {
        name: 'StartUp',
        entries: [
          ['Expert', iniValue(s.expert, 'expert')],
          ['Symbol', iniValue(s.symbol, 'symbol')],
          ['Period', iniValue(s.period, 'period')],
        ],
      },
    ],
    'Rubi MT Bridge start-up configuration, written by rubi-vps-agent',
  );
}

/** MT4 names the monthly timeframe MN, MT5 MN1. */
export function mt4Period(period: string): string {
  return period === 'MN1' ? 'MN' : period;
}

/**
 * MT4 start-up file (the terminal's first argument): flat `Key=Value` lines, no sections. Expert
 * trading off (investor password), no DLL or external imports, news off.
 */
export function mt4StartupConfig(s: StartupSettings): string {
  const entries: [string, string][] = [['Login', iniValue(s.login, 'login')]];
  if (s.password !== null) entries.push(['Password', iniValue(s.password, 'password')]);
  entries.push(
    ['Server', iniValue(s.server, 'server')],
    ['EnableNews', 'false'],
    ['ExpertsEnable', 'true'],
    ['ExpertsDllImport', 'false'],
    ['ExpertsExpImport', 'false'],
    ['ExpertsTrades', 'false'],
    ['Symbol', iniValue(s.symbol, 'symbol')],
    ['Period', iniValue(mt4Period(s.period), 'period')],
    ['Expert', iniValue(s.expert, 'expert')],
  );
  return formatIni([{ name: '', entries }], 'Rubi MT Bridge start-up configuration, written by rubi-vps-agent');
}

export function startupConfig(platform: Platform, s: StartupSettings): string {
  return platform === 'MT5' ? mt5StartupConfig(s) : mt4StartupConfig(s);
}

export function startupEncoding(platform: Platform): TextEncodingName {
  return platform === 'MT5' ? 'utf16le' : 'latin1';
}

/** The origins (scheme://host[:port]) the EA calls: the WebRequest allow-list. */
export function webRequestOrigins(urls: string[]): string[] {
  const origins: string[] = [];
  for (const u of urls) {
    const o = new URL(u).origin;
    if (!origins.includes(o)) origins.push(o);
  }
  return origins;
}

/**
 * config/common.ini with WebRequest allowed for the backend. An existing file (the base install's,
 * with the user's own settings) is kept and only [Experts] WebRequest/WebRequestUrl are set;
 * origins it already allowed stay allowed.
 */
export function mergeCommonIni(existing: IniSection[] | null, origins: string[]): IniSection[] {
  const sections = existing ?? [];
  const experts = sections.find((s) => s.name.toLowerCase() === 'experts');
  const current = experts?.entries.find(([k]) => k.toLowerCase() === 'webrequesturl')?.[1] ?? '';
  const urls = [...origins];
  for (const u of current.split(';').map((x) => x.trim()).filter(Boolean)) if (!urls.includes(u)) urls.push(u);
  return setIniValues(sections, 'Experts', [
    ['WebRequest', '1'],
    ['WebRequestUrl', urls.join(';')],
  ]);
}

export function expertName(eaPath: string): string {
  return basename(eaPath, extname(eaPath));
}

/** Writes a file only its owner can read (0600; a no-op for the mode on Windows, see README). */
export async function writePrivateFile(path: string, content: Buffer | string): Promise<void> {
  await rm(path, { force: true });
  await writeFile(path, content, { mode: 0o600, flag: 'wx' });
  await chmod(path, 0o600);
}

export interface ProvisionInput {
  platform: Platform;
  basePath: string;
  eaPath: string;
  terminalsBasePath: string;
  externalAccountId: string;
  login: number | string;
  password: string;
  server: string;
  symbol: string;
  period: string;
  ea: EaConfig;
}

export interface ProvisionedFolder {
  folder: string;
  exe: string;
  startupConfig: string;
  eaConfig: string;
  commonIni: string;
}

/**
 * Builds the terminal folder from scratch: an existing folder of that account (a previous attempt)
 * is removed first, so no stale log, token or password survives.
 */
export async function provisionFolder(input: ProvisionInput): Promise<ProvisionedFolder> {
  const layout = LAYOUTS[input.platform];
  const folder = terminalFolder(input.terminalsBasePath, input.platform, input.externalAccountId);
  await mkdir(input.terminalsBasePath, { recursive: true });
  await rm(folder, { recursive: true, force: true });
  await cp(input.basePath, folder, {
    recursive: true,
    dereference: true,
    errorOnExist: false,
    filter: (src) => {
      const rel = src.slice(input.basePath.length).replace(/^[\\/]+/, '');
      return !SKIP_ON_COPY.has(rel);
    },
  });

  const experts = join(folder, layout.mqlDir, 'Experts');
  const files = join(folder, layout.mqlDir, 'Files');
  await mkdir(experts, { recursive: true });
  await mkdir(files, { recursive: true });
  await mkdir(join(folder, 'config'), { recursive: true });
  await mkdir(join(folder, 'logs'), { recursive: true });
  await copyFile(input.eaPath, join(experts, basename(input.eaPath)));

  const eaConfig = join(files, EA_CONFIG_FILE);
  await writePrivateFile(eaConfig, formatEaConfig(input.ea));

  const startup = join(folder, STARTUP_CONFIG);
  await writePrivateFile(
    startup,
    encodeText(
      startupConfig(input.platform, {
        login: input.login,
        password: input.password,
        server: input.server,
        expert: expertName(input.eaPath),
        symbol: input.symbol,
        period: input.period,
      }),
      startupEncoding(input.platform),
    ),
  );

  const commonIni = join(folder, COMMON_INI);
  let existing: IniSection[] | null = null;
  let encoding: TextEncodingName = startupEncoding(input.platform);
  try {
    const decoded = decodeText(await readFile(commonIni));
    existing = parseIni(decoded.text);
    encoding = decoded.encoding;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
  }
  const origins = webRequestOrigins([input.ea.register_url, input.ea.trades_url]);
  await writeFile(commonIni, encodeText(formatIni(mergeCommonIni(existing, origins)), encoding));

  return { folder, exe: join(folder, layout.exe), startupConfig: startup, eaConfig, commonIni };
}

/**
 * Rewrites the start-up file without its Password line once the terminal has logged in (MT5 and
 * MT4 keep their own encrypted copy of the credentials). Returns whether a password was removed.
 */
export async function removePasswordFromStartup(folder: string): Promise<boolean> {
  const path = join(folder, STARTUP_CONFIG);
  const { text, encoding } = decodeText(await readFile(path));
  const lines = text.split(/\r?\n/);
  const kept = lines.filter((l) => !/^\s*password\s*=/i.test(l));
  if (kept.length === lines.length) return false;
  await writePrivateFile(path, encodeText(kept.join(CRLF), encoding));
  return true;
}
