import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse } from 'smol-toml';
import { describe, expect, it } from 'vitest';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const config = parse(readFileSync(join(root, 'supabase/config.toml'), 'utf8')) as {
  functions?: Record<string, { entrypoint?: string; verify_jwt?: boolean; import_map?: string }>;
};
const functionDirs = readdirSync(join(root, 'functions'), { withFileTypes: true })
  .filter((d) => d.isDirectory() && existsSync(join(root, 'functions', d.name, 'index.ts')))
  .map((d) => d.name)
  .sort();

describe('supabase/config.toml', () => {
  it('declares exactly the functions in functions/', () => {
    expect(Object.keys(config.functions ?? {}).sort()).toEqual(functionDirs);
  });

  it.each(functionDirs)('%s: entrypoint and import map resolve to real files', (name) => {
    const fn = config.functions?.[name];
    expect(fn?.entrypoint).toBe(`../functions/${name}/index.ts`);
    expect(existsSync(join(root, 'supabase', fn?.entrypoint ?? 'missing'))).toBe(true);
    expect(existsSync(join(root, 'supabase', fn?.import_map ?? 'missing'))).toBe(true);
  });

  it('turns off the gateway JWT check exactly where EAs, agents and operators (no Supabase session) call in', () => {
    const eaFunctions = ['connect', 'ping', 'signals', 'positions', 'register', 'trades', 'vps', 'ops'];
    for (const [name, fn] of Object.entries(config.functions ?? {})) {
      expect(fn.verify_jwt, name).toBe(!eaFunctions.includes(name));
    }
  });
});
