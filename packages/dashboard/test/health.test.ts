// The account card's health lines (packages/dashboard/src/health.ts) for each state the API answers.
import { ACCOUNT_HEALTH_REASONS } from '@rubi/contracts/trading-accounts.ts';
import { describe, expect, it } from 'vitest';
import type { TradingAccount } from '../src/api.ts';
import { healthDetails, healthReason } from '../src/health.ts';

const NOW = Date.parse('2026-11-30T12:00:00Z');
const at = (s: number) => new Date(NOW - s * 1000).toISOString();
const healthy: TradingAccount['health'] = {
  status: 'healthy',
  reason: null,
  terminal: { state: 'running', hosted: true },
  broker_connection: { connected: true, since: at(7200), reported_at: at(30) },
  last_heard_from: { at: at(30), within_threshold: true, silent_after_seconds: 600 },
  history_synchronised: { synchronised: true, until: at(40) },
  last_error: null,
};

describe('account health on the card', () => {
  it('says every reason in words', () => {
    for (const reason of [null, ...ACCOUNT_HEALTH_REASONS]) expect(healthReason({ ...healthy, reason }).length).toBeGreaterThan(10);
    expect(healthReason({ ...healthy, status: 'down', reason: 'ea_silent' })).toBe('No report from the EA for more than 10 min.');
  });

  it('lists terminal, broker, last report and history; the last error when there is one', () => {
    expect(healthDetails(healthy, NOW).map((d) => `${d.label}: ${d.text}`).slice(0, 3)).toEqual([
      'Terminal: running',
      'Broker: connected since 2 h ago',
      'Last report: 30s ago',
    ]);
    const down = healthDetails(
      {
        ...healthy,
        status: 'down',
        reason: 'error',
        terminal: { state: null, hosted: false },
        broker_connection: { connected: null, since: null, reported_at: null },
        last_heard_from: { at: null, within_threshold: false, silent_after_seconds: 600 },
        history_synchronised: { synchronised: false, until: null },
        last_error: { code: 'E_AUTH', message: 'invalid account', at: at(120), credentials_rejected: true },
      },
      NOW,
    );
    expect(down.map((d) => `${d.label}: ${d.text}`)).toEqual([
      'Terminal: not running',
      'Broker: not reported',
      'Last report: never',
      'History: synchronising',
      'Last error: E_AUTH: invalid account (2 min ago)',
    ]);
  });
});
