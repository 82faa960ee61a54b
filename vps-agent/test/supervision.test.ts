import { existsSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { AgentLockedError } from '../src/agent-lock.ts';
import { decodeText } from '../src/ini.ts';
import { isAlive, sleep } from '../src/process.ts';
import { StateStore } from '../src/state-store.ts';
import { FakeBackend } from './support/fake-backend.ts';
import { aliveLaunched, allLaunched, cue, killLaunched, launches, startAgent, tempDir, testEnv, waitFor, type TestAgent } from './support/harness.ts';

/**
 * The agent against an in-memory `vps` backend, running the fake terminal (a node script) as its
 * "terminal64.exe" through WINE_COMMAND=node. Real processes, real files, real timing (short
 * backoffs).
 */
describe('supervising terminals', () => {
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
    const { id, key } = backend.addHost(`host-${dirs.length}`, capacity);
    const base = join(dir.path, 'terminals');
    return { id, key, base, env: testEnv(backend.url, key, base, { CAPACITY: String(capacity), ...extra }) };
  }

  async function agent(env: Record<string, string>) {
    const a = await startAgent(env);
    agents.push(a);
    return a;
  }

  const folderOf = (base: string, ext: string, platform = 'MT5') => join(base, `${platform}-${ext}`);

  it('claims a pending account, builds its folder, launches it, and removes the password once it logged in', async () => {
    const h = host();
    const account = backend.addAccount({ platform: 'MT5' });
    const { agent: a, metrics } = await agent(h.env);
    const folder = folderOf(h.base, account.external_account_id);
    const terminal = await waitFor('running terminal', () => a.terminals.get(account.account_id));
    await waitFor('login seen', () => terminal.record.authorized_at);
    await waitFor('password removed', () => terminal.record.password_removed);

    expect(account).toMatchObject({ status: 'provisioning', host: h.id });
    expect(terminal.record).toMatchObject({ state: 'running', folder, launches: 1, restarts: 0 });
    expect(isAlive(terminal.record.pid!)).toBe(true);
    const [launch] = launches(folder);
    expect(launch).toMatchObject({ pid: terminal.record.pid, platform: 'MT5', args: ['/portable', '/config:config\\rubi-startup.ini'], login: String(account.login), had_password: true });

    const startup = decodeText(readFileSync(join(folder, 'config', 'rubi-startup.ini'))).text;
    expect(startup).toContain(`Login=${account.login}`);
    expect(startup).not.toMatch(/Password/i);
    expect(startup).not.toContain(account.password);
    expect(readFileSync(join(folder, 'MQL5', 'Files', 'rendr_ea_config.ini'), 'latin1')).toContain(`provisioning_token=${account.tokens[0]}`);
    await a.idle();
    expect(backend.reportsFor(account.account_id)).toEqual(['launching', 'running']);
    expect(await metrics.claims.get()).toMatchObject({ values: [{ value: 1 }] });

    // The state file knows it; nothing secret in it.
    const state = JSON.parse(readFileSync(a.stateFile, 'utf8')) as { terminals: Record<string, { pid: number }> };
    await waitFor('state file written', async () => (await new StateStore(h.base).load()).terminals[account.account_id]?.password_removed);
    expect(state.terminals[account.account_id]?.pid).toBe(terminal.record.pid);
    expect(readFileSync(a.stateFile, 'utf8')).not.toContain(account.password);
    expect(readFileSync(a.stateFile, 'utf8')).not.toContain(account.tokens[0]);

    // The heartbeat carries its state; the backend hears `connected` once the EA reports.
    await a.requestReconcile('test');
    expect(account.terminal_state).toBe('running');
    account.status = 'connected';
    await a.requestReconcile('test');
    await a.idle();
    expect(terminal.record.state).toBe('connected');
    expect(backend.reportsFor(account.account_id)).toEqual(['launching', 'running', 'connected']);
  });

  it('MT4 works the same way, and an EA that says it registered makes the terminal connected', async () => {
    const h = host();
    const account = backend.addAccount({ platform: 'MT4' });
    cue(h.base, account.login, 'ok,ea-registered');
    const { agent: a } = await agent(h.env);
    const terminal = await waitFor('terminal', () => a.terminals.get(account.account_id));
    await waitFor('connected', () => terminal.record.state === 'connected');
    await a.idle();
    expect(launches(folderOf(h.base, account.external_account_id, 'MT4'))[0]).toMatchObject({ platform: 'MT4', args: ['/portable', 'config\\rubi-startup.ini'] });
    expect(backend.reportsFor(account.account_id)).toEqual(['launching', 'running', 'connected']);
    expect(account.status).toBe('connected');
  });

  it('claims only the platforms it has an install for: an MT5-only host leaves MT4 accounts to others', async () => {
    const h = host(5, { MT4_PATH: '', MT4_EA_PATH: '' });
    const mt4 = backend.addAccount({ platform: 'MT4' });
    const mt5 = backend.addAccount({ platform: 'MT5' });
    const { agent: a } = await agent(h.env);
    await waitFor('MT5 terminal', () => a.terminals.get(mt5.account_id));
    await a.idle();
    expect(mt4).toMatchObject({ status: 'pending_vps_setup', host: null, claimedBy: [] });
    expect(a.terminals.has(mt4.account_id)).toBe(false);
  });

  it('restarts a terminal that crashed, with backoff, and reports it', async () => {
    const h = host();
    const account = backend.addAccount();
    cue(h.base, account.login, 'crash-n:2');
    const { agent: a, metrics } = await agent(h.env);
    const terminal = await waitFor('terminal', () => a.terminals.get(account.account_id));
    await waitFor('third launch logged in', () => terminal.record.launches === 3 && terminal.record.authorized_at);
    const folder = folderOf(h.base, account.external_account_id);
    const l = launches(folder);
    expect(l).toHaveLength(3);
    // Backoff: 0.2 s after the first exit, 0.4 s after the second (plus the 150 ms the fake lives).
    const gaps = [Date.parse(l[1]!.at) - Date.parse(l[0]!.at), Date.parse(l[2]!.at) - Date.parse(l[1]!.at)];
    expect(gaps[0]).toBeGreaterThanOrEqual(150 + 200);
    expect(gaps[1]).toBeGreaterThanOrEqual(150 + 400);
    expect(terminal.record).toMatchObject({ state: 'running', restarts: 2 });
    expect(terminal.record.exits).toHaveLength(2);
    await a.idle();
    expect(backend.reportsFor(account.account_id)).toEqual(['launching', 'running', 'crashed', 'launching', 'running', 'crashed', 'launching', 'running']);
    expect((await metrics.restarts.get()).values).toEqual([{ labels: { platform: 'MT5' }, value: 2 }]);
    expect(aliveLaunched(h.base).map((p) => p.pid)).toEqual([terminal.record.pid]);
  });

  it('gives up on a crash loop: error E_CRASH_LOOP, nothing left running, folder removed', async () => {
    const h = host();
    const account = backend.addAccount();
    cue(h.base, account.login, 'crash');
    const { agent: a, metrics } = await agent(h.env);
    await waitFor('error reported', () => account.status === 'error');
    expect(account.error_code).toBe('E_CRASH_LOOP');
    expect(account.error_message).toMatch(/^The terminal exited 4 times within 60 s \(last: exit code 3\); it was not restarted again\.$/);
    expect(allLaunched(h.base)).toHaveLength(4); // the first start and CRASH_LOOP_MAX_RESTARTS=3 restarts
    expect(aliveLaunched(h.base)).toEqual([]);
    await waitFor('forgotten', () => !a.terminals.has(account.account_id));
    expect(existsSync(folderOf(h.base, account.external_account_id))).toBe(false);
    expect(backend.reportsFor(account.account_id).at(-1)).toBe('error:E_CRASH_LOOP');
    expect((await metrics.terminalErrors.get()).values).toEqual([{ labels: { code: 'E_CRASH_LOOP' }, value: 1 }]);
  });

  it('a wrong investor password ends in error E_AUTH with a message for the user; the terminal is stopped', async () => {
    const h = host();
    const account = backend.addAccount({ password: 'wrong-Passw0rd', server: 'RubiBroker-Live' });
    const { agent: a } = await agent(h.env);
    await waitFor('error reported', () => account.status === 'error');
    expect(account.error_code).toBe('E_AUTH');
    expect(account.error_message).toBe(
      `The trade server RubiBroker-Live rejected login ${account.login}: check the login and the investor password. Terminal log: "'${account.login}': authorization on RubiBroker-Live failed (Invalid account)"`,
    );
    expect(account.host).toBeNull();
    expect(aliveLaunched(h.base)).toEqual([]);
    expect(allLaunched(h.base)).toHaveLength(1); // not restarted: a restart cannot fix a password
    await waitFor('forgotten', () => !a.terminals.has(account.account_id));
    expect(existsSync(folderOf(h.base, account.external_account_id))).toBe(false);
  });

  it('an unknown server ends in E_SRV_NOT_FOUND; a terminal that never logs in ends at the login timeout', async () => {
    const h = host(5, { LOGIN_TIMEOUT_SECONDS: '2' });
    const unknown = backend.addAccount({ server: 'NoSuchServer' });
    const unreachable = backend.addAccount({ server: 'Unreachable-Server' });
    const silent = backend.addAccount();
    cue(h.base, silent.login, 'hang');
    const { agent: a } = await agent(h.env);
    await waitFor('all three failed', () => [unknown, unreachable, silent].every((x) => x.status === 'error'), 20_000);
    expect(unknown.error_code).toBe('E_SRV_NOT_FOUND');
    expect(unknown.error_message).toMatch(/^The trade server "NoSuchServer" was not found: check the server name\./);
    expect(unreachable.error_code).toBe('E_SRV_NOT_FOUND');
    expect(unreachable.error_message).toMatch(/^The terminal could not connect to the trade server "Unreachable-Server" within 2 s: check the server name\. Terminal log: "'\d+': no connection to Unreachable-Server"$/);
    expect(silent.error_code).toBe('E_LOGIN_TIMEOUT');
    await waitFor('nothing left', () => a.terminals.size === 0 && aliveLaunched(h.base).length === 0);
  });

  it('a terminal that cannot be started ends in E_LAUNCH', async () => {
    const h = host(5, { WINE_COMMAND: '/nonexistent/wine' });
    const account = backend.addAccount();
    await agent(h.env);
    await waitFor('error reported', () => account.status === 'error');
    expect(account.error_code).toBe('E_LAUNCH');
    expect(account.error_message).toBe('The terminal could not be started on the VPS host: /nonexistent/wine (WINE_COMMAND) failed with ENOENT.');
  });

  it('the EA reporting WebRequest error 4014 ends in E_WEBREQUEST_BLOCKED', async () => {
    const h = host();
    const account = backend.addAccount();
    cue(h.base, account.login, 'ok,ea-4014');
    await agent(h.env);
    await waitFor('error reported', () => account.status === 'error');
    expect(account.error_code).toBe('E_WEBREQUEST_BLOCKED');
  });

  it('tears down a deleted account and a paused one: stopped, folder removed, `stopped` reported', async () => {
    const h = host();
    const deleted = backend.addAccount();
    const paused = backend.addAccount();
    const { agent: a } = await agent(h.env);
    const t1 = await waitFor('terminal 1', () => a.terminals.get(deleted.account_id));
    const t2 = await waitFor('terminal 2', () => a.terminals.get(paused.account_id));
    const pids = [t1.record.pid!, t2.record.pid!];
    deleted.deleted = true;
    paused.paused = true;
    await a.requestReconcile('doorbell');
    expect(pids.map(isAlive)).toEqual([false, false]);
    expect(a.terminals.size).toBe(0);
    expect(existsSync(folderOf(h.base, deleted.external_account_id))).toBe(false);
    expect(existsSync(folderOf(h.base, paused.external_account_id))).toBe(false);
    expect(backend.accounts.has(deleted.account_id)).toBe(false);
    expect(paused.host).toBeNull();
    expect(backend.reportsFor(paused.account_id).at(-1)).toBe('stopped');
  });

  it('stops a terminal whose account this host no longer holds (lease lost)', async () => {
    const h = host();
    const account = backend.addAccount();
    const { agent: a } = await agent(h.env);
    const t = await waitFor('terminal', () => a.terminals.get(account.account_id));
    const pid = t.record.pid!;
    account.host = null; // the lease expired and the account went back to the queue
    account.status = 'pending_vps_setup';
    account.paused = true; // keep it from being claimed again by this test's agent
    await a.requestReconcile('timer');
    expect(isAlive(pid)).toBe(false);
    expect(a.terminals.has(account.account_id)).toBe(false);
    expect(existsSync(folderOf(h.base, account.external_account_id))).toBe(false);
  });

  it('a restarted agent adopts its running terminals instead of launching duplicates', async () => {
    const h = host();
    const accounts = [backend.addAccount(), backend.addAccount({ platform: 'MT4' })];
    const first = await agent(h.env);
    for (const acc of accounts) await waitFor('logged in', () => first.agent.terminals.get(acc.account_id)?.record.password_removed);
    const pids = accounts.map((acc) => first.agent.terminals.get(acc.account_id)!.record.pid!);
    await first.agent.shutdown('SIGTERM');
    agents.splice(agents.indexOf(first), 1);
    expect(pids.map(isAlive)).toEqual([true, true]); // default: terminals keep running for adoption
    expect(new StateStore(h.base).load()).resolves.toMatchObject({ host_pid: null });

    const second = await agent(h.env);
    await second.agent.requestReconcile('test');
    await sleep(500);
    for (const [i, acc] of accounts.entries()) {
      const t = second.agent.terminals.get(acc.account_id)!;
      expect(t.record).toMatchObject({ pid: pids[i], launches: 1 });
      expect(launches(t.record.folder)).toHaveLength(1);
    }
    expect(allLaunched(h.base)).toHaveLength(2);
    expect(second.log.entries().filter((e) => e.msg === 'adopted a running terminal')).toHaveLength(2);

    // An adopted terminal is still supervised: when it dies it is restarted.
    process.kill(pids[0]!, 'SIGKILL');
    const t0 = second.agent.terminals.get(accounts[0]!.account_id)!;
    await waitFor('restarted', () => t0.record.launches === 2 && t0.record.state === 'running');
    expect(t0.record.pid).not.toBe(pids[0]);
    await waitFor('the new process runs', () => aliveLaunched(h.base).length === 2);
    expect(aliveLaunched(h.base).map((l) => l.pid).sort()).toEqual([t0.record.pid, pids[1]].sort());
  });

  it('a restarted agent relaunches a terminal that died while it was down (once)', async () => {
    const h = host();
    const account = backend.addAccount();
    const first = await agent(h.env);
    const t = await waitFor('terminal', () => first.agent.terminals.get(account.account_id));
    await waitFor('logged in', () => t.record.password_removed);
    const pid = t.record.pid!;
    await first.agent.shutdown('SIGTERM');
    agents.splice(agents.indexOf(first), 1);
    process.kill(pid, 'SIGKILL');
    await waitFor('dead', () => !isAlive(pid));

    const second = await agent(h.env);
    const t2 = second.agent.terminals.get(account.account_id)!;
    await waitFor('relaunched and logged in with the stored credentials', () => t2.record.launches === 2 && t2.record.state === 'running' && launches(t2.record.folder).length === 2);
    const l = launches(t2.record.folder);
    expect(l[1]!.had_password).toBe(false); // the password is gone from the start-up file
    await sleep(400);
    expect(t2.record.state).toBe('running'); // logged in with the credentials the terminal stored
    expect(aliveLaunched(h.base)).toHaveLength(1);
  });

  it('even with its state file lost, a restarted agent does not run an account twice', async () => {
    const h = host();
    const account = backend.addAccount();
    const first = await agent(h.env);
    const t = await waitFor('terminal', () => first.agent.terminals.get(account.account_id));
    await waitFor('logged in', () => t.record.password_removed);
    const pid = t.record.pid!;
    await first.agent.shutdown('SIGTERM');
    agents.splice(agents.indexOf(first), 1);
    rmSync(first.agent.stateFile);

    const second = await agent(h.env);
    await waitFor('relaunched', () => second.agent.terminals.get(account.account_id)?.record.state === 'running');
    expect(isAlive(pid)).toBe(false); // found by its RUBI_TERMINAL marker and stopped first
    await waitFor('one process', () => aliveLaunched(h.base).length === 1);
    expect(second.log.entries().some((e) => e.msg === 'an untracked terminal runs from this folder: stopping it before launching')).toBe(true);
  });

  it('STOP_TERMINALS_ON_EXIT=true stops every terminal on shutdown and reports it stopped', async () => {
    const h = host(5, { STOP_TERMINALS_ON_EXIT: 'true' });
    const account = backend.addAccount();
    const a = await agent(h.env);
    const t = await waitFor('terminal', () => a.agent.terminals.get(account.account_id));
    await waitFor('logged in', () => t.record.password_removed);
    const pid = t.record.pid!;
    await a.agent.shutdown('SIGTERM');
    agents.splice(agents.indexOf(a), 1);
    expect(isAlive(pid)).toBe(false);
    expect(backend.reportsFor(account.account_id).at(-1)).toBe('stopped');
    expect(account.host).toBe(h.id); // still held: the next agent starts it again

    const again = await agent(h.env);
    const t2 = again.agent.terminals.get(account.account_id)!;
    await waitFor('started again', () => t2.record.state === 'running' && t2.record.pid !== null && isAlive(t2.record.pid));
    await waitFor('one process', () => aliveLaunched(h.base).length === 1);
    expect(allLaunched(h.base)).toHaveLength(2);
  });

  it('two agents with capacities 3 and 5 and 10 pending accounts: 8 run, none twice', async () => {
    const small = host(3);
    const large = host(5);
    const accounts = Array.from({ length: 10 }, () => backend.addAccount());
    const [a, b] = await Promise.all([agent(small.env), agent(large.env)]);
    await Promise.all([a.agent.requestReconcile('test'), b.agent.requestReconcile('test')]);
    await Promise.all([a.agent.idle(), b.agent.idle()]);
    await waitFor('8 running', () => aliveLaunched(small.base).length + aliveLaunched(large.base).length === 8);
    expect(a.agent.terminals.size).toBe(3);
    expect(b.agent.terminals.size).toBe(5);
    expect(accounts.filter((x) => x.status === 'provisioning')).toHaveLength(8);
    expect(accounts.filter((x) => x.status === 'pending_vps_setup')).toHaveLength(2);
    expect(accounts.every((x) => x.claimedBy.length <= 1)).toBe(true);
    const running = [...a.agent.terminals.keys(), ...b.agent.terminals.keys()];
    expect(new Set(running).size).toBe(8);
    // More passes change nothing: full hosts claim nothing.
    await Promise.all([a.agent.requestReconcile('timer'), b.agent.requestReconcile('timer')]);
    expect(allLaunched(small.base)).toHaveLength(3);
    expect(allLaunched(large.base)).toHaveLength(5);
  });

  it('coalesces wake-ups: a burst of doorbells during a pass makes one more pass, not one per ring', async () => {
    const h = host();
    const { agent: a } = await agent(h.env);
    const before = backend.requests.filter((r) => r.host === h.id && r.path === '/vps/heartbeat').length;
    await Promise.all(Array.from({ length: 10 }, () => a.requestReconcile('doorbell')));
    const after = backend.requests.filter((r) => r.host === h.id && r.path === '/vps/heartbeat').length;
    expect(after - before).toBe(2);
  });

  it('two agents started at the same moment on one terminals folder: exactly one runs, the other refuses before reading anything', async () => {
    const h = host(2);
    backend.addAccount();
    backend.addAccount();
    const results = await Promise.allSettled([startAgent(h.env), startAgent(h.env)]);
    const won = results.filter((r): r is PromiseFulfilledResult<TestAgent> => r.status === 'fulfilled');
    const lost = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
    for (const w of won) agents.push(w.value);
    expect(won).toHaveLength(1);
    expect(lost).toHaveLength(1);
    expect(lost[0]!.reason).toBeInstanceOf(AgentLockedError);
    expect(String(lost[0]!.reason.message)).toBe(
      `another agent (pid ${process.pid}) is running on ${h.base}: two agents on one terminals folder would launch duplicates`,
    );
    expect(won[0]!.value.agent.terminals.size).toBe(2);
    await waitFor('both launched', () => aliveLaunched(h.base).length === 2);
    // Released on shutdown: the next agent starts and adopts.
    await won[0]!.value.agent.shutdown('test');
    agents.splice(agents.indexOf(won[0]!.value), 1);
    const next = await agent(h.env);
    expect(next.agent.terminals.size).toBe(2);
    expect(next.log.text()).toContain('adopted a running terminal');
    expect(aliveLaunched(h.base)).toHaveLength(2);
  });

  it('a host_pid left in the state file (a killed agent, its pid reused) does not block the next start', async () => {
    const h = host();
    const store = new StateStore(h.base);
    const { spawn } = await import('node:child_process');
    const other = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 30000)'], { stdio: 'ignore' });
    try {
      await store.save({ version: 1, host_pid: other.pid!, updated_at: new Date().toISOString(), terminals: {} });
      await agent(h.env);
      await waitFor('the state file names this agent', async () => (await store.load()).host_pid === process.pid);
    } finally {
      other.kill('SIGKILL');
    }
  });
});
