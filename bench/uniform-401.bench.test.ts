// Uniform 401s (issue #15, item 7): an unknown EA key id and a known key with a wrong signature, an
// unknown account and a known one with a wrong token on `register`, timed in process (the functions'
// code on the embedded PGlite database), the two paths interleaved so that the machine's load
// falls on both alike. Printed, never asserted (house rule: performance is not asserted by timed
// tests); tests/unit/rate-limits.test.ts proves the steps are the same.
import { asOwner } from '@rubi/db';
import { afterAll, beforeAll, describe, it } from 'vitest';
import { createPingApp } from '../functions/ping/app.ts';
import { createRegisterApp } from '../functions/register/app.ts';
import { createEaCredential } from '../tests/support/ea-credentials.ts';
import { createEdgeHarness, eaRequest, type EdgeHarness } from '../tests/support/edge-harness.ts';
import { provisionAccount, registerBody, type ProvisionedAccount } from '../tests/support/provisioning.ts';

const ROUNDS = 300;
let h: EdgeHarness;

const p50 = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? Number.NaN;

beforeAll(async () => {
  h = await createEdgeHarness();
  // The failure limits would turn these 401s into 429s.
  await h.db.query(asOwner(), `update private.settings set value = 1000000000 where key like 'rate\\_limit\\_%'`);
});
afterAll(() => h?.close());

async function interleaved(a: () => Promise<Response>, b: () => Promise<Response>): Promise<[number[], number[]]> {
  const ta: number[] = [];
  const tb: number[] = [];
  for (let i = 0; i < ROUNDS; i++) {
    for (const [op, out] of i % 2 === 0 ? ([[a, ta], [b, tb]] as const) : ([[b, tb], [a, ta]] as const)) {
      const t0 = performance.now();
      const res = await op();
      out.push(performance.now() - t0);
      if (res.status !== 401) throw new Error(`expected 401, got ${res.status} ${await res.text()}`);
    }
  }
  return [ta, tb];
}

describe('uniform 401 timings (in process, PGlite)', () => {
  it('EA key: unknown id vs known id with a wrong signature', async () => {
    const user = await h.createUser('uniform-ea@bench.invalid');
    const key = await createEaCredential(h, user);
    const app = createPingApp(h.deps);
    const secret = `whsec_${Buffer.from('bench-wrong-secret-bench-wrong-s').toString('base64')}`;
    const [unknown, known] = await interleaved(
      () => eaRequest(h, app, 'POST', '/ping', { keyId: crypto.randomUUID(), secret }, {}),
      () => eaRequest(h, app, 'POST', '/ping', { keyId: key.keyId, secret }, {}),
    );
    console.log(`[bench] uniform 401, EA key (${ROUNDS} each, interleaved): unknown id p50 ${p50(unknown).toFixed(2)} ms, known id + wrong signature p50 ${p50(known).toFixed(2)} ms`);
  });

  it('register: unknown account vs known account with a wrong token', async () => {
    const user = await h.createUser('uniform-register@bench.invalid');
    const account: ProvisionedAccount = await provisionAccount(h, user);
    const app = createRegisterApp(h.deps);
    const post = async (externalId: string): Promise<Response> =>
      app.request('/register', {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(registerBody(account, { external_account_id: externalId, provisioning_token: 'w'.repeat(43) })),
      });
    const [unknown, known] = await interleaved(
      () => post(crypto.randomUUID()),
      () => post(account.externalId),
    );
    console.log(`[bench] uniform 401, register (${ROUNDS} each, interleaved): unknown account p50 ${p50(unknown).toFixed(2)} ms, known account + wrong token p50 ${p50(known).toFixed(2)} ms`);
  });
});
