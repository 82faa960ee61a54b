import { createHmac } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import {
  MAX_SIGNATURES_CHECKED,
  SIGNATURE_TOLERANCE_SECONDS,
  SigningKey,
  generateWebhookSecret,
  signPayload,
  verifySignature,
} from '../src/index.ts';
import type { SignedHeaders } from '../src/index.ts';

const NOW = 1_700_000_000;
const BODY = '{"ticket":42,"symbol":"EURUSD"}';
const secretA = 'whsec_' + btoa('a'.repeat(32));
const secretB = 'whsec_' + btoa('b'.repeat(32));

async function headersFor(secrets: string[], id = 'msg_1', timestamp = NOW, body = BODY): Promise<SignedHeaders> {
  const signatures = await Promise.all(secrets.map((s) => signPayload(s, id, timestamp, body)));
  return { id, timestamp: String(timestamp), signature: signatures.join(' ') };
}

describe('signPayload known answers', () => {
  it('matches an HMAC computed independently with node:crypto', async () => {
    const key = 'k'.repeat(32);
    const expected = 'v1,' + createHmac('sha256', key).update('id1.1700000000.{}').digest('base64');
    expect(await signPayload('whsec_' + btoa(key), 'id1', 1700000000, '{}')).toBe(expected);
    // pinned literal (computed with `openssl dgst -sha256 -mac HMAC`)
    expect(expected).toBe('v1,Skv5KVBEavbptIKOr43AIKQVG/PTI3p3VtiKoivbkP4=');
  });

  it('reproduces the example from the Standard Webhooks documentation', async () => {
    const sig = await signPayload(
      'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw',
      'msg_p5jXN8AQM9LWM0D4loKWxJek',
      1614265330,
      '{"test": 2432232314}',
    );
    expect(sig).toBe('v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=');
  });

  it('signs UTF-8 bodies byte for byte', async () => {
    const key = 'z'.repeat(32);
    const body = '{"comment":"héllo ✓ 𝄞"}';
    const expected = 'v1,' + createHmac('sha256', key).update(`m.${NOW}.${body}`, 'utf8').digest('base64');
    expect(await signPayload(btoa(key), 'm', NOW, body)).toBe(expected);
  });

  it('accepts secrets with or without the whsec_ prefix', async () => {
    const bare = secretA.slice('whsec_'.length);
    expect(await signPayload(bare, 'x', NOW, BODY)).toBe(await signPayload(secretA, 'x', NOW, BODY));
  });

  it('rejects malformed secrets and timestamps', async () => {
    await expect(signPayload('whsec_not base64!', 'x', NOW, BODY)).rejects.toThrow(/secret/);
    await expect(signPayload('whsec_', 'x', NOW, BODY)).rejects.toThrow(/secret/);
    await expect(signPayload(secretA, 'x', 1.5, BODY)).rejects.toThrow(RangeError);
  });
});

describe('verifySignature', () => {
  it('accepts a valid signature and returns the timestamp', async () => {
    const headers = await headersFor([secretA]);
    expect(await verifySignature({ secrets: [secretA], headers, body: BODY, nowSeconds: NOW })).toEqual({
      ok: true,
      timestamp: NOW,
    });
  });

  it('rejects a tampered body, another id, another secret', async () => {
    const headers = await headersFor([secretA]);
    const bad = { ok: false, reason: 'invalid_signature' };
    expect(await verifySignature({ secrets: [secretA], headers, body: BODY + ' ', nowSeconds: NOW })).toEqual(bad);
    expect(
      await verifySignature({ secrets: [secretA], headers: { ...headers, id: 'msg_2' }, body: BODY, nowSeconds: NOW }),
    ).toEqual(bad);
    expect(await verifySignature({ secrets: [secretB], headers, body: BODY, nowSeconds: NOW })).toEqual(bad);
  });

  it('binds the timestamp into the signature', async () => {
    const headers = await headersFor([secretA]);
    const moved = { ...headers, timestamp: String(NOW + 1) };
    expect(await verifySignature({ secrets: [secretA], headers: moved, body: BODY, nowSeconds: NOW })).toEqual({
      ok: false,
      reason: 'invalid_signature',
    });
  });

  describe('rotation', () => {
    it('a header signed with old and new secret verifies with either secret list', async () => {
      const headers = await headersFor([secretA, secretB]);
      for (const secrets of [[secretA], [secretB], [secretA, secretB], [secretB, secretA]]) {
        expect(await verifySignature({ secrets, headers, body: BODY, nowSeconds: NOW })).toMatchObject({ ok: true });
      }
    });

    it('[old, new] secrets accept a request signed only with the new one (and vice versa)', async () => {
      const onlyNew = await headersFor([secretB]);
      expect(
        await verifySignature({ secrets: [secretA, secretB], headers: onlyNew, body: BODY, nowSeconds: NOW }),
      ).toMatchObject({ ok: true });
      const onlyOld = await headersFor([secretA]);
      expect(
        await verifySignature({ secrets: [secretA, secretB], headers: onlyOld, body: BODY, nowSeconds: NOW }),
      ).toMatchObject({ ok: true });
    });

    it('ignores unknown versions, garbage and extra spaces among the signatures', async () => {
      const good = await signPayload(secretA, 'msg_1', NOW, BODY);
      const signature = `v2,abc  v1,@@@not-base64@@@ v1 nonsense v1,${btoa('short')} ${good} `;
      expect(
        await verifySignature({ secrets: [secretA], headers: { id: 'msg_1', timestamp: String(NOW), signature }, body: BODY, nowSeconds: NOW }),
      ).toMatchObject({ ok: true });
    });

    it('does not accept a non-v1 entry carrying a valid MAC', async () => {
      const good = await signPayload(secretA, 'msg_1', NOW, BODY);
      const signature = good.replace(/^v1,/, 'v1a,');
      expect(
        await verifySignature({ secrets: [secretA], headers: { id: 'msg_1', timestamp: String(NOW), signature }, body: BODY, nowSeconds: NOW }),
      ).toEqual({ ok: false, reason: 'invalid_signature' });
    });

    it(`checks at most ${MAX_SIGNATURES_CHECKED} v1 signatures per header`, async () => {
      const decoy = await signPayload(secretB, 'msg_1', NOW, BODY);
      const good = await signPayload(secretA, 'msg_1', NOW, BODY);
      const within = [...Array(MAX_SIGNATURES_CHECKED - 1).fill(decoy), good].join(' ');
      const beyond = [...Array(MAX_SIGNATURES_CHECKED).fill(decoy), good].join(' ');
      const check = (signature: string) =>
        verifySignature({ secrets: [secretA], headers: { id: 'msg_1', timestamp: String(NOW), signature }, body: BODY, nowSeconds: NOW });
      expect(await check(within)).toMatchObject({ ok: true });
      expect(await check(beyond)).toEqual({ ok: false, reason: 'invalid_signature' });
    });
  });

  describe('tolerance', () => {
    it('is 300 seconds', () => {
      expect(SIGNATURE_TOLERANCE_SECONDS).toBe(300);
    });

    it('exactly 300 s old passes, 301 s old fails', async () => {
      const atEdge = await headersFor([secretA], 'm', NOW - 300);
      expect(await verifySignature({ secrets: [secretA], headers: atEdge, body: BODY, nowSeconds: NOW })).toEqual({
        ok: true,
        timestamp: NOW - 300,
      });
      const stale = await headersFor([secretA], 'm', NOW - 301);
      expect(await verifySignature({ secrets: [secretA], headers: stale, body: BODY, nowSeconds: NOW })).toEqual({
        ok: false,
        reason: 'timestamp_too_old',
      });
    });

    it('exactly 300 s ahead passes, 301 s ahead fails', async () => {
      const atEdge = await headersFor([secretA], 'm', NOW + 300);
      expect(await verifySignature({ secrets: [secretA], headers: atEdge, body: BODY, nowSeconds: NOW })).toMatchObject({
        ok: true,
      });
      const future = await headersFor([secretA], 'm', NOW + 301);
      expect(await verifySignature({ secrets: [secretA], headers: future, body: BODY, nowSeconds: NOW })).toEqual({
        ok: false,
        reason: 'timestamp_in_future',
      });
    });

    it('honours a custom tolerance and defaults to the clock', async () => {
      const tenAgo = await headersFor([secretA], 'm', NOW - 10);
      expect(
        await verifySignature({ secrets: [secretA], headers: tenAgo, body: BODY, nowSeconds: NOW, toleranceSeconds: 5 }),
      ).toEqual({ ok: false, reason: 'timestamp_too_old' });
      const real = await headersFor([secretA], 'm', Math.floor(Date.now() / 1000));
      expect(await verifySignature({ secrets: [secretA], headers: real, body: BODY })).toMatchObject({ ok: true });
      expect(await verifySignature({ secrets: [secretA], headers: tenAgo, body: BODY })).toEqual({
        ok: false,
        reason: 'timestamp_too_old',
      });
    });

    it('checks the window before the signature (a stale request is stale, whatever its MAC)', async () => {
      const headers = { id: 'm', timestamp: String(NOW - 1000), signature: 'v1,AAAA' };
      expect(await verifySignature({ secrets: [secretA], headers, body: BODY, nowSeconds: NOW })).toEqual({
        ok: false,
        reason: 'timestamp_too_old',
      });
    });
  });

  it.each(['abc', '', ' 1700000000', '1700000000.0', '1.7e9', '-5', '+1700000000', '01700000000', '0x6553F100'])(
    'timestamp %j is malformed (or missing)',
    async (timestamp) => {
      const headers = { ...(await headersFor([secretA])), timestamp };
      const result = await verifySignature({ secrets: [secretA], headers, body: BODY, nowSeconds: NOW });
      expect(result).toEqual({ ok: false, reason: timestamp === '' ? 'missing_headers' : 'malformed_timestamp' });
    },
  );

  it.each(['id', 'timestamp', 'signature'] as const)('missing %s header', async (name) => {
    const headers = { ...(await headersFor([secretA])), [name]: null };
    expect(await verifySignature({ secrets: [secretA], headers, body: BODY, nowSeconds: NOW })).toEqual({
      ok: false,
      reason: 'missing_headers',
    });
  });

  it('reports malformed or absent secrets', async () => {
    const headers = await headersFor([secretA]);
    for (const secrets of [[], ['whsec_***'], [secretA, 'whsec_'], ['whsec_YQ']]) {
      expect(await verifySignature({ secrets, headers, body: BODY, nowSeconds: NOW })).toEqual({
        ok: false,
        reason: 'malformed_secret',
      });
    }
  });
});

describe('generateWebhookSecret', () => {
  it('is whsec_ + base64 of 32 random bytes, and usable', async () => {
    const a = generateWebhookSecret();
    const b = generateWebhookSecret();
    expect(a).toMatch(/^whsec_[A-Za-z0-9+/]{43}=$/);
    expect(atob(a.slice(6))).toHaveLength(32);
    expect(a).not.toBe(b);
    const headers = await headersFor([a]);
    expect(await verifySignature({ secrets: [a], headers, body: BODY, nowSeconds: NOW })).toMatchObject({ ok: true });
  });
});

describe('SigningKey (a secret prepared once)', () => {
  it('computes the same MAC as createHmac for keys shorter, equal to and longer than the hash block', () => {
    for (const length of [1, 32, 63, 64, 65, 100, 200]) {
      const key = new Uint8Array(length).map((_, i) => (i * 7 + length) % 256);
      const secret = 'whsec_' + btoa(String.fromCharCode(...key));
      const prepared = SigningKey.from(secret);
      for (const body of ['', BODY, 'é ü 日本 ' + 'x'.repeat(5000)]) {
        const expected = createHmac('sha256', key).update(`msg_1.${NOW}.${body}`, 'utf8').digest('base64');
        expect(prepared.mac('msg_1', String(NOW), body)?.toString('base64')).toBe(expected);
      }
    }
  });

  it('verifies exactly like the secret as text, and can be used again and again', async () => {
    const prepared = SigningKey.from(secretA);
    const headers = await headersFor([secretA]);
    for (let i = 0; i < 3; i += 1) {
      expect(await verifySignature({ secrets: [prepared], headers, body: BODY, nowSeconds: NOW })).toEqual({ ok: true, timestamp: NOW });
    }
    expect(await verifySignature({ secrets: [prepared], headers, body: BODY + ' ', nowSeconds: NOW })).toEqual({ ok: false, reason: 'invalid_signature' });
    expect(await verifySignature({ secrets: [SigningKey.from(secretB)], headers, body: BODY, nowSeconds: NOW })).toEqual({
      ok: false,
      reason: 'invalid_signature',
    });
    // Mixed with a secret as text (rotation).
    expect(await verifySignature({ secrets: [SigningKey.from(secretB), secretA], headers, body: BODY, nowSeconds: NOW })).toMatchObject({ ok: true });
  });

  it('reports a malformed secret as malformed_secret, after the timestamp checks', async () => {
    const malformed = SigningKey.from('whsec_not base64!');
    expect(malformed.malformed).toBe(true);
    expect(malformed.mac('msg_1', String(NOW), BODY)).toBeNull();
    const headers = await headersFor([secretA]);
    expect(await verifySignature({ secrets: [malformed], headers, body: BODY, nowSeconds: NOW })).toEqual({ ok: false, reason: 'malformed_secret' });
    expect(await verifySignature({ secrets: [malformed], headers, body: BODY, nowSeconds: NOW + 400 })).toEqual({ ok: false, reason: 'timestamp_too_old' });
  });
});
