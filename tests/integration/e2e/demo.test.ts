import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Backend } from '../../../scripts/demo/backend.ts';
import { freePort } from '../../../scripts/lib/free-port.ts';
import { formatEaConfig } from '../../../vps-agent/src/ea-config.ts';
import { repoRoot } from '../support/paths.ts';
import { describeRun, run, type RunResult } from '../support/run.ts';
import { quietNpmEnv, startNpmStart, type NpmStart } from './support/npm-start.ts';

/**
 * The README's quick start, as a newcomer runs it: `npm start` in one terminal, `npm run demo`
 * in a second one (twice: the data persists), the EA simulator's CLI against the same server, a
 * demo that cannot finish exiting non-zero, a demo that starts its own server, and Ctrl-C.
 */

let port: number;
let dataDir: string;
let server: NpmStart;

const npm = (args: string[], timeoutMs = 180_000, extraEnv: Record<string, string> = {}): Promise<RunResult> =>
  run('npm', args, { cwd: repoRoot, env: { ...quietNpmEnv, ...extraEnv }, timeoutMs });

beforeAll(async () => {
  dataDir = await mkdtemp(join(tmpdir(), 'rubi-quickstart-'));
  server = await startNpmStart({ args: ['--data-dir', dataDir], timeoutMs: 180_000 });
  port = server.port;
}, 200_000);

afterAll(async () => {
  await server?.stop();
  if (dataDir) await rm(dataDir, { recursive: true, force: true });
});

describe('the quick start: npm start, then npm run demo', () => {
  it('npm start prints the URLs, where the data lives, the operator key and the next command', () => {
    const url = `http://127.0.0.1:${port}`;
    for (const part of [`${url}/functions/v1/<name>`, `${url}/docs`, `${url}/auth/v1`, join(dataDir, 'pglite'), join(dataDir, 'local-secrets.json'), 'npm run demo', 'Ctrl-C']) {
      expect(server.output(), part).toContain(part);
    }
  });

  it('npm run demo plays the whole story against it, and again on the same data, leaving other users\' accounts alone', async () => {
    // Someone else uses the same server: their accounts wait in the queue during both demo runs.
    const backend = new Backend(`http://127.0.0.1:${port}`);
    const bystander = await backend.signUp(`bystander-${Date.now()}@example.com`, 'bystander password 123');
    const brokers = (await bystander.brokers()).brokers;
    const mt5 = brokers.find((b) => b.platforms.includes('MT5'))!;
    const mt4 = brokers.find((b) => b.platforms.includes('MT4'))!;
    const theirs = [
      await bystander.registerTradingAccount({ broker_id: mt5.id, platform: 'MT5', login: 70_000_001, server: 'Bystander-Live', investor_password: 'their-investor-1' }),
      await bystander.registerTradingAccount({ broker_id: mt4.id, platform: 'MT4', login: 70_000_002, server: 'Bystander-Live', investor_password: 'their-investor-2' }),
    ];
    const before = await Promise.all(theirs.map((a) => bystander.tradingAccount(a.id)));
    expect(before.map((a) => a.status)).toEqual(['pending_vps_setup', 'pending_vps_setup']);

    for (const attempt of [1, 2]) {
      const result = await npm(['run', 'demo', '--', '--url', `http://127.0.0.1:${port}`]);
      expect(result.code, `attempt ${attempt}\n${describeRun(result)}`).toBe(0);
      expect(result.stdout).toContain('✓ Every step succeeded.');
      const summary = result.stdout.slice(result.stdout.indexOf(' Summary'));
      expect(summary.match(/^ \d+\s+ok\s/gm)).toHaveLength(15);
      expect(summary).not.toContain('FAILED');
      // The story's key figures, as the trader reads them.
      expect(result.stdout).toContain('= 0.5 lots');
      expect(result.stdout).toMatch(/4 trades, 4 lots x 3\.50 USD = 14\.00 USD accrued/);
      expect(result.stdout).toMatch(/settled 12\.25 USD/);
      expect(result.stdout).toContain('4 duplicate(s)');
      // It ends with the dashboard's URL and the demo trader's credentials, which sign in.
      const login = result.stdout.match(/ Dashboard: (\S+)\s+sign in as (\S+@demo\.rubi\.invalid) \/ (\S+)/);
      expect(login?.[1]).toBe(`http://127.0.0.1:${port}/`);
      const signIn = await fetch(`http://127.0.0.1:${port}/auth/v1/token?grant_type=password`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', apikey: 'local-publishable-key' },
        body: JSON.stringify({ email: login?.[2], password: login?.[3] }),
      });
      expect(signIn.status).toBe(200);
    }
    expect(await Promise.all(theirs.map((a) => bystander.tradingAccount(a.id)))).toEqual(before);
  });

  it('rubi-ea-sim runs the connector EA from the command line, keeping the secret out of its output', async () => {
    const backend = new Backend(`http://127.0.0.1:${port}`);
    const dashboard = await backend.signUp(`cli-${Date.now()}@example.com`, 'cli password 123');
    const key = await dashboard.createEaKey('cli');
    const result = await run(
      'node',
      [join(repoRoot, 'node_modules', '.bin', 'rubi-ea-sim'), 'connector', '--url', backend.url, '--key-id', key.id, '--ticks', '2', '--interval', '0.2'],
      { cwd: repoRoot, env: { RUBI_EA_SECRET: key.secret }, timeoutMs: 60_000 },
    );
    expect(result.code, describeRun(result)).toBe(0);
    expect(result.stdout).toMatch(/connected: session [0-9a-f-]{36}/);
    expect(result.stdout).toMatch(/disconnected: session/);
    expect(result.stdout + result.stderr).not.toContain(key.secret.slice('whsec_'.length));
    const [session] = (await dashboard.sessions()).sessions;
    expect(session?.status).toBe('disconnected');

    const missing = await run('node', [join(repoRoot, 'node_modules', '.bin', 'rubi-ea-sim'), 'connector', '--url', backend.url, '--key-id', key.id], { cwd: repoRoot, timeoutMs: 30_000 });
    expect(missing.code).not.toBe(0);
    expect(missing.stderr).toContain('--secret');
  });

  it('rubi-ea-sim runs the provisioned EA from an EA config file: registers, reports, keeps its state', async () => {
    const backend = new Backend(`http://127.0.0.1:${port}`);
    const dashboard = await backend.signUp(`cli-prov-${Date.now()}@example.com`, 'cli password 123');
    const serviceRoleKey = (JSON.parse(await readFile(join(dataDir, 'local-secrets.json'), 'utf8')) as { service_role_key: string }).service_role_key;
    const host = await backend.operator(serviceRoleKey).createVpsHost(`cli-host-${Date.now()}`, { capacity: 1, dedicatedUserId: dashboard.userId });
    const broker = (await dashboard.brokers()).brokers.find((b) => b.name === 'IC Markets')!;
    const login = 30_000_000 + Math.floor(Math.random() * 1_000_000);
    const account = await dashboard.registerTradingAccount({ broker_id: broker.id, platform: 'MT5', login, server: 'ICMarketsSC-Demo', investor_password: 'cli-investor' });
    const vps = async (path: string, body?: unknown) => {
      const res = await fetch(`${backend.functionsUrl}/vps${path}`, {
        method: 'POST',
        headers: { 'x-vps-api-key': host.api_key, 'content-type': 'application/json' },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      });
      return (await res.json()) as Record<string, string>;
    };
    await vps('/claim', { max: 1 });
    const pkg = await vps(`/accounts/${account.id}/launch-package`);
    const config = join(dataDir, 'rendr_ea_config.ini');
    await writeFile(config, formatEaConfig({ external_account_id: pkg.external_account_id!, register_url: pkg.register_url!, trades_url: pkg.trades_url!, provisioning_token: pkg.provisioning_token! }));
    const state = join(dataDir, 'ea-state.json');
    const cli = (ticks: number) =>
      run('node', [join(repoRoot, 'node_modules', '.bin', 'rubi-ea-sim'), 'provisioned', '--config', config, '--login', String(login), '--server', 'ICMarketsSC-Demo', '--state-file', state, '--ticks', String(ticks), '--interval', '0.2', '--trades-per-tick', '2',
        // The trader proves the account is theirs (cashback accrues only then): a pending order with the code.
        '--ownership-code', account.ownership.code ?? ''], {
        cwd: repoRoot,
        timeoutMs: 60_000,
      });
    const first = await cli(3);
    expect(first.code, describeRun(first)).toBe(0);
    expect(first.stdout).toContain('registered: account connected');
    expect(first.stdout).toMatch(/reported 2 trade\(s\): 2 accepted/);
    // A second run keeps the api secret from its state file: no token needed (it was spent).
    const second = await cli(1);
    expect(second.code, describeRun(second)).toBe(0);
    expect(second.stdout).not.toContain('registered:');
    expect(first.stdout + second.stdout).not.toContain(pkg.provisioning_token!);
    const figures = (await dashboard.tradingAccount(account.id)).figures;
    expect(figures.trades).toBe(4);
    expect(figures.cashback_accrued).toBeGreaterThan(0);
  });

  it('a second npm start says in one line that the port or the data folder is taken, before opening anything', async () => {
    const otherDir = join(dataDir, 'second');
    const samePort = await npm(['start', '--', '--port', String(port), '--data-dir', otherDir], 60_000);
    expect(samePort.code, describeRun(samePort)).toBe(1);
    expect(samePort.stderr).toContain(`npm start: port ${port} on 127.0.0.1 is already in use (another npm start?)`);
    expect(existsSync(otherDir)).toBe(false);

    const sameDir = await npm(['start', '--', '--port', String(await freePort()), '--data-dir', dataDir], 60_000);
    expect(sameDir.code, describeRun(sameDir)).toBe(1);
    expect(sameDir.stderr).toContain(`npm start: the data folder ${dataDir} is in use by another npm start (pid `);

    for (const result of [samePort, sameDir]) {
      expect(result.stdout + result.stderr).not.toMatch(/^\s+at |\u001b\[|Migrat|AddrInUse/m);
    }
    // The running server did not notice.
    expect((await fetch(`http://127.0.0.1:${port}/health`)).status).toBe(200);
  });

  it('npm run demo exits non-zero, naming the step, when a step fails', async () => {
    const result = await npm(['run', 'demo', '--', '--url', `http://127.0.0.1:${port}`, '--service-role-key', 'not-a-key']);
    expect(result.code).toBe(1);
    expect(result.stdout).toMatch(/✗ The demo failed at "A VPS agent claims it.*": .*401/);
    expect(result.stdout).toMatch(/^ \d+\s+FAILED\s/m);
  });

  it('npm run demo starts a throwaway server of its own when none runs', async () => {
    const result = await npm(['run', 'demo', '--', '--own-server']);
    expect(result.code, describeRun(result)).toBe(0);
    expect(result.stdout).toContain('Starting a throwaway local server');
    expect(result.stdout).toContain('✓ Every step succeeded.');
  });

  it('Ctrl-C stops npm start cleanly', async () => {
    server.signalGroup('SIGINT');
    const exit = await Promise.race([server.exited, new Promise<'timeout'>((r) => setTimeout(() => r('timeout'), 20_000))]);
    // npm re-raises the signal its script got; the server itself stopped on its own terms.
    expect(exit === 'timeout' ? exit : exit.code === 0 || exit.signal === 'SIGINT').toBe(true);
    expect(server.output()).toContain('SIGINT: stopping');
    // No crash and no error-level line. (Request lines name refused requests' `error_code`: the demo
    // replays a request on purpose, so the word alone is no sign of trouble.)
    expect(server.output()).not.toMatch(/"level":"error"|panic|uncaught|\bError: /i);
    expect(await new Backend(`http://127.0.0.1:${port}`).localInfo()).toBeUndefined();
  });
});
