import { asOwner } from '@rubi/db';
import { createConnectApp } from '../../functions/connect/app.ts';
import type { Signal } from '@rubi/contracts/signals.ts';
import { eaRequest, type EaCredential, type EdgeHarness } from './edge-harness.ts';
import { connectBody, EURUSD_SPEC } from './terminal.ts';

// Symbol specifications as MT5 reports them on a USD account, for the signals tests.
export const XAUUSD_SPEC = { symbol: 'XAUUSD', tick_size: 0.01, tick_value: 1, contract_size: 100, volume_min: 0.01, volume_max: 50, volume_step: 0.01, digits: 2 };
export const USDJPY_SPEC = { symbol: 'USDJPY', tick_size: 0.001, tick_value: 0.67, contract_size: 100000, volume_min: 0.01, volume_max: 100, volume_step: 0.01, digits: 3 };
export const US500_SPEC = { symbol: 'US500', tick_size: 0.01, tick_value: 0.01, contract_size: 1, volume_min: 0.1, volume_max: 1000, volume_step: 0.1, digits: 2 };
export const TRADING_SPECS = [EURUSD_SPEC, XAUUSD_SPEC, USDJPY_SPEC, US500_SPEC];

/** Opens a session through the real `connect` function with the four symbol specifications. */
export async function openTradingSession(
  h: EdgeHarness,
  credential: EaCredential,
  accountNumber: number,
  overrides: Record<string, unknown> = {},
): Promise<string> {
  const res = await eaRequest(h, createConnectApp(h.deps), 'POST', '/connect', credential, connectBody(accountNumber, { symbols: TRADING_SPECS, ...overrides }));
  if (res.status !== 200) throw new Error(`connect failed: ${res.status} ${await res.text()}`);
  return ((await res.json()) as { session_id: string }).session_id;
}

/** A signal's row as the owner sees it (to check what was written, bypassing RLS). */
export async function signalRow(h: EdgeHarness, id: string): Promise<Record<string, unknown> | undefined> {
  const [row] = await h.db.query<Record<string, unknown>>(asOwner(), 'select * from public.trading_signals where id = $1', [id]);
  return row;
}

export interface ErrorBody {
  error: { code: string; message: string; details?: { path: string; message: string }[] };
}

export const readSignal = async (res: Response): Promise<Signal> => (await res.json()) as Signal;
export const readError = async (res: Response): Promise<ErrorBody> => (await res.json()) as ErrorBody;
/** The distinct field paths a 400 names (one field may fail more than one rule). */
export const errorPaths = async (res: Response): Promise<string[]> => [...new Set(((await readError(res)).error.details ?? []).map((d) => d.path))];
