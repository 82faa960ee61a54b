import { locatePg15 } from './cluster.ts';
import { parsePgUrl, pgConnArgs, pgConnEnv } from './pg-url.ts';
import { describeRun, run, which } from './run.ts';

function psqlBinary(): string {
  const found = locatePg15()?.psql ?? which('psql');
  if (!found) throw new Error('psql not found (install postgresql-client-15, or postgresql-15)');
  return found;
}

/**
 * Runs SQL with psql (ON_ERROR_STOP, unaligned tuples-only output) and returns stdout.
 * The password travels in PGPASSWORD, not on the command line.
 */
export async function psql(databaseUrl: string, sql: string): Promise<string> {
  const conn = parsePgUrl(databaseUrl);
  const result = await run(psqlBinary(), ['-X', '-q', '-A', '-t', '-v', 'ON_ERROR_STOP=1', ...pgConnArgs(conn), '-f', '-'], {
    env: pgConnEnv(conn),
    input: sql,
    timeoutMs: 120_000,
  });
  if (result.code !== 0) throw new Error(`psql failed\n${describeRun(result)}`);
  return result.stdout;
}
