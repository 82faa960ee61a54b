// Text-format decoding of result values, shared by both adapters so they return identical JS values.
// Keyed by type OID (pg_type.oid of the built-in types; stable across PostgreSQL versions).

export type ValueParser = (text: string) => unknown;

const identity: ValueParser = (text) => text;

const TIMESTAMP =
  /^(\d{4,})-(\d{2})-(\d{2})(?:[ T](\d{2}):(\d{2}):(\d{2})(?:\.(\d+))?)?(?:([+-])(\d{2})(?::?(\d{2}))?(?::?(\d{2}))?)?( BC)?$/;

/**
 * date, timestamp and timestamptz in the ISO DateStyle the server uses by default. A value
 * without an offset (date, timestamp) is read as UTC, so the result does not depend on the
 * process time zone. `infinity` / `-infinity` become ±Infinity (a Date cannot hold them).
 */
export function parseTimestamp(text: string): Date | number {
  if (text === 'infinity') return Infinity;
  if (text === '-infinity') return -Infinity;
  const m = TIMESTAMP.exec(text);
  if (!m) return new Date(text);
  const [, y, mo, d, h, mi, s, frac, sign, oh, om, os, bc] = m;
  const year = bc ? 1 - Number(y) : Number(y);
  const ms = frac ? Number(frac.slice(0, 3).padEnd(3, '0')) : 0;
  const date = new Date(0);
  date.setUTCFullYear(year, Number(mo) - 1, Number(d));
  date.setUTCHours(Number(h ?? 0), Number(mi ?? 0), Number(s ?? 0), ms);
  const offsetSeconds = sign
    ? (sign === '-' ? -1 : 1) * (Number(oh) * 3600 + Number(om ?? 0) * 60 + Number(os ?? 0))
    : 0;
  return new Date(date.getTime() - offsetSeconds * 1000);
}

export function parseBytea(text: string): Uint8Array {
  if (!text.startsWith('\\x')) throw new Error('Unsupported bytea output format (expected bytea_output = hex)');
  const hex = text.slice(2);
  const out = new Uint8Array(hex.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(hex.slice(i * 2, i * 2 + 2), 16);
  return out;
}

/**
 * Parses a Postgres array literal such as `{1,NULL,"a \"b\""}`, `{{1,2},{3,4}}` or
 * `[0:1]={1,2}` (non-default lower bounds are dropped: JS arrays start at 0).
 */
export function parseArrayLiteral(text: string, parseElement: ValueParser, delimiter = ','): unknown[] {
  let i = 0;
  const fail = (): never => {
    throw new Error(`Malformed array literal: ${text}`);
  };
  const at = (): string => (i < text.length ? (text[i] as string) : fail());

  if (text.startsWith('[')) {
    const eq = text.indexOf('=');
    if (eq < 0) fail();
    i = eq + 1;
  }

  const parseArray = (): unknown[] => {
    if (at() !== '{') fail();
    i++;
    const out: unknown[] = [];
    if (at() === '}') {
      i++;
      return out;
    }
    for (;;) {
      const c = at();
      if (c === '{') {
        out.push(parseArray());
      } else if (c === '"') {
        i++;
        let value = '';
        for (let ch = at(); ch !== '"'; ch = at()) {
          if (ch === '\\') {
            i++;
            ch = at();
          }
          value += ch;
          i++;
        }
        i++;
        out.push(parseElement(value));
      } else {
        const start = i;
        while (at() !== delimiter && at() !== '}') i++;
        const raw = text.slice(start, i);
        out.push(raw.toUpperCase() === 'NULL' ? null : parseElement(raw));
      }
      const next = at();
      i++;
      if (next === '}') return out;
      if (next !== delimiter) fail();
    }
  };

  const result = parseArray();
  if (i !== text.length) fail();
  return result;
}

const scalarParsers: Record<number, ValueParser> = {
  16: (t) => t === 't', // bool
  17: parseBytea, // bytea
  20: Number, // int8
  21: Number, // int2
  23: Number, // int4
  26: Number, // oid
  114: (t) => JSON.parse(t) as unknown, // json
  700: Number, // float4
  701: Number, // float8
  1082: parseTimestamp, // date
  1114: parseTimestamp, // timestamp
  1184: parseTimestamp, // timestamptz
  3802: (t) => JSON.parse(t) as unknown, // jsonb
};

// Element types whose text is returned as is, listed so their arrays are decoded by our parser.
const textTypes = [18, 19, 25, 650, 790, 869, 1042, 1043, 1083, 1186, 1266, 1700, 2950];

// Built-in element OID -> its array type OID.
const arrayOf: Record<number, number> = {
  16: 1000, 17: 1001, 18: 1002, 19: 1003, 20: 1016, 21: 1005, 23: 1007, 25: 1009, 26: 1028,
  114: 199, 650: 651, 700: 1021, 701: 1022, 790: 791, 869: 1041, 1042: 1014, 1043: 1015,
  1082: 1182, 1083: 1183, 1114: 1115, 1184: 1185, 1186: 1187, 1266: 1270, 1700: 1231,
  2950: 2951, 3802: 3807,
};

function buildParsers(): Record<number, ValueParser> {
  const parsers: Record<number, ValueParser> = { ...scalarParsers };
  for (const [elem, arrayOid] of Object.entries(arrayOf)) {
    const element = scalarParsers[Number(elem)] ?? (textTypes.includes(Number(elem)) ? identity : undefined);
    if (!element) throw new Error(`No parser for array element type ${elem}`);
    parsers[arrayOid] = (text) => parseArrayLiteral(text, element);
  }
  return parsers;
}

/** OID -> parser for every type both adapters decode themselves (others stay text). */
export const VALUE_PARSERS: Readonly<Record<number, ValueParser>> = Object.freeze(buildParsers());
