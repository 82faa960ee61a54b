import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { countRows, createEdgeHarness, userRequest, type EdgeHarness, type TestUser } from '../../tests/support/edge-harness.ts';
import { createKeysApp } from './app.ts';

let h: EdgeHarness;
let app: ReturnType<typeof createKeysApp>;
let alice: TestUser;
let bob: TestUser;

beforeAll(async () => {
  h = await createEdgeHarness();
  app = createKeysApp(h.deps);
  alice = await h.createUser('alice@example.com');
  bob = await h.createUser('bob@example.com');
});
afterAll(() => h.close());

describe('keys', () => {
  it('creates a key, returns the secret once and stores only its ciphertext', async () => {
    const res = await userRequest(app, 'POST', '/keys', alice.token, { name: 'Live terminal' });
    expect(res.status).toBe(201);
    const key = (await res.json()) as { id: string; secret: string; scopes: string[]; revoked_at: string | null };
    expect(key.secret).toMatch(/^whsec_[A-Za-z0-9+/]{43}=$/);
    expect(key.scopes).toEqual(['connect', 'ping', 'signals', 'positions']);
    expect(key.revoked_at).toBeNull();
    const list = (await (await userRequest(app, 'GET', '/keys', alice.token)).json()) as { keys: Record<string, unknown>[] };
    expect(list.keys.map((k) => k.id)).toContain(key.id);
    expect(JSON.stringify(list)).not.toContain(key.secret);
    expect(await countRows(h, 'private.ea_key_secrets', 'key_id = $1 and secret_ciphertext not like $2', [key.id, '%whsec_%'])).toBe(1);
    expect(h.logs.join('\n')).not.toContain(key.secret);
  });

  it('rejects bad input with the offending fields and writes nothing', async () => {
    const before = await countRows(h, 'public.ea_keys');
    const res = await userRequest(app, 'POST', '/keys', alice.token, { name: '', scopes: ['trade'], extra: 1 });
    expect(res.status).toBe(400);
    const body = (await res.json()) as { error: { code: string; details: { path: string }[] } };
    expect(body.error.code).toBe('invalid_request');
    const paths = body.error.details.map((d) => d.path);
    expect(paths).toContain('body.name');
    expect(paths.some((p) => p.startsWith('body.scopes'))).toBe(true);
    expect(await countRows(h, 'public.ea_keys')).toBe(before);
    const malformed = await app.request('/keys', {
      method: 'POST',
      headers: { authorization: `Bearer ${alice.token}`, 'content-type': 'application/json' },
      body: '{"name":',
    });
    expect(malformed.status).toBe(400);
  });

  it('requires a valid, unexpired user token', async () => {
    expect((await userRequest(app, 'GET', '/keys', null)).status).toBe(401);
    expect((await userRequest(app, 'GET', '/keys', 'not.a.jwt')).status).toBe(401);
    const expired = await h.tokenFor(alice.id, { expiresInSeconds: -120 });
    expect((await userRequest(app, 'GET', '/keys', expired)).status).toBe(401);
    const foreignIssuer = await h.tokenFor(alice.id, { issuer: 'https://evil.example.com/auth/v1' });
    expect((await userRequest(app, 'GET', '/keys', foreignIssuer)).status).toBe(401);
    const anonRole = await h.tokenFor(alice.id, { role: 'anon' });
    expect((await userRequest(app, 'GET', '/keys', anonRole)).status).toBe(401);
    const body = (await (await userRequest(app, 'GET', '/keys', expired)).json()) as { error: { code: string } };
    expect(body.error.code).toBe('unauthorized');
  });

  it("cannot see or revoke another user's key", async () => {
    const created = (await (await userRequest(app, 'POST', '/keys', bob.token, { name: 'Bob' })).json()) as { id: string };
    const aliceList = (await (await userRequest(app, 'GET', '/keys', alice.token)).json()) as { keys: { id: string }[] };
    expect(aliceList.keys.map((k) => k.id)).not.toContain(created.id);
    const res = await userRequest(app, 'POST', `/keys/${created.id}/revoke`, alice.token);
    expect(res.status).toBe(404);
    expect(await countRows(h, 'public.ea_keys', 'id = $1 and revoked_at is null', [created.id])).toBe(1);
  });

  it('revokes idempotently', async () => {
    const created = (await (await userRequest(app, 'POST', '/keys', alice.token, { name: 'Old' })).json()) as { id: string };
    const first = (await (await userRequest(app, 'POST', `/keys/${created.id}/revoke`, alice.token)).json()) as { revoked_at: string };
    expect(first.revoked_at).toBeTruthy();
    const again = await userRequest(app, 'POST', `/keys/${created.id}/revoke`, alice.token);
    expect(again.status).toBe(200);
    expect(((await again.json()) as { revoked_at: string }).revoked_at).toBe(first.revoked_at);
    expect((await userRequest(app, 'POST', '/keys/not-a-uuid/revoke', alice.token)).status).toBe(400);
  });

  it('answers unknown routes with 404 in the error shape, and serves its OpenAPI document', async () => {
    const res = await userRequest(app, 'GET', '/keys/nope/nothing', alice.token);
    expect(res.status).toBe(404);
    expect(((await res.json()) as { error: { code: string } }).error.code).toBe('not_found');
    const doc = (await (await app.request('/keys/openapi.json')).json()) as { openapi: string; paths: Record<string, unknown> };
    expect(doc.openapi).toBe('3.1.0');
    expect(Object.keys(doc.paths)).toEqual(expect.arrayContaining(['/keys', '/keys/{id}/revoke']));
  });

  it('logs one JSON line per request with no token in it', async () => {
    const before = h.logs.length;
    await userRequest(app, 'GET', '/keys', alice.token);
    const lines = h.logs.slice(before).map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatchObject({ fn: 'keys', method: 'GET', status: 200, principal: 'user', user_id: alice.id, route: '/keys' });
    expect(h.logs.join('\n')).not.toContain(alice.token);
  });
});
