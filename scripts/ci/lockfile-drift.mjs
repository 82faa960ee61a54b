#!/usr/bin/env node
// Compares the committed package-lock.json with the one `npm install` would write today and says
// whether they differ only in optional platform builds (entries with `os`/`cpu` and
// `optional: true`, such as @deno/darwin-arm64 or @supabase/cli-windows-x64). The registry adds and
// drops such builds over time, and `npm ci` then rejects a lockfile that is otherwise exact
// (npm/cli#9846); .ci/run may install anyway in that case, but never when anything else differs.
//
// Usage: node scripts/ci/lockfile-drift.mjs <committed lockfile> <fresh lockfile>
// Exit 0: identical. Exit 3: only optional platform builds differ (listed). Exit 1: a real difference.
import { readFileSync } from 'node:fs';

const [committedPath, freshPath] = process.argv.slice(2);
if (!committedPath || !freshPath) {
  console.error('usage: lockfile-drift.mjs <committed lockfile> <fresh lockfile>');
  process.exit(2);
}
const committed = JSON.parse(readFileSync(committedPath, 'utf8')).packages ?? {};
const fresh = JSON.parse(readFileSync(freshPath, 'utf8')).packages ?? {};

const isPlatformBuild = (entry) => entry?.optional === true && (Array.isArray(entry.os) || Array.isArray(entry.cpu));
// A package that lists platform builds as optional dependencies lists them all; compare the rest.
const withoutPlatformDeps = (entry, platformNames) => {
  if (!entry?.optionalDependencies) return entry;
  const optionalDependencies = Object.fromEntries(
    Object.entries(entry.optionalDependencies).filter(([name]) => !platformNames.has(name)),
  );
  return { ...entry, optionalDependencies };
};

const platformOnly = [];
const real = [];
const platformNames = new Set();
for (const key of new Set([...Object.keys(committed), ...Object.keys(fresh)])) {
  const a = committed[key];
  const b = fresh[key];
  if (JSON.stringify(a) === JSON.stringify(b)) continue;
  if ((a === undefined && isPlatformBuild(b)) || (b === undefined && isPlatformBuild(a))) {
    platformOnly.push(`${a === undefined ? '+' : '-'} ${key.replace(/^.*node_modules\//, '')}`);
    platformNames.add(key.replace(/^.*node_modules\//, ''));
  }
}
for (const key of new Set([...Object.keys(committed), ...Object.keys(fresh)])) {
  const a = committed[key];
  const b = fresh[key];
  if (JSON.stringify(a) === JSON.stringify(b)) continue;
  if (platformNames.has(key.replace(/^.*node_modules\//, '')) && (a === undefined || b === undefined)) continue;
  if (JSON.stringify(withoutPlatformDeps(a, platformNames)) === JSON.stringify(withoutPlatformDeps(b, platformNames))) continue;
  real.push(key || '(root)');
}

if (real.length > 0) {
  console.error(`package-lock.json is out of date: ${real.join(', ')}`);
  process.exit(1);
}
if (platformOnly.length > 0) {
  console.error(`package-lock.json differs from today's registry only in optional platform builds:\n  ${platformOnly.join('\n  ')}`);
  process.exit(3);
}
process.exit(0);
