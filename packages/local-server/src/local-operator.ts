import { issueVpsHostKey } from '@rubi/crypto';
import { asOwner, isPgError, type Db } from '@rubi/db';
import { ApiError, badRequest, conflict, issuesToDetails, notFound, unauthorized } from '@rubi/edge';
import { Hono, type Context } from 'hono';
import { importJWK, jwtVerify, type JWK } from 'jose';
import { z } from 'zod';
import type { CronRunner } from './cron-runner.ts';

/**
 * Operator routes of the local stack only (never deployed): what an operator does on a real project
 * with the database URL and the pg_cron schedule, reachable over HTTP so that `npm run demo` can
 * drive a running `npm start` without a PostgreSQL wire port.
 *
 *   POST /_local/vps-hosts            {name, capacity?, dedicated_user_id?}
 *                                     -> 201 {id, name, capacity, dedicated_user_id, api_key}
 *                                     (`npm run vps-host -- create` on a real project); a host
 *                                     dedicated to a user runs only that user's accounts
 *   POST /_local/cron/{jobname}/run   runs one pg_cron job now, recorded in cron.job_run_details
 *                                     like a scheduled run (e.g. the nightly settlement)
 *
 * Every route needs `Authorization: Bearer <service_role key>`: a JWT with role service_role
 * signed by the local signing key (in <data dir>/local-secrets.json, and in the banner).
 */

const HostName = z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$/, '1-100 letters, digits, dots, dashes or underscores, starting with a letter or digit');
const CreateHost = z
  .object({ name: HostName, capacity: z.number().int().min(0).max(1000).default(5), dedicated_user_id: z.uuid().nullable().default(null) })
  .strict();

function fail(c: Context, error: ApiError) {
  return c.json(error.toBody(), error.status);
}

export function createLocalOperatorRoutes(db: Db, cron: CronRunner, publicJwk: JWK): Hono {
  const app = new Hono().basePath('/_local');
  const keyPromise = importJWK(publicJwk, 'ES256');

  app.use('*', async (c, next) => {
    const token = /^Bearer (\S+)$/.exec(c.req.header('authorization') ?? '')?.[1];
    if (!token) return fail(c, unauthorized('operator routes need Authorization: Bearer <service_role key>'));
    try {
      const { payload } = await jwtVerify(token, await keyPromise, { algorithms: ['ES256'] });
      if (payload.role !== 'service_role') return fail(c, unauthorized('not a service_role key'));
    } catch {
      return fail(c, unauthorized('invalid service_role key'));
    }
    await next();
  });

  app.post('/vps-hosts', async (c) => {
    const body: unknown = await c.req.json().catch(() => undefined);
    const parsed = CreateHost.safeParse(body);
    if (!parsed.success) return fail(c, badRequest('request validation failed', issuesToDetails('body', parsed.error.issues)));
    const { name, capacity, dedicated_user_id } = parsed.data;
    const { key, keyHash } = await issueVpsHostKey();
    try {
      const [row] = await db.query<{ id: string }>(
        asOwner(),
        'insert into private.vps_hosts (name, key_hash, capacity, dedicated_user_id) values ($1, $2, $3, $4) returning id',
        [name, keyHash, capacity, dedicated_user_id],
      );
      return c.json({ id: row?.id, name, capacity, dedicated_user_id, api_key: key }, 201);
    } catch (error) {
      if (isPgError(error) && error.code === '23505') return fail(c, conflict(`a host named "${name}" already exists`));
      if (isPgError(error) && error.code === '23503') {
        return fail(c, badRequest('request validation failed', [{ path: 'body.dedicated_user_id', message: 'no such user' }]));
      }
      throw error;
    }
  });

  app.post('/cron/:jobname/run', async (c) => {
    const jobname = c.req.param('jobname');
    const job = await cron.find(jobname);
    if (!job) return fail(c, notFound(`no cron job named ${jobname}`));
    return c.json(await cron.runJob(job));
  });

  return app;
}
