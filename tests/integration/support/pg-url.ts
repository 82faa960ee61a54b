/**
 * Turns a postgres:// URL into what libpq command-line tools (psql, pg_prove) take: flags for
 * host, port, user and database, and environment variables for the password and SSL mode, so
 * nothing secret appears in a process list.
 */
export interface PgConnection {
  host: string;
  port: number;
  user: string;
  password: string | undefined;
  database: string;
  sslmode: string | undefined;
}

export function parsePgUrl(url: string): PgConnection {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new Error('database URL is not a valid URL (expected postgresql://user[:password]@host[:port]/dbname)');
  }
  if (parsed.protocol !== 'postgresql:' && parsed.protocol !== 'postgres:') {
    throw new Error(`database URL must start with postgresql:// or postgres:// (got ${parsed.protocol}//)`);
  }
  const database = decodeURIComponent(parsed.pathname.replace(/^\//, '')) || 'postgres';
  // URL keeps IPv6 hosts in brackets; libpq wants them bare.
  const host = decodeURIComponent(parsed.hostname).replace(/^\[(.*)\]$/, '$1') || '127.0.0.1';
  return {
    host,
    port: parsed.port === '' ? 5432 : Number(parsed.port),
    user: decodeURIComponent(parsed.username) || 'postgres',
    password: parsed.password === '' ? undefined : decodeURIComponent(parsed.password),
    database,
    sslmode: parsed.searchParams.get('sslmode') ?? undefined,
  };
}

/** `-h host -p port -U user -d dbname`, understood by psql and pg_prove alike. */
export function pgConnArgs(conn: PgConnection): string[] {
  return ['-h', conn.host, '-p', String(conn.port), '-U', conn.user, '-d', conn.database];
}

/** PGPASSWORD / PGSSLMODE for the child process (only those that the URL sets). */
export function pgConnEnv(conn: PgConnection): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  if (conn.password !== undefined) env.PGPASSWORD = conn.password;
  if (conn.sslmode !== undefined) env.PGSSLMODE = conn.sslmode;
  return env;
}

export function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || /^127\./.test(host);
}

/** The URL with its password masked, for log lines and messages. */
export function redactPgUrl(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password !== '') parsed.password = '***';
    return parsed.toString();
  } catch {
    return '<unparseable database URL>';
  }
}
