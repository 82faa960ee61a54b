import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { parseConfig } from '../src/config.ts';
import { buildPaths } from '../src/ea-build.ts';
import { decodeText } from '../src/ini.ts';
import { FakeBackend } from './support/fake-backend.ts';
import { editorRuns, killLaunched, launches, sourcedInstalls, startAgent, tempDir, testEnv, waitFor, type TestAgent } from './support/harness.ts';

/**
 * The agent configured with EA sources (MT5_EA_SOURCE / MT4_EA_SOURCE) instead of compiled EAs:
 * it compiles them with the base install's (fake) MetaEditor and installs the result in every
 * terminal folder, or launches nothing for a platform whose EA does not compile.
 */
describe('the agent with EA sources', () => {
  let backend: FakeBackend;
  const agents: TestAgent[] = [];
  const dirs: { path: string; cleanup(): void }[] = [];

  beforeEach(async () => {
    backend = new FakeBackend();
    await backend.start();
  });
  afterEach(async () => {
    for (const a of agents.splice(0)) await a.agent.shutdown('test end');
    await backend.stop();
    for (const d of dirs.splice(0)) {
      killLaunched(join(d.path, 'terminals'));
      d.cleanup();
    }
  });

  function host(capacity = 5, extra: Record<string, string> = {}) {
    const dir = tempDir();
    dirs.push(dir);
    const installs = sourcedInstalls(dir.path);
    const { id, key } = backend.addHost(`host-${dirs.length}`, capacity);
    const base = join(dir.path, 'terminals');
    return { ...installs, id, key, base, env: testEnv(backend.url, key, base, { CAPACITY: String(capacity), ...installs.env, ...extra }) };
  }

  async function agent(env: Record<string, string>) {
    const a = await startAgent(env);
    agents.push(a);
    return a;
  }

  it('validates the source settings: one of compiled EA or source per platform, a .mq5/.mq4 that exists, a MetaEditor', () => {
    const h = host();
    const problems = (extra: Record<string, string>) => {
      try {
        parseConfig({ ...h.env, MT4_PATH: '', MT4_EA_SOURCE: '', ...extra }, 'linux');
      } catch (error) {
        return (error as { problems: string[] }).problems;
      }
      return [];
    };
    const c = parseConfig(h.env, 'linux');
    expect(c.platforms.MT5).toEqual({ basePath: h.mt5Base, eaSource: h.mt5Source, eaPath: join(h.mt5Base, 'MQL5', 'Experts', 'Rubi', 'RubiTradeSync.ex5') });
    expect(c.compileTimeoutMs).toBe(120_000);
    expect(parseConfig({ ...h.env, COMPILE_TIMEOUT_SECONDS: '30' }, 'linux').compileTimeoutMs).toBe(30_000);
    expect(problems({ MT5_EA_PATH: '/srv/ea/RubiEA.ex5' })).toEqual([
      'MT5_EA_PATH and MT5_EA_SOURCE are both set: set one, the compiled EA (.ex5) or its source (.mq5) for the agent to compile',
    ]);
    expect(problems({ MT5_EA_SOURCE: '' })).toEqual([expect.stringMatching(/^MT5_EA_PATH or MT5_EA_SOURCE is required when MT5_PATH is set/)]);
    expect(problems({ MT5_EA_SOURCE: h.mt4Source })).toEqual([`MT5_EA_SOURCE must be a MT5 EA source ending in .mq5 (got "${h.mt4Source}")`]);
    expect(problems({ MT5_EA_SOURCE: 'mql/Experts/RubiTradeSync.mq5' })).toEqual(['MT5_EA_SOURCE must be an absolute path (got "mql/Experts/RubiTradeSync.mq5")']);
    expect(problems({ MT5_EA_SOURCE: '/nowhere/RubiTradeSync.mq5' })).toEqual([
      "MT5_EA_SOURCE does not exist: /nowhere/RubiTradeSync.mq5 (the repository's mql/Experts/RubiTradeSync.mq5)",
    ]);
    expect(problems({ MT5_PATH: '' })).toEqual([expect.stringMatching(/^MT5_PATH is required when MT5_EA_SOURCE is set/)]);
    expect(problems({ MT5_PATH: h.mt4Base })).toEqual([`MT5_PATH must be a MT5 install folder containing terminal64.exe; not found: ${join(h.mt4Base, 'terminal64.exe')}`]);
  });

  it('compiles once, and every terminal folder gets the compiled EA under the name its start-up file uses', async () => {
    const h = host();
    const accounts = [backend.addAccount({ platform: 'MT5' }), backend.addAccount({ platform: 'MT5' }), backend.addAccount({ platform: 'MT4' })];
    const { agent: a, metrics, log } = await agent(h.env);
    const terminals = await Promise.all(
      accounts.map((acc) =>
        waitFor('running', () => {
          const t = a.terminals.get(acc.account_id);
          return t?.record.state === 'running' ? t : null;
        }),
      ),
    );
    expect(editorRuns(h.mt5Base)).toHaveLength(1);
    expect(editorRuns(h.mt4Base)).toHaveLength(1);
    const published = { MT5: buildPaths('MT5', h.mt5Base, h.mt5Source).published, MT4: buildPaths('MT4', h.mt4Base, h.mt4Source).published };
    for (const t of terminals) {
      const { platform, folder } = t.record;
      const mql = platform === 'MT5' ? 'MQL5' : 'MQL4';
      const ext = platform === 'MT5' ? '.ex5' : '.ex4';
      expect(readFileSync(join(folder, mql, 'Experts', `RubiTradeSync${ext}`))).toEqual(readFileSync(published[platform]));
      expect(decodeText(readFileSync(join(folder, 'config', 'rubi-startup.ini'))).text).toMatch(/^Expert=RubiTradeSync\r$/m);
      // Neither the build area nor the sources land in the terminal folder.
      expect(existsSync(join(folder, mql, 'Experts', 'Rubi'))).toBe(false);
      expect(existsSync(join(folder, mql, 'Include', 'Rubi'))).toBe(false);
      expect(readdirSync(join(folder, mql, 'Experts')).filter((f) => /\.(ex[45]|mq[45])$/.test(f))).toEqual([`RubiTradeSync${ext}`]);
      await waitFor('the terminal started', () => launches(folder).length === 1);
    }
    expect(await metrics.eaCompiles.get()).toMatchObject({
      values: expect.arrayContaining([
        { value: 1, labels: { platform: 'MT5', result: 'compiled' } },
        { value: 1, labels: { platform: 'MT4', result: 'compiled' } },
      ]),
    });
    expect(log.entries().filter((e) => e.msg === 'EA compiled')).toHaveLength(2);

    // A restarted agent finds the EA up to date and does not compile again.
    await a.shutdown('restart');
    agents.splice(0);
    const second = await agent(h.env);
    await waitFor('adopted', () => second.agent.terminals.size === 3);
    expect(editorRuns(h.mt5Base)).toHaveLength(1);
    expect(second.log.entries().filter((e) => e.msg === 'the compiled EA is up to date')).toHaveLength(2);
  });

  it('an EA that does not compile launches nothing: held accounts go to error, the platform is not claimed; fixed sources are compiled again', async () => {
    const h = host();
    const source = readFileSync(h.mt5Source, 'latin1');
    writeFileSync(h.mt5Source, source.replace('   EventKillTimer();', '   EventKillTimer(FAKE_ERROR);'), 'latin1');
    // Held by this host already (claimed before a restart), pending, and an MT4 account.
    const held = backend.addAccount({ platform: 'MT5', status: 'provisioning', host: h.id, claimedBy: [h.id] });
    const pending = backend.addAccount({ platform: 'MT5' });
    const mt4 = backend.addAccount({ platform: 'MT4' });
    const { agent: a, log } = await agent(h.env);

    await waitFor('held account in error', () => backend.reportsFor(held.account_id).includes('error:E_LAUNCH'));
    const report = backend.reports.find((r) => r.account_id === held.account_id && r.state === 'error')!;
    expect(report.error_message).toBe(
      "The terminal could not be started on the VPS host: the Rubi EA for MT5 does not compile there (1 error, first: RubiTradeSync.mq5:24: undeclared identifier 'FAKE_ERROR'). The account will be retried.",
    );
    expect(held).toMatchObject({ status: 'error', host: null, error_code: 'E_LAUNCH', tokens: [] }); // no launch package was asked for
    expect(existsSync(join(h.base, `MT5-${held.external_account_id}`))).toBe(false);
    await waitFor('MT4 running', () => a.terminals.get(mt4.account_id)?.record.state === 'running');
    await a.idle();
    expect(pending).toMatchObject({ status: 'pending_vps_setup', host: null, claimedBy: [] });
    const claims = backend.requests.filter((r) => r.host === h.id && r.path === '/vps/claim').map((r) => r.body);
    expect(claims.length).toBeGreaterThan(0);
    for (const c of claims) expect(c).toMatchObject({ platforms: ['MT4'] });
    const failure = log.entries().find((e) => e.msg?.toString().startsWith('the EA does not compile'));
    expect(failure).toMatchObject({ level: 'error', platform: 'MT5', errors: 1 });
    expect(failure!.diagnostics).toEqual([`${h.mt5Source}:24:19: error 256: undeclared identifier 'FAKE_ERROR'`]);

    // Nothing changed: another pass does not run MetaEditor again.
    await a.requestReconcile('test');
    await a.idle();
    expect(editorRuns(h.mt5Base)).toHaveLength(1);

    // The operator fixes the source: the next pass compiles it, and MT5 accounts are claimed again.
    writeFileSync(h.mt5Source, source, 'latin1');
    await a.requestReconcile('test');
    await waitFor('pending MT5 account running', () => a.terminals.get(pending.account_id)?.record.state === 'running');
    expect(editorRuns(h.mt5Base)).toHaveLength(2);
    const folder = join(h.base, `MT5-${pending.external_account_id}`);
    expect(readFileSync(join(folder, 'MQL5', 'Experts', 'RubiTradeSync.ex5'), 'utf8')).toMatch(/^FAKE-EX5 /);
    // (and the process is up, so that the test's clean-up knows it)
    await waitFor('the terminal started', () => launches(folder).length === 1);
  });

  it('a MetaEditor that hangs fails the compile after COMPILE_TIMEOUT_SECONDS', async () => {
    const h = host(5, { COMPILE_TIMEOUT_SECONDS: '0.5', MT4_PATH: '', MT4_EA_SOURCE: '' });
    writeFileSync(join(h.mt5Base, 'fake-metaeditor.cue'), 'hang');
    const held = backend.addAccount({ platform: 'MT5', status: 'provisioning', host: h.id });
    await agent(h.env);
    await waitFor('held account in error', () => backend.reportsFor(held.account_id).includes('error:E_LAUNCH'));
    expect(held.error_message).toContain('MetaEditor did not finish within 0.5 s (COMPILE_TIMEOUT_SECONDS) and wrote no log; it was stopped');
  });
});
