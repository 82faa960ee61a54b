import {
  claimRoute,
  heartbeatRoute,
  heldAccountsRoute,
  launchPackageRoute,
  realtimeTokenRoute,
  reportStateRoute,
  teardownRoute,
  type TeardownReason,
} from '@rubi/contracts/vps.ts';
import { VOCABULARY } from '@rubi/contracts/vocabulary.ts';
import { randomToken, sha256Hex } from '@rubi/crypto';
import type { Enums } from '@rubi/db';
import {
  ApiError,
  conflict,
  createFunctionApp,
  DOORBELL_TOPIC,
  iso,
  isoRequired,
  mintHostRealtimeToken,
  notFound,
  noteRequest,
  warnRequest,
  requireVpsHost,
  withDb,
  type EdgeDeps,
  type EdgeEnv,
} from '@rubi/edge';
import type { Context } from 'hono';

// The private functions return these columns as text; their values are the database's vocabularies.
type Platform = Enums<'platform'>;
type AccountStatus = Enums<'account_status'>;
type TerminalState = Enums<'terminal_state'>;

interface LaunchRow {
  account_id: string;
  external_account_id: string;
  platform: Platform;
  login: number;
  server: string;
  broker: string;
  investor_password_ciphertext: string | null;
  encryption_key_id: string | null;
  provisioning_token_expires_at: Date | null;
  refused: string | null;
}

interface StateRow {
  account_id: string;
  external_account_id: string;
  status: AccountStatus;
  terminal_state: TerminalState | null;
  error_code: string | null;
  error_message: string | null;
  attempts: number;
  next_retry_at: Date | null;
  held: boolean;
  removed: boolean;
}

interface HeldRow {
  account_id: string;
  external_account_id: string;
  platform: Platform;
  login: number;
  server: string;
  broker: string;
  status: AccountStatus;
  terminal_state: TerminalState | null;
  lease_expires_at: Date | null;
  teardown: TeardownReason | null;
}

/** The authenticated host (requireVpsHost ran). */
function hostIdOf(c: Context<EdgeEnv>): string {
  const actor = c.get('actor');
  if (actor.kind !== 'vps_host') throw new Error('vps routes require a VPS host');
  return actor.hostId;
}

const REFUSALS: Record<string, string> = {
  paused: 'the account is paused: stop and remove its terminal (it is listed by GET /vps/teardown), then report stopped',
  deleted: 'the account was deleted: stop and remove its terminal (it is listed by GET /vps/teardown), then report stopped',
};

/**
 * `vps`: the API of the VPS agents that run MetaTrader terminals. Every route authenticates the
 * host by its key and runs as service_role through private functions that act only on the
 * accounts this host holds; another host's account is a 404.
 */
export function createVpsApp(deps: EdgeDeps) {
  const app = createFunctionApp('vps', deps);
  const base = deps.config.SUPABASE_URL.replace(/\/+$/, '');
  const registerUrl = `${base}/functions/v1/register`;
  const tradesUrl = `${base}/functions/v1/trades`;

  app.openapi({ ...heartbeatRoute, middleware: [requireVpsHost()] }, async (c) => {
    const body = c.req.valid('json');
    const hostId = hostIdOf(c);
    const terminals = body.terminals.map((t) => ({ account_id: t.account_id, state: t.state }));
    const result = await withDb(c, async (tx) => {
      const [beat] = await tx.query<{ renewed: number; lease_seconds: number }>(
        `select private.vps_heartbeat($1, $2, $3) as renewed, private.setting('account_lease_seconds')::int as lease_seconds`,
        [hostId, body.version, body.capacity],
      );
      const notHeld = await tx.query<{ id: string }>('select id from private.vps_report_terminals($1, $2::jsonb) as id', [
        hostId,
        JSON.stringify(terminals),
      ]);
      return { renewed: beat?.renewed ?? 0, leaseSeconds: beat?.lease_seconds ?? 0, notHeld: notHeld.map((r) => r.id) };
    });
    return c.json(
      {
        leases_renewed: result.renewed,
        server_time: isoRequired(deps.now()),
        lease_seconds: result.leaseSeconds,
        not_held: result.notHeld,
      },
      200,
    );
  });

  app.openapi({ ...claimRoute, middleware: [requireVpsHost()] }, async (c) => {
    const { max, platforms } = c.req.valid('json');
    const rows = await withDb(c, (tx) =>
      tx.query<{ account_id: string; external_account_id: string; platform: Platform; login: number; server: string; broker: string }>(
        `select a.id as account_id, a.external_account_id, a.platform, a.login, a.server, b.name as broker
         from private.claim_accounts($1, $2, $3::text[]) a
         join public.brokers b on b.id = a.broker_id
         order by a.created_at, a.id`,
        [hostIdOf(c), max, platforms ?? VOCABULARY.platform],
      ),
    );
    return c.json({ accounts: rows }, 200);
  });

  app.openapi({ ...launchPackageRoute, middleware: [requireVpsHost()] }, async (c) => {
    const { id } = c.req.valid('param');
    // A fresh one-time token per package; only its hash is stored (register compares hashes).
    const token = randomToken(32);
    const tokenHash = await sha256Hex(token);
    const pkg = await withDb(c, async (tx) => {
      const [row] = await tx.query<LaunchRow>('select * from private.vps_launch_package($1, $2, $3)', [hostIdOf(c), id, tokenHash]);
      if (!row) throw notFound('account not found');
      if (row.refused !== null) throw conflict(REFUSALS[row.refused] ?? `the account cannot be launched (${row.refused})`);
      if (row.investor_password_ciphertext === null || row.encryption_key_id === null || row.provisioning_token_expires_at === null) {
        throw new Error('launch package without its sealed password');
      }
      // Opened inside the transaction: if it fails, the new token is not stored either. The
      // ciphertext is bound to the account's id (associated data), so it cannot be swapped.
      const password = await deps.secretBox.open(row.investor_password_ciphertext, row.encryption_key_id, row.account_id);
      return { row, password, expiresAt: row.provisioning_token_expires_at };
    });
    return c.json(
      {
        account_id: pkg.row.account_id,
        external_account_id: pkg.row.external_account_id,
        platform: pkg.row.platform,
        login: pkg.row.login,
        server: pkg.row.server,
        broker: pkg.row.broker,
        investor_password: pkg.password,
        provisioning_token: token,
        token_expires_at: isoRequired(pkg.expiresAt),
        register_url: registerUrl,
        trades_url: tradesUrl,
      },
      200,
      { 'cache-control': 'no-store' },
    );
  });

  app.openapi({ ...reportStateRoute, middleware: [requireVpsHost()] }, async (c) => {
    const { id } = c.req.valid('param');
    const body = c.req.valid('json');
    const row = await withDb(c, async (tx) => {
      const [updated] = await tx.query<StateRow>('select * from private.vps_report_state($1, $2, $3, $4, $5)', [
        hostIdOf(c),
        id,
        body.state,
        body.error_code ?? null,
        body.error_message ?? null,
      ]);
      return updated;
    });
    if (!row) throw notFound('account not found');
    // The agent's report goes on the request's line, its only line, at `warn` for an error: "why
    // is this account in error" (README). The error message stays out of the log (the account and
    // /ops/fleet show it).
    noteRequest(c, {
      external_account_id: row.external_account_id,
      account_status: row.status,
      ...(body.error_code ? { reported_error_code: body.error_code } : {}),
    });
    if (body.state === 'error') warnRequest(c);
    return c.json(
      {
        account_id: row.account_id,
        external_account_id: row.external_account_id,
        status: row.status,
        terminal_state: row.terminal_state,
        error_code: row.error_code,
        error_message: row.error_message,
        attempts: row.attempts,
        next_retry_at: iso(row.next_retry_at),
        held: row.held,
        removed: row.removed,
      },
      200,
    );
  });

  app.openapi({ ...teardownRoute, middleware: [requireVpsHost()] }, async (c) => {
    const rows = await withDb(c, (tx) =>
      tx.query<{ account_id: string; external_account_id: string; platform: Platform; reason: TeardownReason }>(
        'select account_id, external_account_id, platform, reason from private.vps_teardown_list($1)',
        [hostIdOf(c)],
      ),
    );
    return c.json({ accounts: rows }, 200);
  });

  app.openapi({ ...heldAccountsRoute, middleware: [requireVpsHost()] }, async (c) => {
    const rows = await withDb(c, (tx) => tx.query<HeldRow>('select * from private.vps_held_accounts($1)', [hostIdOf(c)]));
    return c.json({ accounts: rows.map((r) => ({ ...r, lease_expires_at: iso(r.lease_expires_at) })) }, 200);
  });

  // The doorbell is private (issue #15): a host listens with this token (role anon + its id).
  app.openapi({ ...realtimeTokenRoute, middleware: [requireVpsHost()] }, async (c) => {
    const minted = await mintHostRealtimeToken(deps.config, hostIdOf(c), deps.now());
    if (!minted) throw new ApiError(503, 'unavailable', 'no Realtime signing key (REALTIME_SIGNING_JWK) is configured: poll instead');
    return c.json({ access_token: minted.token, expires_at: isoRequired(minted.expiresAt), topic: DOORBELL_TOPIC }, 200, { 'cache-control': 'no-store' });
  });

  return app;
}
