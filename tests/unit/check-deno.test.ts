import { spawnSync } from 'node:child_process';
import { chmodSync, copyFileSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { repoRoot } from '../integration/support/paths.ts';

// scripts/check-deno.mjs, the pre-script of npm start / demo / vps-host, in a copy of the
// repository's layout where Deno is missing or broken: one line naming the command and the fix.

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function checkIn(layout: (root: string) => void, event: string) {
  const root = mkdtempSync(join(tmpdir(), 'rubi-check-deno-'));
  dirs.push(root);
  mkdirSync(join(root, 'scripts'));
  copyFileSync(join(repoRoot, 'scripts', 'check-deno.mjs'), join(root, 'scripts', 'check-deno.mjs'));
  layout(root);
  return spawnSync(process.execPath, [join(root, 'scripts', 'check-deno.mjs')], { encoding: 'utf8', env: { PATH: process.env.PATH, npm_lifecycle_event: event } });
}

describe('the Deno pre-check', () => {
  it('says in one line that Deno is missing and to run npm install', () => {
    const r = checkIn(() => {}, 'prestart');
    expect(r.status).toBe(1);
    expect(r.stderr.trim().split('\n')).toEqual(['npm start: Deno is not installed: run `npm install` first (Deno comes from the `deno` npm package)']);
  });

  it('says in one line that the installed Deno does not run, with its first line of output', () => {
    const r = checkIn((root) => {
      mkdirSync(join(root, 'node_modules', '.bin'), { recursive: true });
      writeFileSync(join(root, 'node_modules', '.bin', 'deno'), '#!/bin/sh\necho "no build for this platform" >&2\necho "more detail" >&2\nexit 1\n');
      chmodSync(join(root, 'node_modules', '.bin', 'deno'), 0o755);
    }, 'predemo');
    expect(r.status).toBe(1);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(/^npm run demo: Deno is installed but does not run on this machine \(.+\): no build for this platform\. Run `npm install` again/);
  });

  it('is silent when the repository\'s Deno runs', () => {
    const r = spawnSync(process.execPath, [join(repoRoot, 'scripts', 'check-deno.mjs')], { encoding: 'utf8', env: { PATH: process.env.PATH, npm_lifecycle_event: 'prestart' } });
    expect(r.status).toBe(0);
    expect(r.stdout + r.stderr).toBe('');
  });
});
