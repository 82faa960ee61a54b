import { expect, test } from 'vitest';
import { databaseUrl } from './support/context.ts';
import { describeRun } from './support/run.ts';
import { runSupabase } from './support/supabase-cli.ts';

// `supabase db lint` type-checks every plpgsql function with plpgsql_check. The CLI creates the
// extension itself for the run (inside a transaction it rolls back), so the database only needs
// the package (postgresql-15-plpgsql-check); without it the CLI fails with
// `failed to enable pgsql_check: extension "plpgsql_check" is not available`.
test('supabase db lint: no errors in the public and private schemas', async () => {
  const result = await runSupabase(
    ['db', 'lint', '--schema', 'public,private', '--level', 'error', '--fail-on', 'error'],
    databaseUrl(),
  );
  expect(result.code, `supabase db lint reported errors\n${describeRun(result)}`).toBe(0);
});
