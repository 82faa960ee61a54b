/** What both adapters guarantee on an error raised by the server. */
export interface PgError {
  /** SQLSTATE, e.g. '23505' unique_violation, '42501' insufficient_privilege, 'P0001' raise_exception. */
  code: string;
  message: string;
  detail?: string;
  hint?: string;
  constraint?: string;
  schema?: string;
  table?: string;
  column?: string;
}

const SQLSTATE = /^[0-9A-Z]{5}$/;

/** True for an error that carries a Postgres SQLSTATE (not a driver error such as CONNECTION_CLOSED). */
export function isPgError(e: unknown): e is PgError {
  if (typeof e !== 'object' || e === null) return false;
  const { code, message } = e as { code?: unknown; message?: unknown };
  return typeof code === 'string' && SQLSTATE.test(code) && typeof message === 'string';
}

// postgres.js names these fields `constraint_name`, `table_name`, ...; PGlite (like node-postgres)
// uses the short names. Alias the short names onto the driver's error, keeping its class and stack.
const ALIASES = [
  ['constraint', 'constraint_name'],
  ['schema', 'schema_name'],
  ['table', 'table_name'],
  ['column', 'column_name'],
] as const;

export function withStandardPgFields<E>(e: E): E {
  if (!isPgError(e)) return e;
  const fields = e as unknown as Record<string, unknown>;
  for (const [short, long] of ALIASES) {
    if (fields[short] === undefined && typeof fields[long] === 'string') fields[short] = fields[long];
  }
  return e;
}

// Driver (postgres.js, Node/Deno sockets) codes that mean "the database is out of reach", not "the
// request is wrong": connection lost, refused, reset, timed out, or our own deadline.
const UNAVAILABLE_DRIVER_CODES = new Set([
  'CONNECTION_CLOSED',
  'CONNECTION_ENDED',
  'CONNECTION_DESTROYED',
  'CONNECT_TIMEOUT',
  'DB_TIMEOUT',
  'ECONNREFUSED',
  'ECONNRESET',
  'ECONNABORTED',
  'EPIPE',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
]);

/**
 * True for an error that says the database is unreachable or going away (worth a 503 and a retry):
 * driver connection errors, our request deadline, and the SQLSTATEs of a server shutting down,
 * starting up, cancelling on a timeout, or a broken connection (class 08).
 */
export function isDatabaseUnavailable(e: unknown): boolean {
  if (typeof e !== 'object' || e === null) return false;
  const code = (e as { code?: unknown }).code;
  if (typeof code !== 'string') return false;
  if (UNAVAILABLE_DRIVER_CODES.has(code)) return true;
  // 57P01 admin_shutdown, 57P02 crash_shutdown, 57P03 cannot_connect_now, 57014 query_canceled
  // (statement_timeout), 25P03 idle_in_transaction_session_timeout, 53300 too_many_connections.
  return code.startsWith('08') || ['57P01', '57P02', '57P03', '57014', '25P03', '53300'].includes(code);
}
