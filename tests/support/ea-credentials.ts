import { createKeysApp } from '../../functions/keys/app.ts';
import { userRequest, type EaCredential, type EdgeHarness, type TestUser } from './edge-harness.ts';

/** Creates an EA key through the real `keys` function, as the dashboard would. */
export async function createEaCredential(h: EdgeHarness, user: TestUser, scopes?: string[]): Promise<EaCredential> {
  const app = createKeysApp(h.deps);
  const res = await userRequest(app, 'POST', '/keys', user.token, { name: 'test terminal', ...(scopes ? { scopes } : {}) });
  if (res.status !== 201) throw new Error(`key creation failed: ${res.status} ${await res.text()}`);
  const key = (await res.json()) as { id: string; secret: string };
  return { keyId: key.id, secret: key.secret };
}
