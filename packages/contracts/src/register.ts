import { createRoute, z } from '@hono/zod-openapi';
import { errorResponses, rateLimitedResponse, jsonBody, jsonResponse, Timestamp, Uuid } from './common.ts';
import { MAX_TRADES_PER_BATCH, Platform, TradingAccountStatus } from './shared.ts';

// `register`: the EA of a provisioned account trades its one-time provisioning token (written into
// its config file by the VPS agent, from the vps launch package) for the api secret that signs its
// `trades` requests. The request is not signed (the EA has no secret yet): the token is the
// credential, and knowing an account's login and server is not enough.
//
// Every authentication failure is the same 401, whatever failed: unknown or deleted account, no
// token outstanding (spent by an earlier register, or never issued), wrong token, expired token, or
// a login/server/platform that is not the account's. A malformed body is a 400 naming the fields
// (it says nothing about any account). A new launch package issues a new token; registering with it
// issues a new api secret, and the previous secret stops verifying at once.

/** How often the EA sends its closed trades (an empty batch too: it keeps the account connected). */
export const TRADES_POLL_INTERVAL_SECONDS = 60;

export const RegisterRequest = z
  .object({
    external_account_id: Uuid.openapi({ description: 'The account id from the EA config file' }),
    login: z.number().int().positive().max(9_999_999_999).openapi({ description: 'ACCOUNT_LOGIN', example: 51234567 }),
    server: z
      .string()
      .trim()
      .min(1)
      .max(128)
      .regex(/^[^\u0000-\u001f]+$/, 'printable characters only')
      .openapi({ description: 'ACCOUNT_SERVER (compared without regard to case)', example: 'ICMarketsSC-Live07' }),
    platform: Platform,
    terminal_build: z.number().int().positive().max(1_000_000).openapi({ description: 'TERMINAL_BUILD', example: 4755 }),
    provisioning_token: z
      .string()
      .min(32)
      .max(256)
      .regex(/^[A-Za-z0-9_-]+$/, 'base64url characters only')
      .openapi({ description: 'The one-time token from the EA config file; spent by a successful register' }),
  })
  .strict()
  .openapi('RegisterRequest');
export type RegisterRequest = z.infer<typeof RegisterRequest>;

export const RegisterResponse = z
  .object({
    external_account_id: Uuid,
    api_secret: z.string().openapi({
      description:
        'Standard Webhooks secret (`whsec_<base64>`): sign every `trades` request with it. Shown once; store it in the terminal profile. ' +
        'Registering again needs a fresh provisioning token and replaces it',
      example: 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw',
    }),
    status: TradingAccountStatus.openapi({ description: 'The account status after registering (normally `connected`)' }),
    account_header: z.literal('X-Account-Id').openapi({ description: 'Send external_account_id in this header' }),
    signature_header: z.literal('X-Trade-Signature').openapi({
      description: 'Where the `v1,<base64>` signature goes, beside X-Trade-Id and X-Trade-Timestamp',
    }),
    poll_interval_seconds: z.number().int().openapi({ description: 'Send closed trades (or an empty batch) this often' }),
    max_trades_per_batch: z.number().int().openapi({ description: `At most this many trades per request (${MAX_TRADES_PER_BATCH})` }),
    registered_at: Timestamp.openapi({
      description:
        "When the trading account was registered on the dashboard (the account's `created_at`): " +
        'the EA backfills closed trades from here unless its operator configured an earlier start',
    }),
    server_time: Timestamp,
  })
  .openapi('RegisterResponse');
export type RegisterResponse = z.infer<typeof RegisterResponse>;

export const registerRoute = createRoute({
  method: 'post',
  path: '/',
  summary: 'Register the EA of a provisioned account: a one-time provisioning token for an api secret',
  description:
    'Unsigned: the provisioning token is the credential. 401 for an unknown account, a spent, wrong or expired token, or a login/server/platform that ' +
    'does not match the account (the same answer for all). On success the token is spent and the account is `connected`.',
  security: [],
  request: { body: jsonBody(RegisterRequest) },
  responses: { 200: jsonResponse(RegisterResponse, 'The api secret (shown once) and how to report trades'), ...errorResponses, ...rateLimitedResponse },
});
