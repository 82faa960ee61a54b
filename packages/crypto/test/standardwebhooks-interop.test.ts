// Cross-check against the reference `standardwebhooks` library: it signs, we verify; we sign, it
// verifies; and both reject the same bad requests.
import { Webhook } from 'standardwebhooks';
import { describe, expect, it } from 'vitest';
import { generateWebhookSecret, signPayload, verifySignature } from '../src/index.ts';

const BODY = JSON.stringify({ account: 123456, server: 'Broker-Live', positions: [{ ticket: 1, lots: 0.1 }], note: 'ünïcødé ✓' });
const nowSeconds = () => Math.floor(Date.now() / 1000);

describe('standardwebhooks interop', () => {
  const secret = generateWebhookSecret();
  const other = generateWebhookSecret();

  it('accepts what the reference library signs', async () => {
    const ts = nowSeconds();
    const signature = new Webhook(secret).sign('msg_abc', new Date(ts * 1000), BODY);
    const result = await verifySignature({
      secrets: [secret],
      headers: { id: 'msg_abc', timestamp: String(ts), signature },
      body: BODY,
    });
    expect(result).toEqual({ ok: true, timestamp: ts });
  });

  it('accepts what the reference library signs with a bare (unprefixed) secret', async () => {
    const bare = secret.slice('whsec_'.length);
    const ts = nowSeconds();
    const signature = new Webhook(bare).sign('msg_bare', new Date(ts * 1000), BODY);
    expect(
      await verifySignature({ secrets: [secret], headers: { id: 'msg_bare', timestamp: String(ts), signature }, body: BODY }),
    ).toMatchObject({ ok: true });
  });

  it('produces signatures the reference library accepts', async () => {
    const ts = nowSeconds();
    const signature = await signPayload(secret, 'msg_xyz', ts, BODY);
    expect(new Webhook(secret).sign('msg_xyz', new Date(ts * 1000), BODY)).toBe(signature);
    const parsed = new Webhook(secret).verify(BODY, {
      'webhook-id': 'msg_xyz',
      'webhook-timestamp': String(ts),
      'webhook-signature': signature,
    });
    expect(parsed).toEqual(JSON.parse(BODY));
  });

  it('rotation headers built by us are accepted by the reference library under either secret', async () => {
    const ts = nowSeconds();
    const signature = [await signPayload(other, 'm', ts, BODY), await signPayload(secret, 'm', ts, BODY)].join(' ');
    const headers = { 'webhook-id': 'm', 'webhook-timestamp': String(ts), 'webhook-signature': signature };
    expect(() => new Webhook(secret).verify(BODY, headers)).not.toThrow();
    expect(() => new Webhook(other).verify(BODY, headers)).not.toThrow();
  });

  describe('both reject', () => {
    async function bothVerify(opts: { signWith: string; verifyWith: string; signedBody: string; sentBody: string; ts: number }) {
      const signature = await signPayload(opts.signWith, 'msg_r', opts.ts, opts.signedBody);
      const ours = await verifySignature({
        secrets: [opts.verifyWith],
        headers: { id: 'msg_r', timestamp: String(opts.ts), signature },
        body: opts.sentBody,
      });
      let theirs: string;
      try {
        new Webhook(opts.verifyWith).verify(opts.sentBody, {
          'webhook-id': 'msg_r',
          'webhook-timestamp': String(opts.ts),
          'webhook-signature': signature,
        });
        theirs = 'ok';
      } catch (error) {
        theirs = (error as Error).message;
      }
      return { ours, theirs };
    }

    it('a tampered body', async () => {
      const r = await bothVerify({ signWith: secret, verifyWith: secret, signedBody: BODY, sentBody: BODY.replace('0.1', '10'), ts: nowSeconds() });
      expect(r.ours).toEqual({ ok: false, reason: 'invalid_signature' });
      expect(r.theirs).toBe('No matching signature found');
    });

    it('another secret', async () => {
      const r = await bothVerify({ signWith: other, verifyWith: secret, signedBody: BODY, sentBody: BODY, ts: nowSeconds() });
      expect(r.ours).toEqual({ ok: false, reason: 'invalid_signature' });
      expect(r.theirs).toBe('No matching signature found');
    });

    it('a stale timestamp', async () => {
      const r = await bothVerify({ signWith: secret, verifyWith: secret, signedBody: BODY, sentBody: BODY, ts: nowSeconds() - 600 });
      expect(r.ours).toEqual({ ok: false, reason: 'timestamp_too_old' });
      expect(r.theirs).toBe('Message timestamp too old');
    });

    it('a timestamp too far in the future', async () => {
      const r = await bothVerify({ signWith: secret, verifyWith: secret, signedBody: BODY, sentBody: BODY, ts: nowSeconds() + 600 });
      expect(r.ours).toEqual({ ok: false, reason: 'timestamp_in_future' });
      expect(r.theirs).toBe('Message timestamp too new');
    });
  });
});
