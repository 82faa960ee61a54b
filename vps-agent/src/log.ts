import { pino, type DestinationStream, type Logger } from 'pino';
import type { LogLevel } from './config.ts';

/**
 * JSON logs (pino) that never carry a secret. Two independent guards:
 *
 * 1. Key-based redaction: any field named like a secret (password, token, key, secret, ...) at the top
 *    level or one/two levels down is replaced by "[REDACTED]" before serialisation.
 * 2. Value-based scrubbing: every secret the agent handles (the host key, each investor password,
 *    each provisioning token) is registered in a {@link SecretRegistry}; the serialised line is
 *    scanned and any occurrence (also JSON-escaped) is replaced. This catches a secret that ends up
 *    inside an error message, a command line or a file path, where no key name gives it away.
 */

export type { Logger } from 'pino';

const SECRET_KEYS = [
  'password',
  'investor_password',
  'investorPassword',
  'Password',
  'provisioning_token',
  'provisioningToken',
  'token',
  'api_key',
  'apiKey',
  'vpsApiKey',
  'x-vps-api-key',
  'X-VPS-API-Key',
  'secret',
  'api_secret',
  'publishableKey',
  'authorization',
  'Authorization',
];

export const REDACT_PATHS: string[] = SECRET_KEYS.flatMap((k) => {
  const key = /^[A-Za-z_$][\w$]*$/.test(k) ? k : `["${k}"]`;
  const sep = key.startsWith('[') ? '' : '.';
  return [key, `*${sep}${key}`, `*.*${sep}${key}`];
});

export const REDACTED = '[REDACTED]';

export class SecretRegistry {
  private readonly values = new Set<string>();

  /** Registers a value that must never be logged. Very short values are ignored (too many false hits). */
  add(value: string | null | undefined): void {
    if (typeof value === 'string' && value.length >= 4) {
      this.values.add(value);
      const escaped = JSON.stringify(value).slice(1, -1);
      if (escaped !== value) this.values.add(escaped);
    }
  }

  delete(value: string | null | undefined): void {
    if (typeof value !== 'string') return;
    this.values.delete(value);
    this.values.delete(JSON.stringify(value).slice(1, -1));
  }

  scrub(text: string): string {
    let out = text;
    for (const v of this.values) if (out.includes(v)) out = out.split(v).join(REDACTED);
    // Signing secrets have a recognisable shape even when nobody registered them.
    return out.replace(/whsec_[A-Za-z0-9+/=]{8,}/g, REDACTED);
  }
}

export interface LoggerOptions {
  level: LogLevel;
  secrets: SecretRegistry;
  /** Where lines go; stdout by default. Tests pass a stream that captures them. */
  destination?: DestinationStream;
  base?: Record<string, unknown>;
}

export function createLogger(options: LoggerOptions): Logger {
  return pino(
    {
      level: options.level,
      base: { service: 'rubi-vps-agent', ...(options.base ?? {}) },
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
      redact: { paths: REDACT_PATHS, censor: REDACTED },
      hooks: { streamWrite: (line) => options.secrets.scrub(line) },
      serializers: { err: pino.stdSerializers.err },
    },
    options.destination ?? pino.destination({ dest: 1, sync: true }),
  );
}
