// Who a statement runs as. Mirrors PostgREST: the connection's login role (the database owner here)
// switches, per transaction, into one of Supabase's API roles and publishes the JWT claims in
// `request.jwt.claims`, so RLS policies (auth.uid(), auth.jwt()) decide what the request sees.

export type DbRole = 'anon' | 'authenticated' | 'service_role';

export interface JwtClaims {
  role: DbRole;
  sub?: string;
  [k: string]: unknown;
}

/** `owner`: no role switch (database owner / superuser: migrations, cron, admin scripts). */
export type Principal = { kind: 'owner' } | { kind: 'role'; role: DbRole; claims: JwtClaims };

export const DB_ROLES: readonly DbRole[] = ['anon', 'authenticated', 'service_role'];

export function isDbRole(value: unknown): value is DbRole {
  return typeof value === 'string' && (DB_ROLES as readonly string[]).includes(value);
}

export const asOwner = (): Principal => ({ kind: 'owner' });

export const asAnon = (): Principal => ({ kind: 'role', role: 'anon', claims: { role: 'anon' } });

export const asService = (): Principal => ({
  kind: 'role',
  role: 'service_role',
  claims: { role: 'service_role' },
});

/** A signed-in user. `extraClaims` may add claims (e.g. an EA key id) or override `aud`; never `sub`/`role`. */
export function asUser(userId: string, extraClaims: Record<string, unknown> = {}): Principal {
  if (typeof userId !== 'string' || userId.length === 0) {
    throw new TypeError('asUser: userId must be a non-empty string');
  }
  return {
    kind: 'role',
    role: 'authenticated',
    claims: { aud: 'authenticated', ...extraClaims, sub: userId, role: 'authenticated' },
  };
}

/** The role switch a principal needs at the start of its transaction (null for the owner). */
export interface RoleSwitch {
  role: DbRole;
  /** JSON text for `request.jwt.claims`. */
  claims: string;
}

/**
 * Validates a principal at runtime (values can come from untyped code) and returns its role switch.
 * Throws TypeError for anything but the three API roles, or claims whose `role` disagrees.
 */
export function roleSwitchFor(principal: Principal): RoleSwitch | null {
  if (typeof principal !== 'object' || principal === null) {
    throw new TypeError('Principal must be an object');
  }
  if (principal.kind === 'owner') return null;
  if (principal.kind !== 'role') {
    throw new TypeError(`Unknown principal kind: ${String((principal as { kind?: unknown }).kind)}`);
  }
  const { role, claims } = principal;
  if (!isDbRole(role)) {
    throw new TypeError(`Invalid database role ${JSON.stringify(role)}: expected one of ${DB_ROLES.join(', ')}`);
  }
  if (typeof claims !== 'object' || claims === null || Array.isArray(claims)) {
    throw new TypeError('Principal claims must be an object');
  }
  if (claims.role !== role) {
    throw new TypeError(`Claims role ${JSON.stringify(claims.role)} does not match principal role "${role}"`);
  }
  return { role, claims: JSON.stringify(claims) };
}
