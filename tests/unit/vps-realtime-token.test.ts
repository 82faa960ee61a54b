// The private doorbell (issue #15, item 7): POST /vps/realtime-token mints, for a host that proved
// itself with its API key, a short-lived Realtime token that proves it is that host and grants
// nothing else (role anon + vps_host_id; the RLS policy "vps hosts receive the doorbell" does the
// rest: supabase/tests/database/01_realtime.sql, packages/local-server/test/realtime-*.test.ts).
import { exportJWK, generateKeyPair, jwtVerify } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createVpsApp } from '../../functions/vps/app.ts';
import { createEdgeHarness, type EdgeHarness } from '../support/edge-harness.ts';
import { createVpsHost } from '../support/vps-fixtures.ts';

let h: EdgeHarness;
let publicKey: CryptoKey;
let jwk: string;

beforeAll(async () => {
  h = await createEdgeHarness();
  const pair = await generateKeyPair('ES256', { extractable: true });
  publicKey = pair.publicKey;
  jwk = JSON.stringify({ ...(await exportJWK(pair.privateKey)), kid: 'realtime-test' });
});
afterAll(() => h.close());

const post = (app: ReturnType<typeof createVpsApp>, key?: string) =>
  app.request('/vps/realtime-token', { method: 'POST', headers: key ? { 'x-vps-api-key': key } : {} });

describe('POST /vps/realtime-token', () => {
  it('gives an authenticated host a ten-minute token with role anon and its host id, and nothing more', async () => {
    const host = await createVpsHost(h, 'realtime-token-host', 1);
    const app = createVpsApp({ ...h.deps, config: { ...h.deps.config, REALTIME_SIGNING_JWK: jwk } });
    const res = await post(app, host.key);
    expect(res.status).toBe(200);
    expect(res.headers.get('cache-control')).toBe('no-store');
    const body = (await res.json()) as { access_token: string; expires_at: string; topic: string };
    expect(body.topic).toBe('vps:doorbell');
    const { payload, protectedHeader } = await jwtVerify(body.access_token, publicKey);
    expect(protectedHeader).toMatchObject({ alg: 'ES256', kid: 'realtime-test' });
    expect(Object.keys(payload).sort()).toEqual(['exp', 'iat', 'role', 'vps_host_id']);
    expect(payload).toMatchObject({ role: 'anon', vps_host_id: host.id });
    expect(payload.exp! - payload.iat!).toBe(600);
    expect(Date.parse(body.expires_at)).toBe(payload.exp! * 1000);
    expect(h.logs.join('\n')).not.toContain(body.access_token);
  });

  it('refuses anyone without a host key, and answers 503 when no signing key is configured', async () => {
    const app = createVpsApp({ ...h.deps, config: { ...h.deps.config, REALTIME_SIGNING_JWK: jwk } });
    expect((await post(app)).status).toBe(401);
    expect((await post(app, `vps_${'x'.repeat(40)}`)).status).toBe(401);
    const host = await createVpsHost(h, 'realtime-token-unconfigured', 1);
    const unconfigured = await post(createVpsApp(h.deps), host.key);
    expect(unconfigured.status).toBe(503);
    expect(await unconfigured.json()).toMatchObject({ error: { code: 'unavailable' } });
  });
});
