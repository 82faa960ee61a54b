#!/usr/bin/env node
// Runs before `npm start`, `npm run demo` and `npm run vps-host` (their npm pre-scripts): they run
// under Deno, which comes from the `deno` npm package. When it is missing or cannot run on this
// machine, say so in one line, with what to do, instead of a shell's "deno: not found" or a stack.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const deno = join(root, 'node_modules', '.bin', process.platform === 'win32' ? 'deno.cmd' : 'deno');
const script = process.env.npm_lifecycle_event?.replace(/^pre/, '');
const command = script === 'start' ? 'npm start' : script ? `npm run ${script}` : 'deno';

function fail(reason) {
  console.error(`${command}: ${reason}`);
  process.exit(1);
}

if (!existsSync(deno)) fail('Deno is not installed: run `npm install` first (Deno comes from the `deno` npm package)');
const probe = spawnSync(deno, ['--version'], { encoding: 'utf8', timeout: 30_000 });
if (probe.error || probe.status !== 0) {
  const why = (probe.error?.message ?? probe.stderr ?? '').trim().split('\n')[0] || `exit code ${probe.status}`;
  fail(`Deno is installed but does not run on this machine (${process.platform}-${process.arch}): ${why}. Run \`npm install\` again, or install Deno 2 yourself`);
}
