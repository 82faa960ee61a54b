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
