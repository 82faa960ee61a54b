import { cpSync, existsSync, mkdirSync, readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { formatEaConfig, parseEaConfig } from '../src/ea-config.ts';
import { decodeText } from '../src/ini.ts';
import { launchCommand } from '../src/process.ts';
import { provisionFolder, removePasswordFromStartup, terminalFolderName, type ProvisionInput } from '../src/layout.ts';
import { fixtures, MT4_BASE, MT4_EA, MT5_BASE, MT5_EA, tempDir } from './support/harness.ts';

const EXT_ID = '0b7f3c2e-6d1a-4f8e-9a3b-5c2d1e0f9a87';
const TOKEN = 'ptok_9Qm3vX7bK2LdR8sWzY4nT6hJ1cF5gA0e';
const PASSWORD = 'Inv3stor!pass';

const CRLF = '\r\n';
const lines = (...l: string[]) => l.join(CRLF) + CRLF;

function input(platform: 'MT4' | 'MT5', terminalsBasePath: string, overrides: Partial<ProvisionInput> = {}): ProvisionInput {
  return {
    platform,
    basePath: platform === 'MT5' ? MT5_BASE : MT4_BASE,
    eaPath: platform === 'MT5' ? MT5_EA : MT4_EA,
    terminalsBasePath,
    externalAccountId: EXT_ID,
    login: 51234567,
    password: PASSWORD,
    server: 'RubiBroker-Demo',
    symbol: 'EURUSD',
    period: 'H1',
    ea: {
      external_account_id: EXT_ID,
      register_url: 'https://abc.supabase.co/functions/v1/register',
      trades_url: 'https://abc.supabase.co/functions/v1/trades',
      provisioning_token: TOKEN,
      token_expires_at: '2026-11-21T12:00:00.000Z',
    },
    ...overrides,
  };
}

const EA_CONFIG = lines(
  '; Rubi MT Bridge EA configuration, written by rubi-vps-agent for this terminal only.',
  '; The provisioning token is single use: register once, then keep the api secret.',
  '[rendr]',
  `external_account_id=${EXT_ID}`,
  'register_url=https://abc.supabase.co/functions/v1/register',
  'trades_url=https://abc.supabase.co/functions/v1/trades',
  `provisioning_token=${TOKEN}`,
  'token_expires_at=2026-11-21T12:00:00.000Z',
);

function files(root: string, dir = ''): string[] {
  return readdirSync(join(root, dir), { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? files(root, join(dir, e.name)) : [join(dir, e.name).split('\\').join('/')],
  );
}

const mode = (p: string) => statSync(p).mode & 0o777;
const utf16 = (p: string) => {
  const buf = readFileSync(p);
  expect([buf[0], buf[1]]).toEqual([0xff, 0xfe]); // MT5 writes its ini files as UTF-16LE with a BOM
  return decodeText(buf).text;
};

describe('terminal folder layout', () => {
  const dirs: { cleanup(): void }[] = [];
  afterEach(() => {
    for (const d of dirs.splice(0)) d.cleanup();
  });
  const base = () => {
    const d = tempDir();
    dirs.push(d);
    return d.path;
  };

  it('names folders MT5-<external id> / MT4-<external id> and accepts only a UUID', () => {
    expect(terminalFolderName('MT5', EXT_ID)).toBe(`MT5-${EXT_ID}`);
    expect(terminalFolderName('MT4', EXT_ID.toUpperCase())).toBe(`MT4-${EXT_ID}`);
    expect(() => terminalFolderName('MT5', '../../etc')).toThrow(/not a UUID/);
  });

  it('MT5: copies the base install, installs the EA, writes the EA config, the /config: file and common.ini exactly', async () => {
    const terminals = base();
    const out = await provisionFolder(input('MT5', terminals));
    const folder = join(terminals, `MT5-${EXT_ID}`);
    expect(out).toEqual({
      folder,
      exe: join(folder, 'terminal64.exe'),
      startupConfig: join(folder, 'config', 'rubi-startup.ini'),
      eaConfig: join(folder, 'MQL5', 'Files', 'rendr_ea_config.ini'),
      commonIni: join(folder, 'config', 'common.ini'),
    });
    expect(files(folder).sort()).toEqual([
      'MQL5/Experts/Examples/README.txt',
      'MQL5/Experts/RubiEA.ex5',
      'MQL5/Files/rendr_ea_config.ini',
      'MQL5/Include/Trade/DealInfo.mqh',
      'MQL5/Include/Trade/Trade.mqh',
      'config/common.ini',
      'config/rubi-startup.ini',
      'metaeditor64.exe',
      'terminal64.exe',
    ]);
    expect(readFileSync(join(folder, 'MQL5/Experts/RubiEA.ex5'))).toEqual(readFileSync(MT5_EA));
    expect(readFileSync(join(folder, 'terminal64.exe'))).toEqual(readFileSync(join(MT5_BASE, 'terminal64.exe')));

    expect(readFileSync(out.eaConfig, 'latin1')).toBe(EA_CONFIG);
    expect(parseEaConfig(readFileSync(out.eaConfig, 'latin1'))).toEqual({
      external_account_id: EXT_ID,
      register_url: 'https://abc.supabase.co/functions/v1/register',
      trades_url: 'https://abc.supabase.co/functions/v1/trades',
      provisioning_token: TOKEN,
      token_expires_at: '2026-11-21T12:00:00.000Z',
    });

    expect(utf16(out.startupConfig)).toBe(
      lines(
        '; Rubi MT Bridge start-up configuration, written by rubi-vps-agent',
        '[Common]',
        'Login=51234567',
        `Password=${PASSWORD}`,
        'Server=RubiBroker-Demo',
        'NewsEnable=0',
        '[Experts]',
        'Enabled=1',
        'AllowLiveTrading=0',
        'AllowDllImport=0',
        'Account=0',
        'Profile=0',
        '[StartUp]',
        'Expert=RubiEA',
        'Symbol=EURUSD',
        'Period=H1',
      ),
    );

    // The base install's own common.ini is kept; only the WebRequest allow-list is set, the
    // origins it already allowed stay allowed. Same encoding as the original (UTF-16LE).
    expect(utf16(out.commonIni)).toBe(
      lines(
        '[Common]',
        'Login=0',
        'ProxyEnable=0',
        'NewsEnable=1',
        '[Charts]',
        'ProfileLast=Default',
        '[Experts]',
        'AllowDllImport=0',
        'Enabled=1',
        'WebRequestUrl=https://abc.supabase.co;https://existing.example.com',
        'WebRequest=1',
      ),
    );

    if (process.platform !== 'win32') {
      expect(mode(out.startupConfig)).toBe(0o600);
      expect(mode(out.eaConfig)).toBe(0o600);
    }
  });

  it('MT4: flat start-up file, MQL4 folders, and a new common.ini when the base install has none', async () => {
    const terminals = base();
    const out = await provisionFolder(input('MT4', terminals, { period: 'MN1', login: 7001 }));
    const folder = join(terminals, `MT4-${EXT_ID}`);
    expect(files(folder).sort()).toEqual([
      'MQL4/Experts/README.txt',
      'MQL4/Experts/RubiEA.ex4',
      'MQL4/Files/rendr_ea_config.ini',
      'config/common.ini',
      'config/rubi-startup.ini',
      'metaeditor.exe',
      'terminal.exe',
    ]);
    expect(readFileSync(join(folder, 'MQL4/Files/rendr_ea_config.ini'), 'latin1')).toBe(EA_CONFIG);
    const startup = readFileSync(out.startupConfig);
    expect(startup[0]).not.toBe(0xff); // MT4: single-byte text, no BOM
    expect(startup.toString('latin1')).toBe(
      lines(
        '; Rubi MT Bridge start-up configuration, written by rubi-vps-agent',
        'Login=7001',
        `Password=${PASSWORD}`,
        'Server=RubiBroker-Demo',
        'EnableNews=false',
        'ExpertsEnable=true',
        'ExpertsDllImport=false',
        'ExpertsExpImport=false',
        'ExpertsTrades=false',
        'Symbol=EURUSD',
        'Period=MN',
        'Expert=RubiEA',
      ),
    );
    expect(readFileSync(out.commonIni, 'latin1')).toBe(lines('[Experts]', 'WebRequest=1', 'WebRequestUrl=https://abc.supabase.co'));
    if (process.platform !== 'win32') expect(mode(out.startupConfig)).toBe(0o600);
  });

  it('allows every origin the EA calls when register and trades live on different hosts', async () => {
    const terminals = base();
    const out = await provisionFolder(
      input('MT4', terminals, {
        ea: { ...input('MT4', terminals).ea, register_url: 'https://a.example.com:8443/functions/v1/register', trades_url: 'https://b.example.com/functions/v1/trades' },
      }),
    );
    expect(readFileSync(out.commonIni, 'latin1')).toContain('WebRequestUrl=https://a.example.com:8443;https://b.example.com');
  });

  it('starts from a clean folder: leftovers of an earlier attempt and the base install\'s logs are not carried over', async () => {
    const terminals = base();
    const baseCopy = join(base(), 'mt5');
    cpSync(MT5_BASE, baseCopy, { recursive: true });
    mkdirSync(join(baseCopy, 'logs'), { recursive: true });
    writeFileSync(join(baseCopy, 'logs', '20200101.log'), "'1': authorized on Old-Server through Access Point EU");
    mkdirSync(join(baseCopy, 'MQL5', 'Logs'), { recursive: true });
    writeFileSync(join(baseCopy, 'MQL5', 'Logs', '20200101.log'), 'registered');
    const stale = join(terminals, `MT5-${EXT_ID}`);
    mkdirSync(join(stale, 'MQL5', 'Files'), { recursive: true });
    writeFileSync(join(stale, 'MQL5', 'Files', 'stale-token.txt'), 'old');
    const out = await provisionFolder(input('MT5', terminals, { basePath: baseCopy }));
    expect(existsSync(join(out.folder, 'MQL5', 'Files', 'stale-token.txt'))).toBe(false);
    expect(readdirSync(join(out.folder, 'logs'))).toEqual([]);
    expect(existsSync(join(out.folder, 'MQL5', 'Logs'))).toBe(false);
  });

  it('removes the password from the start-up file and keeps the rest', async () => {
    for (const platform of ['MT5', 'MT4'] as const) {
      const terminals = base();
      const out = await provisionFolder(input(platform, terminals));
      const before = decodeText(readFileSync(out.startupConfig));
      expect(before.text).toContain(`Password=${PASSWORD}`);
      expect(await removePasswordFromStartup(out.folder)).toBe(true);
      const after = decodeText(readFileSync(out.startupConfig));
      expect(after.encoding).toBe(before.encoding);
      expect(after.text).toBe(before.text.replace(`Password=${PASSWORD}\r\n`, ''));
      expect(await removePasswordFromStartup(out.folder)).toBe(false);
      if (process.platform !== 'win32') expect(mode(out.startupConfig)).toBe(0o600);
    }
  });

  it('refuses values that would inject lines into an ini file', async () => {
    await expect(provisionFolder(input('MT5', base(), { password: 'abc\r\nExpert=Evil' }))).rejects.toThrow(/^password cannot contain a line break$/);
    expect(() => formatEaConfig({ ...input('MT5', '/x').ea, provisioning_token: 'a\nb' })).toThrow(/line break/);
  });

  it('builds the command lines MetaTrader documents: /portable and /config: (MT5), the config file as first argument (MT4)', () => {
    const folder = '/srv/terminals/MT5-x';
    const wine = { kind: 'wine' as const, command: 'wine', prefix: '/srv/wine' };
    const mt5 = launchCommand(wine, 'MT5', folder, { PATH: '/usr/bin' });
    expect(mt5).toEqual({
      command: 'wine',
      args: ['terminal64.exe', '/portable', '/config:config\\rubi-startup.ini'],
      cwd: folder,
      env: {
        PATH: '/usr/bin',
        WINEPREFIX: '/srv/wine',
        WINEDEBUG: '-all',
        WINEDLLOVERRIDES: 'winedbg.exe=d;winemenubuilder.exe=d',
        RUBI_TERMINAL: 'MT5-x',
      },
    });
    expect(launchCommand(wine, 'MT4', folder, {}).args).toEqual(['terminal.exe', '/portable', 'config\\rubi-startup.ini']);
    expect(launchCommand({ kind: 'direct' }, 'MT5', 'C:\\terminals\\MT5-x', {})).toMatchObject({
      command: join('C:\\terminals\\MT5-x', 'terminal64.exe'),
      args: ['/portable', '/config:config\\rubi-startup.ini'],
    });
  });

  it('ships base-install fixtures whose terminals are the fake terminal', () => {
    const fake = readFileSync(join(fixtures, 'fake-terminal.mjs'));
    expect(readFileSync(join(MT5_BASE, 'terminal64.exe'))).toEqual(fake);
    expect(readFileSync(join(MT4_BASE, 'terminal.exe'))).toEqual(fake);
  });
});
