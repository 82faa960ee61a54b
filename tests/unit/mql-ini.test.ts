import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { formatEaConfig } from '../../vps-agent/src/ea-config.ts';
import { buildHostProgram, runHostProgram } from '../../mql/host/build.ts';

// Rubi/Ini.mqh compiled on the host (mql/host/tests/ini_test.cpp) reading the exact file the VPS
// agent writes (formatEaConfig), and the encodings and line ends MetaTrader may turn it into.

const config = {
  external_account_id: '4d7c2a0e-5b1f-4c55-9a51-3f4c4f0b2a11',
  register_url: 'https://abc.supabase.co/functions/v1/register',
  trades_url: 'https://abc.supabase.co/functions/v1/trades',
  provisioning_token: 'pt_Zm9vYmFyYmF6cXV4',
  token_expires_at: '2025-11-21T10:15:00.000Z',
};
const expected = [...Object.entries(config).map(([k, v]) => `${k}=${v}`), 'count=5', 'other=(none)'];

let exe = '';
let files = '';
beforeAll(async () => {
  exe = await buildHostProgram('ini_test', 'MQL5');
  files = mkdtempSync(join(tmpdir(), 'mql-ini-'));
}, 300_000);
afterAll(() => rmSync(files, { recursive: true, force: true }));

async function read(name: string, bytes: Buffer): Promise<string[]> {
  writeFileSync(join(files, name), bytes);
  const result = await runHostProgram(exe, [name], { files });
  expect(result.stderr).toBe('');
  expect(result.code).toBe(0);
  return result.stdout.trimEnd().split('\n');
}

describe('rendr_ea_config.ini (Rubi/Ini.mqh)', () => {
  const text = formatEaConfig(config);

  it('reads the file formatEaConfig writes (ASCII, CRLF, no BOM)', async () => {
    expect(text).toContain('\r\n');
    expect(await read('rendr_ea_config.ini', Buffer.from(text, 'latin1'))).toEqual(expected);
  });

  it('reads it with LF line ends, a UTF-8 BOM, as UTF-16LE with and without BOM', async () => {
    const lf = text.replaceAll('\r\n', '\n');
    expect(await read('lf.ini', Buffer.from(lf))).toEqual(expected);
    expect(await read('bom.ini', Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from(text)]))).toEqual(expected);
    expect(await read('utf16.ini', Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from(text, 'utf16le')]))).toEqual(expected);
    expect(await read('utf16-nobom.ini', Buffer.from(text, 'utf16le'))).toEqual(expected);
    expect(await read('cr-only-end.ini', Buffer.from(text.trimEnd()))).toEqual(expected);
  });

  it('without token_expires_at (optional)', async () => {
    const { token_expires_at: _, ...rest } = config;
    const out = await read('no-expiry.ini', Buffer.from(formatEaConfig(rest)));
    expect(out).toContain('token_expires_at=');
    expect(out).toContain('count=4');
  });

  it('applies the ini rules: comments, whitespace, case, first key wins, sections', async () => {
    const messy = [
      '; comment',
      '# another comment',
      'stray line without equals',
      '=no key',
      '  [ RENDR ]  ',
      '  External_Account_ID =  4d7c2a0e-5b1f-4c55-9a51-3f4c4f0b2a11  ',
      `register_url=${config.register_url}`,
      `register_url=https://evil.example/second-wins-not`,
      `trades_url = ${config.trades_url}`,
      '\tprovisioning_token=pt_Zm9vYmFyYmF6cXV4\t',
      'token_expires_at=2025-11-21T10:15:00.000Z',
      '[Other]',
      'Key = value = with equals',
      'external_account_id=not-this-one',
    ].join('\r\n');
    expect(await read('messy.ini', Buffer.from(messy))).toEqual([...expected.slice(0, 5), 'count=7', 'other=value = with equals']);
  });

  it('names what is missing, and reports a missing file', async () => {
    const partial = `[rendr]\r\nexternal_account_id=x\r\ntrades_url=\r\n`;
    expect(await read('partial.ini', Buffer.from(partial))).toEqual([
      'error=rendr_ea_config.ini: missing register_url, trades_url, provisioning_token',
      'count=2',
      'other=(none)',
    ]);
    const result = await runHostProgram(exe, ['does-not-exist.ini'], { files });
    expect(result.stdout).toBe('load=failed\n');
  });

  it('reads Latin-1 (an ANSI file from MetaTrader 4) when the bytes are not UTF-8', async () => {
    const latin = Buffer.from(`${text}[other]\r\nkey=caf\xe9\r\n`, 'latin1');
    const out = await read('latin1.ini', latin);
    expect(out.at(-1)).toBe('other=café');
  });
});
