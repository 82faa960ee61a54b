// Query parameters are turned into text (or null) before they reach a driver, and the server
// infers each parameter's type from the statement. Both drivers then send exactly the same bytes,
// whatever type the server infers; see Queryable in db.ts for the rules.

export type WireParam = string | null;

function hex(bytes: Uint8Array): string {
  let out = '';
  for (const b of bytes) out += b.toString(16).padStart(2, '0');
  return out;
}

function scalarToText(value: unknown, label: string): string {
  switch (typeof value) {
    case 'string':
      return value;
    case 'number':
    case 'bigint':
      return String(value);
    case 'boolean':
      return value ? 'true' : 'false';
    case 'undefined':
      throw new TypeError(`Query parameter ${label} is undefined: pass null for SQL NULL`);
    case 'object':
      if (value instanceof Date) {
        if (Number.isNaN(value.getTime())) throw new TypeError(`Query parameter ${label} is an invalid Date`);
        return value.toISOString();
      }
      if (value instanceof Uint8Array) return `\\x${hex(value)}`;
      throw new TypeError(
        `Query parameter ${label} is an object: pass JSON as a string (JSON.stringify(value)) and cast it, e.g. ${label.replace(/\[.*$/, '')}::jsonb`,
      );
    default:
      throw new TypeError(`Query parameter ${label} has unsupported type ${typeof value}`);
  }
}

function quoteElement(text: string): string {
  return `"${text.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`;
}

/** A JS array (nested for more dimensions) as a Postgres array literal. */
export function toArrayLiteral(values: readonly unknown[], label = '$1'): string {
  const parts = values.map((value, i) => {
    const at = `${label}[${i}]`;
    if (value === null) return 'NULL';
    if (Array.isArray(value)) return toArrayLiteral(value, at);
    return quoteElement(scalarToText(value, at));
  });
  return `{${parts.join(',')}}`;
}

export function toWireParam(value: unknown, label: string): WireParam {
  if (value === null) return null;
  if (Array.isArray(value)) return toArrayLiteral(value, label);
  return scalarToText(value, label);
}

export function toWireParams(params: readonly unknown[] | undefined): WireParam[] {
  if (params === undefined) return [];
  if (!Array.isArray(params)) throw new TypeError('Query parameters must be an array');
  return params.map((value, i) => toWireParam(value, `$${i + 1}`));
}
