#!/usr/bin/env node
import { existsSync, readFileSync } from 'node:fs';
import process from 'node:process';
import { VOCABULARY, type Vocabulary } from '@rubi/contracts/vocabulary.ts';
import { Command, InvalidArgumentError, Option } from 'commander';
import { ConnectorEa, type ConnectorEvent } from './connector-ea.ts';
import { PriceFeed, STANDARD_SYMBOLS } from './price-feed.ts';
import { ProvisionedEa, type ProvisionedEvent } from './provisioned-ea.ts';
import { SimulatedAccount } from './simulated-account.ts';
import { readEaConfigFile } from './terminal-files.ts';
import { describeConnectorEvent, describeProvisionedEvent } from './describe.ts';

// `rubi-ea-sim`: the simulated EAs from the command line.
//
//   rubi-ea-sim connector --url http://127.0.0.1:54321 --key-id <id>      (secret in RUBI_EA_SECRET)
//   rubi-ea-sim provisioned --terminal <portable terminal folder made by rubi-vps-agent> [--ownership-code RUBI-XXXXXXXX]

const positiveInt = (what: string) => (v: string) => {
  const n = Number(v);
  if (!Number.isInteger(n) || n <= 0) throw new InvalidArgumentError(`${what} must be a whole number above 0`);
  return n;
};
const ownershipCode = (v: string) => {
  const code = v.trim().toUpperCase();
  if (!/^RUBI-[0-9A-HJKMNP-TV-Z]{8}$/.test(code)) throw new InvalidArgumentError('an ownership code is RUBI- and 8 characters of Crockford base32, e.g. RUBI-7KQ2X9MD');
  return code;
};
const positiveNumber = (what: string) => (v: string) => {
  const n = Number(v);
  if (!Number.isFinite(n) || n <= 0) throw new InvalidArgumentError(`${what} must be a number above 0`);
  return n;
};

function printer(json: boolean) {
  return (line: string, event: object) => {
    const at = new Date().toISOString().slice(11, 19);
    if (json) console.log(JSON.stringify({ at: new Date().toISOString(), ...event }, (_k, v: unknown) => (v instanceof Error ? v.message : v)));
    else console.log(`${at}  ${line}`);
  };
}

/** Ctrl-C / SIGTERM stop the run cleanly (the connector disconnects its session). */
function stopSignal(): AbortSignal {
  const controller = new AbortController();
  for (const sig of ['SIGINT', 'SIGTERM'] as const) process.once(sig, () => controller.abort());
  return controller.signal;
}

const program = new Command()
  .name('rubi-ea-sim')
  .description('Simulated MetaTrader EAs speaking the Rubi MT Bridge protocols')
  .showHelpAfterError();

program
  .command('connector')
  .description('The connector EA: connect, ping, execute signals on a simulated account, push positions, disconnect on exit')
  .requiredOption('--url <url>', 'Supabase project URL (functions at <url>/functions/v1)', process.env.SUPABASE_URL ?? 'http://127.0.0.1:54321')
  .requiredOption('--key-id <id>', 'EA key id (POST /keys)')
  .addOption(new Option('--secret <whsec>', 'EA key secret; prefer the environment variable').env('RUBI_EA_SECRET').makeOptionMandatory())
  .option('--login <n>', 'account number (default: the one in the --journal account file, else a random one)', positiveInt('--login'))
  .option('--server <name>', 'trade server', 'RubiBroker-Demo')
  .option('--broker <name>', 'broker company', 'Rubi Broker Ltd')
  .option('--balance <usd>', 'starting balance', positiveNumber('--balance'), 10_000)
  .option('--interval <seconds>', 'tick interval (default: the ping interval the server gives)', positiveNumber('--interval'))
  .option('--ticks <n>', 'stop after this many ticks (default: run until Ctrl-C)', positiveInt('--ticks'))
  .option('--seed <n>', 'price feed seed', positiveInt('--seed'), 42)
  .option('--journal <file>', 'keep the journal of executed signals here and the simulated account in <file>.account.json: a restarted run never executes a signal twice')
  .option('--json', 'one JSON object per event', false)
  .action(
    async (o: { url: string; keyId: string; secret: string; login?: number; server: string; broker: string; balance: number; interval?: number; ticks?: number; seed: number; journal?: string; json: boolean }) => {
      const print = printer(o.json);
      const stateFile = o.journal ? `${o.journal}.account.json` : undefined;
      const stored = stateFile && existsSync(stateFile) ? (JSON.parse(readFileSync(stateFile, 'utf8')) as { login?: number }).login : undefined;
      const login = o.login ?? stored ?? 51_000_000 + Math.floor(Math.random() * 1_000_000);
      const account = new SimulatedAccount({
        login,
        server: o.server,
        broker: o.broker,
        balance: o.balance,
        feed: new PriceFeed(STANDARD_SYMBOLS, { seed: o.seed }),
        ...(stateFile ? { stateFile } : {}),
      });
      const ea = new ConnectorEa({
        functionsUrl: `${o.url.replace(/\/+$/, '')}/functions/v1`,
        keyId: o.keyId,
        secret: o.secret,
        account,
        ...(o.journal ? { journal: o.journal } : {}),
        onEvent: (e: ConnectorEvent) => print(describeConnectorEvent(e), e),
      });
      const counters = await ea.run({
        signal: stopSignal(),
        ...(o.interval ? { intervalMs: o.interval * 1000 } : {}),
        ...(o.ticks ? { ticks: o.ticks } : {}),
      });
      print(`done: ${counters.signals_received} signal(s) received, ${counters.orders_executed} executed, ${counters.errors} error(s)`, { type: 'done', ...counters });
    },
  );

program
  .command('provisioned')
  .description(
    'The provisioned (cashback) EA: register with the token from rendr_ea_config.ini, then report closed trades from an outbox, ' +
      'with the ownership codes found in the account\'s order comments (ownership_codes) until the backend answers ownership: verified',
  )
  .option('--terminal <folder>', 'a portable terminal folder made by rubi-vps-agent (reads its EA config and start-up file)')
  .option('--config <file>', 'rendr_ea_config.ini, when not using --terminal')
  .option('--login <n>', 'account login, when not using --terminal', positiveInt('--login'))
  .option('--server <name>', 'trade server, when not using --terminal')
  .addOption(new Option('--platform <p>', 'MT4 or MT5, when not using --terminal').choices(VOCABULARY.platform).default('MT5'))
  .option('--state-file <file>', 'keep the api secret and the outbox here between runs')
  .option('--interval <seconds>', 'seconds between reports (default: what register says, 60)', positiveNumber('--interval'))
  .option('--ticks <n>', 'stop after this many reports (default: run until Ctrl-C)', positiveInt('--ticks'))
  .option('--trades-per-tick <n>', 'closed trades the simulated trader makes between reports', positiveInt('--trades-per-tick'), 1)
  .option(
    '--ownership-code <code>',
    "prove the account is the trader's: the simulated trader places a pending order far from the market with this code (the dashboard's, " +
      'RUBI-XXXXXXXX) as its comment and deletes it at once; the EA finds it in the order history and sends it as ownership_codes until the backend answers verified',
    ownershipCode,
  )
  .option('--json', 'one JSON object per event', false)
  .action(
    async (o: {
      terminal?: string;
      config?: string;
      login?: number;
      server?: string;
      platform: Vocabulary<'platform'>;
      stateFile?: string;
      interval?: number;
      ticks?: number;
      tradesPerTick: number;
      ownershipCode?: string;
      json: boolean;
    }) => {
      const print = printer(o.json);
      const onEvent = (e: ProvisionedEvent) => print(describeProvisionedEvent(e), e);
      const options = { ...(o.stateFile ? { stateFile: o.stateFile } : {}), onEvent };
      let ea: ProvisionedEa;
      if (o.terminal) ea = await ProvisionedEa.fromTerminalFolder(o.terminal, options);
      else if (o.config && o.login && o.server) {
        ea = new ProvisionedEa({ ...options, config: await readEaConfigFile(o.config), identity: { platform: o.platform, login: o.login, server: o.server } });
        await ea.load();
      } else throw new InvalidArgumentError('give --terminal <folder>, or --config with --login and --server');

      // A trader on the account: each report interval closes what it opened and opens anew.
      const account = new SimulatedAccount({ login: ea.identity.login, server: ea.identity.server, broker: 'simulated', balance: 10_000, feed: new PriceFeed(STANDARD_SYMBOLS) });
      const source = () => {
        for (const p of account.positions) account.closePosition(p.ticket);
        for (let i = 0; i < o.tradesPerTick; i++) account.marketOrder({ symbol: 'EURUSD', type: i % 2 === 0 ? 'BUY' : 'SELL', volume: 0.1 * (i + 1) });
        account.feed.step();
        return account.history;
      };
      if (o.ownershipCode) {
        // What the dashboard asks of the trader: a pending order with the code as its comment, far from the market, deleted at once.
        const placed = account.placePendingOrder({ symbol: 'EURUSD', comment: o.ownershipCode });
        if (!placed.ok) throw new Error(`could not place the pending order: ${placed.message}`);
        account.deletePendingOrder(placed.order);
        print(`trader placed and deleted pending order #${placed.order} with comment ${o.ownershipCode}`, { type: 'ownership_order', order: placed.order, comment: o.ownershipCode });
      }
      await ea.run({ signal: stopSignal(), source, orders: account, ...(o.interval ? { intervalMs: o.interval * 1000 } : {}), ...(o.ticks ? { ticks: o.ticks } : {}) });
      print(`done: ${ea.outbox.length} trade(s) still in the outbox`, { type: 'done', outbox: ea.outbox.length });
    },
  );

program.parseAsync(process.argv).catch((error: unknown) => {
  console.error(`rubi-ea-sim: ${error instanceof Error ? error.message : String(error)}`);
  process.exit(1);
});
