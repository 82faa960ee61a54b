import type { ConnectorEvent } from './connector-ea.ts';
import type { ProvisionedEvent } from './provisioned-ea.ts';
import type { HttpEvent } from './signed-http.ts';

/** One line per event, as the CLI and `npm run demo` print them. Never includes a secret. */

export function describeConnectorEvent(e: ConnectorEvent): string {
  switch (e.type) {
    case 'connected':
      return `connected: session ${e.sessionId}${e.resumed ? ' (resumed)' : ''}, ping every ${e.pingIntervalSeconds}s`;
    case 'ping':
      return `ping: equity ${e.equity.toFixed(2)}, ${e.pendingSignals} signal(s) waiting`;
    case 'signal_received': {
      const s = e.signal;
      const sizing = s.risk_percent !== null ? ` (${s.risk_percent}% risk -> ${s.volume} lots)` : s.volume !== null ? ` ${s.volume} lots` : '';
      return `signal received: ${s.type} ${s.symbol}${sizing}${s.stop_loss !== null ? ` SL ${s.stop_loss}` : ''}${s.take_profit !== null ? ` TP ${s.take_profit}` : ''}`;
    }
    case 'signal_executed':
      return e.result.ok
        ? `executed ${e.signal.type} ${e.signal.symbol}: order #${e.result.order}, ${e.result.volume} lots at ${e.result.price} -> reported ${e.reported.status}`
        : `could not execute ${e.signal.type} ${e.signal.symbol}: ${e.result.message} (retcode ${e.result.retcode}) -> reported ${e.reported.status}`;
    case 'signal_recovered':
      return `signal ${e.signalId}: ${e.report.status}${e.report.order_ticket ? ` order #${e.report.order_ticket}` : ''} without sending an order - ${e.report.message ?? ''}`;
    case 'positions_pushed':
      return `positions pushed: ${e.open} open${e.closed > 0 ? `, closed #${e.ticketsClosed.join(', #')}` : ''}`;
    case 'disconnected':
      return `disconnected: session ${e.sessionId}`;
    case 'error':
      return `error during ${e.during}: ${e.error.message}`;
    default:
      return describeHttpEvent(e);
  }
}

/** Retries, clock resyncs and resends of the signed requests (signed-http.ts). */
export function describeHttpEvent(e: HttpEvent): string {
  switch (e.type) {
    case 'retrying':
      return `${e.method} ${e.path}: ${e.status === 0 ? 'no response' : `HTTP ${e.status}`}, attempt ${e.attempt}; retrying ${e.requestId} in ${e.delayMs} ms`;
    case 'clock_resynced':
      return `${e.method} ${e.path}: refused for the clock: now signing with the server's time (${e.offsetSeconds >= 0 ? '+' : ''}${e.offsetSeconds} s) and sending again`;
    case 'resent_fresh_id':
      return `${e.method} ${e.path}: the lost attempt ${e.replayedId} was applied; sending again as ${e.requestId} for its answer`;
  }
}

export function describeProvisionedEvent(e: ProvisionedEvent): string {
  switch (e.type) {
    case 'registered':
      return `registered: account ${e.status}, report every ${e.pollIntervalSeconds}s`;
    case 'trades_sent':
      return e.sent === 0
        ? 'reported: nothing new (empty batch, keeps the account connected)'
        : `reported ${e.sent} trade(s): ${e.accepted.length} accepted, ${e.duplicates.length} duplicate(s), cashback +${e.cashbackAccrued}`;
    case 'trades_set_aside':
      return `set aside ${e.tickets.length} malformed trade(s): ${e.reasons.join('; ')}`;
    case 'send_failed':
      return `report failed (${e.error.message}); ${e.kept} trade(s) stay in the outbox`;
    case 'ownership_codes_found':
      return `ownership code(s) found in order comments: ${e.codes.join(', ')} (sent with the reports until verified)`;
    case 'ownership':
      return e.ownership === 'verified'
        ? 'ownership verified: this registration is the proven owner, cashback accrues'
        : e.ownership === 'owned_elsewhere'
          ? 'ownership: another registration of this account proved ownership; this one earns nothing'
          : 'ownership unverified: cashback withheld until a pending order carries the ownership code';
    case 'ownership_codes_refused':
      return `the backend refused ownership_codes (${e.message}): reporting without them`;
    case 'broker_disconnected':
      return "the terminal is not connected to the broker's trade server: history not read; the (empty) batch still reports it";
    default:
      return describeHttpEvent(e);
  }
}
