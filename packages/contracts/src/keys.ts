import { createRoute, z } from '@hono/zod-openapi';
import { errorResponses, rateLimitedResponse, jsonBody, jsonResponse, Timestamp, Uuid } from './common.ts';
import { VOCABULARY } from './vocabulary.ts';

export const EaScope = z.enum(VOCABULARY.ea_scope).openapi('EaScope');
export type EaScope = z.infer<typeof EaScope>;

export const CreateEaKeyRequest = z
  .object({
    name: z.string().trim().min(1).max(100).openapi({ example: 'IC Markets live terminal' }),
    scopes: z.array(EaScope).min(1).max(VOCABULARY.ea_scope.length).optional().openapi({ description: 'Defaults to every EA scope' }),
  })
  .strict()
  .openapi('CreateEaKeyRequest');

export const EaKey = z
  .object({
    id: Uuid,
    name: z.string(),
    scopes: z.array(EaScope),
    created_at: Timestamp,
    last_used_at: Timestamp.nullable(),
    revoked_at: Timestamp.nullable(),
  })
  .openapi('EaKey');

export const CreatedEaKey = EaKey.extend({
  secret: z.string().startsWith('whsec_').openapi({ description: 'Shown once: store it in the EA inputs. Only its ciphertext is kept.' }),
}).openapi('CreatedEaKey');

export const EaKeyList = z.object({ keys: z.array(EaKey) }).openapi('EaKeyList');
export const KeyIdParam = z.object({ id: Uuid });

export const createKeyRoute = createRoute({
  method: 'post',
  path: '/',
  summary: 'Create an EA key (the secret is returned once)',
  security: [{ userJwt: [] }],
  request: { body: jsonBody(CreateEaKeyRequest) },
  responses: { 201: jsonResponse(CreatedEaKey, 'The new key and its secret'), ...errorResponses, ...rateLimitedResponse },
});

export const listKeysRoute = createRoute({
  method: 'get',
  path: '/',
  summary: "List the caller's EA keys",
  security: [{ userJwt: [] }],
  responses: { 200: jsonResponse(EaKeyList, 'Keys, newest first (never their secrets)'), ...errorResponses },
});

export const revokeKeyRoute = createRoute({
  method: 'post',
  path: '/{id}/revoke',
  summary: 'Revoke an EA key (permanent)',
  security: [{ userJwt: [] }],
  request: { params: KeyIdParam },
  responses: { 200: jsonResponse(EaKey, 'The revoked key'), ...errorResponses },
});
