// One JSON line per request (and per notable event). Bodies and headers are never logged; any
// structured field whose name looks secret is replaced before it is written.

export type LogLevel = 'debug' | 'info' | 'warn' | 'error';
export type LogRecord = Record<string, unknown> & { level: LogLevel; msg: string };
export type LogSink = (line: string) => void;

const LEVELS: Record<LogLevel | 'silent', number> = { debug: 10, info: 20, warn: 30, error: 40, silent: 99 };
const SECRET_KEY = /pass(word)?|secret|token|signature|authorization|api[-_]?key|cookie|ciphertext/i;

export function redact(value: unknown, depth = 0): unknown {
  if (depth > 6 || value === null || typeof value !== 'object') return value;
  if (Array.isArray(value)) return value.map((v) => redact(v, depth + 1));
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) out[k] = SECRET_KEY.test(k) ? '[redacted]' : redact(v, depth + 1);
  return out;
}

export interface Logger {
  log(level: LogLevel, msg: string, fields?: Record<string, unknown>): void;
}

export function createLogger(opts: { sink?: LogSink; level?: LogLevel | 'silent'; base?: Record<string, unknown> } = {}): Logger {
  const sink = opts.sink ?? ((line: string) => console.log(line));
  const threshold = LEVELS[opts.level ?? 'info'];
  return {
    log(level, msg, fields = {}) {
      if (LEVELS[level] < threshold) return;
      // What `{ level, time, ...base, msg, ...redact(fields) }` builds, in one pass (once per request).
      const record: Record<string, unknown> = { level, time: new Date().toISOString() };
      if (opts.base) Object.assign(record, opts.base);
      record.msg = msg;
      for (const key of Object.keys(fields)) record[key] = SECRET_KEY.test(key) ? '[redacted]' : redact(fields[key], 1);
      sink(JSON.stringify(record));
    },
  };
}
