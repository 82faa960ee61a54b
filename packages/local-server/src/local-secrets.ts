import { existsSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { generateEncryptionKey } from '@rubi/crypto';
// jose's CryptoKey, not the global: under `deno check` in the repository jose's types see @types/node's.
import { exportJWK, generateKeyPair, importJWK, SignJWT, type CryptoKey, type JWK } from 'jose';

/**
 * Keys the local stack needs: the Auth signing key (ES256), the encryption keyring, and a
 * `service_role` key for the operator routes under /_local (what `supabase status` calls the
 * service_role key: a long-lived JWT with role service_role, signed by the same key).
 */
export interface LocalSecrets {
  encryptionKey: string;
  signingKey: CryptoKey;
  publicJwk: JWK & { kid: string };
  /** The signing key as a private JWK: the `vps` function signs the hosts' Realtime tokens with it (REALTIME_SIGNING_JWK). */
  privateJwk: JWK & { kid: string };
  serviceRoleKey: string;
}

interface StoredSecrets {
  encryption_key: string;
  private_jwk: JWK;
  public_jwk: JWK & { kid: string };
  /** Added after the first releases: files without it get one on the next start. */
  service_role_key?: string;
}

/** Ten years, like the well-known keys of Supabase's local stack. */
const SERVICE_ROLE_KEY_SECONDS = 10 * 365 * 24 * 3600;

async function signServiceRoleKey(signingKey: CryptoKey, kid: string): Promise<string> {
  const now = Math.floor(Date.now() / 1000);
  return new SignJWT({ role: 'service_role' })
    .setProtectedHeader({ alg: 'ES256', kid, typ: 'JWT' })
    .setIssuer('supabase-local')
    .setIssuedAt(now)
    .setExpirationTime(now + SERVICE_ROLE_KEY_SECONDS)
    .sign(signingKey);
}

/**
 * Loads the local keys from the data folder, creating them on first start (file mode 0600), so
 * tokens and encrypted rows stay valid across restarts. In memory mode they live for one run.
 */
export async function loadLocalSecrets(dataDir: string | undefined): Promise<LocalSecrets> {
  const file = dataDir ? join(dataDir, 'local-secrets.json') : undefined;
  if (file && existsSync(file)) {
    const stored = JSON.parse(await readFile(file, 'utf8')) as StoredSecrets;
    const signingKey = (await importJWK(stored.private_jwk, 'ES256')) as CryptoKey;
    if (!stored.service_role_key) {
      stored.service_role_key = await signServiceRoleKey(signingKey, stored.public_jwk.kid);
      await writeFile(file, JSON.stringify(stored, null, 2), { mode: 0o600 });
    }
    return {
      encryptionKey: stored.encryption_key,
      signingKey,
      publicJwk: stored.public_jwk,
      privateJwk: { ...stored.private_jwk, kid: stored.public_jwk.kid },
      serviceRoleKey: stored.service_role_key,
    };
  }
  const { privateKey, publicKey } = await generateKeyPair('ES256', { extractable: true });
  const kid = `local-${crypto.randomUUID().slice(0, 8)}`;
  const publicJwk = { ...(await exportJWK(publicKey)), kid, alg: 'ES256', use: 'sig' };
  const secrets: LocalSecrets = {
    encryptionKey: generateEncryptionKey('local1'),
    signingKey: privateKey,
    publicJwk,
    privateJwk: { ...(await exportJWK(privateKey)), kid },
    serviceRoleKey: await signServiceRoleKey(privateKey, kid),
  };
  if (file && dataDir) {
    await mkdir(dataDir, { recursive: true });
    const stored: StoredSecrets = {
      encryption_key: secrets.encryptionKey,
      private_jwk: secrets.privateJwk,
      public_jwk: publicJwk,
      service_role_key: secrets.serviceRoleKey,
    };
    await writeFile(file, JSON.stringify(stored, null, 2), { mode: 0o600 });
  }
  return secrets;
}
