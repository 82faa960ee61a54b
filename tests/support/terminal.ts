import { createConnectApp } from '../../functions/connect/app.ts';
import { eaRequest, type EaCredential, type EdgeHarness } from './edge-harness.ts';

export const EURUSD_SPEC = {
  symbol: 'EURUSD',
  tick_size: 0.00001,
  tick_value: 1,
  contract_size: 100000,
  volume_min: 0.01,
  volume_max: 100,
  volume_step: 0.01,
  digits: 5,
};

export function connectBody(accountNumber: number, overrides: Record<string, unknown> = {}) {
  return {
    account_number: accountNumber,
    broker: 'IC Markets',
    server: 'ICMarketsSC-Demo',
    currency: 'USD',
    leverage: 500,
    balance: 10000,
    equity: 10000,
    ea_version: '1.0.0',
    terminal_build: 4755,
    symbols: [EURUSD_SPEC],
    ...overrides,
  };
}

/** Opens a session through the real `connect` function; returns its id. */
export async function openSession(h: EdgeHarness, credential: EaCredential, accountNumber: number): Promise<string> {
  const res = await eaRequest(h, createConnectApp(h.deps), 'POST', '/connect', credential, connectBody(accountNumber));
  if (res.status !== 200) throw new Error(`connect failed: ${res.status} ${await res.text()}`);
  return ((await res.json()) as { session_id: string }).session_id;
}
