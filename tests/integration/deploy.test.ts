import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { cp, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, dirname, join, relative, resolve, sep } from 'node:path';
import { generateEncryptionKey } from '@rubi/crypto';
import { parse } from 'smol-toml';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { freePort } from '../../scripts/lib/free-port.ts';
import { createE2eAuth } from './e2e/support/auth.ts';
import { denoBin } from './e2e/support/deno-functions.ts';
import { databaseUrl } from './support/context.ts';
import { startManagementApi, type ManagementApi, type RecordedDeploy } from './support/management-api.ts';
import { repoRoot, supabaseBin, supabaseDir } from './support/paths.ts';
import { describeRun, run, type RunResult } from './support/run.ts';

/**
 * The deploy, as the pinned Supabase CLI does it: `supabase functions deploy --use-api` (no Docker)
 * against a local stand-in of the Management API (./support/management-api.ts). Then, for each
 * function, only what the CLI uploaded is unpacked into an empty folder, where `deno check` and
 * `deno bundle` must succeed with the uploaded import map (npm packages come from the npm registry
 * into a throwaway DENO_DIR, as on Supabase's bundler). One bundle is started with
 * `--allow-net --allow-env` only and must serve its openapi.json. Broken copies of the project
 * show that a missing entrypoint and a broken import map are caught. The same entrypoints (and the
 * local server's) also type-check in the repository itself, where Deno takes the npm packages and
 * their @types/node from node_modules.
 *
 * The CLI runs on a copy of the deploy inputs (supabase/config.toml, deno.json, functions/,
 * packages/), never on the repository: after a deploy it caches the project's metadata in
 * <workdir>/supabase/.temp. It gets an environment built from scratch (its own HOME, a made-up
 * access token, no telemetry, no update check), so it can reach nothing but the stand-in.
 */

const PROJECT_REF = 'deploytestlocalstand'; // 20 lowercase letters, as the CLI requires
const ACCESS_TOKEN = `sbp_${'0'.repeat(40)}`; // the format the CLI checks; only the stand-in accepts it
const STARTED_FUNCTION = 'signals';

interface FunctionConfig {
  verify_jwt: boolean;
  entrypoint: string;
  import_map: string;
}

const config = parse(readFileSync(join(supabaseDir, 'config.toml'), 'utf8')) as unknown as { functions: Record<string, FunctionConfig> };
const functionNames = Object.keys(config.functions).sort();
/** A path in config.toml (relative to supabase/) as the CLI names it: relative to the project root. */
const fromConfig = (path: string): string => relative(repoRoot, resolve(supabaseDir, path)).split(sep).join('/');

/** What a Deno check or bundle of one upload produced. */
interface Built {
  check: RunResult;
  bundle: RunResult;
  /** The bundle, alone in its own folder. */
  bundlePath: string;
}

let tmp: string;
let api: ManagementApi;
let profilePath: string;
let deployed: { result: RunResult; uploads: RecordedDeploy[] };
const built = new Map<string, Built>();

/**
 * run() merges its env over process.env: mask every inherited variable (spawn drops undefined
 * values) so the child sees exactly `vars`.
 */
function isolatedEnv(vars: Record<string, string>): NodeJS.ProcessEnv {
  return { ...Object.fromEntries(Object.keys(process.env).map((key) => [key, undefined])), ...vars };
}

/** How this machine reaches the npm registry (proxy, registry mirror, extra CA): Deno needs it to fetch packages. */
function networkVars(): Record<string, string> {
  const names = ['HTTPS_PROXY', 'https_proxy', 'HTTP_PROXY', 'http_proxy', 'NO_PROXY', 'no_proxy', 'NPM_CONFIG_REGISTRY', 'DENO_CERT', 'DENO_TLS_CA_STORE', 'NODE_EXTRA_CA_CERTS'];
  return Object.fromEntries(names.flatMap((name) => (process.env[name] ? [[name, process.env[name]]] : [])));
}

/** Deno's environment: the shared throwaway DENO_DIR, no package.json lookup, plus `vars`. */
function denoVars(vars: Record<string, string> = {}): Record<string, string> {
  return {
    PATH: process.env.PATH ?? '/usr/bin:/bin',
    HOME: join(tmp, 'home'),
    DENO_DIR: join(tmp, 'deno-dir'),
    DENO_NO_PACKAGE_JSON: '1',
    DENO_NO_UPDATE_CHECK: '1',
    NO_COLOR: '1',
    ...vars,
  };
}

/** Copies (never links) what `functions deploy` reads into `dest`, without node_modules; `edit` then breaks it. */
async function copyProject(dest: string, edit: (root: string) => Promise<void> = async () => {}): Promise<string> {
  for (const entry of ['supabase/config.toml', 'deno.json', 'functions', 'packages']) {
    await cp(join(repoRoot, entry), join(dest, entry), { recursive: true, filter: (src) => basename(src) !== 'node_modules' });
  }
  await edit(dest);
  return dest;
}

async function replaceInFile(path: string, search: string, replacement: string): Promise<void> {
  const text = await readFile(path, 'utf8');
  if (!text.includes(search)) throw new Error(`${path} has no ${search}`);
  await writeFile(path, text.replace(search, replacement));
}

/** The CLI's real deploy of `names` (all functions when empty) from `project`, and the uploads the stand-in received. */
async function deploy(project: string, names: string[] = []): Promise<{ result: RunResult; uploads: RecordedDeploy[] }> {
  const before = api.deploys.length;
  const args = ['functions', 'deploy', ...names, '--use-api', '--profile', profilePath, `--remote=${PROJECT_REF}`];
  const result = await run(supabaseBin, [...args, '--workdir', project, '--agent', 'no', '--yes'], {
    cwd: project,
    timeoutMs: 120_000,
    env: isolatedEnv({
      PATH: process.env.PATH ?? '/usr/bin:/bin',
      HOME: join(tmp, 'home'),
      SUPABASE_ACCESS_TOKEN: ACCESS_TOKEN,
      SUPABASE_TELEMETRY_DISABLED: '1',
      DO_NOT_TRACK: '1',
      SUPABASE_NO_UPDATE_NOTIFIER: '1',
      NO_COLOR: '1',
    }),
  });
  return { result, uploads: api.deploys.slice(before) };
}

/** Writes the uploaded files, and nothing else, under `dir`. */
async function unpack(upload: RecordedDeploy, dir: string): Promise<void> {
  for (const file of upload.files) {
    const target = resolve(dir, file.path);
    if (!target.startsWith(dir + sep)) throw new Error(`upload path outside its folder: ${file.path}`);
    await mkdir(dirname(target), { recursive: true });
    await writeFile(target, file.content);
  }
}

/**
 * `deno check` or `deno bundle` of the upload's entrypoint in `dir`, resolved with the uploaded
 * import map and nothing else (no package.json, no lockfile). The map is given as --config, so Deno
 * reads it as it reads a deno.json: an uploaded deno.json's settings apply (its `"nodeModulesDir":
 * "manual"` failed here, with no node_modules in the upload), and a plain import map is a valid
 * config too.
 */
function denoOnUpload(command: 'check' | 'bundle', upload: RecordedDeploy, dir: string, extra: string[] = []): Promise<RunResult> {
  const importMap = upload.metadata.import_map_path ? ['--config', upload.metadata.import_map_path] : ['--no-config'];
  return run(denoBin, [command, '--no-lock', ...importMap, ...extra, upload.metadata.entrypoint_path], {
    cwd: dir,
    timeoutMs: 120_000,
    env: isolatedEnv(denoVars(networkVars())),
  });
}

/** Unpacks one upload into an empty folder, type-checks it there and bundles it into a folder of its own. */
async function build(upload: RecordedDeploy, label: string): Promise<Built> {
  const dir = join(tmp, 'uploads', label);
  await unpack(upload, dir);
  const bundlePath = join(tmp, 'bundles', label, `${upload.slug}.js`);
  await mkdir(dirname(bundlePath), { recursive: true });
  const check = await denoOnUpload('check', upload, dir);
  const bundle = await denoOnUpload('bundle', upload, dir, ['--platform', 'deno', '--output', bundlePath]);
  return { check, bundle, bundlePath };
}

/** Runs `fn` over `items`, at most `limit` at a time (this machine has two cores). */
async function forEachLimited<T>(items: readonly T[], limit: number, fn: (item: T) => Promise<void>): Promise<void> {
  const queue = [...items];
  const worker = async (): Promise<void> => {
    for (let item = queue.shift(); item !== undefined; item = queue.shift()) await fn(item);
  };
  await Promise.all(Array.from({ length: limit }, worker));
}

function uploadOf(name: string): RecordedDeploy {
  const upload = deployed.uploads.find((u) => u.slug === name);
  if (!upload) throw new Error(`no upload for ${name}`);
  return upload;
}

/** The module specifiers a TypeScript source imports or re-exports (static and dynamic). */
function importedSpecifiers(source: string): string[] {
  const pattern = /\b(?:import|export)\s[^'"]*?\bfrom\s*['"]([^'"]+)['"]|\bimport\s*(?:\(\s*)?['"]([^'"]+)['"]/g;
  return [...source.matchAll(pattern)].map((m) => m[1] ?? m[2] ?? '');
}

beforeAll(async () => {
  const started = performance.now();
  tmp = await mkdtemp(join(tmpdir(), 'rubi-deploy-'));
  api = await startManagementApi({ projectRef: PROJECT_REF, accessToken: ACCESS_TOKEN });
  profilePath = join(tmp, 'stand-in-profile.yaml');
  await writeFile(profilePath, api.profileYaml);
  deployed = await deploy(await copyProject(join(tmp, 'project')));
  if (deployed.result.code !== 0) throw new Error(`functions deploy failed\n${describeRun(deployed.result)}`);
  const deployedAt = performance.now();
  await forEachLimited(deployed.uploads, 2, async (upload) => {
    built.set(upload.slug, await build(upload, upload.slug));
  });
  const seconds = (from: number, to: number): string => ((to - from) / 1000).toFixed(1);
  console.log(`[deploy] CLI deploy ${seconds(started, deployedAt)} s; check + bundle of ${built.size} uploads ${seconds(deployedAt, performance.now())} s`);
});

afterAll(async () => {
  await api?.close();
  if (tmp) await rm(tmp, { recursive: true, force: true });
});

describe('supabase functions deploy --use-api', () => {
  test('deploys every function of config.toml with its entrypoint, import map and verify_jwt', () => {
    expect(functionNames).toHaveLength(10);
    expect(deployed.uploads.map((u) => u.slug).sort()).toEqual(functionNames);
    for (const name of functionNames) {
      const fn = config.functions[name]!;
      expect(fromConfig(fn.entrypoint), name).toBe(`functions/${name}/index.ts`);
      expect(uploadOf(name).metadata, name).toEqual({
        name,
        entrypoint_path: fromConfig(fn.entrypoint),
        import_map_path: fromConfig(fn.import_map),
        static_patterns: [],
        verify_jwt: fn.verify_jwt,
      });
    }
    // Several functions: each upload is bundled only, then all are activated in one bulk update.
    expect(deployed.uploads.every((u) => u.bundleOnly)).toBe(true);
    expect(api.bulkUpdates.map((slugs) => [...slugs].sort())).toEqual([functionNames]);
    expect(api.unexpected).toEqual([]);
  });

  test.each(functionNames)('%s uploads its own module graph: no local server, EA simulator or PGlite', (name) => {
    const upload = uploadOf(name);
    const paths = upload.files.map((f) => f.path);
    expect(paths).toContain(upload.metadata.entrypoint_path);
    expect(paths).toContain(upload.metadata.import_map_path);
    expect(paths.filter((p) => /^packages\/(local-server|ea-sim)\/|pglite/.test(p))).toEqual([]);
    const pgliteImports = upload.files.flatMap((f) =>
      importedSpecifiers(f.content.toString('utf8'))
        .filter((s) => s.includes('pglite'))
        .map((s) => `${f.path} imports ${s}`),
    );
    expect(pgliteImports).toEqual([]);
  });

  test.each(functionNames)('%s type-checks and bundles in an empty folder holding only its upload', (name) => {
    const result = built.get(name);
    expect(result, `no build of ${name}`).toBeDefined();
    expect(result!.check.code, describeRun(result!.check)).toBe(0);
    expect(result!.bundle.code, describeRun(result!.bundle)).toBe(0);
  });

  test(`the ${STARTED_FUNCTION} bundle serves its openapi.json with only --allow-net --allow-env`, async () => {
    const bundlePath = built.get(STARTED_FUNCTION)?.bundlePath;
    if (!bundlePath) throw new Error(`no bundle of ${STARTED_FUNCTION}`);
    const port = await freePort();
    const auth = await createE2eAuth('http://supabase.deploy.invalid');
    const env = denoVars({
      DENO_SERVE_ADDRESS: `tcp:127.0.0.1:${port}`,
      SUPABASE_URL: 'http://supabase.deploy.invalid',
      SUPABASE_DB_URL: databaseUrl(),
      SUPABASE_JWKS: auth.jwks,
      ENCRYPTION_KEY: generateEncryptionKey('deploy'),
    });
    // The bundle's folder holds nothing else; without --allow-read (and --no-prompt) any file access fails.
    const args = ['run', '--no-lock', '--no-config', '--no-prompt', '--allow-net', '--allow-env', basename(bundlePath)];
    const child = spawn(denoBin, args, { cwd: dirname(bundlePath), env, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (d: Buffer) => (output += d.toString()));
    child.stderr.on('data', (d: Buffer) => (output += d.toString()));
    const exited = new Promise<void>((resolveExit) => child.once('exit', () => resolveExit()));
    try {
      const res = await fetchWhenListening(`http://127.0.0.1:${port}/${STARTED_FUNCTION}/openapi.json`, child, () => output);
      expect(res.status, output).toBe(200);
      const doc = (await res.json()) as { openapi: string; paths: Record<string, unknown> };
      expect(doc.openapi).toMatch(/^3\./);
      const paths = Object.keys(doc.paths);
      expect(paths.length).toBeGreaterThan(0);
      expect(paths.filter((p) => !p.startsWith(`/${STARTED_FUNCTION}`))).toEqual([]);
    } finally {
      child.kill('SIGTERM');
      await exited;
    }
  });

  test('deno check in the repository (node_modules, its @types/node): every entrypoint and the local server', async () => {
    const entrypoints = [...functionNames.map((name) => fromConfig(config.functions[name]!.entrypoint)), 'packages/local-server/src/main.ts'];
    const check = await run(denoBin, ['check', '--no-lock', ...entrypoints], { cwd: repoRoot, timeoutMs: 120_000, env: { NO_COLOR: '1', DENO_NO_UPDATE_CHECK: '1' } });
    expect(check.code, describeRun(check)).toBe(0);
  });

  test('functions/import_map.json maps each name exactly as the repository deno.json does', async () => {
    const [importMapPath, ...others] = new Set(functionNames.map((name) => fromConfig(config.functions[name]!.import_map)));
    expect(others, 'every function shares one import map').toEqual([]);
    const target = (value: string, base: string): string => (value.startsWith('.') ? `${resolve(base, value)}${value.endsWith('/') ? '/' : ''}` : value);
    const functionsMap = JSON.parse(await readFile(join(repoRoot, importMapPath!), 'utf8')) as { imports: Record<string, string> };
    const denoJson = JSON.parse(await readFile(join(repoRoot, 'deno.json'), 'utf8')) as { imports: Record<string, string> };
    for (const [name, value] of Object.entries(functionsMap.imports)) {
      const fromDeno = denoJson.imports[name];
      expect(fromDeno, `${name} is not in deno.json`).toBeDefined();
      expect(target(value, dirname(join(repoRoot, importMapPath!))), name).toBe(target(fromDeno!, repoRoot));
    }
  });
});

/** Polls `url` until it answers; fails at once with the output when the process exits first. */
async function fetchWhenListening(url: string, child: { exitCode: number | null }, output: () => string): Promise<Response> {
  const deadline = Date.now() + 30_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`deno exited with ${child.exitCode} before serving\n${output()}`);
    try {
      return await fetch(url, { signal: AbortSignal.timeout(1000) });
    } catch (error) {
      if (Date.now() > deadline) throw new Error(`${url} did not answer within 30 s\n${output()}`, { cause: error });
    }
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe('a broken deploy is caught', () => {
  const importMap = 'functions/import_map.json';

  test('an entrypoint that does not exist: the CLI only warns, deno check on the upload fails naming it', async () => {
    const project = await copyProject(join(tmp, 'missing-entrypoint'), (root) =>
      replaceInFile(join(root, 'supabase/config.toml'), 'entrypoint = "../functions/keys/index.ts"', 'entrypoint = "../functions/keys/missing.ts"'),
    );
    const { result, uploads } = await deploy(project, ['keys']);
    expect(result.code, describeRun(result)).toBe(0);
    expect(result.stderr).toContain('failed to read file: open functions/keys/missing.ts: no such file or directory');
    expect(uploads.map((u) => u.metadata.entrypoint_path)).toEqual(['functions/keys/missing.ts']);
    expect(uploads[0]!.files.map((f) => f.path)).not.toContain('functions/keys/missing.ts');
    const { check } = await build(uploads[0]!, 'missing-entrypoint');
    expect(check.code, describeRun(check)).not.toBe(0);
    expect(check.stderr).toMatch(/Cannot find module 'file:\/\/\/.*\/functions\/keys\/missing\.ts'/);
  });

  test('an import map entry pointing at a missing file: the CLI refuses to deploy, naming it', async () => {
    const project = await copyProject(join(tmp, 'missing-import-target'), (root) =>
      replaceInFile(join(root, importMap), '"../packages/edge/src/index.ts"', '"../packages/edge/src/main.ts"'),
    );
    const { result, uploads } = await deploy(project, ['keys']);
    expect(result.code, describeRun(result)).not.toBe(0);
    expect(result.stderr).toContain('packages/edge/src/main.ts: no such file or directory');
    expect(uploads).toEqual([]);
  });

  test('an import map without a package the code imports: the upload deploys, deno check fails naming it', async () => {
    const project = await copyProject(join(tmp, 'missing-import-name'), async (root) => {
      const path = join(root, importMap);
      const map = JSON.parse(await readFile(path, 'utf8')) as { imports: Record<string, string> };
      delete map.imports.jose;
      await writeFile(path, JSON.stringify(map, null, 2));
    });
    const { result, uploads } = await deploy(project, ['keys']);
    expect(result.code, describeRun(result)).toBe(0);
    expect(uploads).toHaveLength(1);
    const { check, bundle } = await build(uploads[0]!, 'missing-import-name');
    expect(check.code, describeRun(check)).not.toBe(0);
    expect(check.stderr).toContain('Import "jose" not a dependency and not in import map');
    expect(bundle.code, describeRun(bundle)).not.toBe(0);
  });
});
