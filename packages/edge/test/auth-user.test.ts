import { createLocalJWKSet, exportJWK, generateKeyPair, SignJWT } from 'jose';
import { describe, expect, it } from 'vitest';
import { createUserTokenVerifier, InvalidTokenError } from '../src/auth-user.ts';

// createUserTokenVerifier loads jose on the first token, not at boot (bench/README.md, "Boot"); these
// pin that a start with a malformed SUPABASE_JWKS fails exactly as jose's createLocalJWKSet made it fail.

const SUPABASE_URL = 'http://supabase.test';
const USER_ID = '4d7c2a0e-5b1f-4c55-9a51-3f4c4f0b2a11';

function failure(fn: () => unknown): { name: string; message: string; code?: unknown } | undefined {
  try {
    fn();
    return undefined;
  } catch (error) {
    const e = error as Error & { code?: unknown };
    return { name: e.name, message: e.message, ...(e.code === undefined ? {} : { code: e.code }) };
  }
}

describe('createUserTokenVerifier', () => {
  it.each([
    ['[]'],
    ['{}'],
    ['null'],
    ['"keys"'],
    ['{"keys":{}}'],
    ['{"keys":[1]}'],
    ['{"keys":[[]]}'],
    ['{"keys":[null]}'],
    ['{"keys":[]}'],
    ['{"keys":[{"kty":"EC"}]}'],
    ['not json'],
  ])('SUPABASE_JWKS %s: fails (or not) at creation as jose does', (jwks) => {
    const ours = failure(() => createUserTokenVerifier({ supabaseUrl: SUPABASE_URL, jwks }));
    const jose = failure(() => createLocalJWKSet(JSON.parse(jwks) as Parameters<typeof createLocalJWKSet>[0]));
    expect(ours).toEqual(jose);
  });

  it('verifies a Supabase-shaped ES256 token against SUPABASE_JWKS and refuses a foreign one', async () => {
    const sign = async (privateKey: CryptoKey, kid: string) =>
      new SignJWT({ role: 'authenticated', email: 'a@b.test' })
        .setProtectedHeader({ alg: 'ES256', kid, typ: 'JWT' })
        .setSubject(USER_ID)
        .setAudience('authenticated')
        .setIssuer(`${SUPABASE_URL}/auth/v1`)
        .setIssuedAt()
        .setExpirationTime('1h')
        .sign(privateKey);
    const ours = await generateKeyPair('ES256', { extractable: true });
    const other = await generateKeyPair('ES256');
    const jwk = { ...(await exportJWK(ours.publicKey)), kid: 'k1', alg: 'ES256', use: 'sig' };
    const verify = createUserTokenVerifier({ supabaseUrl: SUPABASE_URL, jwks: JSON.stringify({ keys: [jwk] }) });

    await expect(verify(await sign(ours.privateKey, 'k1'))).resolves.toMatchObject({ sub: USER_ID, role: 'authenticated' });
    await expect(verify(await sign(other.privateKey, 'k1'))).rejects.toBeInstanceOf(InvalidTokenError);
    await expect(verify('not.a.token')).rejects.toBeInstanceOf(InvalidTokenError);
  });
});
