import { readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { signPayload, verifySignature } from '@rubi/crypto';
import { Webhook } from 'standardwebhooks';
import { describe, expect, it } from 'vitest';

// The README's worked signing example must stay true: parse it and check it three ways.
const whole = readFileSync(join(resolve(dirname(fileURLToPath(import.meta.url)), '../..'), 'README.md'), 'utf8');
// Only the example's own block: other prose may start a line with "secret" or "id".
const start = whole.indexOf('Worked example');
const readme = whole.slice(start, whole.indexOf('```', whole.indexOf('```', start) + 3));
function field(name: string): string {
  const match = new RegExp(`^${name}\\s+(.+)$`, 'm').exec(readme);
  if (!match?.[1]) throw new Error(`README example has no ${name} line`);
  return match[1].trim();
}

describe('README signing example', () => {
  const secret = field('secret');
  const id = field('id');
  const timestamp = Number(field('timestamp'));
  const body = field('body');
  const signature = field('signature');

  it('is what our signer produces', async () => {
    expect(await signPayload(secret, id, timestamp, body)).toBe(signature);
  });

  it('is what the reference standardwebhooks library produces', () => {
    expect(new Webhook(secret).sign(id, new Date(timestamp * 1000), body)).toBe(signature);
  });

  it('is accepted by our verifier at that time', async () => {
    const result = await verifySignature({ secrets: [secret], headers: { id, timestamp: String(timestamp), signature }, body, nowSeconds: timestamp + 10 });
    expect(result.ok).toBe(true);
  });
});
