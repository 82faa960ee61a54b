import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createLogger, REDACTED, SecretRegistry } from '../src/log.ts';
import { FakeBackend } from './support/fake-backend.ts';
import { captureLogger, cue, killLaunched, startAgent, tempDir, testEnv, waitFor, type TestAgent } from './support/harness.ts';
import { join } from 'node:path';

describe('no secret in any log line or metric', () => {
  let backend: FakeBackend;
  const agents: TestAgent[] = [];
  const dirs: { path: string; cleanup(): void }[] = [];
  beforeEach(async () => {
    backend = new FakeBackend();
    await backend.start();
  });
  afterEach(async () => {
    for (const a of agents.splice(0)) await a.agent.shutdown('test end');
    await backend.stop();
    for (const d of dirs.splice(0)) {
      killLaunched(join(d.path, 'terminals'));
      d.cleanup();
    }
  });

  it('redacts secret-named fields and registered secret values wherever they appear', () => {
    const lines: string[] = [];
    const secrets = new SecretRegistry();
    secrets.add('hunter2-Investor');
    const log = createLogger({ level: 'info', secrets, destination: { write: (s: string) => void lines.push(s) } });
    log.info({ password: 'p1-plain', nested: { investor_password: 'p2', provisioning_token: 't1' }, headers: { 'x-vps-api-key': 'k1' } }, 'fields');
    log.info({ detail: 'the terminal said hunter2-Investor was wrong' }, 'value inside text');
    log.error({ err: new Error('spawn failed for Password=hunter2-Investor') }, 'value inside an error');
    log.info(`message with a "quoted\\" hunter2-Investor" and whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw`);
    const text = lines.join('');
    for (const secret of ['p1-plain', '"p2"', 't1', 'k1', 'hunter2-Investor', 'whsec_MfKQ9r8']) expect(text).not.toContain(secret);
    const [fields] = lines.map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(fields).toMatchObject({
      password: REDACTED,
      nested: { investor_password: REDACTED, provisioning_token: REDACTED },
      headers: { 'x-vps-api-key': REDACTED },
    });
  });

  it('a whole agent life (logins, a crash, a wrong password, a teardown) never logs a password, token or key', async () => {
    const dir = tempDir();
    dirs.push(dir);
    const base = join(dir.path, 'terminals');
    const { key } = backend.addHost('redaction', 5);
    const ok = backend.addAccount({ password: 'S3cret-Investor-OK' });
    const crashy = backend.addAccount({ platform: 'MT4', password: 'S3cret-Investor-Crash' });
    const wrong = backend.addAccount({ password: 'wrong-S3cret-Investor' });
    cue(base, crashy.login, 'crash-n:1');
    const log = captureLogger();
    const a = await startAgent(testEnv(backend.url, key, base, { LOG_LEVEL: 'trace' }), { log });
    agents.push(a);
    await waitFor('ok logged in', () => a.agent.terminals.get(ok.account_id)?.record.password_removed);
    await waitFor('crashy restarted and logged in', () => a.agent.terminals.get(crashy.account_id)?.record.password_removed);
    await waitFor('wrong failed', () => wrong.status === 'error');
    ok.deleted = true;
    await a.agent.requestReconcile('test');
    await a.agent.idle();

    const secrets = [key, ok.password, crashy.password, wrong.password, ...ok.tokens, ...crashy.tokens, ...wrong.tokens];
    expect(secrets.length).toBeGreaterThanOrEqual(7);
    const text = log.text();
    expect(log.lines.length).toBeGreaterThan(20);
    for (const s of secrets) expect(text).not.toContain(s);
    // The lines are there, just without the secrets.
    const msgs = log.entries().map((e) => e.msg);
    expect(msgs).toEqual(expect.arrayContaining(['terminal started', 'terminal logged in', 'terminal exited unexpectedly', 'terminal failed', 'tearing down terminal']));

    const metrics = await a.metrics.registry.metrics();
    expect(metrics).toContain('rubi_vps_agent_terminal_restarts_total{platform="MT4"} 1');
    expect(metrics).toContain('rubi_vps_agent_terminal_errors_total{code="E_AUTH"} 1');
    expect(metrics).toMatch(/rubi_vps_agent_api_request_duration_seconds_count\{route="heartbeat",status="200"\} \d+/);
    for (const s of secrets) expect(metrics).not.toContain(s);
  });
});
