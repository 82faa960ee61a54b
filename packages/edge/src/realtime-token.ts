import type { CryptoKey as JoseKey } from 'jose';
import type { EdgeConfig } from './config.ts';
import { loadJose } from './load-jose.ts';

/**
 * Realtime tokens for VPS hosts (issue #15): the doorbell topic `vps:doorbell` is private, and the
 * RLS policy "vps hosts receive the doorbell" (supabase/schemas/015_realtime.sql) lets a token with
 * role `anon` and a `vps_host_id` claim listen to it, and nothing else. The `vps` function mints one
 * for a host that authenticated with its API key (POST /vps/realtime-token), signed with
 * REALTIME_SIGNING_JWK: a key the project trusts (on a hosted project, an ES256 key imported into
 * the project's JWT signing keys, so that it is in the JWKS Realtime verifies with; locally, the
 * local server's own signing key). Short-lived, so a revoked host stops hearing the doorbell within
 * REALTIME_TOKEN_TTL_SECONDS: it cannot fetch the next one.
 */

export const REALTIME_TOKEN_TTL_SECONDS = 600;
export const DOORBELL_TOPIC = 'vps:doorbell';

interface Signer {
  /** jose's CryptoKey: the runtime's, as jose's types see it (under `deno check` with node_modules, @types/node's). */
  key: JoseKey | Uint8Array;
  alg: string;
  kid: string;
}

let cached: { jwk: string; signer: Promise<Signer> } | undefined;

function algOf(jwk: Record<string, unknown>): string {
  if (typeof jwk.alg === 'string') return jwk.alg;
  if (jwk.kty === 'EC') return 'ES256';
  if (jwk.kty === 'OKP') return 'EdDSA';
  return 'RS256';
}

async function signerFor(text: string): Promise<Signer> {
  const { importJWK } = await loadJose();
  const jwk = JSON.parse(text) as Record<string, unknown> & { kid: string };
  const alg = algOf(jwk);
  const { alg: _alg, use: _use, key_ops: _ops, ...material } = jwk;
  return { key: await importJWK(material, alg), alg, kid: jwk.kid };
}

/** A token for `hostId`, or undefined when no signing key is configured. */
export async function mintHostRealtimeToken(
  config: Pick<EdgeConfig, 'REALTIME_SIGNING_JWK'>,
  hostId: string,
  now: Date,
): Promise<{ token: string; expiresAt: Date } | undefined> {
  const jwk = config.REALTIME_SIGNING_JWK;
  if (!jwk) return undefined;
  if (cached?.jwk !== jwk) cached = { jwk, signer: signerFor(jwk) };
  const signer = await cached.signer;
  const { SignJWT } = await loadJose();
  const iat = Math.floor(now.getTime() / 1000);
  const exp = iat + REALTIME_TOKEN_TTL_SECONDS;
  const token = await new SignJWT({ role: 'anon', vps_host_id: hostId })
    .setProtectedHeader({ alg: signer.alg, kid: signer.kid, typ: 'JWT' })
    .setIssuedAt(iat)
    .setExpirationTime(exp)
    .sign(signer.key);
  return { token, expiresAt: new Date(exp * 1000) };
}
