import { execFile, execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { isAlive } from '../src/process.ts';
import { StateStore } from '../src/state-store.ts';
import { formatStatus } from '../src/status.ts';
import { FakeBackend } from './support/fake-backend.ts';
import { agentRoot, aliveLaunched, editorRuns, killLaunched, sourcedInstalls, tempDir, testEnv, waitFor } from './support/harness.ts';

const execFileAsync = promisify(execFile);
const cli = join(agentRoot, 'dist', 'cli.js');

/**
 * The built CLI (dist/cli.js, what `rubi-vps-agent` runs) as an operator runs it: `run` until
 * SIGTERM, `status`, `doctor`. The build is done here, so the tests always run the current code.
 */
describe('rubi-vps-agent CLI', () => {
  const backend = new FakeBackend();
  const dirs: { path: string; cleanup(): void }[] = [];
  const children: ChildProcess[] = [];

  beforeAll(async () => {
    execFileSync(process.execPath, [join(agentRoot, '..', 'node_modules', 'rolldown', 'bin', 'cli.mjs'), '-c', 'rolldown.config.mjs'], {
      cwd: agentRoot,
      stdio: 'pipe',
    });
    await backend.start();
  }, 120_000);
  afterAll(async () => {
    await backend.stop();
  });
  afterEach(() => {
    for (const c of children.splice(0)) if (c.exitCode === null) c.kill('SIGKILL');
    for (const d of dirs.splice(0)) {
      killLaunched(join(d.path, 'terminals'));
      d.cleanup();
    }
  });

  function setup(capacity = 2, extra: Record<string, string> = {}) {
    const dir = tempDir();
    dirs.push(dir);
    const { key, id } = backend.addHost(`cli-${dirs.length}`, capacity);
    const base = join(dir.path, 'terminals');
    const env: Record<string, string> = { PATH: process.env.PATH ?? '', HOME: dir.path, ...testEnv(backend.url, key, base, { CAPACITY: String(capacity), LOG_LEVEL: 'info', ...extra }) };
    return { dir: dir.path, base, key, id, env };
  }

  function run(env: Record<string, string>, args: string[] = ['run']) {
    const child = spawn(process.execPath, [cli, ...args], { env, cwd: env.HOME, stdio: ['ignore', 'pipe', 'pipe'] });
    children.push(child);
    const out: string[] = [];
    const err: string[] = [];
    child.stdout!.on('data', (d: Buffer) => out.push(d.toString()));
    child.stderr!.on('data', (d: Buffer) => err.push(d.toString()));
    const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
    return { child, out, err, exited, lines: () => out.join('').split('\n').filter(Boolean) };
  }

  it('prints its help', async () => {
    const { stdout } = await execFileAsync(process.execPath, [cli, '--help']);
    expect(stdout).toMatch(/Usage: rubi-vps-agent \[options\] \[command\]/);
    for (const cmd of ['run', 'status', 'doctor', 'compile']) expect(stdout).toContain(cmd);
  });

  it('run: refuses a bad configuration with one line per problem (exit 2)', async () => {
    const s = setup();
    const p = run({ PATH: s.env.PATH!, HOME: s.dir, BACKEND_URL: 'nope', TERMINALS_BASE_PATH: s.base, MT5_PATH: s.env.MT5_PATH!, MT5_EA_PATH: s.env.MT5_EA_PATH! });
    expect(await p.exited).toBe(2);
    const err = p.err.join('');
    expect(err).toContain('BACKEND_URL must be an http(s) URL');
    expect(err).toContain('VPS_API_KEY is required');
  });

  it('run: logs JSON, launches terminals, and on SIGTERM exits 0 leaving them running; the next run adopts them', async () => {
    const s = setup(2);
    const accounts = [backend.addAccount(), backend.addAccount({ platform: 'MT4' })];
    // Settings may come from a .env file in the working directory.
    writeFileSync(join(s.dir, '.env'), `VPS_API_KEY=${s.key}\n`);
    const env = { ...s.env };
    delete env.VPS_API_KEY;
    const first = run(env);
    const store = new StateStore(s.base);
    await waitFor('both logged in', async () => {
      if (!existsSync(store.path)) return false;
      const st = await store.load();
      return accounts.every((a) => st.terminals[a.account_id]?.password_removed);
    });
    const pids = Object.values((await store.load()).terminals).map((t) => t.pid!);
    first.child.kill('SIGTERM');
    expect(await first.exited).toBe(0);
    expect(pids.map(isAlive)).toEqual([true, true]);
    const lines = first.lines();
    for (const l of lines) expect(() => JSON.parse(l)).not.toThrow();
    const msgs = lines.map((l) => (JSON.parse(l) as { msg: string }).msg);
    expect(msgs[0]).toBe('agent starting');
    expect(msgs).toContain('no SUPABASE_URL/SUPABASE_PUBLISHABLE_KEY: polling only (set them to be woken by the Realtime doorbell)');
    expect(msgs.at(-1)).toBe('agent stopped');
    const all = first.out.join('') + first.err.join('');
    for (const secret of [s.key, ...accounts.map((a) => a.password), ...accounts.flatMap((a) => a.tokens)]) expect(all).not.toContain(secret);
    expect((await store.load()).host_pid).toBeNull();

    // status: a table of this host's terminals from the state file.
    const { stdout: status } = await execFileAsync(process.execPath, [cli, 'status', '--terminals-base-path', s.base]);
    expect(status).toContain('Agent: not running');
    expect(status).toMatch(/TERMINAL\s+LOGIN\s+SERVER\s+STATE\s+PID\s+ALIVE\s+RESTARTS\s+LAUNCHED\s+ERROR/);
    for (const a of accounts) expect(status).toMatch(new RegExp(`${a.platform}-${a.external_account_id}\\s+${a.login}\\s+FakeBroker-Demo\\s+running\\s+\\d+\\s+yes`));
    expect(status).toContain('2 terminal(s): 2 running');

    const second = run(env);
    await waitFor('adopted', () => second.lines().filter((l) => l.includes('adopted a running terminal')).length === 2);
    await waitFor('a pass done', () => backend.requests.filter((r) => r.host === s.id && r.path === '/vps/heartbeat').length >= 2);
    expect(aliveLaunched(s.base).map((l) => l.pid).sort()).toEqual([...pids].sort());
    second.child.kill('SIGTERM');
    expect(await second.exited).toBe(0);
  });

  it('run with STOP_TERMINALS_ON_EXIT=true: SIGTERM stops the terminals too', async () => {
    const s = setup(1, { STOP_TERMINALS_ON_EXIT: 'true' });
    const account = backend.addAccount();
    const p = run(s.env);
    const store = new StateStore(s.base);
    await waitFor('logged in', async () => existsSync(store.path) && (await store.load()).terminals[account.account_id]?.password_removed);
    const pid = (await store.load()).terminals[account.account_id]!.pid!;
    p.child.kill('SIGTERM');
    expect(await p.exited).toBe(0);
    expect(isAlive(pid)).toBe(false);
    expect(backend.reportsFor(account.account_id).at(-1)).toBe('stopped');
  });

  it('run twice at once on one terminals folder: exactly one runs, the other exits 3 at once with one line; status and doctor still work', async () => {
    const s = setup(2);
    const accounts = [backend.addAccount(), backend.addAccount()];
    const both = [run(s.env), run(s.env)];
    const firstExit = await Promise.race([
      ...both.map((p, i) => p.exited.then((code) => ({ i, code }))),
      new Promise<null>((r) => setTimeout(() => r(null), 10_000)),
    ]);
    expect(firstExit, 'one of two agents started at once on one folder must exit').not.toBeNull();
    const loser = both[firstExit!.i]!;
    const winner = both[1 - firstExit!.i]!;
    expect(firstExit!.code).toBe(3);
    expect(loser.err.join('')).toBe(
      `rubi-vps-agent: another agent (pid ${winner.child.pid}) is running on ${s.base}: two agents on one terminals folder would launch duplicates\n`,
    );
    expect(loser.out.join('')).toBe(''); // it stopped before its first log line: nothing claimed, nothing launched
    const store = new StateStore(s.base);
    await waitFor('both logged in', async () => {
      if (!existsSync(store.path)) return false;
      const st = await store.load();
      return accounts.every((a) => st.terminals[a.account_id]?.password_removed);
    });
    expect(winner.child.exitCode).toBeNull();
    expect(aliveLaunched(s.base)).toHaveLength(2);

    // status and doctor only read: they work while the agent runs.
    const status = await runCli(s.env, ['status']);
    expect(status.code).toBe(0);
    expect(status.stdout).toContain(`Agent: running (pid ${winner.child.pid})`);
    expect(status.stdout).toContain('2 terminal(s): 2 running');
    const doctor = await runCli({ ...s.env, DISPLAY: ':99' }, ['doctor']);
    expect(doctor.stdout).toContain(`✔ state file: ${store.path}: 2 terminal(s), agent running (pid ${winner.child.pid})`);
    expect(winner.child.exitCode).toBeNull();

    winner.child.kill('SIGTERM');
    expect(await winner.exited).toBe(0);
    // Released on exit: the next agent starts and adopts the terminals.
    const next = run(s.env);
    await waitFor('adopted', () => next.lines().filter((l) => l.includes('adopted a running terminal')).length === 2);
    next.child.kill('SIGKILL');
    await next.exited;
    // Killed without a chance to clean up: the OS released the lock, the next start is not blocked.
    const afterKill = run(s.env);
    await waitFor('adopted after a kill', () => afterKill.lines().filter((l) => l.includes('adopted a running terminal')).length === 2);
    afterKill.child.kill('SIGTERM');
    expect(await afterKill.exited).toBe(0);
  });

  it('doctor: checks everything and says what to fix', async () => {
    const s = setup(1);
    const prefix = s.env.WINEPREFIX!;
    mkdirSync(prefix, { recursive: true });
    writeFileSync(join(prefix, 'system.reg'), 'WINE REGISTRY Version 2\n');
    const good = await execFileAsync(process.execPath, [cli, 'doctor'], { env: { ...s.env, DISPLAY: ':99' }, cwd: s.dir }).catch((e: { stdout: string; code: number }) => e);
    const out = (good as { stdout: string }).stdout;
    expect(out).toContain('✔ configuration: every setting is valid');
    expect(out).toMatch(/✔ terminals folder: .* is writable/);
    expect(out).toContain(`✔ MT5 base install: ${join(s.env.MT5_PATH!, 'terminal64.exe')}`);
    expect(out).toMatch(/✔ wine: .*v\d+/); // WINE_COMMAND=node here: `node --version`
    expect(out).toContain(`✔ backend: ${backend.url}/vps accepted the host key (lease 180 s)`);
    expect(out).toMatch(/! realtime: not configured/);
    expect(out).toMatch(/All checks passed \(\d+ warning\(s\)\)\./);
    expect(out).not.toContain(s.key);

    const bad = await execFileAsync(process.execPath, [cli, 'doctor'], {
      env: { ...s.env, VPS_API_KEY: 'vpsk_revoked_or_unknown_key_123', WINEPREFIX: join(s.dir, 'no-prefix'), MT4_EA_PATH: join(s.dir, 'missing.ex4') },
      cwd: s.dir,
    }).then(
      () => ({ code: 0, stdout: '' }),
      (e: { code: number; stdout: string }) => e,
    );
    expect(bad.code).toBe(1);
    expect(bad.stdout).toContain('✖ configuration: MT4_EA_PATH does not exist');
  });

  it('doctor: an unknown key, a missing Wine prefix and no display are each explained', async () => {
    const s = setup(1);
    const res = await execFileAsync(process.execPath, [cli, 'doctor'], {
      env: { ...s.env, VPS_API_KEY: 'vpsk_revoked_or_unknown_key_123', WINEPREFIX: join(s.dir, 'no-prefix') },
      cwd: s.dir,
    }).then(
      () => ({ code: 0, stdout: '' }),
      (e: { code: number; stdout: string }) => e,
    );
    expect(res.code).toBe(1);
    expect(res.stdout).toMatch(/✖ backend: .* rejected VPS_API_KEY/);
    expect(res.stdout).toContain('→ create a host key with `npm run vps-host -- create <name>`');
    expect(res.stdout).toContain(`✖ wine prefix: ${join(s.dir, 'no-prefix')} is not an initialised Wine prefix (no system.reg)`);
    expect(res.stdout).toMatch(/! display: DISPLAY is not set/);
    expect(res.stdout).not.toContain('vpsk_revoked_or_unknown_key_123');
  });

  /** A host whose EAs come from sources (private copies of the base installs and of mql/). */
  function sourced() {
    const s = setup(1);
    const installs = sourcedInstalls(s.dir);
    return { ...s, ...installs, env: { ...s.env, ...installs.env } };
  }

  async function runCli(env: Record<string, string>, args: string[]) {
    return execFileAsync(process.execPath, [cli, ...args], { env, cwd: env.HOME }).then(
      (r) => ({ code: 0, stdout: r.stdout, stderr: r.stderr }),
      (e: { code: number; stdout: string; stderr: string }) => ({ code: e.code, stdout: e.stdout, stderr: e.stderr }),
    );
  }

  it('compile: compiles every platform configured with sources and prints the result', async () => {
    const s = sourced();
    const res = await runCli(s.env, ['compile']);
    expect(res.code).toBe(0);
    expect(res.stdout).toContain(`MT5: compiling ${s.mt5Source} with ${join(s.mt5Base, 'metaeditor64.exe')}\n`);
    expect(res.stdout).toMatch(new RegExp(`MT5: compiled, 0 errors, 0 warnings \\(\\d+ msec\\) -> ${join(s.mt5Base, 'MQL5', 'Experts', 'Rubi', 'RubiTradeSync.ex5')}\n`));
    expect(res.stdout).toContain(`MT4: compiling ${s.mt4Source} with ${join(s.mt4Base, 'metaeditor.exe')}\n`);
    expect(res.stdout).toMatch(/MT4: compiled, 0 errors, 0 warnings/);
    // `compile` always compiles, even when up to date.
    expect((await runCli(s.env, ['compile', '--platform', 'mt5'])).code).toBe(0);
    expect(editorRuns(s.mt5Base)).toHaveLength(2);
    expect(editorRuns(s.mt4Base)).toHaveLength(1);
  });

  it('compile: prints every error with its file and line and exits 1; says when there is nothing to compile', async () => {
    const s = sourced();
    const http = join(s.mql, 'Include', 'Rubi', 'Http.mqh');
    writeFileSync(http, readFileSync(http, 'latin1').replace('response = CharArrayToString(result);', 'response = FAKE_ERROR; int n = FAKE_WARNING;'), 'latin1');
    const res = await runCli(s.env, ['compile', '--platform', 'MT5']);
    expect(res.code).toBe(1);
    expect(res.stdout).toContain(`  ${http}:15:15: error 256: undeclared identifier 'FAKE_ERROR'\n`);
    expect(res.stdout).toContain(`  ${http}:15:35: warning 43: possible loss of data due to type conversion from 'long' to 'int'\n`);
    expect(res.stdout).toContain("MT5: FAILED: 1 error, first: Http.mqh:15: undeclared identifier 'FAKE_ERROR'\n");
    expect(editorRuns(s.mt4Base)).toHaveLength(0);

    const compiled = await runCli({ ...s.env, MT5_EA_SOURCE: '', MT5_EA_PATH: join(agentRoot, 'test', 'fixtures', 'ea', 'RubiEA.ex5') }, ['compile', '--platform', 'MT5']);
    expect(compiled.code).toBe(2);
    expect(compiled.stderr).toMatch(/^MT5: uses the compiled EA .*RubiEA\.ex5 \(MT5_EA_PATH\): nothing to compile; set MT5_EA_SOURCE instead\n$/);
    expect((await runCli(s.env, ['compile', '--platform', 'MT6'])).stderr).toBe('--platform must be MT4 or MT5 (got "MT6")\n');
  });

  it('doctor: compiles the EA sources as one of its checks', async () => {
    const s = sourced();
    const prefix = s.env.WINEPREFIX!;
    mkdirSync(join(prefix, 'dosdevices'), { recursive: true });
    writeFileSync(join(prefix, 'system.reg'), 'WINE REGISTRY Version 2\n');
    symlinkSync('/', join(prefix, 'dosdevices', 'z:'));
    const env = { ...s.env, DISPLAY: ':99' };
    const good = await runCli(env, ['doctor']);
    expect(good.stdout).toContain(`✔ MT5 EA compile: ${s.mt5Source} compiled with 0 errors, 0 warnings -> ${join(s.mt5Base, 'MQL5', 'Experts', 'Rubi', 'RubiTradeSync.ex5')}`);
    expect(good.stdout).toContain(`✔ MT4 EA compile: ${s.mt4Source} compiled with 0 errors, 0 warnings`);
    expect(good.stdout).toContain(`✔ wine Z: drive: ${join(prefix, 'dosdevices', 'z:')} -> /`);
    expect(good.stdout).toMatch(/All checks passed/);
    expect(good.code).toBe(0);

    writeFileSync(s.mt4Source, readFileSync(s.mt4Source, 'latin1').replace('   EventSetTimer(5);', '   EventSetTimer(FAKE_WARNING);'), 'latin1');
    writeFileSync(join(s.mt5Base, 'fake-metaeditor.cue'), 'crash');
    const bad = await runCli(env, ['doctor']);
    expect(bad.code).toBe(1);
    expect(bad.stdout).toMatch(/✖ MT5 EA compile: .*RubiTradeSync\.mq5: MetaEditor exited \(exit code 3\) without writing its log/);
    expect(bad.stdout).toContain('→ fix the EA sources (`rubi-vps-agent compile --platform MT5` prints every line), or set MT5_EA_PATH to a compiled EA instead');
    expect(bad.stdout).toContain(`! MT4 EA compile: ${s.mt4Source} compiled with 1 warning(s)`);
    expect(bad.stdout).toContain(`    ${s.mt4Source}:18:18: warning 43: possible loss of data`);
  });

  it('status formats the state file as a table', () => {
    const text = formatStatus(
      {
        version: 1,
        host_pid: 123,
        updated_at: '2026-11-21T10:00:00.000Z',
        terminals: {
          a: {
            account_id: 'a',
            external_account_id: 'e1',
            platform: 'MT5',
            login: 5001,
            server: 'Srv',
            folder: '/t/MT5-e1',
            state: 'error',
            pid: null,
            pid_identity: null,
            launched_at: null,
            authorized_at: null,
            connected_at: null,
            password_removed: false,
            launches: 1,
            restarts: 0,
            exits: [],
            error_code: 'E_AUTH',
            error_message: 'rejected',
            log_baseline: {},
            updated_at: '2026-11-21T10:00:00.000Z',
          },
        },
      },
      '/t/rubi-vps-agent-state.json',
      () => true,
    );
    expect(text).toBe(
      [
        'State file: /t/rubi-vps-agent-state.json (updated 2026-11-21T10:00:00.000Z)',
        'Agent: running (pid 123)',
        'TERMINAL  LOGIN  SERVER  STATE  PID  ALIVE  RESTARTS  LAUNCHED  ERROR',
        'MT5-e1    5001   Srv     error  -    -      0         -         E_AUTH: rejected',
        '1 terminal(s): 1 error',
        '',
      ].join('\n'),
    );
  });
});
