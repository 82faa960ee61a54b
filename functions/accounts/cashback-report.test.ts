import { asOwner } from '@rubi/db';
import { VOCABULARY } from '@rubi/contracts/vocabulary.ts';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createEdgeHarness, userRequest, type EdgeHarness, type TestUser } from '../../tests/support/edge-harness.ts';
import { createAccountsApp } from './app.ts';
import { csvField, reportCsv } from './cashback-report-csv.ts';

// GET /accounts/cashback/report on a fixture: exact JSON and CSV, the 400s naming their field,
// 404 for another user's account, 401 without a token. The figures' rules (periods, time zones,
// RLS) are tested in supabase/tests/database/20_cashback_reports.sql.

let h: EdgeHarness;
let app: ReturnType<typeof createAccountsApp>;
let alice: TestUser;
let bob: TestUser;
let usdAccount: string;
let eurAccount: string;
let bobAccount: string;

const REASONS = VOCABULARY.cashback_withheld_reason;
const withheld = (counts: Record<string, number> = {}) => Object.fromEntries(REASONS.map((r) => [r, counts[r] ?? 0]));
const RANGE = 'from=2026-01-01T00:00:00Z&to=2026-03-01T00:00:00Z';

async function account(user: TestUser, brokerId: string, login: number): Promise<string> {
  const [row] = await h.db.query<{ id: string }>(
    asOwner(),
    `insert into public.trading_accounts (user_id, broker_id, platform, login, server) values ($1, $2, 'MT5', $3, 'Report-Live') returning id`,
    [user.id, brokerId, login],
  );
  return row?.id ?? '';
}

beforeAll(async () => {
  h = await createEdgeHarness();
  app = createAccountsApp(h.deps);
  alice = await h.createUser('report-alice@example.com');
  bob = await h.createUser('report-bob@example.com');
  const [broker] = await h.db.query<{ id: string }>(asOwner(), `select id from public.brokers where name = 'IC Markets'`);
  const brokerId = broker?.id ?? '';
  usdAccount = await account(alice, brokerId, 31001);
  eurAccount = await account(alice, brokerId, 31002);
  bobAccount = await account(bob, brokerId, 31003);
  const trades: [string, string, number, string, string, string, string, string, string | null, string | null][] = [
    [usdAccount, alice.id, 1, 'EURUSD', 'forex', '0.10', '2026-01-05T10:00:00Z', '0.50', '2026-01-06', null],
    [usdAccount, alice.id, 2, 'XAUUSD', 'metals', '0.20', '2026-01-07T12:00:00Z', '3.00', null, null],
    [usdAccount, alice.id, 3, 'EURUSD', 'forex', '0.30', '2026-01-20T09:00:00Z', '1.50', null, null],
    [usdAccount, alice.id, 4, 'BTCUSD', 'crypto', '1.00', '2026-02-02T09:00:00Z', '0', null, 'paused'],
    [eurAccount, alice.id, 5, 'DE40', 'indices', '2.00', '2026-01-20T08:00:00Z', '4.00', '2026-01-21', null],
    [eurAccount, alice.id, 6, 'DE40', 'indices', '1.00', '2026-01-21T08:00:00Z', '0', null, 'unverified'],
    [bobAccount, bob.id, 7, 'EURUSD', 'forex', '5.00', '2026-01-05T11:00:00Z', '25', null, null],
  ];
  for (const [accountId, userId, ticket, symbol, group, lots, close, amount, settled, reason] of trades) {
    await h.db.query(
      asOwner(),
      `insert into public.closed_trades (account_id, user_id, ticket, symbol, symbol_group, type, lots, open_time, close_time, open_price, close_price,
         cashback_amount, currency, settled_on, cashback_withheld)
       select $1, $2, $3, $4, $5::public.symbol_group, 'BUY', $6::numeric, $7::timestamptz - interval '5 minutes', $7::timestamptz, 1.1, 1.2, $8::numeric,
         case when $1 = $11::uuid then 'EUR' else 'USD' end, $9::date, $10::public.cashback_withheld_reason`,
      [accountId, userId, ticket, symbol, group, lots, close, amount, settled, reason, eurAccount],
    );
  }
});
afterAll(() => h.close());

const get = (query: string, user: TestUser | null = alice) => userRequest(app, 'GET', `/accounts/cashback/report?${query}`, user?.token ?? null);
const errorPaths = async (res: Response) => ((await res.json()) as { error: { details: { path: string }[] } }).error.details.map((d) => d.path);

describe('GET /accounts/cashback/report', () => {
  it('reports one account by month and symbol group (exact JSON)', async () => {
    const res = await get(`period=month&group_by=symbol_group&account_id=${usdAccount}&${RANGE}`);
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({
      account_id: usdAccount,
      period: 'month',
      group_by: 'symbol_group',
      tz: 'UTC',
      from: '2026-01-01T00:00:00.000Z',
      to: '2026-03-01T00:00:00.000Z',
      rows: [
        { period_start: '2026-01-01', symbol_group: 'forex', currency: 'USD', trades: 2, lots: 0.4, cashback_accrued: 2, cashback_settled: 0.5, withheld: withheld() },
        { period_start: '2026-01-01', symbol_group: 'metals', currency: 'USD', trades: 1, lots: 0.2, cashback_accrued: 3, cashback_settled: 0, withheld: withheld() },
        { period_start: '2026-02-01', symbol_group: 'crypto', currency: 'USD', trades: 1, lots: 1, cashback_accrued: 0, cashback_settled: 0, withheld: withheld({ paused: 1 }) },
      ],
    });
  });

  it('reports every account of the user by ISO week, per currency, without anyone else\'s trades', async () => {
    const res = await get(`period=week&${RANGE}`);
    expect(res.status).toBe(200);
    const body = (await res.json()) as { account_id: string | null; rows: unknown[] };
    expect(body.account_id).toBeNull();
    expect(body.rows).toEqual([
      { period_start: '2026-01-05', symbol_group: null, currency: 'USD', trades: 2, lots: 0.3, cashback_accrued: 3.5, cashback_settled: 0.5, withheld: withheld() },
      { period_start: '2026-01-19', symbol_group: null, currency: 'EUR', trades: 2, lots: 3, cashback_accrued: 4, cashback_settled: 4, withheld: withheld({ unverified: 1 }) },
      { period_start: '2026-01-19', symbol_group: null, currency: 'USD', trades: 1, lots: 0.3, cashback_accrued: 1.5, cashback_settled: 0, withheld: withheld() },
      { period_start: '2026-02-02', symbol_group: null, currency: 'USD', trades: 1, lots: 1, cashback_accrued: 0, cashback_settled: 0, withheld: withheld({ paused: 1 }) },
    ]);
  });

  it('exports CSV (format=csv): header, exact decimals, one column per withheld reason, an attachment', async () => {
    const res = await get(`period=month&group_by=symbol_group&account_id=${usdAccount}&${RANGE}&format=csv`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('text/csv; charset=utf-8');
    expect(res.headers.get('content-disposition')).toBe(`attachment; filename="cashback-report-${usdAccount}-month-2026-01-01-2026-03-01.csv"`);
    const zeros = REASONS.map(() => '0');
    const reasonCols = (counts: Record<string, number>) => REASONS.map((r) => String(counts[r] ?? 0)).join(',');
    expect(await res.text()).toBe(
      [
        ['period_start,symbol_group,currency,trades,lots,cashback_accrued,cashback_settled', ...REASONS.map((r) => `withheld_${r}`)].join(','),
        ['2026-01-01,forex,USD,2,0.40,2.00,0.50', ...zeros].join(','),
        ['2026-01-01,metals,USD,1,0.20,3.00,0', ...zeros].join(','),
        `2026-02-01,crypto,USD,1,1.00,0,0,${reasonCols({ paused: 1 })}`,
        '',
      ].join('\r\n'),
    );
  });

  it('exports CSV for Accept: text/csv, unless format=json says otherwise', async () => {
    const path = `/accounts/cashback/report?period=day&${RANGE}`;
    const headers = { authorization: `Bearer ${alice.token}`, accept: 'text/csv' };
    const csv = await app.request(path, { headers });
    expect(csv.status).toBe(200);
    expect(csv.headers.get('content-disposition')).toBe('attachment; filename="cashback-report-all-day-2026-01-01-2026-03-01.csv"');
    expect((await csv.text()).split('\r\n')).toHaveLength(1 + 6 + 1);
    const json = await app.request(`${path}&format=json`, { headers });
    expect(json.headers.get('content-type')).toMatch(/^application\/json/);
  });

  it('defaults: period month, to = now, from = 365 days before, UTC', async () => {
    h.clock.now = new Date('2026-03-01T00:00:00Z');
    const body = (await (await get('')).json()) as { period: string; from: string; to: string; tz: string; rows: { trades: number }[] };
    expect(body).toMatchObject({ period: 'month', tz: 'UTC', from: '2025-03-01T00:00:00.000Z', to: '2026-03-01T00:00:00.000Z' });
    expect(body.rows.reduce((n, r) => n + r.trades, 0)).toBe(6);
  });

  it('answers 400 naming the field for a bad period, time, range, time zone or account id', async () => {
    const cases: [string, string][] = [
      [`period=year&${RANGE}`, 'query.period'],
      ['from=yesterday', 'query.from'],
      ['to=2026-13-01T00:00:00Z', 'query.to'],
      ['from=2026-03-01T00:00:00Z&to=2026-01-01T00:00:00Z', 'query.to'],
      ['from=2024-01-01T00:00:00Z&to=2026-01-01T00:00:00Z', 'query.from'],
      [`tz=Mars/Olympus&${RANGE}`, 'query.tz'],
      [`tz=${encodeURIComponent("UTC'; drop table x")}&${RANGE}`, 'query.tz'],
      [`account_id=42&${RANGE}`, 'query.account_id'],
      [`group_by=broker&${RANGE}`, 'query.group_by'],
      [`format=xlsx&${RANGE}`, 'query.format'],
    ];
    for (const [query, path] of cases) {
      const res = await get(query);
      expect(res.status, query).toBe(400);
      expect(await errorPaths(res), query).toEqual([path]);
    }
  });

  it('answers 404 for another user\'s account, 401 without a token', async () => {
    expect((await get(`account_id=${bobAccount}&${RANGE}`)).status).toBe(404);
    expect((await get(`account_id=${usdAccount}&${RANGE}`, bob)).status).toBe(404);
    expect((await get(`account_id=${crypto.randomUUID()}&${RANGE}`)).status).toBe(404);
    expect((await get(RANGE, null)).status).toBe(401);
    const own = (await (await get(`account_id=${bobAccount}&${RANGE}`, bob)).json()) as { rows: { trades: number; lots: number }[] };
    expect(own.rows).toEqual([expect.objectContaining({ trades: 1, lots: 5 })]);
  });
});

describe('OpenAPI', () => {
  it('documents the route, its parameters and both media types', async () => {
    const doc = (await (await app.request('/accounts/openapi.json')).json()) as {
      paths: Record<string, { get?: { parameters: { name: string }[]; responses: Record<string, { content?: Record<string, unknown> }> } }>;
    };
    const op = doc.paths['/accounts/cashback/report']?.get;
    expect(op?.parameters.map((p) => p.name).sort()).toEqual(['account_id', 'format', 'from', 'group_by', 'period', 'to', 'tz']);
    expect(Object.keys(op?.responses['200']?.content ?? {})).toEqual(['application/json', 'text/csv']);
  });
});

describe('report CSV (RFC 4180)', () => {
  it('quotes a field with a comma, quote or line break and doubles its quotes', () => {
    expect(csvField('plain')).toBe('plain');
    expect(csvField('a,b')).toBe('"a,b"');
    expect(csvField('say "hi"')).toBe('"say ""hi"""');
    expect(csvField('two\r\nlines')).toBe('"two\r\nlines"');
    const row = { period_start: '2026-01-01', symbol_group: null, currency: 'U,SD', trades: '1', lots: '0.1', cashback_accrued: '1', cashback_settled: '0', withheld: { x: 2 } };
    expect(reportCsv([row], ['x'])).toBe('period_start,symbol_group,currency,trades,lots,cashback_accrued,cashback_settled,withheld_x\r\n2026-01-01,,"U,SD",1,0.1,1,0,2\r\n');
  });
});
