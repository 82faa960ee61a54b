import { repoRoot, supabaseBin } from './paths.ts';
import { isLoopback, parsePgUrl, redactPgUrl } from './pg-url.ts';
import { run, type RunOptions, type RunResult } from './run.ts';

/**
 * Runs the Supabase CLI (3.x, from devDependencies) against a database URL.
 *
 * - The target is given as `--remote=<url>`: CLI 3.1.0 still accepts `--db-url <url>` but
 *   prints "--db-url is deprecated and will be removed in v4".
 * - `--workdir <repo root>`: the CLI reads supabase/config.toml, migrations/ and seed.sql there.
 * - `--agent no`: with `--agent auto` the CLI switches to JSON output when it believes an AI agent
 *   runs it; we want the same output in every environment and ask for JSON explicitly where we
 *   parse it.
 * - PGSSLMODE=disable for loopback hosts (unless set already): a local cluster has no TLS and the
 *   CLI otherwise warns on every call that it fell back to an unencrypted connection.
 */
export async function runSupabase(
  args: readonly string[],
  databaseUrl: string,
  options: RunOptions = {},
): Promise<RunResult> {
  const env: NodeJS.ProcessEnv = { ...options.env };
  if (process.env.PGSSLMODE === undefined && env.PGSSLMODE === undefined) {
    const { host, sslmode } = parsePgUrl(databaseUrl);
    if (sslmode === undefined && isLoopback(host)) env.PGSSLMODE = 'disable';
  }
  const result = await run(
    supabaseBin,
    [...args, `--remote=${databaseUrl}`, '--workdir', repoRoot, '--agent', 'no'],
    { cwd: repoRoot, timeoutMs: 170_000, ...options, env },
  );
  // Keep a password in the URL out of assertion messages.
  return { ...result, command: ['supabase', ...args, `--remote=${redactPgUrl(databaseUrl)}`].join(' ') };
}

/** Parses the CLI's `--output-format json` stdout, with the whole output in the error if it is not JSON. */
export function parseCliJson(result: RunResult): unknown {
  try {
    return JSON.parse(result.stdout) as unknown;
  } catch {
    throw new Error(
      `expected JSON on stdout of ${result.command}\n--- stdout ---\n${result.stdout}\n--- stderr ---\n${result.stderr}`,
    );
  }
}
