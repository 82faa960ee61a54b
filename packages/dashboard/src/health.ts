// The account card's health lines (issue #16): the API's `health` object in words. Pure, tested in
// packages/dashboard/test/health.test.ts.
import type { TradingAccount } from './api.ts';
import { ago } from './format.ts';

type Health = TradingAccount['health'];

/** Why the status is what it is (the rule that decided it), in the trader's words. */
export function healthReason(h: Health): string {
  const minutes = Math.round(h.last_heard_from.silent_after_seconds / 60);
  switch (h.reason) {
    case null:
      return 'Everything works: the terminal is connected to the broker and every closed trade is reported.';
    case 'paused':
      return 'Paused by you.';
    case 'error':
      return 'The account is in error: see the last error below.';
    case 'queued':
      return 'Waiting for a VPS host to start the terminal.';
    case 'provisioning':
      return 'The terminal is being started.';
    case 'restarting':
      return 'Waiting to be started again.';
    case 'ea_silent':
      return `No report from the EA for more than ${minutes} min.`;
    case 'terminal_crashed':
      return 'The terminal crashed; the VPS host restarts it.';
    case 'terminal_stopped':
      return 'The terminal is stopped.';
    case 'broker_disconnected':
      return "The terminal is not connected to the broker's trade server: no new trade can be read until it reconnects.";
    case 'terminal_launching':
      return 'The terminal is restarting.';
    case 'history_syncing':
      return "The EA is still sending the account's history.";
  }
}

/** The card's detail lines: label and text. */
export function healthDetails(h: Health, now = Date.now()): { label: string; text: string }[] {
  const lines: { label: string; text: string }[] = [];
  lines.push({ label: 'Terminal', text: h.terminal.state ?? (h.terminal.hosted ? 'assigned to a host' : 'not running') });
  const b = h.broker_connection;
  lines.push({
    label: 'Broker',
    text: b.connected === null ? 'not reported' : `${b.connected ? 'connected' : 'disconnected'}${b.since ? ` since ${ago(b.since, now)}` : ''}`,
  });
  lines.push({ label: 'Last report', text: ago(h.last_heard_from.at, now) });
  const s = h.history_synchronised;
  lines.push({
    label: 'History',
    text: s.synchronised === null ? 'not reported' : s.synchronised ? `synchronised${s.until ? ` to ${new Date(s.until).toLocaleString()}` : ''}` : 'synchronising',
  });
  if (h.last_error) lines.push({ label: 'Last error', text: `${h.last_error.code}${h.last_error.message ? `: ${h.last_error.message}` : ''}${h.last_error.at ? ` (${ago(h.last_error.at, now)})` : ''}` });
  return lines;
}
