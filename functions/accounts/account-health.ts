import type { AccountHealth, AccountHealthReason, AccountHealthStatus } from '@rubi/contracts/trading-accounts.ts';
import type { Tables } from '@rubi/db';
import { iso } from '@rubi/edge';

type Account = Tables<'trading_accounts'>;

/** What the health of one account is computed from (columns of public.trading_accounts, and the clock). */
export interface HealthInput {
  status: Account['status'];
  paused_at: Date | null;
  error_code: string | null;
  error_message: string | null;
  error_at: Date | null;
  credentials_rejected_at: Date | null;
  terminal_state: Account['terminal_state'];
  hosted: boolean;
  connected_at: Date | null;
  last_seen_at: Date | null;
  broker_connected: boolean | null;
  broker_connected_changed_at: Date | null;
  broker_reported_at: Date | null;
  history_backfill_complete: boolean | null;
  history_synced_until: Date | null;
  /** The database's clock at the read, and the silence threshold (private.settings account_silent_seconds). */
  now: Date;
  silent_after_seconds: number;
}

/** The rule (ACCOUNT_HEALTH_RULE in the contract): the first match decides. */
function classify(a: HealthInput, heard: boolean): { status: AccountHealthStatus; reason: AccountHealthReason | null } {
  if (a.paused_at !== null) return { status: 'paused', reason: 'paused' };
  if (a.status === 'error') return { status: 'down', reason: 'error' };
  if (a.status === 'pending_vps_setup' || a.status === 'provisioning') {
    const fresh = a.connected_at === null && a.error_code === null;
    if (fresh) return { status: 'not_started', reason: a.status === 'pending_vps_setup' ? 'queued' : 'provisioning' };
    return { status: 'down', reason: 'restarting' };
  }
  if (a.status === 'disconnected' || !heard) return { status: 'down', reason: 'ea_silent' };
  if (a.terminal_state === 'crashed') return { status: 'down', reason: 'terminal_crashed' };
  if (a.terminal_state === 'stopped') return { status: 'down', reason: 'terminal_stopped' };
  if (a.broker_connected === false) return { status: 'down', reason: 'broker_disconnected' };
  if (a.terminal_state === 'launching') return { status: 'degraded', reason: 'terminal_launching' };
  if (a.history_backfill_complete === false) return { status: 'degraded', reason: 'history_syncing' };
  return { status: 'healthy', reason: null };
}

/** The `health` object of a trading account. */
export function accountHealth(a: HealthInput): AccountHealth {
  const heard = a.last_seen_at !== null && a.now.getTime() - a.last_seen_at.getTime() <= a.silent_after_seconds * 1000;
  return {
    ...classify(a, heard),
    terminal: { state: a.terminal_state, hosted: a.hosted },
    broker_connection: {
      connected: a.broker_connected,
      since: iso(a.broker_connected === null ? null : a.broker_connected_changed_at),
      reported_at: iso(a.broker_reported_at),
    },
    last_heard_from: { at: iso(a.last_seen_at), within_threshold: heard, silent_after_seconds: a.silent_after_seconds },
    history_synchronised: { synchronised: a.history_backfill_complete, until: iso(a.history_synced_until) },
    last_error:
      a.error_code === null
        ? null
        : { code: a.error_code, message: a.error_message, at: iso(a.error_at), credentials_rejected: a.credentials_rejected_at !== null },
  };
}
