import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { FakeBackend } from './support/fake-backend.ts';
import { FakeRealtime } from './support/fake-realtime.ts';
import { killLaunched, startAgent, tempDir, testEnv, waitFor, type TestAgent } from './support/harness.ts';

/**
 * The doorbell through the real supabase-js client (on Node's global WebSocket, as in production)
 * against a minimal Realtime server: claimed within a second of a ring with polling effectively
 * off, and a reconcile on every (re)subscribe, which is what makes a lost ring harmless.
 */
describe('the Realtime doorbell', () => {
  let backend: FakeBackend;
  let realtime: FakeRealtime;
  const agents: TestAgent[] = [];
  const dirs: { path: string; cleanup(): void }[] = [];

  beforeEach(async () => {
    backend = new FakeBackend();
    realtime = new FakeRealtime();
    await Promise.all([backend.start(), realtime.start()]);
  });
  afterEach(async () => {
    for (const a of agents.splice(0)) await a.agent.shutdown('test end');
    await Promise.all([backend.stop(), realtime.stop()]);
    for (const d of dirs.splice(0)) {
      killLaunched(join(d.path, 'terminals'));
      d.cleanup();
    }
  });

  it('claims within a second of the doorbell, and reconciles on every resubscribe', async () => {
    const dir = tempDir();
    dirs.push(dir);
    const { key } = backend.addHost('realtime', 5);
    const a = await startAgent(
      testEnv(backend.url, key, join(dir.path, 'terminals'), {
        SUPABASE_URL: realtime.origin,
        SUPABASE_PUBLISHABLE_KEY: 'sb_publishable_test_key_123',
        POLL_INTERVAL_SECONDS: '3600',
      }),
    );
    agents.push(a);
    await waitFor('subscribed', () => a.log.entries().some((e) => e.msg === 'listening to the doorbell'));
    expect(realtime.joins[0]).toMatchObject({ topic: 'realtime:vps:doorbell', apikey: 'sb_publishable_test_key_123' });
    // A private channel, joined with this host's token from POST /vps/realtime-token.
    expect(backend.realtimeTokens).toHaveLength(1);
    expect(realtime.joins[0]?.payload).toMatchObject({ config: { private: true }, access_token: backend.realtimeTokens[0] });
    expect(a.log.entries().some((e) => String(e.msg).startsWith('no SUPABASE_URL'))).toBe(false);
    await a.agent.idle();

    // A ring: the account is claimed and launched at once (the timer is an hour away).
    const first = backend.addAccount();
    const rang = Date.now();
    expect(realtime.ring('vps:doorbell', 'account_pending')).toBe(1);
    await waitFor('claimed', () => first.status === 'provisioning', 5000);
    expect(Date.now() - rang).toBeLessThan(1000);
    await waitFor('launched', () => a.agent.terminals.get(first.account_id)?.record.pid);

    // A lost ring: the connection drops, an account is queued meanwhile; the resubscribe
    // reconciles and finds it.
    realtime.dropAll();
    const second = backend.addAccount();
    await waitFor('resubscribed', () => a.log.entries().some((e) => e.msg === 'doorbell resubscribed'), 15_000);
    await waitFor('claimed after resubscribe', () => second.status === 'provisioning', 5000);
    expect((await a.metrics.doorbells.get()).values[0]?.value).toBe(1);
    expect(a.log.text()).not.toContain('sb_publishable_test_key_123');
    expect(a.log.text()).not.toContain('fake-rt.');

    await a.agent.shutdown('SIGTERM');
    agents.splice(0);
    await waitFor('unsubscribed', () => realtime.listeners('vps:doorbell') === 0);
  }, 60_000);

  it('renews its token before it expires and hands it to the joined channel', async () => {
    const dir = tempDir();
    dirs.push(dir);
    backend.realtimeTokenSeconds = 3;
    const { key } = backend.addHost('realtime-renew', 5);
    const a = await startAgent(
      testEnv(backend.url, key, join(dir.path, 'terminals'), {
        SUPABASE_URL: realtime.origin,
        SUPABASE_PUBLISHABLE_KEY: 'sb_publishable_test_key_123',
        POLL_INTERVAL_SECONDS: '3600',
      }),
    );
    agents.push(a);
    await waitFor('subscribed', () => a.log.entries().some((e) => e.msg === 'listening to the doorbell'));
    await waitFor('renewed', () => realtime.tokenPushes.some((p) => (p.payload as { access_token?: string }).access_token === backend.realtimeTokens[1]), 10_000);
    expect(realtime.tokenPushes[0]).toMatchObject({ topic: 'realtime:vps:doorbell' });
    expect(a.log.text()).not.toContain('fake-rt.');
  }, 30_000);

  it('polls when the backend has no Realtime signing key (no token), without joining', async () => {
    const dir = tempDir();
    dirs.push(dir);
    backend.realtimeTokenSeconds = null;
    const { key } = backend.addHost('realtime-none', 5);
    const a = await startAgent(
      testEnv(backend.url, key, join(dir.path, 'terminals'), {
        SUPABASE_URL: realtime.origin,
        SUPABASE_PUBLISHABLE_KEY: 'sb_publishable_test_key_123',
        POLL_INTERVAL_SECONDS: '1',
      }),
    );
    agents.push(a);
    await waitFor('no token', () => a.log.entries().some((e) => e.msg === 'no doorbell token; polling only for now'));
    const queued = backend.addAccount();
    await waitFor('claimed by polling', () => queued.status === 'provisioning', 10_000);
    expect(realtime.joins).toEqual([]);
  }, 30_000);
});
