import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, symlinkSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { afterEach, describe, expect, it } from 'vitest';
import { acquireAgentLock, AgentLockedError, lockAddress, lockHolder } from '../src/agent-lock.ts';
import { agentRoot, tempDir } from './support/harness.ts';

const contenderScript = join(agentRoot, 'test', 'fixtures', 'lock-contender.ts');

/** A separate Node process that takes the lock on "go" (test/fixtures/lock-contender.ts). */
function contender(folder: string) {
  const child = spawn(process.execPath, [contenderScript, folder], { stdio: ['pipe', 'pipe', 'inherit'] });
  const said: string[] = [];
  const waiters: (() => void)[] = [];
  createInterface({ input: child.stdout! }).on('line', (l) => {
    said.push(l);
    for (const w of waiters.splice(0)) w();
  });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null; at: number }>((r) =>
    child.once('exit', (code, signal) => r({ code, signal, at: Date.now() })),
  );
  const next = async (n: number): Promise<string> => {
    while (said.length < n) await new Promise<void>((r) => waiters.push(r));
    return said[n - 1]!;
  };
  return { child, said, exited, ready: () => next(1), outcome: () => next(2) };
}

describe('one agent per terminals folder (src/agent-lock.ts)', () => {
  const dirs: { path: string; cleanup(): void }[] = [];
  const children: ChildProcess[] = [];
  afterEach(() => {
    for (const c of children.splice(0)) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
    for (const d of dirs.splice(0)) d.cleanup();
  });
  function folder(): string {
    const d = tempDir();
    dirs.push(d);
    const f = join(d.path, 'terminals');
    mkdirSync(f);
    return f;
  }

  it('20 rounds of two processes trying at the same moment: exactly one wins, the other exits 3 at once naming it; released on exit, SIGTERM and SIGKILL', async () => {
    const f = folder();
    const ends = ['exit', 'SIGTERM', 'SIGKILL'] as const;
    for (let round = 0; round < 20; round++) {
      const pair = [contender(f), contender(f)];
      children.push(...pair.map((p) => p.child));
      await Promise.all(pair.map((p) => p.ready()));
      const go = Date.now();
      for (const p of pair) p.child.stdin!.write('go\n'); // same tick
      const outcomes = await Promise.all(pair.map((p) => p.outcome()));
      expect(outcomes.filter((o) => o === 'won'), `round ${round}: ${outcomes.join(', ')}`).toHaveLength(1);
      const winner = pair[outcomes.indexOf('won')]!;
      const loser = pair[1 - outcomes.indexOf('won')]!;
      expect(outcomes.find((o) => o !== 'won')).toBe(`lost ${winner.child.pid}`);
      const lost = await loser.exited;
      expect(lost.code).toBe(3);
      expect(lost.at - go).toBeLessThan(3_000);
      expect(await lockHolder(f)).toBe(winner.child.pid);

      // The holder ends one of three ways; none runs any release code: the OS frees the lock.
      const end = ends[round % ends.length]!;
      if (end === 'exit') winner.child.stdin!.write('exit\n');
      else winner.child.kill(end);
      const gone = await winner.exited;
      expect(end === 'exit' ? gone.code : gone.signal).toBe(end === 'exit' ? 0 : end);
      // Released at once: this process takes it (the next round's pair proves it again).
      const mine = await acquireAgentLock(f);
      await mine.release();
    }
  }, 120_000);

  it('in one process: a second acquire fails, release frees it; status-style probes never take it', async () => {
    const f = folder();
    expect(await lockHolder(f)).toBeNull();
    const lock = await acquireAgentLock(f);
    expect(await lockHolder(f)).toBe(process.pid);
    const error = await acquireAgentLock(f).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(AgentLockedError);
    expect((error as AgentLockedError).pid).toBe(process.pid);
    expect((error as Error).message).toBe(
      `another agent (pid ${process.pid}) is running on ${f}: two agents on one terminals folder would launch duplicates`,
    );
    await lock.release();
    expect(await lockHolder(f)).toBeNull();
    const again = await acquireAgentLock(f);
    await again.release();
  });

  it('keys on the folder itself: a symlink to it shares the lock, another folder does not', async () => {
    const f = folder();
    const link = join(f, '..', 'link-to-terminals');
    symlinkSync(f, link);
    expect(await lockAddress(link)).toBe(await lockAddress(f));
    expect(await lockAddress(f, 'linux')).toMatch(/^\0rubi-vps-agent\/[0-9a-f]{32}$/);
    expect(await lockAddress(f, 'win32')).toMatch(/^\\\\\.\\pipe\\rubi-vps-agent-[0-9a-f]{32}$/);
    const lock = await acquireAgentLock(f);
    try {
      await expect(acquireAgentLock(link)).rejects.toBeInstanceOf(AgentLockedError);
      const other = await acquireAgentLock(folder());
      await other.release();
    } finally {
      await lock.release();
    }
  });
});
