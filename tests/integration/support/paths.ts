import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The repository root (the directory holding `supabase/` and the root `package.json`). */
export const repoRoot: string = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');

export const supabaseDir: string = join(repoRoot, 'supabase');
export const platformSqlDir: string = join(supabaseDir, 'platform');
export const pgTapDir: string = join(supabaseDir, 'tests', 'database');
export const dbTypesFile: string = join(repoRoot, 'packages', 'db', 'src', 'database.types.ts');

/** The Supabase CLI from devDependencies (`supabase` npm package). */
export const supabaseBin: string = join(repoRoot, 'node_modules', '.bin', 'supabase');

if (!existsSync(join(repoRoot, 'supabase', 'config.toml'))) {
  throw new Error(`tests/integration/support/paths.ts: ${repoRoot} does not look like the repository root`);
}
