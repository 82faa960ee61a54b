// GET /accounts/notifications, POST /accounts/notifications/{id}/read and /read-all, and the
// notifications the database writes for the states a user cares about (connected, cashback settled).
import { asOwner, asService } from '@rubi/db';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { countRows, createEdgeHarness, userRequest, type EdgeHarness, type TestUser } from '../../tests/support/edge-harness.ts';
import { createAccountsApp } from './app.ts';

let h: EdgeHarness;
let app: ReturnType<typeof createAccountsApp>;
let alice: TestUser;
let bob: TestUser;
let brokerId: string;

interface NotificationBody {
  id: string;
  kind: string;
  title: string;
  body: string;
  account_id: string | null;
  created_at: string;
  read_at: string | null;
}
interface ListBody {
  notifications: NotificationBody[];
  unread_count: number;
  next_cursor: string | null;
}
interface ErrorBody {
  error: { code: string; details?: { path: string }[] };
}

const list = async (user: TestUser, query = ''): Promise<ListBody> => {
  const res = await userRequest(app, 'GET', `/accounts/notifications${query}`, user.token);
  expect(res.status).toBe(200);
  return (await res.json()) as ListBody;
};
const paths = async (res: Response) => ((await res.json()) as ErrorBody).error.details?.map((d) => d.path);

/** Three notifications for a user, a second apart, oldest first. */
async function seed(user: TestUser, titles: string[]): Promise<void> {
  for (const [i, title] of titles.entries()) {
    await h.db.query(
      asOwner(),
      `insert into public.notifications (user_id, kind, title, body, created_at)
       values ($1, 'account_error', $2, 'body', now() - make_interval(secs => $3))`,
      [user.id, title, 100 - i],
    );
  }
}

beforeAll(async () => {
  h = await createEdgeHarness();
  app = createAccountsApp(h.deps);
  alice = await h.createUser('alice-notes@example.com');
  bob = await h.createUser('bob-notes@example.com');
  const [broker] = await h.db.query<{ id: string }>(asOwner(), `select id from public.brokers where name = 'IC Markets'`);
  brokerId = broker?.id ?? '';
  await seed(alice, ['first', 'second', 'third']);
});
afterAll(() => h.close());

describe('notifications routes', () => {
  it('lists the user\'s notifications newest first, a page at a time, with the unread count', async () => {
    const all = await list(alice);
    expect(all.notifications.map((n) => n.title)).toEqual(['third', 'second', 'first']);
    expect(all.unread_count).toBe(3);
    expect(all.next_cursor).toBeNull();
    expect(all.notifications[0]).toMatchObject({ kind: 'account_error', body: 'body', account_id: null, read_at: null });

    const page1 = await list(alice, '?limit=2');
    expect(page1.notifications.map((n) => n.title)).toEqual(['third', 'second']);
    expect(page1.next_cursor).toEqual(expect.any(String));
    const page2 = await list(alice, `?limit=2&cursor=${page1.next_cursor}`);
    expect(page2.notifications.map((n) => n.title)).toEqual(['first']);
    expect(page2.next_cursor).toBeNull();
  });

  it('shows another user nothing, and answers 404 when they try to mark one read', async () => {
    const bobs = await list(bob);
    expect(bobs).toEqual({ notifications: [], unread_count: 0, next_cursor: null });
    const [first] = (await list(alice)).notifications;
    const res = await userRequest(app, 'POST', `/accounts/notifications/${first?.id}/read`, bob.token);
    expect(res.status).toBe(404);
    expect(((await res.json()) as ErrorBody).error.code).toBe('not_found');
    expect((await userRequest(app, 'POST', '/accounts/notifications/read-all', bob.token)).status).toBe(200);
    expect(await countRows(h, 'public.notifications', 'user_id = $1 and read_at is not null', [alice.id])).toBe(0);
  });

  it('marks one read (once: marking again keeps the first time) and filters unread', async () => {
    const [newest] = (await list(alice)).notifications;
    const res = await userRequest(app, 'POST', `/accounts/notifications/${newest?.id}/read`, alice.token);
    expect(res.status).toBe(200);
    const read = (await res.json()) as NotificationBody;
    expect(read).toMatchObject({ id: newest?.id, title: 'third', read_at: expect.any(String) });
    const again = (await (await userRequest(app, 'POST', `/accounts/notifications/${newest?.id}/read`, alice.token)).json()) as NotificationBody;
    expect(again.read_at).toBe(read.read_at);

    const unread = await list(alice, '?unread=true');
    expect(unread.notifications.map((n) => n.title)).toEqual(['second', 'first']);
    expect(unread.unread_count).toBe(2);
    expect((await list(alice, '?unread=false')).notifications).toHaveLength(3);
  });

  it('marks all read and says how many', async () => {
    const res = await userRequest(app, 'POST', '/accounts/notifications/read-all', alice.token);
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ marked: 2, unread_count: 0 });
    expect((await list(alice)).unread_count).toBe(0);
    expect(await (await userRequest(app, 'POST', '/accounts/notifications/read-all', alice.token)).json()).toEqual({ marked: 0, unread_count: 0 });
  });

  it('rejects bad input naming the fields, and changes nothing', async () => {
    const bad = await userRequest(app, 'GET', '/accounts/notifications?limit=0&unread=maybe', alice.token);
    expect(bad.status).toBe(400);
    expect((await paths(bad))?.sort()).toEqual(['query.limit', 'query.unread']);
    const forged = await userRequest(app, 'GET', '/accounts/notifications?cursor=not-a-cursor', alice.token);
    expect(forged.status).toBe(400);
    expect(await paths(forged)).toEqual(['query.cursor']);
    const badId = await userRequest(app, 'POST', '/accounts/notifications/not-a-uuid/read', alice.token);
    expect(badId.status).toBe(400);
    expect(await paths(badId)).toEqual(['path.id']);
    expect((await userRequest(app, 'POST', `/accounts/notifications/${crypto.randomUUID()}/read`, alice.token)).status).toBe(404);
  });

  it('requires a user token on every route', async () => {
    for (const [method, path] of [
      ['GET', '/accounts/notifications'],
      ['POST', '/accounts/notifications/read-all'],
      ['POST', `/accounts/notifications/${crypto.randomUUID()}/read`],
    ] as const) {
      expect((await userRequest(app, method, path, null)).status).toBe(401);
    }
  });

  it('lets a user change nothing but read_at, even on their own notification', async () => {
    const [own] = (await list(alice)).notifications;
    await expect(
      h.db.query({ kind: 'role', role: 'authenticated', claims: { sub: alice.id, role: 'authenticated' } }, `update public.notifications set title = 'forged' where id = $1`, [own?.id]),
    ).rejects.toThrow(/permission denied for table notifications/);
  });
});

describe('notifications written by the database', () => {
  async function account(user: TestUser, login: number): Promise<string> {
    const res = await userRequest(app, 'POST', '/accounts/trading-accounts', user.token, {
      broker_id: brokerId,
      platform: 'MT5',
      login,
      server: 'Notes-Live',
      investor_password: 'secret',
    });
    expect(res.status).toBe(201);
    return ((await res.json()) as { id: string }).id;
  }

  it('tells the owner when an account connects through a request, and again when it reconnects', async () => {
    const id = await account(bob, 7100001);
    await h.db.query(asOwner(), `update public.trading_accounts set status = 'provisioning' where id = $1`, [id]);
    await h.db.query(asService(), `update public.trading_accounts set status = 'connected' where id = $1`, [id]);
    await h.db.query(asOwner(), `update public.trading_accounts set status = 'disconnected' where id = $1`, [id]);
    await h.db.query(asService(), `update public.trading_accounts set status = 'connected' where id = $1`, [id]);
    const notes = (await list(bob)).notifications.filter((n) => n.account_id === id);
    expect(notes.map(({ kind, title, body }) => ({ kind, title, body }))).toEqual([
      { kind: 'account_connected', title: 'Account 7100001 reconnected', body: '7100001@Notes-Live is reporting again.' },
      { kind: 'account_connected', title: 'Account 7100001 connected', body: expect.stringContaining('7100001@Notes-Live is connected') },
    ]);
  });

  it('tells the owner what the nightly settlement credited, per account and day', async () => {
    const id = await account(bob, 7100002);
    // Fixture trades, written as the owner with the accrual private.ingest_trades gives (the broker's terms).
    await h.db.query(
      asOwner(),
      `insert into public.closed_trades (account_id, user_id, ticket, symbol, type, lots, open_time, close_time, open_price, close_price,
                                         cashback_rate, cashback_amount, currency)
       select $1, $2, t.ticket, 'EURUSD', 'BUY', t.lots, now() - interval '2 days', now() - interval '1 day 1 hour', 1.1, 1.2,
              b.rebate_per_lot, round(t.lots * b.rebate_per_lot, 4), b.currency
       from public.trading_accounts a join public.brokers b on b.id = a.broker_id, (values (1, 1), (2, 2.5)) as t (ticket, lots)
       where a.id = $1`,
      [id, bob.id],
    );
    await h.db.query(asOwner(), `select private.settle_cashback()`);
    await h.db.query(asOwner(), `select private.settle_cashback()`);
    const notes = (await list(bob)).notifications.filter((n) => n.account_id === id);
    expect(notes).toHaveLength(1);
    expect(notes[0]).toMatchObject({ kind: 'cashback_settled', title: 'Cashback settled: 12.25 USD' });
    expect(notes[0]?.body).toMatch(/^12\.25 USD for 2 trades on account 7100002, settled for \d{4}-\d{2}-\d{2}\.$/);
  });
});
