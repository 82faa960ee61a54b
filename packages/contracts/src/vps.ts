import { createRoute, z } from '@hono/zod-openapi';
import { ErrorResponse, errorResponses, rateLimitedResponse, jsonBody, jsonResponse, Timestamp, Uuid, VpsHostHeaders } from './common.ts';
import { TerminalState } from './shared.ts';
import { VOCABULARY, type Vocabulary } from './vocabulary.ts';

// The VPS agent's API. A host authenticates with its key (X-VPS-API-Key) and sees only the
// trading accounts it holds: another host's account answers 404 exactly like one that does not
// exist. `account_id` is the account's id in this API; `external_account_id` is the id the
// terminal folder, the EA config and `register` use.

export const VpsPlatform = z.enum(VOCABULARY.platform).openapi('VpsPlatform');

// What a terminal process is doing, as the agent sees it (declared in shared.ts: trading-accounts.ts shows it too).
export { TerminalState };

export const AccountStatus = z.enum(VOCABULARY.account_status).openapi('VpsAccountStatus');
export type AccountStatus = z.infer<typeof AccountStatus>;

export const VpsErrorCode = z
  .string()
  .regex(/^E_[A-Z0-9_]{1,40}$/, 'an error code such as E_AUTH, E_SRV_NOT_FOUND, E_LAUNCH or E_CRASH_LOOP')
  .openapi({
    example: 'E_AUTH',
    description:
      'E_AUTH (login or investor password rejected), E_SRV_NOT_FOUND (unknown trade server), E_LAUNCH (terminal would not start), ' +
      'E_CRASH_LOOP (kept crashing after restarts), or another E_* code the agent reads from the terminal or EA logs',
  });

export const AccountIdParam = z.object({ id: Uuid.openapi({ description: '`account_id` from claim' }) });

// ---------------------------------------------------------------------------------------------
// Heartbeat
export const HeartbeatTerminal = z
  .object({
    account_id: Uuid,
    state: TerminalState,
    pid: z.number().int().positive().max(2 ** 31 - 1).optional().openapi({ description: 'Informational; not stored' }),
  })
  .strict()
  .openapi('HeartbeatTerminal');

export const HeartbeatRequest = z
  .object({
    version: z.string().trim().min(1).max(64).openapi({ example: '1.0.0', description: "The agent's version" }),
    capacity: z.number().int().min(0).max(1000).openapi({ description: 'How many terminals this host may run' }),
    terminals: z
      .array(HeartbeatTerminal)
      .max(1000)
      .refine((list) => new Set(list.map((t) => t.account_id)).size === list.length, 'each account_id may appear once')
      .openapi({ description: 'Every terminal the agent runs (or supervises) right now' }),
  })
  .strict()
  .openapi('VpsHeartbeatRequest');
export type HeartbeatRequest = z.infer<typeof HeartbeatRequest>;

export const HeartbeatResponse = z
  .object({
    leases_renewed: z.number().int().openapi({ description: 'Accounts this host holds, whose leases now run for lease_seconds' }),
    server_time: Timestamp,
    lease_seconds: z.number().int().openapi({ description: 'Heartbeat well within this, or the accounts go back to the queue' }),
    not_held: z.array(Uuid).openapi({
      description:
        'Reported terminals whose account this host does not hold (lease lost, released after an error, deleted, or never its own): ' +
        'stop them and remove their folders; another host may be running the account',
    }),
  })
  .openapi('VpsHeartbeatResponse');

// ---------------------------------------------------------------------------------------------
// Claim
export const ClaimRequest = z
  .object({
    max: z.number().int().min(1).max(50).openapi({ description: 'At most this many; never more than the free capacity' }),
    platforms: z
      .array(VpsPlatform)
      .min(1)
      .max(2)
      .refine((p) => new Set(p).size === p.length, 'each platform once')
      .optional()
      .openapi({ description: 'The platforms this host can run (a base install and an EA for each); only their accounts are claimed. Default: both' }),
  })
  .strict()
  .openapi('VpsClaimRequest');

export const ClaimedAccount = z
  .object({
    account_id: Uuid,
    external_account_id: Uuid,
    platform: VpsPlatform,
    login: z.number().int(),
    server: z.string(),
    broker: z.string(),
  })
  .openapi('VpsClaimedAccount');

export const ClaimResponse = z
  .object({ accounts: z.array(ClaimedAccount).openapi({ description: 'Now `provisioning` and leased to this host; oldest first' }) })
  .openapi('VpsClaimResponse');

// ---------------------------------------------------------------------------------------------
// Launch package
export const LaunchPackage = z
  .object({
    account_id: Uuid,
    external_account_id: Uuid,
    platform: VpsPlatform,
    login: z.number().int(),
    server: z.string(),
    broker: z.string(),
    investor_password: z.string().openapi({ description: 'Decrypted. Write it only into files readable by the agent, never log it' }),
    provisioning_token: z.string().openapi({
      description: "One-time token for the EA's register call (rendr_ea_config.ini). Each launch package issues a new one; earlier ones stop working",
    }),
    token_expires_at: Timestamp,
    register_url: z.url(),
    trades_url: z.url(),
  })
  .openapi('VpsLaunchPackage');
export type LaunchPackage = z.infer<typeof LaunchPackage>;

// ---------------------------------------------------------------------------------------------
// State reports
/** The account statuses the agent decides and reports itself (the database decides the others). */
const REPORTED_ACCOUNT_STATUSES = ['connected', 'error'] as const satisfies readonly Vocabulary<'account_status'>[];

export const ReportedState = z
  .enum([...VOCABULARY.terminal_state, ...REPORTED_ACCOUNT_STATUSES])
  .openapi('VpsReportedState', {
    description:
      '`launching`/`running`/`crashed`: the terminal process; `connected`: logged in and the EA reports (account becomes connected); ' +
      '`error`: the account cannot run (needs error_code; the account leaves this host and is retried later); ' +
      '`stopped`: the terminal is down (a paused account is then released, a deleted one removed)',
  });
export type ReportedState = z.infer<typeof ReportedState>;

export const StateReport = z
  .object({
    state: ReportedState,
    error_code: VpsErrorCode.optional(),
    error_message: z.string().trim().min(1).max(1000).optional().openapi({ description: 'Shown to the account owner' }),
  })
  .strict()
  .superRefine((report, ctx) => {
    if (report.state === 'error' && report.error_code === undefined) {
      ctx.addIssue({ code: 'custom', path: ['error_code'], message: 'required when state is error' });
    }
    if (report.state !== 'error') {
      for (const field of ['error_code', 'error_message'] as const) {
        if (report[field] !== undefined) ctx.addIssue({ code: 'custom', path: [field], message: 'only allowed when state is error' });
      }
    }
  })
  .openapi('VpsStateReport');
export type StateReport = z.infer<typeof StateReport>;

export const AccountState = z
  .object({
    account_id: Uuid,
    external_account_id: Uuid,
    status: AccountStatus,
    terminal_state: TerminalState.nullable(),
    error_code: z.string().nullable(),
    error_message: z.string().nullable(),
    attempts: z.number().int(),
    next_retry_at: Timestamp.nullable(),
    held: z.boolean().openapi({ description: 'False: this host no longer holds the account; stop its terminal and forget it' }),
    removed: z.boolean().openapi({ description: 'The deleted account is gone (after `stopped`)' }),
  })
  .openapi('VpsAccountState');

// ---------------------------------------------------------------------------------------------
// Teardown and held accounts
export const TeardownReason = z.enum(['paused', 'deleted']).openapi('VpsTeardownReason');
export type TeardownReason = z.infer<typeof TeardownReason>;

export const TeardownAccount = z
  .object({ account_id: Uuid, external_account_id: Uuid, platform: VpsPlatform, reason: TeardownReason })
  .openapi('VpsTeardownAccount');
export const TeardownResponse = z
  .object({
    accounts: z.array(TeardownAccount).openapi({ description: 'Stop these terminals, remove their folders, then report `stopped`' }),
  })
  .openapi('VpsTeardownResponse');

export const HeldAccount = z
  .object({
    account_id: Uuid,
    external_account_id: Uuid,
    platform: VpsPlatform,
    login: z.number().int(),
    server: z.string(),
    broker: z.string(),
    status: AccountStatus,
    terminal_state: TerminalState.nullable(),
    lease_expires_at: Timestamp.nullable(),
    teardown: TeardownReason.nullable().openapi({ description: 'Set when the terminal must be stopped instead of kept running' }),
  })
  .openapi('VpsHeldAccount');
export const HeldAccountsResponse = z.object({ accounts: z.array(HeldAccount) }).openapi('VpsHeldAccounts');

/**
 * A Realtime access token for the private doorbell topic `vps:doorbell`: role anon and claim
 * vps_host_id, so it proves the bearer is this host and grants nothing else (policy "vps hosts
 * receive the doorbell" on realtime.messages). Short-lived: the agent fetches a new one before
 * `expires_at` and hands it to Realtime.
 */
export const RealtimeTokenResponse = z
  .object({
    access_token: z.string().min(1).openapi({ description: 'JWT for Realtime (supabase-js `realtime.setAuth`); never logged' }),
    expires_at: Timestamp,
    topic: z.literal('vps:doorbell'),
  })
  .openapi('VpsRealtimeToken');

// ---------------------------------------------------------------------------------------------
// Routes (paths relative to /vps)
const security = [{ vpsHost: [] }];

export const heartbeatRoute = createRoute({
  method: 'post',
  path: '/heartbeat',
  summary: "Report the host's version, capacity and terminals; renews the leases of every account it holds",
  security,
  request: { headers: VpsHostHeaders, body: jsonBody(HeartbeatRequest) },
  responses: { 200: jsonResponse(HeartbeatResponse, 'Leases renewed'), ...errorResponses, ...rateLimitedResponse },
});

export const claimRoute = createRoute({
  method: 'post',
  path: '/claim',
  summary: 'Claim pending accounts, up to the free capacity of this host',
  security,
  request: { headers: VpsHostHeaders, body: jsonBody(ClaimRequest) },
  responses: { 200: jsonResponse(ClaimResponse, 'The claimed accounts (possibly none)'), ...errorResponses, ...rateLimitedResponse },
});

export const launchPackageRoute = createRoute({
  method: 'post',
  path: '/accounts/{id}/launch-package',
  summary: 'Everything needed to launch the terminal of a held account, with a fresh one-time provisioning token',
  description:
    'The only response that carries an investor password. 409 when the account is paused, deleted (tear it down instead) or not in a launchable status.',
  security,
  request: { headers: VpsHostHeaders, params: AccountIdParam },
  responses: { 200: jsonResponse(LaunchPackage, 'The launch package (not cacheable)'), ...errorResponses, ...rateLimitedResponse },
});

export const reportStateRoute = createRoute({
  method: 'post',
  path: '/accounts/{id}/state',
  summary: "Report what a held account's terminal is doing; renews its lease",
  security,
  request: { headers: VpsHostHeaders, params: AccountIdParam, body: jsonBody(StateReport) },
  responses: { 200: jsonResponse(AccountState, 'The account after the report'), ...errorResponses, ...rateLimitedResponse },
});

export const teardownRoute = createRoute({
  method: 'get',
  path: '/teardown',
  summary: 'Held accounts whose terminal must be stopped and removed (paused or deleted by their owner)',
  security,
  request: { headers: VpsHostHeaders },
  responses: { 200: jsonResponse(TeardownResponse, 'Accounts to tear down'), ...errorResponses, ...rateLimitedResponse },
});

export const heldAccountsRoute = createRoute({
  method: 'get',
  path: '/accounts',
  summary: 'Every account this host holds, to adopt running terminals after an agent restart',
  security,
  request: { headers: VpsHostHeaders },
  responses: { 200: jsonResponse(HeldAccountsResponse, 'Held accounts, oldest first (no secrets)'), ...errorResponses, ...rateLimitedResponse },
});

export const realtimeTokenRoute = createRoute({
  method: 'post',
  path: '/realtime-token',
  summary: 'A short-lived Realtime token that lets this host listen to the private doorbell topic (and nothing else)',
  description:
    '503 `unavailable` when the function has no Realtime signing key (REALTIME_SIGNING_JWK): the agent then polls only.',
  security,
  request: { headers: VpsHostHeaders },
  responses: {
    200: jsonResponse(RealtimeTokenResponse, 'The token (not cacheable)'),
    503: { description: 'No Realtime signing key configured', content: { 'application/json': { schema: ErrorResponse } } },
    ...errorResponses,
    ...rateLimitedResponse,
  },
});
