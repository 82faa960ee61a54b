import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

// Boot time (issue #13, item 4): a function evaluates every module its contracts import, and each
// zod schema built costs its cold start. So no contract imports a module that declares routes (its
// schemas belong to another function): what two contracts share lives in shared.ts, common.ts or a
// vocabulary module (rebate-plans.ts), which declare schemas and no routes.

const SRC = join(import.meta.dirname, '..', 'src');
const modules = readdirSync(SRC).filter((f) => f.endsWith('.ts'));
const source = (file: string) => readFileSync(join(SRC, file), 'utf8');
/** Relative modules a file imports at run time (`import type` is erased and costs nothing). */
const runtimeImports = (file: string): string[] =>
  [...source(file).matchAll(/^import\s+(?!type\s)[^;]*?from\s+'\.\/([^']+)'/gm)].map((m) => m[1] as string);
const declaresRoutes = (file: string) => /\bcreateRoute\(/.test(source(file));

describe('contract modules', () => {
  it('import no module that declares routes', () => {
    const routeModules = new Set(modules.filter(declaresRoutes));
    expect(routeModules.size).toBeGreaterThan(5);
    const borrowed = modules.flatMap((file) =>
      runtimeImports(file)
        .filter((imported) => routeModules.has(imported))
        .map((imported) => `${file} imports ${imported}: move what it borrows to shared.ts`),
    );
    expect(borrowed).toEqual([]);
  });
});
