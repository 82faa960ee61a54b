import { chmod } from 'node:fs/promises';
import { defineConfig } from 'rolldown';

// Builds dist/cli.js, the `rubi-ea-sim` bin, for Node 20 (which cannot run TypeScript); same reasons
// and settings as vps-agent/rolldown.config.mjs: the workspace packages (TypeScript source only)
// are bundled, npm dependencies stay external. Deno and vitest import src/ directly.
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
