// Typed calls to the Edge Functions through `supabase.functions.invoke` (the user's access token is
// attached by supabase-js). Types come from @rubi/contracts, imported as types only: nothing of the
// server is bundled. Errors become ApiError with the API's code, message and offending fields.
import type { AccountSnapshot, AccountStats, Session, SessionDetail } from '@rubi/contracts/accounts-read.ts';
import type { CashbackReport } from '@rubi/contracts/cashback-reports.ts';
import type { CreatedEaKey, EaKey as EaKeySchema } from '@rubi/contracts/keys.ts';
import type { MarkedAllRead, Notification, NotificationList } from '@rubi/contracts/notifications.ts';
import type { Position } from '@rubi/contracts/positions.ts';
import type { CreateSignalRequest, Signal } from '@rubi/contracts/signals.ts';
import type { ClosedTrade } from '@rubi/contracts/trades.ts';
import type { Broker as BrokerSchema, Ledger as LedgerSchema, TradingAccount } from '@rubi/contracts/trading-accounts.ts';
import { FunctionsHttpError } from '@supabase/supabase-js';
import type { z } from 'zod';
import type { SettingsBody } from './cashback-settings.ts';
import { supabase } from './supabase.ts';

export type { AccountSnapshot, AccountStats, CashbackReport, ClosedTrade, CreateSignalRequest, Notification, Position, Session, Signal, TradingAccount };
export type Broker = z.infer<typeof BrokerSchema>;
export type Ledger = z.infer<typeof LedgerSchema>;
export type EaKey = z.infer<typeof EaKeySchema>;
export type NewEaKey = z.infer<typeof CreatedEaKey>;
export type SessionInfo = z.infer<typeof SessionDetail>;
export type ReportParams = { period: CashbackReport['period']; group_by: CashbackReport['group_by']; account_id?: string | undefined; from?: string; to?: string };
export type RegisterAccount = { broker_id: string; platform: TradingAccount['platform']; login: number; server: string; investor_password: string };

export class ApiError extends Error {
  constructor(
    message: string,
    readonly status: number,
    readonly code: string,
    readonly fields: { path: string; message: string }[] = [],
  ) {
    super(message);
  }
}

interface ErrorBody {
  error?: { code?: string; message?: string; details?: { path: string; message: string }[] };
}

async function call<T>(path: string, method: 'GET' | 'POST' | 'PUT' | 'DELETE' = 'GET', body?: unknown): Promise<T> {
  const { data, error } = await supabase().functions.invoke<T>(path, { method, ...(body === undefined ? {} : { body: body as Record<string, unknown> }) });
  if (!error) return data as T;
  if (error instanceof FunctionsHttpError) {
    const res = error.context as Response;
    const parsed = (await res.json().catch(() => ({}))) as ErrorBody;
    const details = parsed.error?.details ?? [];
    const fields = details.length ? `: ${details.map((d) => `${d.path.replace(/^(body|query|path)\./, '')} ${d.message}`).join('; ')}` : '';
    throw new ApiError(`${parsed.error?.message ?? res.statusText}${fields}`, res.status, parsed.error?.code ?? 'error', details);
  }
  throw new ApiError(error instanceof Error ? error.message : String(error), 0, 'network');
}

const qs = (params: Record<string, string | number | undefined>) => {
  const entries = Object.entries(params).filter((e): e is [string, string | number] => e[1] !== undefined);
  return entries.length ? `?${new URLSearchParams(entries.map(([k, v]) => [k, String(v)]))}` : '';
};

export const api = {
  brokers: () => call<{ brokers: Broker[] }>('accounts/brokers'),
  accounts: () => call<{ accounts: TradingAccount[] }>('accounts/trading-accounts'),
  account: (id: string) => call<TradingAccount>(`accounts/trading-accounts/${id}`),
  registerAccount: (body: RegisterAccount) => call<TradingAccount>('accounts/trading-accounts', 'POST', body),
  accountAction: (id: string, action: 'pause' | 'resume' | 'retry') => call<TradingAccount>(`accounts/trading-accounts/${id}/${action}`, 'POST'),
  changePassword: (id: string, investor_password: string) => call<TradingAccount>(`accounts/trading-accounts/${id}/password`, 'PUT', { investor_password }),
  setCashbackSettings: (id: string, body: SettingsBody) => call<TradingAccount>(`accounts/trading-accounts/${id}/cashback-settings`, 'PUT', body),
  deleteAccount: (id: string) => call<{ id: string; deleted: true; teardown_pending: boolean }>(`accounts/trading-accounts/${id}`, 'DELETE'),
  ledger: (id: string, limit = 200) => call<Ledger>(`accounts/trading-accounts/${id}/ledger${qs({ limit })}`),
  trades: (accountId: string, limit = 200) => call<{ trades: ClosedTrade[]; next_cursor: string | null }>(`trades${qs({ account_id: accountId, limit })}`),

  keys: () => call<{ keys: EaKey[] }>('keys'),
  createKey: (name: string) => call<NewEaKey>('keys', 'POST', { name }),
  revokeKey: (id: string) => call<EaKey>(`keys/${id}/revoke`, 'POST'),

  sessions: (limit = 50) => call<{ sessions: Session[]; next_cursor: string | null }>(`accounts/sessions${qs({ limit })}`),
  session: (id: string) => call<SessionInfo>(`accounts/sessions/${id}`),
  stats: () => call<AccountStats>('accounts/stats'),
  positions: (sessionId?: string) => call<{ positions: Position[]; next_cursor: string | null }>(`positions${qs({ session_id: sessionId, limit: 200 })}`),

  signals: (limit = 50) => call<{ signals: Signal[]; next_cursor: string | null }>(`signals${qs({ limit })}`),
  createSignal: (body: Partial<CreateSignalRequest>) => call<Signal>('signals', 'POST', body),
  cancelSignal: (id: string) => call<Signal>(`signals/${id}/cancel`, 'POST'),

  notifications: (opts: { unread?: boolean; limit?: number } = {}) =>
    call<NotificationList>(`accounts/notifications${qs({ limit: opts.limit ?? 50, unread: opts.unread ? 'true' : undefined })}`),
  markRead: (id: string) => call<Notification>(`accounts/notifications/${id}/read`, 'POST'),
  markAllRead: () => call<MarkedAllRead>('accounts/notifications/read-all', 'POST'),

  cashbackReport: (p: ReportParams) => call<CashbackReport>(`accounts/cashback/report${qs({ ...p })}`),
  /** The same report as CSV text (supabase-js returns a text/csv body as a string). */
  cashbackReportCsv: (p: ReportParams) => call<string>(`accounts/cashback/report${qs({ ...p, format: 'csv' })}`),
};
