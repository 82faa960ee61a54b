import { z } from '@hono/zod-openapi';
import { VOCABULARY } from './vocabulary.ts';

// What one contract borrows from another, apart from the routes that own it. A function evaluates
// every module its contracts import, and each schema built costs its cold start (issue #13, item 4):
// register borrowing `Platform` from trading-accounts.ts built every schema of trading-accounts.ts
// and vps.ts at boot. So these live here, and each is re-exported by the contract it belongs to
// (import it from there, or from here in a contract or function that has no other use for that one).

/**
 * At most this many trades per `trades` request (trades.ts); more is a 400 naming `body.trades`
 * (send the rest in the next request). A full batch with MetaTrader's short comments is about
 * 160 KB, within the default body limit (MAX_BODY_BYTES, 256 KiB); a body over that limit is a 413.
 * register.ts announces it to the EA.
 */
export const MAX_TRADES_PER_BATCH = 500;

/** A trading account's platform (trading-accounts.ts, register.ts). */
export const Platform = z.enum(VOCABULARY.platform).openapi('Platform');
export type Platform = z.infer<typeof Platform>;
/** A trading account's status (trading-accounts.ts, register.ts). */
export const TradingAccountStatus = z.enum(VOCABULARY.account_status).openapi('TradingAccountStatus');
export type TradingAccountStatus = z.infer<typeof TradingAccountStatus>;

/** What a terminal process is doing, as the agent sees it (vps.ts, trading-accounts.ts). */
export const TerminalState = z
  .enum(VOCABULARY.terminal_state)
  .openapi('TerminalState', { description: '`crashed`: it exited and the agent restarts it with backoff' });
export type TerminalState = z.infer<typeof TerminalState>;

/** The risk limits a session runs under (connect.ts, accounts-read.ts). */
export const RiskSettings = z
  .object({ max_open_positions: z.number().int(), max_risk_percent: z.number() })
  .openapi('RiskSettings');
