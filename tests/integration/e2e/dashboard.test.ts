// The reference dashboard's story in a real browser: Debian's Chromium, headless, driven by
// playwright-core, against `npm start -- --in-memory`. A trader signs up, creates an EA key (the
// secret is shown once), registers a trading account; a VPS agent dedicated to them provisions it
// (fake terminal) and the simulated provisioned EA registers from the terminal folder: the status
// turns `connected` on screen without a reload; trades arrive and the figures update; a signal
// sent from the page is executed by the connector EA simulator (with the key made on the page) and
// its status changes live. Screenshots of every page go to a temporary folder, or to
// docs/screenshots/ with UPDATE_SCREENSHOTS=1 (the README shows those).
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConnectorEa, PriceFeed, ProvisionedEa, SimulatedAccount, STANDARD_SYMBOLS } from '@rubi/ea-sim';
import { chromium, type Browser, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Backend } from '../../../scripts/demo/backend.ts';
import { startAgent, type RunningAgent } from '../../../scripts/demo/local-stack.ts';
import { repoRoot } from '../support/paths.ts';
import { startNpmStart, type NpmStart } from './support/npm-start.ts';

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
// The flags a headless Chromium needs on a closed CI machine (no sandbox as root, no GPU, no calls home).
const CHROMIUM_ARGS = ['--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];
const DIST = join(repoRoot, 'packages', 'dashboard', 'dist', 'index.html');
/** Live changes must show well within the page's 15 s reconcile timer: they come from Realtime. */
const LIVE_MS = 8_000;

let url: string;
let server: NpmStart;
let serviceRoleKey = '';
let browser: Browser | undefined;
let page: Page;
let agent: RunningAgent | undefined;
let connector: ConnectorEa | undefined;
let shotsDir: string;
let shotsAreTemp = true;

const email = `browser-${Date.now()}@example.com`;
const password = 'browser password 123';
const login = 30_000_000 + Math.floor(Math.random() * 9_000_000);

async function shot(name: string, options: { mask?: string[] } = {}) {
  await page.screenshot({ path: join(shotsDir, `${name}.png`), fullPage: true, animations: 'disabled', maskColor: '#d0d5dd', mask: (options.mask ?? []).map((id) => page.getByTestId(id)) });
}

/** A live change: visible within LIVE_MS, and the page was not reloaded meanwhile. */
async function live(selector: string) {
  await page.locator(selector).first().waitFor({ state: 'visible', timeout: LIVE_MS });
  expect(await page.evaluate(() => (window as unknown as { __noReload?: boolean }).__noReload)).toBe(true);
}

async function until<T>(what: string, probe: () => Promise<T | undefined | false>, timeoutMs = 20_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

beforeAll(async () => {
  if (!existsSync(CHROMIUM)) {
    throw new Error(`Chromium is missing at ${CHROMIUM}: install Debian's package (apt-get install -y chromium; .ci/run does it) or set CHROMIUM_PATH`);
  }
  if (!existsSync(DIST)) throw new Error(`${DIST} is missing: npm install builds the dashboard (npm run build -w @rubi/dashboard)`);
  shotsAreTemp = process.env.UPDATE_SCREENSHOTS !== '1';
  shotsDir = shotsAreTemp ? await mkdtemp(join(tmpdir(), 'rubi-dashboard-shots-')) : join(repoRoot, 'docs', 'screenshots');
  await mkdir(shotsDir, { recursive: true });

  const starting = startNpmStart({ args: ['--in-memory', '--quiet'], timeoutMs: 120_000 });
  const launched = chromium.launch({ executablePath: CHROMIUM, headless: true, chromiumSandbox: false, args: CHROMIUM_ARGS });
  server = await starting;
  url = server.url;
  serviceRoleKey = server.serviceRoleKey ?? '';
  expect(serviceRoleKey).not.toBe('');
  browser = await launched;
  page = await browser.newPage({ viewport: { width: 1280, height: 860 } });
}, 150_000);

afterAll(async () => {
  if (connector?.sessionId) await connector.disconnect().catch(() => undefined);
  await agent?.stop();
  await browser?.close();
  await server?.stop();
  if (shotsAreTemp && shotsDir) await rm(shotsDir, { recursive: true, force: true });
}, 60_000);

describe('the dashboard in headless Chromium', () => {
  it('plays the trader\'s story with live updates', async () => {
    const backend = new Backend(url);
    const operator = backend.operator(serviceRoleKey);

    // ---------------------------------------------------------------- sign up
    await page.goto(`${url}/`);
    await page.getByRole('heading', { name: 'Rubi MT Bridge' }).waitFor();
    await shot('sign-in');
    await page.getByRole('link', { name: 'Sign up' }).click();
    await page.getByLabel('Email').fill(email);
    await page.getByLabel('Password').fill(password);
    await page.getByRole('button', { name: 'Create account' }).click();
    await page.getByRole('heading', { name: 'Trading accounts' }).waitFor();
    await page.locator('[data-testid="live-status"].live').waitFor({ timeout: LIVE_MS });
    const userId = await page.evaluate(() => {
      const key = Object.keys(localStorage).find((k) => k.endsWith('-auth-token'));
      return key ? (JSON.parse(localStorage.getItem(key) ?? '{}') as { user?: { id?: string } }).user?.id : undefined;
    });
    expect(userId).toMatch(/^[0-9a-f-]{36}$/);
    await page.evaluate(() => ((window as unknown as { __noReload: boolean }).__noReload = true));

    // ---------------------------------------------------------------- an EA key, shown once
    await page.getByRole('link', { name: 'EA keys' }).click();
    await page.getByPlaceholder(/Name, e\.g\./).fill('browser terminal');
    await page.getByRole('button', { name: 'Create key' }).click();
    const keyId = await page.getByTestId('new-key-id').inputValue();
    const secret = await page.getByTestId('new-key-secret').inputValue();
    expect(secret).toMatch(/^whsec_/);
    await page.getByTestId('key-browser terminal').waitFor();
    await shot('keys', { mask: ['new-key-secret'] });
    await page.getByRole('button', { name: 'I stored it' }).click();
    expect(await page.content()).not.toContain(secret.slice('whsec_'.length));
    const stored = await page.evaluate(() => JSON.stringify({ ...localStorage }) + JSON.stringify({ ...sessionStorage }));
    expect(stored).not.toContain(secret.slice('whsec_'.length));

    // ---------------------------------------------------------------- register a trading account
    await page.getByRole('link', { name: 'Accounts' }).click();
    await page.getByTestId('register-toggle').click();
    const brokerOption = page.locator('select[name="broker"] option', { hasText: 'IC Markets' });
    await brokerOption.waitFor({ state: 'attached' });
    await page.locator('select[name="broker"]').selectOption({ value: (await brokerOption.getAttribute('value')) ?? '' });
    await page.locator('select[name="platform"]').selectOption('MT5');
    await page.getByLabel('Login').fill(String(login));
    await page.getByLabel('Server').fill('ICMarketsSC-Demo');
    await page.getByLabel('Investor password').fill('browser-investor');
    await page.getByRole('button', { name: 'Register', exact: true }).click();
    const card = `[data-testid="account-${login}"]`;
    await page.locator(`${card} [data-status="pending_vps_setup"]`).waitFor();
    const account = (await (await fetch(`${url}/functions/v1/accounts/trading-accounts`, { headers: { authorization: `Bearer ${await token()}` } })).json()) as {
      accounts: { id: string; external_account_id: string; login: number }[];
    };
    const registered = account.accounts.find((a) => a.login === login)!;

    // ---------------------------------------------------------------- the agent provisions it, the EA registers
    const host = await operator.createVpsHost(`browser-host-${Date.now()}`, { capacity: 2, dedicatedUserId: userId! });
    agent = await startAgent({ functionsUrl: `${url}/functions/v1`, apiKey: host.api_key, onLine: () => {} });
    await live(`${card} [data-status="provisioning"]`);
    const folder = join(agent.terminalsDir, `MT5-${registered.external_account_id}`);
    await until('the terminal folder with the EA config', async () => existsSync(join(folder, 'MQL5', 'Files', 'rendr_ea_config.ini')));
    const ea = await ProvisionedEa.fromTerminalFolder(folder);
    expect((await ea.register()).status).toBe('connected');
    await live(`${card} [data-status="connected"]`);

    // ---------------------------------------------------------------- trades arrive, figures update
    const day = 86_400_000;
    const yesterday = new Date(Date.now() - day);
    const at = (h: number) => new Date(Date.UTC(yesterday.getUTCFullYear(), yesterday.getUTCMonth(), yesterday.getUTCDate(), h)).toISOString();
    const trade = (ticket: number, symbol: string, lots: number, open: string, close: string, profit: number) => ({
      ticket, symbol, type: 'BUY' as const, lots, open_time: open, close_time: close, open_price: 1.08, close_price: 1.081, commission: -3.5 * lots, swap: 0, profit,
    });
    // The card shows the ownership code until the trader proves the account is theirs: a pending
    // order with the code in its comment, which the EA finds and sends with its trades.
    const code = await page.locator(`${card} [data-testid="ownership-code"]`).innerText();
    expect(code).toMatch(/^RUBI-[0-9A-HJKMNP-TV-Z]{8}$/);
    await ea.scanOwnership({ orderComments: () => [`proof ${code}`] });
    await ea.enqueue([trade(9001, 'EURUSD', 1, at(8), at(10), 100), trade(9002, 'GBPUSD', 2, at(11), at(14), -40)]);
    expect((await ea.flush()).accepted).toHaveLength(2);
    await page.locator(`${card} [data-testid="account-ownership"]`).waitFor({ state: 'detached' });
    await live(`${card} [data-testid="figure-trades"]:text-is("2")`);
    await live(`${card} [data-testid="figure-accrued"]:text-is("10.50 USD")`);
    const now = new Date(Date.now() - 60_000).toISOString();
    await ea.enqueue([trade(9003, 'EURUSD', 0.5, new Date(Date.now() - 3_600_000).toISOString(), now, 12)]);
    await ea.flush();
    await live(`${card} [data-testid="figure-trades"]:text-is("3")`);
    // The account's health (issue #16): the EA reports its terminal lost the broker; the card says so.
    await ea.run({ ticks: 1, broker: { brokerConnected: false } });
    await live(`${card} [data-testid="account-health"][data-status="down"]`);
    expect(await page.locator(`${card} [data-testid="account-health-reason"]`).innerText()).toContain("not connected to the broker's trade server");
    await ea.run({ ticks: 1, broker: { brokerConnected: true } });
    await page.locator(`${card} [data-testid="account-health"][data-status="down"]`).waitFor({ state: 'detached' });
    // The nightly settlement, run now: yesterday's trades go into the ledger and a notification.
    expect((await operator.runCronJob('rubi-settle-cashback')).status).toBe('succeeded');
    await live(`${card} [data-testid="figure-settled"]:text-is("10.50 USD")`);
    // Connected, verified (the ownership proof), settled.
    await live('[data-testid="unread-badge"]:text-is("3")');
    await shot('accounts');

    await page.locator(`${card} a`, { hasText: String(login) }).click();
    await page.getByTestId('cashback-chart').locator('canvas').waitFor();
    await page.getByTestId('trades-table').getByText('9003').waitFor();
    await page.getByRole('cell', { name: '10.50 USD' }).waitFor();
    await shot('account');

    // ---------------------------------------------------------------- the cashback report (issue #17) and its CSV
    await page.getByTestId('account-report-link').click();
    await page.getByTestId('report-table').waitFor();
    expect(await page.getByTestId('report-total-trades').innerText()).toBe('3');
    const [download, csvResponse] = await Promise.all([
      page.waitForEvent('download'),
      page.waitForResponse((r) => r.url().includes('/cashback/report?') && r.url().includes('format=csv')),
      page.getByTestId('report-csv').click(),
    ]);
    expect(download.suggestedFilename()).toMatch(/^cashback-report-[0-9a-f-]{36}-month-\d{4}-\d{2}-\d{2}-\d{4}-\d{2}-\d{2}\.csv$/);
    // The range on screen, named exactly as the API names it.
    expect(csvResponse.headers()['content-disposition']).toBe(`attachment; filename="${download.suggestedFilename()}"`);
    const csv = await readFile(await download.path(), 'utf8');
    expect(csv.split('\r\n')[0]).toMatch(/^period_start,symbol_group,currency,trades,lots,cashback_accrued,cashback_settled,withheld_/);
    expect(csv).toContain(',USD,');
    await shot('report');

    // ---------------------------------------------------------------- cashback settings (issue #17): the API's field errors, then filters applied
    await page.evaluate((id) => (location.hash = `#/accounts/${id}`), registered.id);
    const settings = page.getByTestId('cashback-settings');
    await settings.locator('[data-testid="settings-payout-currency"]:text-is("USD (the broker\'s currency)")').waitFor();
    expect(await settings.getByTestId('settings-excluded-magics').innerText()).toBe('none');
    await settings.getByRole('button', { name: 'Edit cashback settings' }).click();
    const settingsForm = page.getByTestId('cashback-settings-form');
    const fillSettings = async (currency: string, magics: string, symbols: string) => {
      await settingsForm.getByLabel('Payout currency').fill(currency);
      await settingsForm.getByLabel('Excluded magic numbers').fill(magics);
      await settingsForm.getByLabel('Excluded symbols').fill(symbols);
      await settingsForm.getByRole('button', { name: 'Save cashback settings' }).click();
    };
    await fillSettings('DOLLAR', '777, abc', 'xau%, EUR/USD');
    await settingsForm.getByTestId('settings-error-payout_currency').waitFor();
    expect(await settingsForm.getByTestId('settings-error-payout_currency').innerText()).toContain('3-letter ISO 4217 code');
    expect(await settingsForm.getByTestId('settings-error-excluded_magics').innerText()).toMatch(/^“abc”: /);
    expect(await settingsForm.getByTestId('settings-error-excluded_symbols').innerText()).toMatch(/^“EUR\/USD”: a symbol, or a pattern/);
    expect(await settingsForm.getByLabel('Payout currency').getAttribute('aria-invalid')).toBe('true');
    await shot('cashback-settings');
    await fillSettings('', '777', 'xau%');
    await settingsForm.waitFor({ state: 'detached' });
    await settings.locator('[data-testid="settings-excluded-magics"]:text-is("777")').waitFor();
    await settings.locator('[data-testid="settings-excluded-symbols"]:text-is("XAU%")').waitFor();
    // Trades reported from now on: the excluded magic number and gold earn nothing (withheld as filtered), the other earns.
    const from = new Date(Date.now() - 1_800_000).toISOString();
    const to = new Date(Date.now() - 30_000).toISOString();
    await ea.enqueue([{ ...trade(9004, 'EURUSD', 1, from, to, 5), magic: 777 }, trade(9005, 'XAUUSD', 1, from, to, 5), trade(9006, 'EURUSD', 1, from, to, 5)]);
    expect((await ea.flush()).accepted).toHaveLength(3);
    await live('[data-testid="withheld-9004"]:text-is("withheld: filtered")');
    await live('[data-testid="withheld-9005"]:text-is("withheld: filtered")');
    await page.getByTestId('trades-table').getByText('9006').waitFor();
    expect(await page.getByTestId('withheld-9006').count()).toBe(0);

    // ---------------------------------------------------------------- a signal from the page, executed by the EA
    const feed = new PriceFeed(STANDARD_SYMBOLS, { seed: 12 });
    feed.set('EURUSD', 1.085);
    const mt = new SimulatedAccount({ login: 52_000_000 + Math.floor(Math.random() * 900_000), server: 'RubiBroker-Demo', broker: 'Rubi Broker Ltd', balance: 10_000, feed });
    connector = new ConnectorEa({ functionsUrl: `${url}/functions/v1`, keyId, secret, account: mt });
    await connector.connect();
    await connector.pushPositions(true);
    await connector.ping();

    await page.getByRole('link', { name: 'Signals' }).click();
    await page.locator('select[name="session"] option').first().waitFor({ state: 'attached' });
    const ask = feed.quote('EURUSD')!.ask;
    await page.locator('input[name="entry"]').fill(String(ask));
    await page.locator('input[name="sl"]').fill((ask - 0.002).toFixed(5));
    await page.locator('input[name="tp"]').fill((ask + 0.004).toFixed(5));
    await page.getByTestId('risk-preview').getByText(/^0\.5 lots: 100\.00 at risk/).waitFor();
    await page.getByRole('button', { name: 'Send signal' }).click();
    await page.locator('[data-testid="signal-status"][data-status="PENDING"]').waitFor();
    await connector.tick();
    await live('[data-testid="signal-status"][data-status="EXECUTED"]');
    await shot('signals');

    // ---------------------------------------------------------------- sessions: positions and the equity chart
    // A few pings, spread out: each stores a snapshot (server time) for the equity chart.
    for (const move of [0.0004, 0.0012, 0.0007, 0.0018, 0.0011]) {
      await new Promise((r) => setTimeout(r, 700));
      feed.set('EURUSD', 1.085 + move);
      await connector.tick();
    }
    await page.getByRole('link', { name: 'Sessions' }).click();
    await page.locator(`[data-testid="session-${mt.login}"] [data-status="active"]`).waitFor();
    await shot('sessions');
    await page.locator(`[data-testid="session-${mt.login}"] a`).click();
    await page.getByTestId('positions-table').getByText('EURUSD').waitFor();
    await page.getByTestId('equity-chart').locator('canvas').waitFor();
    await shot('session');

    // ---------------------------------------------------------------- notifications
    await page.getByTestId('nav-notifications').click();
    const list = page.getByTestId('notifications');
    await list.getByText(`Account ${login} connected`).waitFor();
    await list.getByText(`Account ${login} verified`).waitFor();
    await list.getByText(/^Cashback settled: 10\.50 USD$/).waitFor();
    await shot('notifications');
    await page.getByRole('button', { name: 'Mark all read' }).click();
    await page.getByTestId('unread-badge').waitFor({ state: 'detached', timeout: LIVE_MS });
    expect(await page.evaluate(() => (window as unknown as { __noReload?: boolean }).__noReload)).toBe(true);

    // ---------------------------------------------------------------- on a phone
    await page.setViewportSize({ width: 390, height: 844 });
    await page.getByRole('link', { name: 'Accounts' }).click();
    await page.locator(`${card} [data-status="connected"]`).waitFor();
    expect(await page.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(390);
    await shot('accounts-phone');

    // ---------------------------------------------------------------- a new investor password relaunches the account
    await page.locator(card).getByRole('button', { name: 'Change password' }).click();
    await page.locator(card).getByLabel('New investor password').fill('browser-investor-2');
    await page.locator(card).getByRole('button', { name: 'Update password and relaunch' }).click();
    await live(`${card} [data-status="pending_vps_setup"], ${card} [data-status="provisioning"]`);
    await page.locator(card).getByTestId('password-form').waitFor({ state: 'detached' });

    // ---------------------------------------------------------------- the cashback settings, read back after a reload
    await page.evaluate((id) => (location.hash = `#/accounts/${id}`), registered.id);
    await page.reload();
    await page.locator('[data-testid="settings-excluded-magics"]:text-is("777")').waitFor();
    await page.locator('[data-testid="settings-excluded-symbols"]:text-is("XAU%")').waitFor();
    expect(await page.getByTestId('settings-payout-currency').innerText()).toBe("USD (the broker's currency)");
  }, 90_000);
});

/** The page's own access token (from supabase-js' session in localStorage), for a direct API check. */
async function token(): Promise<string> {
  return page.evaluate(() => {
    const key = Object.keys(localStorage).find((k) => k.endsWith('-auth-token'));
    return (JSON.parse(localStorage.getItem(key ?? '') ?? '{}') as { access_token?: string }).access_token ?? '';
  });
}
