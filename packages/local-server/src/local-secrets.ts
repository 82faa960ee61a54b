import { existsSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { generateEncryptionKey } from '@rubi/crypto';
import { exportJWK, generateKeyPair, importJWK, type JWK } from 'jose';

/** Keys the local stack needs: the Auth signing key (ES256) and the encryption keyring. */
export interface LocalSecrets {
  encryptionKey: string;
  signingKey: CryptoKey;
  publicJwk: JWK & { kid: string };
}

interface StoredSecrets {
  encryption_key: string;
  private_jwk: JWK;
  public_jwk: JWK & { kid: string };
}

/**
 * Loads the local keys from the data folder, creating them on first start (file mode 0600), so
 * tokens and encrypted rows stay valid across restarts. In memory mode they live for one run.
 */
export async function loadLocalSecrets(dataDir: string | undefined): Promise<LocalSecrets> {
  const file = dataDir ? join(dataDir, 'local-secrets.json') : undefined;
  if (file && existsSync(file)) {
    const stored = JSON.parse(await readFile(file, 'utf8')) as StoredSecrets;
    return {
      encryptionKey: stored.encryption_key,
      signingKey: (await importJWK(stored.private_jwk, 'ES256')) as CryptoKey,
      publicJwk: stored.public_jwk,
    };
  }
  const { privateKey, publicKey } = await generateKeyPair('ES256', { extractable: true });
  const kid = `local-${crypto.randomUUID().slice(0, 8)}`;
  const publicJwk = { ...(await exportJWK(publicKey)), kid, alg: 'ES256', use: 'sig' };
  const secrets: LocalSecrets = { encryptionKey: generateEncryptionKey('local1'), signingKey: privateKey, publicJwk };
  if (file && dataDir) {
    await mkdir(dataDir, { recursive: true });
    const stored: StoredSecrets = { encryption_key: secrets.encryptionKey, private_jwk: { ...(await exportJWK(privateKey)), kid }, public_jwk: publicJwk };
    await writeFile(file, JSON.stringify(stored, null, 2), { mode: 0o600 });
  }
  return secrets;
}
