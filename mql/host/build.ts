// build.ts: the host build of the MQL code, driven by the vitest files in tests/unit/mql-*.test.ts.
//
//   1. rewrite  every .mqh/.mq4/.mq5 under mql/ (rewrite.mjs) into mql/host/.build/tree-<hash>/, the same
//               relative layout, so `#include <Rubi/X.mqh>` resolves with -I tree/Include
//   2. compat   mql_compat.cpp compiled once per platform into an object
//   3. programs a C++ test program in mql/host/tests/<name>.cpp, compiled with the compat header forced
//               in (-include mql_compat.hpp), -DRUBI_HOST (the simulated terminal) and -D__MQL5__ or
//               -D__MQL4__, linked with libcurl and libcrypto
//   4. syntax   `g++ -fsyntax-only` of any MQL file as MQL5 and/or MQL4 against the real terminal API
//               declarations (no RUBI_HOST), with stdlib/ (declarations of the MQL5 standard library
//               classes the terminal code uses, e.g. CTrade in stdlib/Trade/Trade.mqh) on the include path
//
// Everything is cached by a content hash of mql/ (MQL sources, host sources, flags, compiler version):
// a second run with nothing changed compiles nothing. Outputs are written under a temporary name and
// renamed, so test files building in parallel never see half a file. The cache folder is gitignored.
import { execFile, execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export type MqlPlatform = 'MQL5' | 'MQL4';

export const HOST_DIR = dirname(fileURLToPath(import.meta.url));
export const MQL_ROOT = resolve(HOST_DIR, '..');
export const BUILD_DIR = join(HOST_DIR, '.build');
/**
 * Host-only stand-ins (declarations) for the MQL5 standard library (`#include <Trade/Trade.mqh>`): on the
 * include path of the syntax pass only. Never copied into a terminal, which has the real files.
 */
export const STDLIB_DIR = join(HOST_DIR, 'stdlib');

/** Warnings MetaEditor would also report (unused variables, shadowing, sign and float conversions) are errors. */
export const WARNING_FLAGS = ['-Wall', '-Wextra', '-Wno-unused-parameter', '-Wshadow', '-Wfloat-conversion', '-Werror'];
const CXX = process.env.CXX ?? 'g++';
const LIBS = ['-lcurl', '-lcrypto'];

export interface RunResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

function sha256(...parts: (string | Buffer)[]): string {
  const h = createHash('sha256');
  for (const p of parts) h.update(p).update('\0');
  return h.digest('hex').slice(0, 20);
}

function filesUnder(dir: string, skip: (rel: string) => boolean): string[] {
  const out: string[] = [];
  const walk = (d: string) => {
    for (const name of readdirSync(d).sort()) {
      const full = join(d, name);
      const rel = relative(dir, full);
      if (skip(rel)) continue;
      if (statSync(full).isDirectory()) walk(full);
      else out.push(rel);
    }
  };
  walk(dir);
  return out;
}

let compilerVersion: string | undefined;
function compiler(): string {
  compilerVersion ??= execFileSync(CXX, ['--version'], { encoding: 'utf8' });
  return compilerVersion;
}

/** Hash of everything a build depends on. Recomputed per call: sources may change between calls. */
function inputsHash(): string {
  const files = filesUnder(MQL_ROOT, (rel) => rel.split('/').some((p) => p.startsWith('.')) || rel.endsWith('.test.ts'));
  return sha256(compiler(), WARNING_FLAGS.join(' '), ...files.flatMap((f) => [f, readFileSync(join(MQL_ROOT, f))]));
}

/** Writes with `produce(tmpPath)` then renames to `target` unless another process got there first. */
function atomically(target: string, produce: (tmp: string) => void): void {
  if (existsSync(target)) return;
  mkdirSync(dirname(target), { recursive: true });
  const tmp = `${target}.tmp-${process.pid}-${Math.random().toString(36).slice(2)}`;
  try {
    produce(tmp);
    try {
      renameSync(tmp, target);
    } catch (error) {
      if (!existsSync(target)) throw error;
    }
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}

function run(cmd: string, args: string[], options: { input?: string | Buffer; env?: NodeJS.ProcessEnv; cwd?: string; timeoutMs?: number } = {}): Promise<RunResult> {
  return new Promise((resolvePromise) => {
    const child = execFile(
      cmd,
      args,
      { env: options.env ?? process.env, cwd: options.cwd, maxBuffer: 256 * 1024 * 1024, timeout: options.timeoutMs ?? 120_000, encoding: 'utf8' },
      (error, stdout, stderr) => {
        const code = error ? (typeof error.code === 'number' ? error.code : null) : 0;
        resolvePromise({ code, signal: (error?.signal as NodeJS.Signals | undefined) ?? null, stdout, stderr });
      },
    );
    if (options.input !== undefined) child.stdin?.end(options.input);
    else child.stdin?.end();
  });
}

async function compile(args: string[]): Promise<void> {
  const result = await run(CXX, args, { timeoutMs: 300_000 });
  if (result.code !== 0) throw new Error(`${CXX} ${args.join(' ')}\n${result.stderr}${result.stdout}`);
}

/** The rewritten copy of mql/ (every MQL file), and the hash naming it. */
export function rewrittenTree(): { dir: string; hash: string; files: string[] } {
  const hash = inputsHash();
  const dir = join(BUILD_DIR, `tree-${hash}`);
  atomically(dir, (tmp) => {
    execFileSync(process.execPath, [join(HOST_DIR, 'rewrite.mjs'), MQL_ROOT, tmp], { encoding: 'utf8' });
  });
  return { dir, hash, files: filesUnder(dir, () => false) };
}

function commonFlags(platform: MqlPlatform, treeDir: string): string[] {
  return ['-std=c++17', `-D__${platform}__`, ...WARNING_FLAGS, '-I', join(treeDir, 'Include'), '-I', HOST_DIR, '-include', join(HOST_DIR, 'mql_compat.hpp')];
}

/** The syntax pass: the common flags plus the standard library stand-ins (after the MQL Include folder, as in a terminal). */
function syntaxFlags(platform: MqlPlatform, treeDir: string): string[] {
  return [...commonFlags(platform, treeDir), '-I', STDLIB_DIR];
}

const pending = new Map<string, Promise<string>>();
function once(key: string, make: () => Promise<string>): Promise<string> {
  let p = pending.get(key);
  if (!p) {
    p = make().finally(() => pending.delete(key));
    pending.set(key, p);
  }
  return p;
}

async function compatObject(platform: MqlPlatform, hash: string): Promise<string> {
  const out = join(BUILD_DIR, 'obj', `mql_compat-${platform}-${hash}.o`);
  if (existsSync(out)) return out;
  return once(out, async () => {
    const tmp = `${out}.tmp-${process.pid}`;
    mkdirSync(dirname(out), { recursive: true });
    await compile(['-std=c++17', `-D__${platform}__`, '-O1', '-Wall', '-Wextra', '-Werror', '-c', join(HOST_DIR, 'mql_compat.cpp'), '-o', tmp]);
    renameSync(tmp, out);
    return out;
  });
}

/**
 * Builds mql/host/tests/<name>.cpp (or any .cpp path) for `platform` against the simulated terminal
 * and returns the executable's path. Cached: unchanged inputs return the existing executable.
 */
export async function buildHostProgram(name: string, platform: MqlPlatform = 'MQL5'): Promise<string> {
  const source = name.endsWith('.cpp') ? resolve(name) : join(HOST_DIR, 'tests', `${name}.cpp`);
  const tree = rewrittenTree();
  const out = join(BUILD_DIR, 'bin', `${name.replace(/\W+/g, '_')}-${platform}-${sha256(tree.hash, source)}`);
  if (existsSync(out)) return out;
  return once(out, async () => {
    const object = await compatObject(platform, tree.hash);
    const tmp = `${out}.tmp-${process.pid}`;
    mkdirSync(dirname(out), { recursive: true });
    await compile([...commonFlags(platform, tree.dir), '-DRUBI_HOST', '-O0', source, object, '-o', tmp, ...LIBS]);
    renameSync(tmp, out);
    return out;
  });
}

/** The platforms an MQL file is checked for: .mq5 MQL5, .mq4 MQL4, .mqh both. */
export function platformsOf(file: string): MqlPlatform[] {
  const lower = file.toLowerCase();
  if (lower.endsWith('.mq5')) return ['MQL5'];
  if (lower.endsWith('.mq4')) return ['MQL4'];
  return ['MQL5', 'MQL4'];
}

/**
 * `g++ -fsyntax-only` of one MQL file (a path relative to mql/) as `platform`, against the real
 * terminal API declarations. Resolves to the compiler's diagnostics ('' when clean); cached when clean.
 */
export async function syntaxCheck(file: string, platform: MqlPlatform): Promise<string> {
  const tree = rewrittenTree();
  const marker = join(BUILD_DIR, 'syntax', `${sha256(tree.hash, file, platform)}.ok`);
  if (existsSync(marker)) return '';
  const result = await run(CXX, [...syntaxFlags(platform, tree.dir), '-fsyntax-only', '-x', 'c++', join(tree.dir, file)], { timeoutMs: 120_000 });
  if (result.code !== 0) return result.stderr + result.stdout || `${CXX} exited with ${result.code}`;
  mkdirSync(dirname(marker), { recursive: true });
  writeFileSync(marker, '');
  return '';
}

/**
 * `g++ -fsyntax-only` of MQL source text that is not in mql/ (tests of the syntax pass itself), with
 * the rewritten Rubi includes available. Resolves to the diagnostics ('' when clean).
 */
export async function syntaxCheckText(source: string, platform: MqlPlatform, name = 'Probe.mq5'): Promise<string> {
  const tree = rewrittenTree();
  const dir = join(BUILD_DIR, 'probe', `${process.pid}-${Math.random().toString(36).slice(2)}`);
  mkdirSync(dir, { recursive: true });
  try {
    const file = join(dir, name);
    writeFileSync(file, source);
    const rewritten = join(dir, `rewritten-${name}`);
    execFileSync(process.execPath, ['--input-type=module', '-e', `import { rewriteMql } from ${JSON.stringify(join(HOST_DIR, 'rewrite.mjs'))}; import { readFileSync, writeFileSync } from 'node:fs'; writeFileSync(process.argv[2], rewriteMql(readFileSync(process.argv[1], 'utf8'), process.argv[1]));`, file, rewritten]);
    const result = await run(CXX, [...syntaxFlags(platform, tree.dir), '-fsyntax-only', '-x', 'c++', rewritten]);
    return result.code === 0 ? '' : result.stderr + result.stdout;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Every MQL file under mql/ (relative paths): what the syntax pass checks. New files are picked up by this glob. */
export function allMqlFiles(): string[] {
  return filesUnder(MQL_ROOT, (rel) => rel === 'host' || rel.split('/').some((p) => p.startsWith('.'))).filter((f) => /\.(mqh|mq4|mq5)$/i.test(f));
}

/** Runs a built program; `files` is the folder its MQL File* functions see (MQL_FILES_DIR). */
export function runHostProgram(exe: string, args: string[] = [], options: { input?: string | Buffer; files?: string; env?: NodeJS.ProcessEnv; timeoutMs?: number } = {}): Promise<RunResult> {
  const env = { ...process.env, ...options.env, ...(options.files ? { MQL_FILES_DIR: options.files } : {}) };
  return run(exe, args, { input: options.input, env, timeoutMs: options.timeoutMs ?? 60_000 });
}

/** A string as 4 hex digits per UTF-16 unit: how the test programs receive arbitrary strings. */
export function u16hex(s: string): string {
  let out = '';
  for (let i = 0; i < s.length; i++) out += s.charCodeAt(i).toString(16).padStart(4, '0');
  return out;
}

/** Runs a line-protocol test program: one input line per case, one output line per case. */
export async function runLines(exe: string, lines: string[], env?: NodeJS.ProcessEnv): Promise<string[]> {
  const result = await runHostProgram(exe, [], { input: lines.map((l) => `${l}\n`).join(''), env });
  if (result.code !== 0) throw new Error(`${exe} exited with ${result.code ?? result.signal}: ${result.stderr}`);
  const out = result.stdout.split('\n');
  out.pop();
  if (out.length !== lines.length) throw new Error(`${exe}: ${lines.length} lines in, ${out.length} out\n${result.stderr}`);
  return out;
}

/** Runs `tasks` with at most `limit` at a time (the machine may have 2 cores). */
export async function pool<T>(tasks: (() => Promise<T>)[], limit: number): Promise<T[]> {
  const results: T[] = new Array(tasks.length);
  let next = 0;
  const worker = async () => {
    while (next < tasks.length) {
      const i = next++;
      results[i] = await tasks[i]!();
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, tasks.length) }, worker));
  return results;
}
