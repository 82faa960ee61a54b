import { generateWebhookSecret, SigningKey, type SecretBox } from '@rubi/crypto';
import { asService } from '@rubi/db';
import type { EdgeDeps } from './deps.ts';

/**
 * What a signed EA request is verified with, kept in the function's memory so that the hot path
 * needs no lookup before its one SQL call.
 *
 * Staleness is bounded by zero, not by a TTL: the gate (`private.enter_ea_key` /
 * `private.enter_account_ea`) re-reads the stored credential in the request's own statement and
 * refuses a revoked key or deleted account at once (28000), and a credential that changed since it
 * was cached (a re-issued api secret, other scopes) with 28P01, on which the toolkit drops the
 * entry, reads the credential again, verifies the signature again and retries once. The TTL and
 * the size bound only limit memory.
 */
export interface EaKeyCredential {
  kind: 'ea_key';
  keyId: string;
  userId: string;
  scopes: string[];
  /** The secret as stored (AES-GCM ciphertext): what the gate compares, never the secret itself. */
  sealed: string;
  secret: string;
  /** The secret prepared for verifySignature once per read, not once per request. */
  signingKey: SigningKey;
}

export interface AccountEaCredential {
  kind: 'account_ea';
  externalId: string;
  accountId: string;
  userId: string;
  sealed: string;
  secret: string;
  signingKey: SigningKey;
}

export type EaCredential = EaKeyCredential | AccountEaCredential;

export const CREDENTIAL_CACHE_MAX_ENTRIES = 10_000;
export const CREDENTIAL_CACHE_TTL_MS = 10 * 60_000;

interface Entry {
  credential: EaCredential;
  readAt: number;
}

/** Least recently used first (a Map keeps insertion order; a hit re-inserts). */
export class CredentialCache {
  readonly #entries = new Map<string, Entry>();

  constructor(
    private readonly maxEntries = CREDENTIAL_CACHE_MAX_ENTRIES,
    private readonly ttlMs = CREDENTIAL_CACHE_TTL_MS,
    private readonly clock: () => number = () => performance.now(),
  ) {}

  get size(): number {
    return this.#entries.size;
  }

  get(key: string): EaCredential | undefined {
    const entry = this.#entries.get(key);
    if (!entry) return undefined;
    this.#entries.delete(key);
    if (this.clock() - entry.readAt > this.ttlMs) return undefined;
    this.#entries.set(key, entry);
    return entry.credential;
  }

  set(key: string, credential: EaCredential): void {
    this.#entries.delete(key);
    this.#entries.set(key, { credential, readAt: this.clock() });
    while (this.#entries.size > this.maxEntries) {
      const oldest = this.#entries.keys().next().value;
      if (oldest === undefined) break;
      this.#entries.delete(oldest);
    }
  }

  delete(key: string): void {
    this.#entries.delete(key);
  }
}

/**
 * A secret that signs nothing, for unknown credentials: the caller verifies the request against it
 * so that an unknown id costs the same steps as a known one with a wrong signature (one lookup, one
 * AES-GCM open, one signing key prepared, one HMAC) and ends in the same 401 (issue #15: ids must not
 * be told apart by message or by time). Random per process, never stored, never accepted (the caller
 * refuses an unknown id whatever the verification says).
 */
export const DUMMY_SECRET = generateWebhookSecret();
export const DUMMY_SIGNING_KEY = SigningKey.from(DUMMY_SECRET);
const dummySealed = new WeakMap<SecretBox, Promise<{ keyId: string; ciphertext: string }>>();

/** Opens a sealed dummy and prepares its signing key: the work a known credential's read does. */
async function openDummy(secretBox: SecretBox): Promise<void> {
  let sealed = dummySealed.get(secretBox);
  if (!sealed) {
    sealed = secretBox.seal(DUMMY_SECRET, 'dummy');
    dummySealed.set(secretBox, sealed);
  }
  const { ciphertext, keyId } = await sealed;
  const secret = await secretBox.open(ciphertext, keyId, 'dummy');
  // A known credential's read prepares its signing key too: the same work, thrown away.
  SigningKey.from(secret);
}

/** Reads a live EA key's credential (one round trip), or undefined for an unknown or revoked key. */
export async function readEaKeyCredential(deps: EdgeDeps, keyId: string): Promise<EaKeyCredential | undefined> {
  const [row] = await deps.db.query<{ user_id: string; scopes: string[]; secret_ciphertext: string; encryption_key_id: string }>(
    asService(),
    'select * from private.ea_key_credentials($1)',
    [keyId],
  );
  if (!row) return openDummy(deps.secretBox).then(() => undefined);
  const secret = await deps.secretBox.open(row.secret_ciphertext, row.encryption_key_id, keyId);
  return { kind: 'ea_key', keyId, userId: row.user_id, scopes: row.scopes, sealed: row.secret_ciphertext, secret, signingKey: SigningKey.from(secret) };
}

/** Reads a registered account's api secret (one round trip), or undefined for an unknown, unregistered or deleted account. */
export async function readAccountEaCredential(deps: EdgeDeps, externalId: string): Promise<AccountEaCredential | undefined> {
  const [row] = await deps.db.query<{ account_id: string; user_id: string; api_secret_ciphertext: string; api_secret_key_id: string }>(
    asService(),
    'select * from private.account_ea_credentials($1)',
    [externalId],
  );
  if (!row) return openDummy(deps.secretBox).then(() => undefined);
  const secret = await deps.secretBox.open(row.api_secret_ciphertext, row.api_secret_key_id, row.account_id);
  return {
    kind: 'account_ea',
    externalId,
    accountId: row.account_id,
    userId: row.user_id,
    sealed: row.api_secret_ciphertext,
    secret,
    signingKey: SigningKey.from(secret),
  };
}
