// jose, imported on first use instead of at boot (see auth-user.ts and bench/README.md, "Boot").
//
// Kept apart from auth-user.ts on purpose: that file's static `import type ... from 'jose'` is what
// makes `deno check` of a deploy upload fail, naming jose, when the import map lacks it
// (tests/integration/deploy.test.ts). Deno does not report an unresolvable specifier that the same
// module also imports dynamically.
export type Jose = typeof import('jose');

let jose: Promise<Jose> | undefined;

export function loadJose(): Promise<Jose> {
  jose ??= import('jose');
  return jose;
}
