import { createKeyRoute, listKeysRoute, revokeKeyRoute } from '@rubi/contracts/keys.ts';
import { generateWebhookSecret } from '@rubi/crypto';
import type { Tables } from '@rubi/db';
import { createFunctionApp, iso, isoRequired, limit, notFound, requireUser, withDb, type EdgeDeps } from '@rubi/edge';

interface EaKeyRow {
  id: string;
  name: string;
  scopes: Tables<'ea_keys'>['scopes'];
  created_at: Date;
  last_used_at: Date | null;
  revoked_at: Date | null;
}

const toEaKey = (row: EaKeyRow) => ({
  id: row.id,
  name: row.name,
  scopes: row.scopes,
  created_at: isoRequired(row.created_at),
  last_used_at: iso(row.last_used_at),
  revoked_at: iso(row.revoked_at),
});

/** `keys`: EA credentials for the connector EA, managed by the signed-in user. */
export function createKeysApp(deps: EdgeDeps) {
  const app = createFunctionApp('keys', deps);

  app.openapi({ ...createKeyRoute, middleware: [requireUser()] }, async (c) => {
    const body = c.req.valid('json');
    const actor = c.get('actor');
    // Key creations per user (rate-limit.ts): 429 + Retry-After past the limit; fails open.
    if (actor.kind === 'user') await limit(c, [{ kind: 'key_create_user', subject: actor.userId }]);
    const id = crypto.randomUUID();
    const secret = generateWebhookSecret();
    // The ciphertext is bound to the key id, so it cannot be moved to another key's row.
    const sealed = await deps.secretBox.seal(secret, id);
    const row = await withDb(c, async (tx) => {
      const [created] = await tx.query<EaKeyRow>(
        'select id, name, scopes, created_at, last_used_at, revoked_at from private.create_ea_key($1, $2, $3, $4, $5)',
        [body.name, body.scopes ?? null, sealed.ciphertext, sealed.keyId, id],
      );
      return created;
    });
    if (!row) throw new Error('create_ea_key returned no row');
    return c.json({ ...toEaKey(row), secret }, 201);
  });

  app.openapi({ ...listKeysRoute, middleware: [requireUser()] }, async (c) => {
    const rows = await withDb(c, (tx) =>
      tx.query<EaKeyRow>('select id, name, scopes, created_at, last_used_at, revoked_at from public.ea_keys order by created_at desc'),
    );
    return c.json({ keys: rows.map(toEaKey) }, 200);
  });

  app.openapi({ ...revokeKeyRoute, middleware: [requireUser()] }, async (c) => {
    const { id } = c.req.valid('param');
    const row = await withDb(c, async (tx) => {
      const [revoked] = await tx.query<EaKeyRow>(
        `update public.ea_keys set revoked_at = coalesce(revoked_at, now()) where id = $1
         returning id, name, scopes, created_at, last_used_at, revoked_at`,
        [id],
      );
      return revoked;
    });
    if (!row) throw notFound('EA key not found');
    return c.json(toEaKey(row), 200);
  });

  return app;
}
