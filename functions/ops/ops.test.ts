import { randomToken, sha256Hex } from '@rubi/crypto';
import { asOwner } from '@rubi/db';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createEaCredential } from '../../tests/support/ea-credentials.ts';
import { createEdgeHarness, type EdgeHarness, type TestUser } from '../../tests/support/edge-harness.ts';
import { parsePrometheusText, type PromFamily } from '../../tests/support/prometheus-text.ts';
import { openSession } from '../../tests/support/terminal.ts';
import { createVpsHost, registerTradingAccount, type TestTradingAccount, type TestVpsHost } from '../../tests/support/vps-fixtures.ts';
import { createOpsApp } from './app.ts';
import { BACKEND_METRICS } from './metrics.ts';

let h: EdgeHarness;
let app: ReturnType<typeof createOpsApp>;
let alice: TestUser;
let hostA: TestVpsHost;
let hostB: TestVpsHost;
let running: TestTradingAccount;
let failing: TestTradingAccount;
let operatorKey: string;
let revokedKey: string;
/** Everything that must never appear in an answer or a log line. */
const secrets: string[] = [];

async function createOperatorKey(name: string, revoked = false): Promise<string> {
  const key = `op_${randomToken(32)}`;
  await h.db.query(asOwner(), 'insert into private.operator_keys (name, key_hash, revoked_at) values ($1, $2, $3)', [
    name,
    await sha256Hex(key),
    revoked ? new Date() : null,
  ]);
  secrets.push(key, await sha256Hex(key));
  return key;
}

const get = (path: string, headers: Record<string, string> = {}) => Promise.resolve(app.request(path, { headers }));
const bearer = (key: string) => ({ authorization: `Bearer ${key}` });

interface FleetBody {
  hosts: {
    name: string;
    capacity: number;
    accounts_held: number;
    dedicated: boolean;
    revoked: boolean;
    version: string | null;
    heartbeat_age_seconds: number | null;
    terminals: { account_id: string; status: string; terminal_state: string | null; error_code: string | null; login: number }[];
  }[];
  accounts_in_error: { account_id: string; error_code: string | null; error_message: string | null; attempts: number; credentials_rejected: boolean; host: string | null }[];
}

beforeAll(async () => {
  h = await createEdgeHarness();
  app = createOpsApp(h.deps);
  alice = await h.createUser('ops-alice@example.com');
  operatorKey = await createOperatorKey('prometheus');
  revokedKey = await createOperatorKey('old-laptop', true);
  hostA = await createVpsHost(h, 'vps-a', 7);
  hostB = await createVpsHost(h, 'vps-b', 3);
  secrets.push(hostA.key, hostB.key);
  await h.db.query(asOwner(), `update private.vps_hosts set version = '1.2.3', last_heartbeat_at = now() - interval '20 seconds' where id = $1`, [hostA.id]);

  running = await registerTradingAccount(h, alice);
  failing = await registerTradingAccount(h, alice);
  const pending = await registerTradingAccount(h, alice);
  for (const a of [running, failing, pending]) secrets.push(a.password, a.externalId);
  await h.db.query(
    asOwner(),
    `update public.trading_accounts set status = 'provisioning', vps_host_id = $2, lease_expires_at = now() + interval '3 minutes' where id = any ($1)`,
    [[running.id, failing.id], hostA.id],
  );
  await h.db.query(asOwner(), `update public.trading_accounts set status = 'connected', terminal_state = 'running', last_seen_at = now() where id = $1`, [running.id]);
  // An error releases the account (the state machine clears its host).
  await h.db.query(
    asOwner(),
    `update public.trading_accounts set status = 'error', terminal_state = 'stopped', error_code = 'E_AUTH', error_message = 'invalid account',
       attempts = 2, credentials_rejected_at = now() where id = $1`,
    [failing.id],
  );
  const codes = await h.db.query<{ ownership_code: string }>(asOwner(), 'select ownership_code from public.trading_accounts');
  const ciphertexts = await h.db.query<{ c: string }>(asOwner(), 'select investor_password_ciphertext as c from private.account_secrets');
  secrets.push(...codes.map((r) => r.ownership_code), ...ciphertexts.map((r) => r.c));

  // A live session and signals: 2 completed in the window (delivered after 1 s and 3 s, reported 2 s
  // and 4 s later), 1 PENDING for 90 s, 1 EXPIRED long ago.
  const key = await createEaCredential(h, alice);
  secrets.push(key.secret);
  const sessionId = await openSession(h, key, 5501);
  // Through the state machine (PENDING, DELIVERED, then the outcome), the times set on the way.
  const [s1, s2, s3, s4] = await h.db.query<{ id: string }>(
    asOwner(),
    `insert into public.trading_signals (user_id, session_id, type, symbol, volume, created_at)
     select $1, $2, 'BUY', 'EURUSD', 0.1, now() - make_interval(secs => c) from unnest(array[60, 60, 90, 172800]) with ordinality u (c, i)
     returning id`,
    [alice.id, sessionId],
  );
  const move = (id: string | undefined, status: string, set: string) =>
    h.db.query(asOwner(), `update public.trading_signals set status = $2, ${set} where id = $1`, [id, status]);
  await move(s1?.id, 'DELIVERED', `delivered_at = now() - interval '59 s'`);
  await move(s1?.id, 'EXECUTED', `completed_at = now() - interval '57 s'`);
  await move(s2?.id, 'DELIVERED', `delivered_at = now() - interval '57 s'`);
  await move(s2?.id, 'REJECTED', `completed_at = now() - interval '53 s'`);
  await move(s4?.id, 'EXPIRED', `completed_at = now() - interval '2 days'`);
  void s3;

  // Closed trades: 2 accrued unsettled (USD 1.5 + 2.5, EUR 4), 1 withheld unverified, 1 paused.
  await h.db.query(
    asOwner(),
    `insert into public.closed_trades (account_id, user_id, ticket, symbol, type, lots, open_time, close_time, open_price, close_price,
       cashback_amount, currency, cashback_withheld)
     select $1, $2, t.ticket, 'EURUSD', 'BUY', 0.1, now() - interval '1 hour', now() - interval '30 minutes', 1.1, 1.2, t.amount, t.currency, t.withheld::public.cashback_withheld_reason
     from (values (1, 1.5, 'USD', null), (2, 2.5, 'USD', null), (3, 4, 'EUR', null), (4, 0, 'USD', 'unverified'), (5, 0, 'USD', 'paused'))
       t (ticket, amount, currency, withheld)`,
    [running.id, alice.id],
  );
  // The ledger (its triggers keep the settled totals): USD 10 + 5, then one row updated to 7.
  await h.db.query(
    asOwner(),
    `insert into public.cashback_ledger (account_id, user_id, settlement_day, trades_count, lots, amount, currency)
     values ($1, $2, current_date - 2, 3, 0.3, 10, 'USD'), ($1, $2, current_date - 1, 1, 0.1, 5, 'USD')`,
    [running.id, alice.id],
  );
  await h.db.query(asOwner(), `update public.cashback_ledger set amount = 7 where settlement_day = current_date - 1 and account_id = $1`, [running.id]);

  // Cron (PGlite's stand-in has the tables): one job that succeeded, one whose newest run failed.
  await h.db.query(
    asOwner(),
    `insert into cron.job_run_details (jobid, status, start_time, end_time)
     select j.jobid, r.status, r.t, r.t + interval '1 second'
     from cron.job j
     cross join lateral (values ('failed', timestamptz '2026-01-01T00:00:00Z'), (case when j.jobname = 'rubi-sweep-stale-sessions' then 'failed' else 'succeeded' end, timestamptz '2026-01-01T00:01:00Z')) r (status, t)
     where j.jobname in ('rubi-sweep-stale-sessions', 'rubi-settle-cashback')
     order by r.t`,
  );
});

afterAll(async () => {
  await h?.close();
});

describe('the operator key', () => {
  const refused = async (headers: Record<string, string>) => {
    for (const path of ['/ops/metrics', '/ops/fleet']) {
      const res = await get(path, headers);
      expect(res.status, `${path} ${JSON.stringify(Object.keys(headers))}`).toBe(401);
      const body = (await res.json()) as { error: { code: string; message: string } };
      expect(body.error.code).toBe('unauthorized');
    }
  };

  it('no key: 401', async () => {
    await refused({});
  });

  it('an unknown key and a revoked key: 401 with the same message', async () => {
    const unknown = await get('/ops/metrics', bearer(`op_${randomToken(32)}`));
    const revoked = await get('/ops/metrics', bearer(revokedKey));
    expect([unknown.status, revoked.status]).toEqual([401, 401]);
    expect(await unknown.json()).toEqual(await revoked.json());
    await refused({ 'x-operator-key': revokedKey });
  });

  it('a VPS host key, the service_role key or a user token: 401', async () => {
    await refused(bearer(hostA.key));
    await refused({ 'x-operator-key': hostA.key });
    await refused({ 'x-vps-api-key': hostA.key });
    await refused(bearer(await h.tokenFor(alice.id, { role: 'service_role' })));
    await refused(bearer(alice.token));
  });

  it('opens both routes as a bearer token or as X-Operator-Key', async () => {
    for (const headers of [bearer(operatorKey), { 'x-operator-key': operatorKey }]) {
      expect((await get('/ops/metrics', headers)).status).toBe(200);
      expect((await get('/ops/fleet', headers)).status).toBe(200);
    }
  });

  it('failed keys per client IP are rate limited (429 past the burst); a good key never is', async () => {
    const setting = (suffix: string, value: number) =>
      h.db.query(asOwner(), 'update private.settings set value = $2 where key = $1', [`rate_limit_operator_auth_failure_ip_${suffix}`, value]);
    await setting('per_minute', 6);
    await setting('burst', 3);
    try {
      const from = { 'x-forwarded-for': '203.0.113.61' };
      const statuses: number[] = [];
      for (let i = 0; i < 5; i++) statuses.push((await get('/ops/metrics', { ...from, ...bearer(`op_${randomToken(32)}`) })).status);
      expect(statuses).toEqual([401, 401, 401, 429, 429]);
      const limited = await get('/ops/fleet', { ...from, 'x-operator-key': revokedKey });
      expect(limited.status).toBe(429);
      expect(Number(limited.headers.get('retry-after'))).toBeGreaterThan(0);
      expect((await get('/ops/metrics', { ...from, ...bearer(operatorKey) })).status).toBe(200);
      expect((await get('/ops/metrics', { 'x-forwarded-for': '203.0.113.62', ...bearer(revokedKey) })).status).toBe(401);
    } finally {
      await setting('per_minute', 30);
      await setting('burst', 30);
    }
  });

  it('the functions behind it are service_role only', async () => {
    const grants = await h.db.query<{ f: string; anon: boolean; authenticated: boolean; service_role: boolean }>(
      asOwner(),
      `select f, has_function_privilege('anon', f, 'execute') as anon, has_function_privilege('authenticated', f, 'execute') as authenticated,
         has_function_privilege('service_role', f, 'execute') as service_role
       from unnest(array['private.ops_metrics()', 'private.ops_fleet()', 'private.authenticate_operator(text)']) f`,
    );
    expect(grants.every((g) => !g.anon && !g.authenticated && g.service_role)).toBe(true);
  });
});

describe('GET /ops/metrics', () => {
  let text: string;
  let families: PromFamily[];
  const value = (name: string, labels: Record<string, string> = {}): number | undefined =>
    families
      .find((f) => f.name === name)
      ?.samples.find((s) => Object.entries(labels).every(([k, v]) => s.labels[k] === v) && Object.keys(s.labels).length === Object.keys(labels).length)?.value;

  beforeAll(async () => {
    const res = await get('/ops/metrics', bearer(operatorKey));
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('text/plain; version=0.0.4; charset=utf-8');
    text = await res.text();
    families = parsePrometheusText(text);
  });

  it('is valid exposition text with every metric, its HELP and TYPE, in a stable order', () => {
    expect(families.map((f) => [f.name, f.type])).toEqual(BACKEND_METRICS.map((m) => [m.name, m.type]));
  });

  it('counts sessions, terminals heard from and signals', () => {
    expect(value('rubi_sessions', { status: 'active' })).toBe(1);
    expect(value('rubi_sessions', { status: 'stale' })).toBe(0);
    expect(value('rubi_sessions', { status: 'disconnected' })).toBeGreaterThanOrEqual(0);
    expect(value('rubi_terminals_heard_from', { kind: 'session' })).toBe(1);
    expect(value('rubi_terminals_heard_from', { kind: 'account' })).toBe(1);
    expect(value('rubi_signals', { status: 'EXECUTED' })).toBe(1);
    expect(value('rubi_signals', { status: 'REJECTED' })).toBe(1);
    expect(value('rubi_signals', { status: 'PENDING' })).toBe(1);
    expect(value('rubi_signals', { status: 'EXPIRED' })).toBe(1);
    expect(value('rubi_signals', { status: 'FAILED' })).toBe(0);
    expect(value('rubi_signal_oldest_pending_age_seconds')).toBeGreaterThanOrEqual(89);
    expect(value('rubi_signal_oldest_pending_age_seconds')).toBeLessThan(200);
  });

  it('computes delivery latency quantiles over the window', () => {
    expect(value('rubi_signal_latency_window_signals', { stage: 'delivered' })).toBe(2);
    expect(value('rubi_signal_latency_window_signals', { stage: 'reported' })).toBe(2);
    expect(value('rubi_signal_latency_seconds', { stage: 'delivered', quantile: '0.5' })).toBeCloseTo(2, 1);
    expect(value('rubi_signal_latency_seconds', { stage: 'reported', quantile: '0.5' })).toBeCloseTo(3, 1);
    expect(value('rubi_signal_latency_seconds', { stage: 'reported', quantile: '0.99' })).toBeCloseTo(3.98, 1);
  });

  it('counts closed trades, withheld ones and cashback per currency', () => {
    expect(value('rubi_closed_trades_withheld', { reason: 'unverified' })).toBe(1);
    expect(value('rubi_closed_trades_withheld', { reason: 'paused' })).toBe(1);
    expect(value('rubi_closed_trades_withheld', { reason: 'owned_elsewhere' })).toBe(0);
    expect(value('rubi_cashback_accrued_unsettled', { currency: 'USD' })).toBe(4);
    expect(value('rubi_cashback_accrued_unsettled', { currency: 'EUR' })).toBe(4);
    expect(value('rubi_cashback_settled', { currency: 'USD' })).toBe(17);
    expect(value('rubi_closed_trades')).toBeGreaterThanOrEqual(0);
  });

  it('counts accounts by status and error code, and hosts', () => {
    expect(value('rubi_accounts', { status: 'connected' })).toBe(1);
    expect(value('rubi_accounts', { status: 'error' })).toBe(1);
    expect(value('rubi_accounts', { status: 'pending_vps_setup' })).toBe(1);
    expect(value('rubi_accounts_in_error', { error_code: 'E_AUTH' })).toBe(1);
    expect(value('rubi_vps_hosts', { state: 'active' })).toBe(2);
    expect(value('rubi_vps_host_capacity', { host: 'vps-a' })).toBe(7);
    expect(value('rubi_vps_host_accounts', { host: 'vps-a' })).toBe(1);
    expect(value('rubi_vps_host_accounts', { host: 'vps-b' })).toBe(0);
    expect(value('rubi_vps_host_heartbeat_age_seconds', { host: 'vps-a' })).toBeGreaterThanOrEqual(19);
    expect(Number.isNaN(value('rubi_vps_host_heartbeat_age_seconds', { host: 'vps-b' }))).toBe(true);
  });

  it('reports each cron job\'s newest run', () => {
    expect(value('rubi_cron_available')).toBe(1);
    expect(value('rubi_cron_job_last_run_success', { job: 'rubi-settle-cashback' })).toBe(1);
    expect(value('rubi_cron_job_last_run_success', { job: 'rubi-sweep-stale-sessions' })).toBe(0);
    expect(value('rubi_cron_job_last_run_timestamp_seconds', { job: 'rubi-settle-cashback' })).toBe(Date.parse('2026-01-01T00:01:00Z') / 1000);
  });

  it('sizes the replay and rate-limit tables, and times itself', () => {
    for (const table of ['seen_request_ids', 'rate_limits']) {
      expect(value('rubi_table_size_bytes', { table })).toBeGreaterThan(0);
      expect(value('rubi_table_rows_estimate', { table })).toBeGreaterThanOrEqual(0);
    }
    expect(value('rubi_ops_metrics_query_seconds')).toBeGreaterThan(0);
  });

  it('holds no secret', () => {
    for (const s of secrets) expect(text.includes(s), 'a secret in the metrics').toBe(false);
  });
});

describe('GET /ops/fleet', () => {
  let body: FleetBody;
  let raw: string;
  beforeAll(async () => {
    const res = await get('/ops/fleet', { 'x-operator-key': operatorKey });
    expect(res.status).toBe(200);
    raw = await res.text();
    body = JSON.parse(raw) as FleetBody;
  });

  it('lists every host with its terminals', () => {
    expect(body.hosts.map((x) => x.name)).toEqual(['vps-a', 'vps-b']);
    const [a, b] = body.hosts;
    expect(a).toMatchObject({ capacity: 7, accounts_held: 1, dedicated: false, revoked: false, version: '1.2.3' });
    expect(a?.heartbeat_age_seconds).toBeGreaterThanOrEqual(19);
    expect(a?.terminals.map((t) => [t.account_id, t.login, t.status, t.terminal_state, t.error_code])).toEqual([
      [running.id, running.login, 'connected', 'running', null],
    ]);
    expect(b).toMatchObject({ accounts_held: 0, terminals: [], heartbeat_age_seconds: null });
  });

  it('lists every account in error across the fleet', () => {
    expect(body.accounts_in_error).toEqual([
      expect.objectContaining({
        account_id: failing.id,
        error_code: 'E_AUTH',
        error_message: 'invalid account',
        login: failing.login,
        attempts: 1, // the state machine counts the error itself
        credentials_rejected: true,
        host: null,
      }),
    ]);
  });

  it('holds no secret, ciphertext, ownership code or external id', () => {
    for (const s of secrets) expect(raw.includes(s), 'a secret in the fleet').toBe(false);
    expect(raw).not.toMatch(/ciphertext|ownership|key_hash|password|RUBI-/);
  });

  it('lists the accounts in error newest error first, not newest change first', async () => {
    // An account that entered `error` a day ago and was written since (newest updated_at).
    const older = await registerTradingAccount(h, alice);
    secrets.push(older.password, older.externalId);
    await h.db.query(asOwner(), `update public.trading_accounts set status = 'provisioning', vps_host_id = $2, lease_expires_at = now() + interval '3 minutes' where id = $1`, [
      older.id,
      hostB.id,
    ]);
    await h.db.query(asOwner(), `update public.trading_accounts set status = 'error', error_code = 'E_INIT' where id = $1`, [older.id]);
    await h.db.query(asOwner(), `update public.trading_accounts set error_at = now() - interval '1 day' where id = $1`, [older.id]);
    const [order] = await h.db.query<{ by_change: string[] }>(
      asOwner(),
      `select array_agg(id::text order by updated_at desc) as by_change from public.trading_accounts where id = any ($1)`,
      [[failing.id, older.id]],
    );
    expect(order?.by_change, 'the fixture: updated_at and error_at disagree').toEqual([older.id, failing.id]);

    const res = await get('/ops/fleet', { 'x-operator-key': operatorKey });
    expect(res.status).toBe(200);
    const fleet = (await res.json()) as FleetBody;
    expect(fleet.accounts_in_error.map((a) => [a.account_id, a.error_code])).toEqual([
      [failing.id, 'E_AUTH'],
      [older.id, 'E_INIT'],
    ]);
  });
});

describe('GET /ops/openapi.json', () => {
  it('documents both routes behind the operator key', async () => {
    const res = await get('/ops/openapi.json');
    expect(res.status).toBe(200);
    const doc = (await res.json()) as {
      paths: Record<string, { get?: { security?: unknown; responses: Record<string, { content?: Record<string, unknown> }> } }>;
      components: { securitySchemes: Record<string, unknown> };
    };
    expect(Object.keys(doc.paths)).toEqual(expect.arrayContaining(['/ops/metrics', '/ops/fleet']));
    expect(doc.paths['/ops/metrics']?.get?.security).toEqual([{ operatorKey: [] }]);
    expect(Object.keys(doc.paths['/ops/metrics']?.get?.responses['200']?.content ?? {})).toEqual(['text/plain; version=0.0.4']);
    expect(doc.components.securitySchemes.operatorKey).toMatchObject({ type: 'http', scheme: 'bearer' });
  });
});

describe('logs', () => {
  it('never carry a key or a secret', () => {
    const all = h.logs.join('\n');
    expect(h.logs.length).toBeGreaterThan(0);
    for (const s of secrets) expect(all.includes(s), 'a secret in the logs').toBe(false);
  });
});
