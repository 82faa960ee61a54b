import { CRLF, iniValue, parseIni } from './ini.ts';

/**
 * The EA's configuration file, `rendr_ea_config.ini`, written by the agent into the terminal's
 * `MQL5/Files` (MT5) or `MQL4/Files` (MT4) folder, the sandbox an EA can read with FileOpen.
 *
 * Format (ASCII, CRLF, no BOM: an EA reads it with FILE_READ|FILE_TXT|FILE_ANSI, line by line,
 * ignoring blank lines and lines starting with `;` or `[`, splitting each other line at the
 * first `=`):
 *
 *   ; Rubi MT Bridge EA configuration, written by rubi-vps-agent. ...
 *   [rendr]
 *   external_account_id=<uuid>
 *   register_url=<POST here with the token to obtain the api secret>
 *   trades_url=<POST closed trades here, signed>
 *   provisioning_token=<one-time token>
 *   token_expires_at=<ISO 8601 UTC>
 *
 * The token is single use: after a successful `register` the EA keeps its api secret and never
 * needs the token again. The file is readable only by the agent's user (mode 0600 on POSIX).
 */

export const EA_CONFIG_FILE = 'rendr_ea_config.ini';
export const EA_CONFIG_SECTION = 'rendr';

export interface EaConfig {
  external_account_id: string;
  register_url: string;
  trades_url: string;
  provisioning_token: string;
  token_expires_at?: string | undefined;
}

export function formatEaConfig(c: EaConfig): string {
  const lines = [
    '; Rubi MT Bridge EA configuration, written by rubi-vps-agent for this terminal only.',
    '; The provisioning token is single use: register once, then keep the api secret.',
    `[${EA_CONFIG_SECTION}]`,
    `external_account_id=${iniValue(c.external_account_id, 'external_account_id')}`,
    `register_url=${iniValue(c.register_url, 'register_url')}`,
    `trades_url=${iniValue(c.trades_url, 'trades_url')}`,
    `provisioning_token=${iniValue(c.provisioning_token, 'provisioning_token')}`,
  ];
  if (c.token_expires_at) lines.push(`token_expires_at=${iniValue(c.token_expires_at, 'token_expires_at')}`);
  return lines.join(CRLF) + CRLF;
}

/** Reads the file back (the EA simulator and the tests use this; the MQL EA does the same by hand). */
export function parseEaConfig(text: string): EaConfig {
  const section = parseIni(text.replace(/^\uFEFF/, '')).find((s) => s.name.toLowerCase() === EA_CONFIG_SECTION);
  const get = (k: string) => section?.entries.find(([ek]) => ek.toLowerCase() === k)?.[1];
  const required = (k: keyof EaConfig) => {
    const v = get(k);
    if (!v) throw new Error(`${EA_CONFIG_FILE}: missing ${k}`);
    return v;
  };
  return {
    external_account_id: required('external_account_id'),
    register_url: required('register_url'),
    trades_url: required('trades_url'),
    provisioning_token: required('provisioning_token'),
    token_expires_at: get('token_expires_at'),
  };
}
