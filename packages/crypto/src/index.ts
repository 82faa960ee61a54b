export {
  base64ToBytes,
  base64UrlToBytes,
  bytesToBase64,
  bytesToBase64Url,
  utf8Decode,
  utf8Encode,
} from './base64.ts';
export { issueOperatorKey, issueVpsHostKey, randomBytes, randomId, randomToken, sha256Hex } from './random.ts';
export {
  MAX_SIGNATURES_CHECKED,
  SIGNATURE_TOLERANCE_SECONDS,
  SigningKey,
  generateWebhookSecret,
  signPayload,
  verifySignature,
} from './signing.ts';
export type { SignedHeaders, VerifyFailure, VerifyResult } from './signing.ts';
export { SecretBoxError, generateEncryptionKey, importKeyring } from './secret-box.ts';
export type { SecretBox, SecretBoxErrorCode, SecretBoxKey } from './secret-box.ts';
