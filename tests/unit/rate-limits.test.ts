// Rate limits and uniform 401s on the auth-sensitive routes (issue #15, items 5 and 7): register,
// failed EA signatures, failed VPS host keys and EA key creation answer 429 + Retry-After past
// their limit (private.take_rate_limit, packages/edge/src/rate-limit.ts), and an unknown EA key /
// account id or an unknown account on register gets the same answer, after the same steps, as a
// known one with a wrong secret or token. Before this change every one of these requests was
// answered 401/201 however many came, and the messages told unknown ids apart.
import { asOwner, type Db } from '@rubi/db';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createKeysApp } from '../../functions/keys/app.ts';
import { createPingApp } from '../../functions/ping/app.ts';
import { createRegisterApp } from '../../functions/register/app.ts';
import { createTradesApp } from '../../functions/trades/app.ts';
import { createVpsApp } from '../../functions/vps/app.ts';
import { createEaCredential } from '../support/ea-credentials.ts';
import { createEdgeHarness, eaRequest, userRequest, type EdgeHarness, type TestUser } from '../support/edge-harness.ts';
import { accountEaRequest, provisionAccount, registerBody, registerEa } from '../support/provisioning.ts';
import { openSession } from '../support/terminal.ts';
import { createVpsHost } from '../support/vps-fixtures.ts';

let h: EdgeHarness;
let alice: TestUser;
/** Every statement the apps below send (text only). */
const sent: string[] = [];
let counting: { seal: number; open: number };

function recording(db: Db): Db {
  return {
    dialect: db.dialect,
    query: (principal, text, params) => {
      sent.push(text);
      return db.query(principal, text, params);
    },
    transaction: (principal, fn) =>
      db.transaction(principal, (tx) =>
        fn({
          query: (text, params) => {
            sent.push(text);
            return tx.query(text, params);
          },
        } as typeof tx),
      ),
    close: () => db.close(),
  };
}

let deps: EdgeHarness['deps'];

async function setLimit(kind: string, perMinute: number, burst: number): Promise<void> {
  await h.db.query(asOwner(), `update private.settings set value = $2 where key = $1`, [`rate_limit_${kind}_per_minute`, perMinute]);
  await h.db.query(asOwner(), `update private.settings set value = $2 where key = $1`, [`rate_limit_${kind}_burst`, burst]);
}

const limiterCalls = () => sent.filter((t) => t.includes('take_rate_limit')).length;

beforeAll(async () => {
  h = await createEdgeHarness();
  alice = await h.createUser('limits-alice@example.com');
  const box = h.deps.secretBox;
  counting = { seal: 0, open: 0 };
  const secretBox: typeof box = {
    ...box,
    currentKeyId: box.currentKeyId,
    needsRotation: (k: string) => box.needsRotation(k),
    seal: (p: string, a?: string) => ((counting.seal += 1), box.seal(p, a)),
    open: (c: string, k: string, a?: string) => ((counting.open += 1), box.open(c, k, a)),
  };
  deps = { ...h.deps, db: recording(h.deps.db), secretBox };
});
afterAll(() => h.close());
beforeEach(async () => {
  await h.db.query(asOwner(), 'delete from private.rate_limits');
  sent.length = 0;
});

describe('register', () => {
  it('refuses token guesses on one account with 429 + Retry-After past the burst', async () => {
    await setLimit('register_account', 6, 5);
    const account = await provisionAccount(h, alice);
    const app = createRegisterApp(deps);
    const statuses: number[] = [];
    let last: Response | undefined;
    for (let i = 0; i < 8; i++) {
      last = await app.request('/register', {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(registerBody(account, { provisioning_token: `guess-${i}-${'x'.repeat(40)}` })),
      });
      statuses.push(last.status);
    }
    expect(statuses).toEqual([401, 401, 401, 401, 401, 429, 429, 429]);
    expect(last?.headers.get('retry-after')).toBe('10');
    expect(await last?.json()).toEqual({ error: { code: 'rate_limited', message: 'too many requests, retry later' } });
    // The right token is refused as well while the account's bucket is empty (the guesser cannot
    // tell a right guess from a wrong one), and accepted once it has refilled.
    const refused = await app.request('/register', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(registerBody(account)) });
    expect(refused.status).toBe(429);
    await h.db.query(asOwner(), `update private.rate_limits set tat = tat - interval '1 hour'`);
    const ok = await app.request('/register', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(registerBody(account)) });
    expect(ok.status).toBe(200);
  });

  it('limits every account from one client IP (first X-Forwarded-For entry), and not other IPs', async () => {
    await setLimit('register_account', 60, 60);
    await setLimit('register_ip', 6, 3);
    const app = createRegisterApp(deps);
    const attempt = (ip: string) =>
      app.request('/register', {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-forwarded-for': `${ip}, 10.0.0.1` },
        body: JSON.stringify({
          external_account_id: crypto.randomUUID(),
          login: 1,
          server: 'Any-Live',
          platform: 'MT5',
          terminal_build: 4755,
          provisioning_token: 'y'.repeat(43),
        }),
      });
    const statuses = [];
    for (let i = 0; i < 5; i++) statuses.push((await attempt('203.0.113.7')).status);
    expect(statuses).toEqual([401, 401, 401, 429, 429]);
    expect((await attempt('198.51.100.9')).status).toBe(401);
  });

  it('answers an unknown account like a known one with a wrong token, after the same steps', async () => {
    await setLimit('register_account', 60, 60);
    await setLimit('register_ip', 60, 60);
    const account = await provisionAccount(h, alice);
    const app = createRegisterApp(deps);
    const run = async (externalId: string) => {
      sent.length = 0;
      counting.seal = 0;
      const res = await app.request('/register', {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(registerBody(account, { external_account_id: externalId, provisioning_token: 'z'.repeat(43) })),
      });
      return { status: res.status, body: await res.json(), statements: [...sent], seals: counting.seal };
    };
    const known = await run(account.externalId);
    const unknown = await run(crypto.randomUUID());
    expect(known.status).toBe(401);
    expect(unknown).toEqual(known);
    expect(known.seals).toBe(1);
    expect(known.statements.some((t) => t.includes('private.register_account_ea'))).toBe(true);
  });
});

describe('signed EA requests', () => {
  it('answers 429 past the failed-signature limit of a key, and still admits the key with a right signature', async () => {
    await setLimit('ea_auth_failure_credential', 6, 3);
    const key = await createEaCredential(h, alice);
    const sessionId = await openSession(h, key, 9101);
    const app = createPingApp(deps);
    const wrong = { ...key, secret: `whsec_${Buffer.from('w'.repeat(32)).toString('base64')}` };
    const statuses = [];
    let last: Response | undefined;
    for (let i = 0; i < 5; i++) {
      last = await eaRequest(h, app, 'POST', '/ping', wrong, { session_id: sessionId, balance: 1, equity: 1 });
      statuses.push(last.status);
    }
    expect(statuses).toEqual([401, 401, 401, 429, 429]);
    expect(last?.headers.get('retry-after')).toBe('10');
    // A stranger who knows the key id cannot lock its EA out: a right signature is never limited.
    const right = await eaRequest(h, app, 'POST', '/ping', key, { session_id: sessionId, balance: 1, equity: 1 });
    expect(right.status).toBe(200);
  });

  it('limits failed signatures per client IP across keys and account ids', async () => {
    await setLimit('ea_auth_failure_credential', 60, 60);
    await setLimit('ea_auth_failure_ip', 6, 4);
    const ping = createPingApp(deps);
    const trades = createTradesApp(deps);
    const secret = `whsec_${Buffer.from('q'.repeat(32)).toString('base64')}`;
    const ip = { 'x-forwarded-for': '192.0.2.44' };
    const statuses = [];
    for (let i = 0; i < 3; i++) {
      statuses.push((await eaRequest(h, ping, 'POST', '/ping', { keyId: crypto.randomUUID(), secret }, {}, { extraHeaders: ip })).status);
      statuses.push(
        (await accountEaRequest(h, trades, 'POST', '/trades', { externalId: crypto.randomUUID(), secret }, { trades: [] }, { extraHeaders: ip })).status,
      );
    }
    expect(statuses).toEqual([401, 401, 401, 401, 429, 429]);
  });

  it('answers an unknown key like a known key with a wrong signature, after the same steps', async () => {
    await setLimit('ea_auth_failure_credential', 600, 600);
    const key = await createEaCredential(h, alice);
    const app = createPingApp(deps);
    const secret = `whsec_${Buffer.from('u'.repeat(32)).toString('base64')}`;
    // Warm up: the first unknown id seals the dummy once per process.
    await eaRequest(h, app, 'POST', '/ping', { keyId: crypto.randomUUID(), secret }, {});
    const run = async (keyId: string, opts: { timestamp?: number } = {}) => {
      deps.credentials.delete(`ea_key:${keyId}`);
      sent.length = 0;
      counting.open = 0;
      counting.seal = 0;
      const res = await eaRequest(h, app, 'POST', '/ping', { keyId, secret }, {}, opts);
      return { status: res.status, body: await res.json(), statements: sent.map((t) => t.replace(/ea_key_credentials/, 'credentials')), open: counting.open, seal: counting.seal };
    };
    const known = await run(key.keyId);
    const unknown = await run(crypto.randomUUID());
    expect(known.status).toBe(401);
    expect(unknown).toEqual(known);
    expect(known.body).toEqual({ error: { code: 'unauthorized', message: 'unknown credential or signature does not match' } });
    expect(known.open).toBe(1);
    expect(known.statements).toHaveLength(2); // the credential's read, the failure's rate limit
    // A stale timestamp: the same message whether the key exists or not.
    const old = Math.floor(h.clock.now.getTime() / 1000) - 3600;
    const knownOld = await run(key.keyId, { timestamp: old });
    const unknownOld = await run(crypto.randomUUID(), { timestamp: old });
    expect(unknownOld).toEqual(knownOld);
    expect(knownOld.body).toMatchObject({ error: { message: 'request timestamp is more than 300 s old' } });
  });

  it('answers an unknown account id like a registered one with a wrong signature', async () => {
    await setLimit('ea_auth_failure_credential', 600, 600);
    const account = await provisionAccount(h, alice);
    await registerEa(h, account);
    const app = createTradesApp(deps);
    const secret = `whsec_${Buffer.from('v'.repeat(32)).toString('base64')}`;
    await accountEaRequest(h, app, 'POST', '/trades', { externalId: crypto.randomUUID(), secret }, { trades: [] });
    const run = async (externalId: string) => {
      deps.credentials.delete(`account:${externalId}`);
      sent.length = 0;
      counting.open = 0;
      const res = await accountEaRequest(h, app, 'POST', '/trades', { externalId, secret }, { trades: [] });
      return { status: res.status, body: await res.json(), statements: sent.length, open: counting.open };
    };
    const known = await run(account.externalId);
    const unknown = await run(crypto.randomUUID());
    expect(known).toEqual({ status: 401, body: { error: { code: 'unauthorized', message: 'unknown credential or signature does not match' } }, statements: 2, open: 1 });
    expect(unknown).toEqual(known);
  });

  it('adds nothing to the hot path: a verified request sends no limiter statement', async () => {
    const key = await createEaCredential(h, alice);
    const sessionId = await openSession(h, key, 9102);
    const app = createPingApp(deps);
    await eaRequest(h, app, 'POST', '/ping', key, { session_id: sessionId, balance: 1, equity: 1 });
    sent.length = 0;
    const res = await eaRequest(h, app, 'POST', '/ping', key, { session_id: sessionId, balance: 1, equity: 1 }, { extraHeaders: { 'x-forwarded-for': '192.0.2.1' } });
    expect(res.status).toBe(200);
    expect(sent).toHaveLength(1);
    expect(limiterCalls()).toBe(0);
  });
});

describe('VPS host keys', () => {
  it('answers 429 past the failed-key limit of a client IP; a valid key is not limited', async () => {
    await setLimit('vps_auth_failure_ip', 6, 3);
    const host = await createVpsHost(h, 'limits-host', 2);
    const app = createVpsApp(deps);
    const heartbeat = (key: string, ip: string) =>
      app.request('/vps/heartbeat', {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-vps-api-key': key, 'x-forwarded-for': ip },
        body: JSON.stringify({}),
      });
    const statuses = [];
    for (let i = 0; i < 5; i++) statuses.push((await heartbeat(`vps_guess_${i}_${'k'.repeat(30)}`, '192.0.2.80')).status);
    expect(statuses).toEqual([401, 401, 401, 429, 429]);
    expect((await heartbeat(host.key, '192.0.2.80')).status).not.toBe(429);
    expect((await heartbeat(`vps_guess_x_${'k'.repeat(30)}`, '192.0.2.81')).status).toBe(401);
  });
});

describe('POST /keys', () => {
  it('answers 429 past the per-user limit, and other users are not affected', async () => {
    await setLimit('key_create_user', 6, 3);
    const app = createKeysApp(deps);
    const user = await h.createUser('limits-keys@example.com');
    const statuses = [];
    let last: Response | undefined;
    for (let i = 0; i < 5; i++) {
      last = await userRequest(app, 'POST', '/keys', user.token, { name: `k${i}` });
      statuses.push(last.status);
    }
    expect(statuses).toEqual([201, 201, 201, 429, 429]);
    expect(last?.headers.get('retry-after')).toBe('10');
    expect((await userRequest(app, 'POST', '/keys', alice.token, { name: 'other user' })).status).toBe(201);
  });

  it('fails open: a broken limiter (a setting missing) lets the request through and logs it', async () => {
    await h.db.query(asOwner(), `delete from private.settings where key = 'rate_limit_key_create_user_burst'`);
    try {
      const res = await userRequest(createKeysApp(deps), 'POST', '/keys', alice.token, { name: 'limiter down' });
      expect(res.status).toBe(201);
      expect(h.logs.some((l) => l.includes('rate limiter failed'))).toBe(true);
    } finally {
      await h.db.query(asOwner(), `insert into private.settings (key, value, description) values ('rate_limit_key_create_user_burst', 20, 'restored')`);
    }
  });
});
