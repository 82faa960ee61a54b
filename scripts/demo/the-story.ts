import { existsSync } from 'node:fs';
import { join } from 'node:path';
import {
  ConnectorEa,
  describeConnectorEvent,
  describeProvisionedEvent,
  FlakyNetwork,
  matching,
  PriceFeed,
  ProvisionedEa,
  SimulatedAccount,
  STANDARD_SYMBOLS,
  type ConnectorEvent,
  type ProvisionedEvent,
} from '@rubi/ea-sim';
import type { Backend, Dashboard } from './backend.ts';
import { startAgent, type AgentLogLine, type RunningAgent } from './local-stack.ts';
import { Story, table, waitFor } from './story.ts';

/**
 * The whole story, over HTTP against a running local server: a trader and their connector EA,
 * then a cashback account provisioned by a VPS agent whose terminal's EA reports trades, settled
 * by the nightly job. Everything the demo checks, it checks through the public API.
 */

export interface DemoOptions {
  backend: Backend;
  serviceRoleKey: string;
  write?: (line: string) => void;
}

export interface DemoResult {
  ok: boolean;
  story: Story;
  figures: string;
  /** The demo trader, to sign in to the dashboard with afterwards (undefined if sign-up failed). */
  user?: { email: string; password: string };
}

const AGENT_MESSAGES = new Set([
  'claimed accounts',
  'terminal folder ready; launching',
  'terminal started',
  'terminal logged in',
  'password removed from the start-up file',
  'terminal connected',
  'state reported',
  'tearing down terminal',
  'stopping terminal',
]);

function agentLine(line: AgentLogLine): string | undefined {
  if (line.level < 40 && !AGENT_MESSAGES.has(line.msg)) return undefined;
  const extra =
    line.msg === 'state reported'
      ? ` ${String(line.state)}${line.error_code ? ` ${String(line.error_code)}` : ''}`
      : line.msg === 'terminal started'
        ? ` (pid ${String(line.pid)})`
        : line.msg === 'claimed accounts'
          ? ` ${JSON.stringify(line.claimed)}`
          : '';
  return `agent │ ${line.msg}${extra}`;
}

const money = (n: number, currency = 'USD') => `${n.toFixed(2)} ${currency}`;

export async function runDemo(options: DemoOptions): Promise<DemoResult> {
  const write = options.write ?? ((line: string) => console.log(line));
  const story = new Story(write);
  const { backend } = options;
  const operator = backend.operator(options.serviceRoleKey);
  const network = new FlakyNetwork(backend.fetch);
  const run = Math.random().toString(36).slice(2, 8);
  let dashboard: Dashboard | undefined;
  let connector: ConnectorEa | undefined;
  let agent: RunningAgent | undefined;
  let accountId: string | undefined;
  let externalAccountId: string | undefined;
  let figures = '';
  const user = { email: `trader-${run}@demo.rubi.invalid`, password: `demo-password-${run}` };

  const onConnector = (e: ConnectorEvent) => {
    if (e.type !== 'ping') story.say(`EA    │ ${describeConnectorEvent(e)}`);
  };
  const onProvisioned = (e: ProvisionedEvent) => story.say(`EA    │ ${describeProvisionedEvent(e)}`);

  try {
    // ---------------------------------------------------------------- the signals bridge
    dashboard = await story.step('A trader signs up (Supabase Auth)', async () => {
      const d = await backend.signUp(user.email, user.password);
      return Object.assign(d, { outcome: `user ${d.userId}` });
    });

    const key = await story.step('The trader creates an EA key on the dashboard (POST /keys)', async () => {
      const k = await dashboard!.createEaKey(`demo terminal ${run}`);
      story.say(`the secret is shown once (whsec_…${k.secret.slice(-4)}); only its ciphertext is stored`);
      return { ...k, outcome: `key ${k.id}, scopes ${k.scopes.join(', ')}` };
    });

    const feed = new PriceFeed(STANDARD_SYMBOLS, { seed: 2026 });
    feed.set('EURUSD', 1.085);
    const mtAccount = new SimulatedAccount({ login: 51_000_000 + Math.floor(Math.random() * 900_000), server: 'RubiBroker-Demo', broker: 'Rubi Broker Ltd', balance: 10_000, feed });

    await story.step('A simulated MT5 terminal connects with the connector EA (POST /connect)', async () => {
      connector = new ConnectorEa({ functionsUrl: backend.functionsUrl, keyId: key!.id, secret: key!.secret, account: mtAccount, http: { fetch: network.fetch }, onEvent: onConnector });
      await connector.connect();
      await connector.pushPositions(true);
      const ping = await connector.ping();
      return `account ${mtAccount.login} on ${mtAccount.server}, balance ${money(10_000)}; ping: ${ping.pending_signals} signal(s) waiting`;
    });

    const buy = await story.step('The trader sends a BUY EURUSD signal sized by risk: 1% of equity, 20-pip stop', async () => {
      const ask = feed.quote('EURUSD')!.ask;
      const signal = await dashboard!.createSignal({
        session_id: connector!.sessionId!,
        type: 'BUY',
        symbol: 'EURUSD',
        entry_price: ask,
        stop_loss: Number((ask - 0.002).toFixed(5)),
        take_profit: Number((ask + 0.004).toFixed(5)),
        risk_percent: 1,
        client_signal_id: `demo-${run}-buy`,
      });
      story.say(`the server sized it from the EURUSD spec the EA sent: $100 at risk / (200 points x $1 per point per lot) = ${signal.volume} lots`);
      if (signal.volume !== 0.5) throw new Error(`expected 0.5 lots, got ${signal.volume}`);
      return { ...signal, outcome: `signal ${signal.id.slice(0, 8)}… ${signal.status}, ${signal.volume} lots` };
    });

    await story.step('The EA pings, sees the signal, executes it and reports the order', async () => {
      await connector!.tick();
      const done = await dashboard!.signal(buy!.id);
      if (done.status !== 'EXECUTED') throw new Error(`signal is ${done.status}`);
      const positions = (await dashboard!.positions()).positions;
      story.say(`dashboard: ${positions.length} open position(s): ${positions.map((p) => `#${p.ticket} ${p.type} ${p.volume} ${p.symbol} @ ${p.open_price}`).join(', ')}`);
      return `signal EXECUTED as order #${done.order_ticket}; position pushed`;
    });

    await story.step('The market rises 30 pips; the trader closes (CLOSE_BUY)', async () => {
      feed.set('EURUSD', feed.quote('EURUSD')!.bid + 0.003);
      await connector!.tick();
      const close = await dashboard!.createSignal({ session_id: connector!.sessionId!, type: 'CLOSE_BUY', symbol: 'EURUSD', client_signal_id: `demo-${run}-close` });
      await connector!.tick();
      const done = await dashboard!.signal(close.id);
      if (done.status !== 'EXECUTED') throw new Error(`close signal is ${done.status}: ${done.status_message ?? ''}`);
      const open = (await dashboard!.positions()).positions.length;
      const [trade] = mtAccount.history;
      if (open !== 0 || !trade) throw new Error(`${open} position(s) still open`);
      return `closed at ${trade.close_price}: profit ${money(trade.profit)}, commission ${money(trade.commission)}; balance ${money(mtAccount.balance)}`;
    });

    await story.step('The EA disconnects with its counters; the dashboard shows the day', async () => {
      const sessionId = connector!.sessionId!;
      await connector!.disconnect();
      const session = (await dashboard!.sessions()).sessions.find((s) => s.id === sessionId);
      const stats = await dashboard!.stats();
      if (session?.status !== 'disconnected') throw new Error(`session is ${session?.status}`);
      return `session disconnected (${session.counters.orders_executed} orders executed); signals: ${stats.signals.executed} executed, ${stats.signals.total} total`;
    });

    // ---------------------------------------------------------------- provisioning and cashback
    const login = 40_000_000 + Math.floor(Math.random() * 9_000_000);
    const broker = await story.step('The trader registers an MT5 account for cashback (password encrypted)', async () => {
      const brokers = (await dashboard!.brokers()).brokers;
      const b = brokers.find((x) => x.name === 'IC Markets') ?? brokers.find((x) => x.platforms.includes('MT5'));
      if (!b) throw new Error('no MT5 broker seeded');
      const account = await dashboard!.registerTradingAccount({ broker_id: b.id, platform: 'MT5', login, server: 'ICMarketsSC-Demo', investor_password: `Investor-${run}` });
      accountId = account.id;
      externalAccountId = account.external_account_id;
      return { ...b, outcome: `account ${login} @ ${b.name} (${money(b.rebate_per_lot, b.currency)} per lot): ${account.status}` };
    });

    await story.step('A VPS agent claims it, builds a portable terminal and launches it', async () => {
      // Dedicated to the demo's user: on a server that other people use, this agent must never
      // provision their accounts, and shared agents leave the demo's account to it.
      const host = await operator.createVpsHost(`demo-host-${run}`, { capacity: 5, dedicatedUserId: dashboard!.userId });
      story.say(`operator: VPS host "${host.name}" created, dedicated to the demo's user; its key is shown once`);
      agent = await startAgent({
        functionsUrl: backend.functionsUrl,
        apiKey: host.api_key,
        onLine: (line) => {
          const text = agentLine(line);
          if (text) story.say(text);
        },
      });
      const account = await waitFor('the agent to claim and launch the account', async () => {
        const a = await dashboard!.tradingAccount(accountId!);
        return a.status === 'error' ? Promise.reject(new Error(`account in error: ${a.error_code} ${a.error_message}`)) : a.terminal_state ? a : undefined;
      });
      return `account ${account.status}, terminal ${account.terminal_state}`;
    });

    const ea = await story.step('The terminal\'s EA reads its config file and registers with the one-time token', async () => {
      // The agent names each terminal folder after the account's external id (vps-agent/src/layout.ts).
      const folder = join(agent!.terminalsDir, `MT5-${externalAccountId}`);
      await waitFor('the terminal folder with the EA config', async () =>
        existsSync(join(folder, 'MQL5', 'Files', 'rendr_ea_config.ini')) && existsSync(join(folder, 'config', 'rubi-startup.ini')) ? folder : undefined,
      );
      const e = await ProvisionedEa.fromTerminalFolder(folder, { http: { fetch: network.fetch }, onEvent: onProvisioned });
      if (e.config.external_account_id !== externalAccountId) throw new Error(`the config in ${folder} names account ${e.config.external_account_id}`);
      story.say(`read ${join('<terminal>', 'MQL5', 'Files', 'rendr_ea_config.ini')}: account ${e.config.external_account_id}, token expires ${e.config.token_expires_at ?? '?'}`);
      const res = await e.register();
      await waitFor('the agent to see the EA up in its log', async () => agent!.lines.find((l) => l.msg === 'terminal connected'));
      const account = await waitFor('the account to be connected with its terminal running', async () => {
        const a = await dashboard!.tradingAccount(accountId!);
        return a.status === 'connected' && a.terminal_state === 'running' ? a : undefined;
      });
      return { ea: e, outcome: `register → ${res.status}; the agent saw the EA in its log: account ${account.status}, terminal ${account.terminal_state}` };
    });

    await story.step('The EA reports yesterday\'s and today\'s closed trades; the response is lost, so it resends', async () => {
      // A day of trading on the account, at yesterday's times (the EA sends its history on start).
      const now = Date.now();
      const yesterday = new Date(now - 86_400_000);
      const morning = new Date(Date.UTC(yesterday.getUTCFullYear(), yesterday.getUTCMonth(), yesterday.getUTCDate(), 8, 0));
      let at = morning;
      const histFeed = new PriceFeed(STANDARD_SYMBOLS, { seed: 7, clock: () => at });
      const acct = new SimulatedAccount({ login, server: 'ICMarketsSC-Demo', broker: 'IC Markets', balance: 5_000, feed: histFeed });
      const trade = (symbol: string, type: 'BUY' | 'SELL', volume: number, openAt: Date, closeAt: Date) => {
        at = openAt;
        const r = acct.marketOrder({ symbol, type, volume });
        if (!r.ok) throw new Error(r.message);
        for (let i = 0; i < 20; i++) histFeed.step();
        at = closeAt;
        acct.closePosition(r.order);
      };
      const h = (base: Date, hours: number) => new Date(base.getTime() + hours * 3_600_000);
      trade('EURUSD', 'BUY', 1.0, morning, h(morning, 2));
      trade('XAUUSD', 'SELL', 0.5, h(morning, 3), h(morning, 5));
      trade('GBPUSD', 'BUY', 2.0, h(morning, 6), h(morning, 9));
      const today = new Date(Math.max(now - 3_600_000, Date.UTC(new Date(now).getUTCFullYear(), new Date(now).getUTCMonth(), new Date(now).getUTCDate())));
      trade('EURUSD', 'SELL', 0.5, today, new Date(Math.min(today.getTime() + 1_800_000, now)));
      // The trader proves the account is theirs (cashback accrues only then): a pending order far
      // from the market whose comment holds the code the dashboard shows; the EA finds it among the
      // order comments and sends it with the trades.
      const code = (await dashboard!.tradingAccount(accountId!)).ownership.code;
      if (!code) throw new Error('the new account shows no ownership code');
      const placed = acct.placePendingOrder({ symbol: 'EURUSD', comment: `rubi ${code}` });
      if (!placed.ok) throw new Error(placed.message);
      await ea!.ea.scanOwnership(acct);
      story.say(`the trader placed pending order #${placed.order} with the comment "rubi ${code}": the EA sends the code with its trades`);
      await ea!.ea.enqueue(acct.history);
      story.say(`outbox: ${acct.history.map((t) => `#${t.ticket} ${t.type} ${t.lots} ${t.symbol}`).join(', ')}`);
      // The answer is lost: the EA retries under the same X-Trade-Id, which the server refuses as a
      // replay (it had committed that request), so the EA sends the batch again under a fresh id.
      const dropped = network.dropped;
      network.dropNextResponses(1, matching('POST', '/functions/v1/trades'));
      const resent = await ea!.ea.flush();
      if (network.dropped !== dropped + 1) throw new Error('expected the simulated loss');
      if (resent.remaining !== 0 || resent.duplicates.length !== 4) throw new Error(`resend: ${JSON.stringify(resent)}`);
      return `stored once: the lost request had been processed, so the resend came back as ${resent.duplicates.length} duplicates and accrued nothing more (its same-id retry was refused as a replay)`;
    });

    await story.step('Cashback accrues per lot at insert', async () => {
      const a = await dashboard!.tradingAccount(accountId!);
      const rebate = broker!.rebate_per_lot;
      const expected = Math.round(a.figures.lots * rebate * 100) / 100;
      if (a.figures.cashback_accrued !== expected) throw new Error(`accrued ${a.figures.cashback_accrued}, expected ${expected}`);
      return `${a.figures.trades} trades, ${a.figures.lots} lots x ${money(rebate, a.figures.currency)} = ${money(a.figures.cashback_accrued, a.figures.currency)} accrued, ${money(a.figures.cashback_settled)} settled`;
    });

    await story.step('The nightly settlement runs (pg_cron job rubi-settle-cashback, run now); a second run changes nothing', async () => {
      const first = await operator.runCronJob('rubi-settle-cashback');
      const second = await operator.runCronJob('rubi-settle-cashback');
      if (first.status !== 'succeeded' || second.status !== 'succeeded') throw new Error(`${first.message} / ${second.message}`);
      const a = await dashboard!.tradingAccount(accountId!);
      return `settled ${money(a.figures.cashback_settled, a.figures.currency)} (yesterday's trades); today's stay accrued until tonight. Runs: ${first.message}, then ${second.message}`;
    });

    await story.step("The trader's account figures and ledger", async () => {
      const a = await dashboard!.tradingAccount(accountId!);
      const ledger = await dashboard!.ledger(accountId!);
      const trades = (await dashboard!.trades(accountId!)).trades;
      if (ledger.entries.length !== 1) throw new Error(`${ledger.entries.length} ledger entries`);
      figures = [
        table(
          ['account', 'status', 'trades', 'lots', 'accrued', 'settled'],
          [[`${a.login} @ ${a.broker.name}`, a.status, String(a.figures.trades), String(a.figures.lots), money(a.figures.cashback_accrued, a.figures.currency), money(a.figures.cashback_settled, a.figures.currency)]],
        ),
        '',
        table(['settlement day', 'trades', 'lots', 'cashback'], ledger.entries.map((e) => [e.settlement_day, String(e.trades), String(e.lots), money(e.amount, e.currency)])),
        '',
        table(
          ['ticket', 'symbol', 'type', 'lots', 'closed', 'profit', 'cashback', 'settled on'],
          trades.map((t) => [String(t.ticket), t.symbol, t.type, String(t.lots), t.close_time.slice(0, 16).replace('T', ' '), money(t.profit), money(t.cashback_amount, t.currency), t.settled_on ?? '-']),
        ),
      ].join('\n');
      for (const line of figures.split('\n')) story.say(line);
      return `ledger: ${ledger.entries.map((e) => `${e.settlement_day} ${money(e.amount, e.currency)}`).join(', ')}`;
    });

    await story.step('The trader deletes the account; the agent tears its terminal down', async () => {
      const res = await backend.fetch(`${backend.functionsUrl}/accounts/trading-accounts/${accountId}`, { method: 'DELETE', headers: { authorization: `Bearer ${dashboard!.token}` } });
      if (res.status !== 200) throw new Error(`DELETE: ${res.status} ${await res.text()}`);
      accountId = undefined;
      await waitFor('the agent to tear the terminal down', async () => agent!.lines.find((l) => l.msg === 'tearing down terminal'));
      return 'account deleted; terminal stopped and its folder removed';
    });
  } finally {
    if (connector?.sessionId) await connector.disconnect().catch(() => undefined);
    if (accountId && dashboard) {
      // A failed run: do not leave an account in the queue for the next run's agent.
      await backend
        .fetch(`${backend.functionsUrl}/accounts/trading-accounts/${accountId}`, { method: 'DELETE', headers: { authorization: `Bearer ${dashboard.token}` } })
        .catch(() => undefined);
    }
    await agent?.stop();
  }
  return { ok: !story.failed, story, figures, ...(dashboard ? { user } : {}) };
}
