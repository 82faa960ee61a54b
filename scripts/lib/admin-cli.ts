// What every admin command (`npm run vps-host`, `npm run rebate-plan`) does the same way: the
// database it works on as the owner, and how a failure ends the process. Exit codes: 0 done,
// 1 the command failed (a message, never a stack trace or the connection string), 2 usage error
// (the message, then the usage text).
import { createPostgresDb, isPgError, type Db } from '@rubi/db';

/** The command line is wrong: exit 2 with the usage text. */
export class UsageError extends Error {}
/** The command ran and could not do what was asked: exit 1. */
export class CommandError extends Error {}

/**
 * The owner's connection, opened on first use (commands that need no database never ask for a URL):
 * `--db-url`, else DATABASE_URL, else SUPABASE_DB_URL.
 */
export function adminDb(flag: string | undefined, applicationName: string): { open(): Db; close(): Promise<void> } {
  let db: Db | undefined;
  return {
    open() {
      if (db) return db;
      const url = flag ?? process.env.DATABASE_URL ?? process.env.SUPABASE_DB_URL;
      if (!url) throw new UsageError('no database: set DATABASE_URL (or SUPABASE_DB_URL) or pass --db-url');
      if (!/^postgres(ql)?:\/\//.test(url)) throw new UsageError('the database URL must start with postgres:// or postgresql://');
      db = createPostgresDb(url, { max: 1, applicationName });
      return db;
    },
    async close() {
      await db?.close();
    },
  };
}

/** Prints why `command` failed and returns its exit code. */
export function reportFailure(command: string, usage: string, error: unknown): number {
  if (error instanceof UsageError) {
    console.error(`${error.message}\n\n${usage}`);
    return 2;
  }
  if (isPgError(error)) {
    console.error(`${command}: ${error.message}${error.code ? ` (${error.code})` : ''}${error.hint ? `\n${error.hint}` : ''}`);
    return 1;
  }
  // CommandError, connection failures and the like: the message, never the connection string.
  console.error(`${command}: ${error instanceof Error ? error.message : String(error)}`);
  return 1;
}
