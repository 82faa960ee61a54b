import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { denoBin } from '../e2e/support/deno-functions.ts';
import { repoRoot } from '../support/paths.ts';

// The errors postgres.js 3.4.9 throws where no caller can catch them (issue #14), raised the same
// way under the real Deno: a TypeError from a setImmediate callback whose stack names
// postgres/src/connection.js (nextWrite after closed() nulled the socket) and an unhandled
// `read ECONNRESET` rejection. Without the guard Deno exits; with it the process keeps serving
// and logs each one. Anything else still ends the process.

const dir = mkdtempSync(join(tmpdir(), 'rubi-guard-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const SCRIPT = `
import { installProcessGuard } from '${join(repoRoot, 'packages/edge/src/process-guard.ts')}';
import { createLogger } from '${join(repoRoot, 'packages/edge/src/log.ts')}';
import { setImmediate } from 'node:timers';
if (Deno.args[0] === 'guard') installProcessGuard(createLogger({ level: 'info' }));
const fake = new TypeError("Cannot read properties of null (reading 'write')");
fake.stack = fake.message + '\\n    at nextWrite (file:///x/node_modules/postgres/src/connection.js:255:15)';
if (Deno.args[1] === 'other') setImmediate(() => { throw new TypeError('a bug of ours'); });
else setImmediate(() => { throw fake; });
Promise.reject(Object.assign(new Error('read ECONNRESET'), { code: 'ECONNRESET' }));
setTimeout(() => console.log('still alive'), 200);
`;
const script = join(dir, 'guard.ts');
writeFileSync(script, SCRIPT);

function runDeno(...args: string[]) {
  const r = spawnSync(denoBin, ['run', '--config', join(repoRoot, 'deno.json'), '--cached-only', '--no-lock', '--no-prompt', '--allow-read', '--allow-env', script, ...args], {
    cwd: repoRoot,
    encoding: 'utf8',
    timeout: 30_000,
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? repoRoot, NO_COLOR: '1', DENO_NO_UPDATE_CHECK: '1', ...(process.env.DENO_DIR ? { DENO_DIR: process.env.DENO_DIR } : {}) },
  });
  return { code: r.status, out: `${r.stdout}${r.stderr}` };
}

describe('the process guard under Deno', () => {
  it('without it, a postgres.js socket error kills the process', () => {
    const r = runDeno('none');
    expect(r.code).not.toBe(0);
    expect(r.out).not.toContain('still alive');
  });

  it('with it, both errors are logged and the process lives on', () => {
    const r = runDeno('guard');
    expect(r.code, r.out).toBe(0);
    expect(r.out).toContain('still alive');
    expect(r.out).toMatch(/database driver error survived.*"kind":"uncaught".*reading 'write'/);
    expect(r.out).toMatch(/database driver error survived.*"kind":"unhandled_rejection".*ECONNRESET/);
  });

  it('any other uncaught error still ends the process', () => {
    const r = runDeno('guard', 'other');
    expect(r.code).not.toBe(0);
    expect(r.out).toContain('a bug of ours');
  });
});
