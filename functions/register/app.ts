import { registerRoute, TRADES_POLL_INTERVAL_SECONDS } from '@rubi/contracts/register.ts';
import { MAX_TRADES_PER_BATCH } from '@rubi/contracts/shared.ts';
import { generateWebhookSecret, sha256Hex } from '@rubi/crypto';
import type { Enums } from '@rubi/db';
import { createFunctionApp, isoRequired, limit, noteRequest, perIp, unauthorized, withDb, type EdgeDeps } from '@rubi/edge';

type AccountStatus = Enums<'account_status'>;

interface RegisterRow {
  account_id: string;
  user_id: string | null;
  status: AccountStatus | null;
  /** Why the registration was refused (for the log only); null when it succeeded. */
  refused: string | null;
}

type Outcome =
  | { ok: true; accountId: string; userId: string; status: AccountStatus; registeredAt: Date }
  | { ok: false; reason: string };

/** What the caller learns about any refusal: nothing about which part failed, or whether the account exists. */
const REFUSED = 'invalid or expired provisioning token';

/**
 * `register`: the EA of a provisioned account presents the one-time provisioning token from its
 * config and receives the api secret that signs its `trades` requests. No signature (the EA has no
 * secret yet) and no user: the token is the credential, checked by private.register_account_ea as
 * service_role under a lock on the account.
 */
export function createRegisterApp(deps: EdgeDeps) {
  const app = createFunctionApp('register', deps);

  app.openapi(registerRoute, async (c) => {
    const body = c.req.valid('json');
    c.set('actor', { kind: 'provisioning_token' });
    // Every attempt, per account and per client IP, before any work: 429 + Retry-After past the
    // limit; fails open (rate-limit.ts: the one-time token is the credential, the limiter the
    // second line).
    await limit(c, [perIp('register_ip', c), { kind: 'register_account', subject: body.external_account_id }]);
    const tokenHash = await sha256Hex(body.provisioning_token);
    const secret = generateWebhookSecret();

    const outcome = await withDb(c, async (tx): Promise<Outcome> => {
      // The secret is sealed with the account's internal id as associated data (like the investor
      // password), so the ciphertext cannot be moved to another account's row; the id is looked up
      // first, and register_account_ea checks everything again under its lock.
      const [account] = await tx.query<{ id: string; created_at: Date }>(
        'select a.id, a.created_at from public.trading_accounts a where a.external_account_id = $1 and a.deleted_at is null',
        [body.external_account_id],
      );
      // An unknown account takes the same steps (seal, register_account_ea, which finds nothing), so
      // that neither the answer nor its time tells whether the account exists (issue #15).
      const sealed = await deps.secretBox.seal(secret, account?.id ?? body.external_account_id);
      const [row] = await tx.query<RegisterRow>('select * from private.register_account_ea($1, $2, $3, $4, $5, $6, $7, $8)', [
        body.external_account_id,
        tokenHash,
        body.login,
        body.server,
        body.platform,
        body.terminal_build,
        sealed.ciphertext,
        sealed.keyId,
      ]);
      if (!row || !account) return { ok: false, reason: 'unknown_account' };
      if (row.refused !== null || row.user_id === null || row.status === null) return { ok: false, reason: row.refused ?? 'refused' };
      return { ok: true, accountId: row.account_id, userId: row.user_id, status: row.status, registeredAt: account.created_at };
    });

    if (!outcome.ok) {
      // One answer for every refusal. Which check failed goes to the operator's log only, on the
      // request's line (`auth_refusal`; it names no secret: the token itself is never logged).
      noteRequest(c, { auth_refusal: outcome.reason });
      throw unauthorized(REFUSED);
    }

    c.set('actor', { kind: 'account_ea', userId: outcome.userId, accountId: outcome.accountId });
    return c.json(
      {
        external_account_id: body.external_account_id,
        api_secret: secret,
        status: outcome.status,
        account_header: 'X-Account-Id' as const,
        signature_header: 'X-Trade-Signature' as const,
        poll_interval_seconds: TRADES_POLL_INTERVAL_SECONDS,
        max_trades_per_batch: MAX_TRADES_PER_BATCH,
        // When the user registered the account on the dashboard: the EA backfills from here.
        registered_at: isoRequired(outcome.registeredAt),
        server_time: isoRequired(deps.now()),
      },
      200,
      // The body carries a secret: no cache may keep it.
      { 'cache-control': 'no-store' },
    );
  });

  return app;
}
