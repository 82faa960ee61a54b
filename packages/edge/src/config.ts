import { z } from 'zod';

// Configuration of every edge function, read once from the environment and validated. On
// Supabase, SUPABASE_URL and SUPABASE_DB_URL are provided to every function; the rest are set
// with `supabase secrets set`.
const EdgeConfigSchema = z.object({
  SUPABASE_URL: z.url(),
  SUPABASE_DB_URL: z.string().regex(/^postgres(ql)?:\/\//, 'a postgres:// connection string'),
  /** JSON Web Key Set as JSON text; when absent the keys are fetched from <SUPABASE_URL>/auth/v1/.well-known/jwks.json */
  SUPABASE_JWKS: z.string().optional(),
  /** Legacy HS256 JWT secret, accepted in addition to the JWKS when set. */
  SUPABASE_JWT_SECRET: z.string().min(32).optional(),
  /** '<keyId>:<base64 32 bytes>' — encrypts EA secrets and investor passwords. */
  ENCRYPTION_KEY: z.string().min(1),
  /** Comma-separated older keys, for decryption only, while rotating. */
  ENCRYPTION_KEYS_PREVIOUS: z.string().optional(),
  /** Comma-separated origins allowed by CORS, or '*'. */
  CORS_ORIGINS: z.string().default('*'),
  MAX_BODY_BYTES: z.coerce.number().int().positive().default(256 * 1024),
  LOG_LEVEL: z.enum(['debug', 'info', 'warn', 'error', 'silent']).default('info'),
  /**
   * Private JWK (JSON text, with `kid`) of a signing key the project trusts (imported into its JWT
   * signing keys): `vps` signs the hosts' Realtime tokens with it (packages/edge/src/realtime-token.ts).
   * Unset: no Realtime token, the agents poll.
   */
  REALTIME_SIGNING_JWK: z
    .string()
    .refine((text) => {
      try {
        const jwk = JSON.parse(text) as Record<string, unknown>;
        return typeof jwk.d === 'string' && typeof jwk.kid === 'string' && (jwk.kty === 'EC' || jwk.kty === 'RSA' || jwk.kty === 'OKP');
      } catch {
        return false;
      }
    }, 'a private JWK as JSON text, with kid (EC P-256, RSA or Ed25519)')
    .optional(),
});
export type EdgeConfig = z.infer<typeof EdgeConfigSchema>;

export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`invalid configuration:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'ConfigError';
  }
}

/** Validates the environment; the error names every missing or malformed variable (never its value). */
export function loadEdgeConfig(env: Record<string, string | undefined>): EdgeConfig {
  const parsed = EdgeConfigSchema.safeParse(env);
  if (parsed.success) return parsed.data;
  throw new ConfigError(
    parsed.error.issues.map((issue) => {
      const name = issue.path.join('.');
      return env[name] === undefined ? `${name} is required` : `${name}: ${issue.message}`;
    }),
  );
}
