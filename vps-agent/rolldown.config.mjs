import { chmod } from 'node:fs/promises';
import { defineConfig } from 'rolldown';

// Builds dist/cli.js, the `rubi-vps-agent` bin, for Node 20 (which cannot run TypeScript).
//
// Why a bundler and not `tsc`: the agent imports the zod contracts of @rubi/contracts, a workspace
// package that ships TypeScript source only (Deno and vitest read it as is). `tsc` would emit
// `import '@rubi/contracts/vps.ts'` unchanged and Node 20 would refuse the .ts file. Rolldown
// (already in the tree as Vite's bundler, pinned here) strips the types of the agent and of the
// workspace packages it uses and writes one ES module; npm dependencies (pino, prom-client,
// commander, zod, supabase-js, ws, @hono/zod-openapi) stay external and load from node_modules.
// Type checking stays with `npx tsc -p tsconfig.json` at the repository root.
const external = (id) => !id.startsWith('.') && !id.startsWith('/') && !id.startsWith('@rubi/') && !/^[A-Za-z]:[\\/]/.test(id);

export default defineConfig({
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
