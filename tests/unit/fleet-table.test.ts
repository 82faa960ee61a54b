import { describe, expect, it } from 'vitest';
import { ago, formatFleet } from '../../scripts/fleet-table.ts';

// `npm run vps-host -- fleet`: GET /ops/fleet as tables.

const now = '2026-11-30T12:00:00.000Z';

describe('formatFleet', () => {
  it('prints hosts, their terminals and the accounts in error, one line each', () => {
    const text = formatFleet({
      server_time: now,
      hosts: [
        {
          name: 'eu-1',
          version: '1.4.0',
          capacity: 8,
          accounts_held: 1,
          dedicated: false,
          revoked: false,
          last_heartbeat_at: '2026-11-30T11:59:40.000Z',
          heartbeat_age_seconds: 20,
          terminals: [
            {
              account_id: '4d7c2a0e-5b1f-4c55-9a51-3f4c4f0b2a11',
              platform: 'MT5',
              login: 5123,
              server: 'Broker-Live',
              status: 'connected',
              terminal_state: 'running',
              last_seen_at: '2026-11-30T11:58:00.000Z',
              error_code: null,
              paused: false,
              deleted: false,
            },
          ],
        },
        { name: 'old', version: null, capacity: 0, accounts_held: 0, dedicated: true, revoked: true, last_heartbeat_at: null, heartbeat_age_seconds: null, terminals: [] },
      ],
      accounts_in_error: [
        {
          account_id: '9d7c2a0e-5b1f-4c55-9a51-3f4c4f0b2a19',
          platform: 'MT4',
          login: 777,
          server: 'Other-Demo',
          host: null,
          error_code: 'E_AUTH',
          error_message: 'invalid account\nline two',
          attempts: 3,
          next_retry_at: null,
          credentials_rejected: true,
        },
      ],
    });
    const lines = text.split('\n');
    expect(lines[0]).toBe('HOSTS (2)');
    expect(lines.find((l) => l.startsWith('eu-1 '))).toMatch(/^eu-1\s+active\s+20s ago\s+1\.4\.0\s+8\s+1\s+no$/);
    expect(lines.find((l) => l.startsWith('old '))).toMatch(/^old\s+revoked\s+-\s+-\s+0\s+0\s+yes$/);
    expect(lines.find((l) => l.includes('5123@Broker-Live'))).toMatch(/^eu-1\s+5123@Broker-Live\s+MT5\s+connected\s+running\s+2m ago\s+-$/);
    expect(text).toContain('ACCOUNTS IN ERROR (1)');
    expect(lines.find((l) => l.startsWith('777@Other-Demo'))).toMatch(/E_AUTH\s+3\s+-\s+rejected\s+invalid account line two$/);
  });

  it('says so when there is nothing', () => {
    const text = formatFleet({ server_time: now, hosts: [], accounts_in_error: [] });
    expect(text).toContain('No VPS hosts.');
    expect(text).toContain('ACCOUNTS IN ERROR (0)\nnone');
  });

  it('ago: seconds, minutes, hours, days', () => {
    const at = new Date(now);
    expect(ago(null, at)).toBe('-');
    expect(ago('2026-11-30T11:59:00.000Z', at)).toBe('60s ago');
    expect(ago('2026-11-30T11:00:00.000Z', at)).toBe('60m ago');
    expect(ago('2026-11-29T12:00:00.000Z', at)).toBe('24h ago');
    expect(ago('2026-11-20T12:00:00.000Z', at)).toBe('10d ago');
  });
});
