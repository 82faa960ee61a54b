import { createRoute, z } from '@hono/zod-openapi';
import { errorResponses, jsonBody, jsonResponse, PageInfo, PageQuery, Timestamp, Uuid } from './common.ts';
import { Platform, TerminalState, TradingAccountStatus } from './shared.ts';

// The write side of `accounts`: trading accounts a user registers for provisioning and cashback.

// Declared in shared.ts: register.ts uses them too.
export { Platform, TradingAccountStatus };

/** The read-only (investor) password, at registration and when the owner changes it. */
export const InvestorPassword = z.string().min(1).max(128).regex(/^[^\u0000]+$/, 'no NUL characters').openapi({
  description: 'The read-only (investor) password; stored encrypted and only ever handed to the VPS host that runs the terminal',
});

export const RegisterTradingAccountRequest = z
  .object({
    broker_id: Uuid,
    platform: Platform,
    login: z.number().int().positive().max(9_999_999_999).openapi({ example: 51234567 }),
    server: z.string().trim().min(1).max(128).regex(/^[^\u0000-\u001f]+$/, 'printable characters only').openapi({ example: 'ICMarketsSC-Live07' }),
    investor_password: InvestorPassword,
  })
  .strict()
  .openapi('RegisterTradingAccountRequest');

export const ChangeInvestorPasswordRequest = z
  .object({ investor_password: InvestorPassword })
  .strict()
  .openapi('ChangeInvestorPasswordRequest');

export const AccountFigures = z
  .object({
    trades: z.number().int(),
    lots: z.number(),
    cashback_accrued: z.number().openapi({ description: 'Rebate accrued on every reported trade' }),
    cashback_settled: z.number().openapi({ description: 'Part of it already settled into the ledger' }),
    currency: z.string(),
  })
  .openapi('AccountFigures');

export const AccountOwnership = z
  .object({
    verified_at: Timestamp.nullable().openapi({ description: 'When the owner proved the account is theirs; cashback accrues only once it is' }),
    code: z.string().nullable().openapi({ description: 'The ownership code to put in a pending order comment, while unverified', example: 'RUBI-7KQ2X9MD' }),
    instruction: z.string().nullable().openapi({ description: 'How to prove it, while unverified' }),
  })
  .openapi('AccountOwnership');
export type AccountOwnership = z.infer<typeof AccountOwnership>;

/** The overall health of an account, by the rule in AccountHealth's description (and the README). */
export const ACCOUNT_HEALTH_STATUSES = ['healthy', 'degraded', 'down', 'not_started', 'paused'] as const;
export const AccountHealthStatus = z.enum(ACCOUNT_HEALTH_STATUSES).openapi('AccountHealthStatus');
export type AccountHealthStatus = z.infer<typeof AccountHealthStatus>;
/** Why `status` is what it is: the first rule that matched (null when healthy). */
export const ACCOUNT_HEALTH_REASONS = [
  'paused',
  'error',
  'queued',
  'provisioning',
  'restarting',
  'ea_silent',
  'terminal_crashed',
  'terminal_stopped',
  'broker_disconnected',
  'terminal_launching',
  'history_syncing',
] as const;
export const AccountHealthReason = z.enum(ACCOUNT_HEALTH_REASONS).openapi('AccountHealthReason');
export type AccountHealthReason = z.infer<typeof AccountHealthReason>;

export const ACCOUNT_HEALTH_RULE =
  'status is decided by the first rule that matches (reason names it): ' +
  'paused (the owner paused the account) -> paused; ' +
  'the account is in error (error: last_error says why; a rejected password included) -> down; ' +
  'waiting for a VPS host or being launched, never connected and no error (queued, provisioning) -> not_started; ' +
  'waiting for a host or being launched again after it ran or failed (restarting) -> down; ' +
  'the EA has not reported within the silence threshold (ea_silent; the account is disconnected) -> down; ' +
  'the VPS agent reports the terminal crashed or stopped (terminal_crashed, terminal_stopped) -> down; ' +
  'the EA reports the terminal is not connected to the broker (broker_disconnected) -> down; ' +
  'the terminal is being relaunched (terminal_launching) or the EA is still sending the history since registration (history_syncing) -> degraded; ' +
  'otherwise healthy (reason null). A report an older EA does not send (broker connection, history) counts as fine.';

export const AccountHealth = z
  .object({
    status: AccountHealthStatus.openapi({ description: 'healthy | degraded | down | not_started | paused, by the rule above' }),
    reason: AccountHealthReason.nullable().openapi({ description: 'The rule that decided status; null when healthy' }),
    terminal: z
      .object({
        state: TerminalState.nullable().openapi({
          description: 'The terminal process as the VPS agent last reported it (launching, running, stopped, crashed); null when no host runs it',
        }),
        hosted: z.boolean().openapi({ description: 'Whether a VPS host holds the account (which one is internal)' }),
      })
      .openapi({ description: 'The MetaTrader terminal that runs the account' }),
    broker_connection: z
      .object({
        connected: z.boolean().nullable().openapi({
          description:
            "Whether the terminal is connected to the broker's trade server, as the EA reports it (MT5 TerminalInfoInteger(TERMINAL_CONNECTED), MT4 IsConnected()); null: never reported (an older EA)",
        }),
        since: Timestamp.nullable().openapi({ description: 'Since when it has been so (when the backend first heard the current value)' }),
        reported_at: Timestamp.nullable().openapi({ description: "The EA's last report of it" }),
      })
      .openapi({ description: "The terminal's connection to the broker" }),
    last_heard_from: z
      .object({
        at: Timestamp.nullable().openapi({ description: "The EA's last report (any POST /trades, an empty batch too); null: never" }),
        within_threshold: z.boolean().openapi({ description: 'Whether that is within silent_after_seconds of now' }),
        silent_after_seconds: z.number().int().openapi({
          description: 'The silence threshold (setting account_silent_seconds): an account not heard from for this long is disconnected',
        }),
      })
      .openapi({ description: 'When the EA last reported' }),
    history_synchronised: z
      .object({
        synchronised: z.boolean().nullable().openapi({
          description: "Whether the EA has sent the account's whole history since registration (its backfill is complete); null: never reported (an older EA)",
        }),
        until: Timestamp.nullable().openapi({ description: 'Every trade closed before this instant has been sent, as the EA reported it' }),
      })
      .openapi({ description: "How far the account's closed trades have been sent" }),
    last_error: z
      .object({
        code: z.string().openapi({ description: 'E_AUTH (the broker refused the investor password), E_LAUNCH, ... (error_code)', example: 'E_AUTH' }),
        message: z.string().nullable().openapi({ description: 'What the VPS host reported (error_message)' }),
        at: Timestamp.nullable().openapi({ description: 'When the account entered error' }),
        credentials_rejected: z.boolean().openapi({ description: 'The broker refused the investor password: change it to relaunch the account' }),
      })
      .nullable()
      .openapi({ description: 'The last error, kept until the account is launched again; null: none' }),
  })
  .openapi('AccountHealth', { description: `The account's health, one object. ${ACCOUNT_HEALTH_RULE}` });
export type AccountHealth = z.infer<typeof AccountHealth>;

/** What the owner sets about the account's cashback (PUT /trading-accounts/{id}/cashback-settings). */
export const CashbackSettings = z
  .object({
    payout_currency: z
      .string()
      .regex(/^[A-Z]{3}$/, 'a 3-letter ISO 4217 code in upper case')
      .nullable()
      .openapi({ description: "The currency the account's cashback is paid in; null: the broker's currency", example: 'USD' }),
    excluded_magics: z
      .array(z.number({ error: 'a magic number: a whole number' }).int('a magic number: a whole number'))
      .max(100)
      .openapi({ description: 'Trades with these magic numbers earn no cashback (stored, withheld as filtered)', example: [777] }),
    excluded_symbols: z
      .array(z.string().regex(/^[A-Za-z0-9._#+!%-]{1,64}$/, 'a symbol, or a pattern with % for any run of characters and _ for one'))
      .max(100)
      .openapi({
        description: 'Trades whose symbol (upper-cased) is one of these, or matches one as a SQL LIKE pattern (% any run, _ one character), earn no cashback',
        example: ['XAU%'],
      }),
  })
  .openapi('CashbackSettings', { description: 'Filters apply to trades reported after the change; past trades keep what they accrued' });
export type CashbackSettings = z.infer<typeof CashbackSettings>;

export const TradingAccount = z
  .object({
    id: Uuid,
    external_account_id: Uuid,
    broker: z.object({ id: Uuid, name: z.string() }),
    platform: Platform,
    login: z.number().int(),
    server: z.string(),
    status: TradingAccountStatus,
    paused: z.boolean(),
    error_code: z.string().nullable(),
    error_message: z.string().nullable(),
    credentials_rejected: z.boolean().openapi({
      description:
        'The broker refused the investor password (error_code E_AUTH): the account is not started again until the password is updated (PUT /trading-accounts/{id}/password), which relaunches it',
    }),
    attempts: z.number().int(),
    next_retry_at: Timestamp.nullable(),
    terminal_state: TerminalState.nullable(),
    connected_at: Timestamp.nullable(),
    last_seen_at: Timestamp.nullable(),
    created_at: Timestamp,
    ownership: AccountOwnership,
    figures: AccountFigures,
    health: AccountHealth,
    cashback_settings: CashbackSettings,
  })
  .openapi('TradingAccount');
export type TradingAccount = z.infer<typeof TradingAccount>;

export const TradingAccountList = z.object({ accounts: z.array(TradingAccount) }).openapi('TradingAccountList');
export const TradingAccountIdParam = z.object({ id: Uuid });
export const AccountActionParam = z.object({ id: Uuid, action: z.enum(['pause', 'resume', 'retry']) });
export const DeletedTradingAccount = z
  .object({ id: Uuid, deleted: z.literal(true), teardown_pending: z.boolean().openapi({ description: 'A VPS host still has to stop its terminal' }) })
  .openapi('DeletedTradingAccount');

export const Broker = z
  .object({ id: Uuid, name: z.string(), platforms: z.array(Platform), rebate_per_lot: z.number(), currency: z.string() })
  .openapi('Broker');
export const BrokerList = z.object({ brokers: z.array(Broker) }).openapi('BrokerList');

export const LedgerQuery = PageQuery;
export const LedgerEntry = z
  .object({
    settlement_day: z.iso.date(),
    trades: z.number().int().openapi({ description: 'Trades settled into this day' }),
    lots: z.number(),
    amount: z.number().openapi({ description: 'Cashback settled, in `currency`' }),
    currency: z.string(),
    updated_at: Timestamp.openapi({ description: 'Last settlement run that added to this day' }),
  })
  .openapi('CashbackLedgerEntry');
export const Ledger = z
  .object({ account_id: Uuid, entries: z.array(LedgerEntry).openapi({ description: 'Newest day first' }) })
  .extend(PageInfo.shape)
  .openapi('CashbackLedger');

const user = [{ userJwt: [] }];

export const registerTradingAccountRoute = createRoute({
  method: 'post',
  path: '/trading-accounts',
  summary:
    'Register a trading account for provisioning (the password is encrypted; 409 if you already registered the login on that server). It starts unverified: prove it is yours with the ownership code it answers',
  security: user,
  request: { body: jsonBody(RegisterTradingAccountRequest) },
  responses: { 201: jsonResponse(TradingAccount, 'The account, waiting for a VPS host (no secret in it)'), ...errorResponses },
});
export const listTradingAccountsRoute = createRoute({
  method: 'get',
  path: '/trading-accounts',
  summary: "The user's trading accounts with status and figures",
  security: user,
  responses: { 200: jsonResponse(TradingAccountList, 'Newest first'), ...errorResponses },
});
export const getTradingAccountRoute = createRoute({
  method: 'get',
  path: '/trading-accounts/{id}',
  summary: 'One trading account',
  security: user,
  request: { params: TradingAccountIdParam },
  responses: { 200: jsonResponse(TradingAccount, 'The account'), ...errorResponses },
});
export const accountLedgerRoute = createRoute({
  method: 'get',
  path: '/trading-accounts/{id}/ledger',
  summary: 'The cashback ledger of an account: one entry per settlement day (the nightly job writes them)',
  security: user,
  request: { params: TradingAccountIdParam, query: LedgerQuery },
  responses: { 200: jsonResponse(Ledger, 'Settled days, newest first'), ...errorResponses },
});
export const tradingAccountActionRoute = createRoute({
  method: 'post',
  path: '/trading-accounts/{id}/{action}',
  summary: 'pause | resume | retry (an account in error, resetting its attempts)',
  security: user,
  request: { params: AccountActionParam },
  responses: { 200: jsonResponse(TradingAccount, 'The account after the action'), ...errorResponses },
});
export const changeInvestorPasswordRoute = createRoute({
  method: 'put',
  path: '/trading-accounts/{id}/password',
  summary:
    'Replace the investor password (encrypted like at registration). Clears a rejected password and relaunches the account: one in error or running is queued again (attempts reset); a paused one waits for resume',
  security: user,
  request: { params: TradingAccountIdParam, body: jsonBody(ChangeInvestorPasswordRequest) },
  responses: { 200: jsonResponse(TradingAccount, 'The account after the change (no secret in it)'), ...errorResponses },
});
export const setCashbackSettingsRoute = createRoute({
  method: 'put',
  path: '/trading-accounts/{id}/cashback-settings',
  summary:
    'Set the payout currency and the trade filters (by magic number or symbol) of the account. 409 when the payout currency would change while cashback in another currency is unsettled',
  security: user,
  request: { params: TradingAccountIdParam, body: jsonBody(CashbackSettings) },
  responses: { 200: jsonResponse(TradingAccount, 'The account after the change'), ...errorResponses },
});
export const deleteTradingAccountRoute = createRoute({
  method: 'delete',
  path: '/trading-accounts/{id}',
  summary: 'Delete an account; its VPS host stops and removes the terminal',
  security: user,
  request: { params: TradingAccountIdParam },
  responses: { 200: jsonResponse(DeletedTradingAccount, 'Deleted'), ...errorResponses },
});
export const listBrokersRoute = createRoute({
  method: 'get',
  path: '/brokers',
  summary: 'Brokers a user can register an account with, and their rebate per lot',
  security: user,
  responses: { 200: jsonResponse(BrokerList, 'Active brokers'), ...errorResponses },
});
