import { chmod } from 'node:fs/promises';
import { defineConfig } from 'rolldown';

// Builds a workspace package's CLI (src/cli.ts) into dist/cli.js, plain JavaScript for Node. Used by vps-agent/ (`rubi-vps-agent`) and packages/ea-sim/ (`rubi-ea-sim`).
//
// Why a bundler and not `tsc`: the CLIs import workspace packages (@rubi/contracts, ...) that ship
// TypeScript source only (Deno and vitest read it as is). `tsc` would emit `import
// '@rubi/contracts/vps.ts'` unchanged, and Node strips types only as an opt-in that does not cover
// every TypeScript construct (enums, parameter properties) nor files it reaches through node_modules. Rolldown (already in
// the tree as Vite's bundler, pinned) strips the types of the CLI and of the workspace packages it
// uses and writes one ES module; npm dependencies stay external and load from node_modules. Type
// checking stays with `npx tsc -p tsconfig.json` at the repository root.
const external = (id) => !id.startsWith('.') && !id.startsWith('/') && !id.startsWith('@rubi/') && !/^[A-Za-z]:[\\/]/.test(id);

export function binConfig() {
  return defineConfig({
    input: 'src/cli.ts',
    platform: 'node',
    external,
    output: { file: 'dist/cli.js', format: 'esm' },
    plugins: [
      {
        name: 'executable-bin',
        async writeBundle() {
          await chmod('dist/cli.js', 0o755);
        },
      },
    ],
  });
}
