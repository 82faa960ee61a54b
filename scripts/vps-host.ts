// Admin CLI for VPS host keys: create a host (its key is printed once; only the key's SHA-256 is
// stored), revoke one, list them. Also the operator's keys (GET /ops/metrics, GET /ops/fleet) and
// the fleet view across every host.
//
//   deno run --allow-net --allow-env --allow-read scripts/vps-host.ts <command> [options]
//   (npm run vps-host -- <command> [options])
//
// Runs under Deno from the repository root: deno.json maps @rubi/* to packages/*/src and the npm
// packages to node_modules. Connects as the database owner to DATABASE_URL or SUPABASE_DB_URL
// (or --db-url): on Supabase, the project's direct connection string ("postgres" user).
import process from 'node:process';
import { parseArgs } from 'node:util';
import type { FleetResponse } from '@rubi/contracts/ops.ts';
import { issueOperatorKey, issueVpsHostKey } from '@rubi/crypto';
import { asOwner, isPgError, type Db } from '@rubi/db';
import { adminDb, CommandError, reportFailure, UsageError } from './lib/admin-cli.ts';
import { formatFleet, table } from './fleet-table.ts';

const USAGE = `Usage: vps-host <command> [options]

Commands:
  create <name> [--capacity N] [--dedicated-to <user>]
                                 Create a VPS host and print its API key (shown once). N defaults
                                 to 5. A host dedicated to a user (auth user id or email) runs only
                                 that user's accounts, and the shared hosts leave them to it.
  revoke <name>                  Revoke a host's key. The accounts it held go back to the queue at
                                 the next lease sweep (cron, every minute).
  list                           Hosts with capacity, held accounts, version and last heartbeat.

  operator-key create <name>     Create an operator key (shown once; only its SHA-256 is stored) for
                                 GET /ops/metrics (Prometheus: bearer_token) and GET /ops/fleet.
  operator-key revoke <name>     Revoke an operator key: it no longer opens the ops routes.
  operator-key list              Operator keys with their creation and revocation times.

  fleet [--url <functions url>] [--key <operator key>]
                                 Every host with its heartbeat, capacity and terminals, and every
                                 account in error, from GET <url>/ops/fleet (no database needed).
                                 Defaults: $RUBI_FUNCTIONS_URL (e.g. https://<ref>.supabase.co/functions/v1)
                                 and $RUBI_OPERATOR_KEY (better than --key: not in the shell history).

Options:
  --db-url <url>   PostgreSQL connection string (default: $DATABASE_URL, then $SUPABASE_DB_URL)
  --json           Machine-readable output
  -h, --help       This help
`;

const NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$/;


interface HostRow {
  id: string;
  name: string;
  capacity: number;
  version: string | null;
  last_heartbeat_at: Date | null;
  created_at: Date;
  revoked_at: Date | null;
  dedicated_to: string | null;
  held: number;
}

function parse(argv: string[]) {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    strict: true,
    options: {
      capacity: { type: 'string' },
      'dedicated-to': { type: 'string' },
      'db-url': { type: 'string' },
      url: { type: 'string' },
      key: { type: 'string' },
      json: { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  return { values, positionals };
}

function hostName(positionals: string[], command: string): string {
  const name = positionals[1];
  if (positionals.length !== 2 || name === undefined) throw new UsageError(`${command} takes exactly one host name`);
  if (!NAME.test(name)) throw new UsageError('a host name is 1-100 letters, digits, dots, dashes or underscores, starting with a letter or digit');
  return name;
}

function capacityOf(raw: string | undefined): number {
  if (raw === undefined) return 5;
  if (!/^\d{1,4}$/.test(raw) || Number(raw) > 1000) throw new UsageError('--capacity must be a whole number between 0 and 1000');
  return Number(raw);
}

/** The auth user a host is dedicated to, by id or email; null for a shared host. */
async function dedicatedUser(db: Db, who: string | undefined): Promise<{ id: string; email: string | null } | null> {
  if (who === undefined) return null;
  const byId = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i.test(who);
  const [user] = await db.query<{ id: string; email: string | null }>(
    asOwner(),
    `select id, email from auth.users where ${byId ? 'id = $1::uuid' : 'lower(email) = lower($1)'}`,
    [who],
  );
  if (!user) throw new CommandError(`--dedicated-to: no user with ${byId ? 'id' : 'email'} ${who}`);
  return user;
}

async function create(db: Db, name: string, capacity: number, dedicatedTo: string | undefined, json: boolean): Promise<void> {
  const user = await dedicatedUser(db, dedicatedTo);
  const { key, keyHash } = await issueVpsHostKey();
  let row: { id: string } | undefined;
  try {
    [row] = await db.query<{ id: string }>(
      asOwner(),
      'insert into private.vps_hosts (name, key_hash, capacity, dedicated_user_id) values ($1, $2, $3, $4) returning id',
      [name, keyHash, capacity, user?.id ?? null],
    );
  } catch (error) {
    if (isPgError(error) && error.code === '23505') throw new CommandError(`a host named "${name}" already exists (revoked hosts keep their name)`);
    throw error;
  }
  if (!row) throw new CommandError('the insert returned no row');
  if (json) {
    console.log(JSON.stringify({ id: row.id, name, capacity, dedicated_user_id: user?.id ?? null, key }));
    return;
  }
  const dedication = user ? `, dedicated to ${user.email ?? user.id}` : '';
  console.log(`Created VPS host "${name}" (id ${row.id}, capacity ${capacity}${dedication}).

  VPS_API_KEY=${key}

This key is shown once: only its SHA-256 is stored. Put it in the agent's environment (.env)
as VPS_API_KEY; to replace it, revoke this host and create another.`);
}

async function revoke(db: Db, name: string, json: boolean): Promise<void> {
  const result = await db.transaction(asOwner(), async (tx) => {
    const [host] = await tx.query<{ id: string; revoked_at: Date | null }>(
      'select id, revoked_at from private.vps_hosts where name = $1 for update',
      [name],
    );
    if (!host) throw new CommandError(`no host named "${name}"`);
    if (host.revoked_at !== null) return { id: host.id, already: true, released: 0 };
    await tx.query('update private.vps_hosts set revoked_at = now() where id = $1', [host.id]);
    // Its leases end now: private.reclaim_expired_leases (cron) puts the accounts back in the
    // queue for other hosts, releases paused ones and removes deleted ones.
    const released = await tx.query('update public.trading_accounts set lease_expires_at = now() where vps_host_id = $1 returning id', [host.id]);
    return { id: host.id, already: false, released: released.length };
  });
  if (json) {
    console.log(JSON.stringify({ id: result.id, name, revoked: true, already_revoked: result.already, accounts_released: result.released }));
  } else if (result.already) {
    console.log(`VPS host "${name}" was already revoked.`);
  } else {
    console.log(
      `Revoked VPS host "${name}": its key no longer authenticates. ` +
        `${result.released} account(s) it held return to the queue at the next lease sweep.`,
    );
  }
}

async function createOperatorKey(db: Db, name: string, json: boolean): Promise<void> {
  const { key, keyHash } = await issueOperatorKey();
  let row: { id: string } | undefined;
  try {
    [row] = await db.query<{ id: string }>(asOwner(), 'insert into private.operator_keys (name, key_hash) values ($1, $2) returning id', [
      name,
      keyHash,
    ]);
  } catch (error) {
    if (isPgError(error) && error.code === '23505') throw new CommandError(`an operator key named "${name}" already exists (revoked keys keep their name)`);
    throw error;
  }
  if (!row) throw new CommandError('the insert returned no row');
  if (json) {
    console.log(JSON.stringify({ id: row.id, name, key }));
    return;
  }
  console.log(`Created operator key "${name}" (id ${row.id}).

  RUBI_OPERATOR_KEY=${key}

This key is shown once: only its SHA-256 is stored. Prometheus sends it as a bearer token
(bearer_token / authorization.credentials); \`vps-host fleet\` reads it from RUBI_OPERATOR_KEY.
To replace it, create another and revoke this one.`);
}

async function revokeOperatorKey(db: Db, name: string, json: boolean): Promise<void> {
  const [row] = await db.query<{ id: string; already: boolean }>(
    asOwner(),
    `with k as (select id, revoked_at from private.operator_keys where name = $1 for update),
          u as (update private.operator_keys o set revoked_at = now() from k where o.id = k.id and k.revoked_at is null returning o.id)
     select k.id, not exists (select 1 from u) as already from k`,
    [name],
  );
  if (!row) throw new CommandError(`no operator key named "${name}"`);
  if (json) console.log(JSON.stringify({ id: row.id, name, revoked: true, already_revoked: row.already }));
  else console.log(row.already ? `Operator key "${name}" was already revoked.` : `Revoked operator key "${name}": it no longer opens the ops routes.`);
}

async function listOperatorKeys(db: Db, json: boolean): Promise<void> {
  const rows = await db.query<{ id: string; name: string; created_at: Date; revoked_at: Date | null }>(
    asOwner(),
    'select id, name, created_at, revoked_at from private.operator_keys order by name',
  );
  if (json) {
    console.log(JSON.stringify(rows.map((r) => ({ id: r.id, name: r.name, created_at: r.created_at.toISOString(), revoked_at: r.revoked_at?.toISOString() ?? null }))));
    return;
  }
  if (rows.length === 0) {
    console.log('No operator keys. Create one with: vps-host operator-key create <name>');
    return;
  }
  console.log(table([['NAME', 'STATUS', 'CREATED', 'REVOKED'], ...rows.map((r) => [r.name, r.revoked_at ? 'revoked' : 'active', when(r.created_at), when(r.revoked_at)])]));
}

async function fleet(url: string | undefined, key: string | undefined, json: boolean): Promise<void> {
  if (!url) throw new UsageError('fleet: pass --url <functions url> or set RUBI_FUNCTIONS_URL (e.g. https://<ref>.supabase.co/functions/v1)');
  if (!/^https?:\/\//.test(url)) throw new UsageError('--url must start with http:// or https://');
  if (!key) throw new UsageError('fleet: set RUBI_OPERATOR_KEY (or pass --key) to an operator key from `vps-host operator-key create`');
  let res: Response;
  try {
    res = await fetch(`${url.replace(/\/+$/, '')}/ops/fleet`, { headers: { authorization: `Bearer ${key}` }, signal: AbortSignal.timeout(30_000) });
  } catch (error) {
    throw new CommandError(`GET ${url}/ops/fleet failed: ${error instanceof Error ? error.message : String(error)}`);
  }
  const text = await res.text();
  if (res.status !== 200) {
    let message = text.slice(0, 200);
    try {
      message = (JSON.parse(text) as { error?: { message?: string } }).error?.message ?? message;
    } catch {
      // not JSON: the start of the text
    }
    throw new CommandError(`GET /ops/fleet answered ${res.status}: ${message}`);
  }
  const body = JSON.parse(text) as FleetResponse;
  if (!Array.isArray(body.hosts) || !Array.isArray(body.accounts_in_error)) throw new CommandError('GET /ops/fleet answered an unexpected shape');
  console.log(json ? JSON.stringify(body) : formatFleet(body));
}

const when = (d: Date | null): string => (d ? d.toISOString().replace(/\.\d{3}Z$/, 'Z') : '-');

async function list(db: Db, json: boolean): Promise<void> {
  const rows = await db.query<HostRow>(
    asOwner(),
    `select h.id, h.name, h.capacity, h.version, h.last_heartbeat_at, h.created_at, h.revoked_at,
            (select coalesce(u.email, u.id::text) from auth.users u where u.id = h.dedicated_user_id) as dedicated_to,
            (select count(*)::int from public.trading_accounts a where a.vps_host_id = h.id) as held
     from private.vps_hosts h order by h.name`,
  );
  if (json) {
    console.log(
      JSON.stringify(
        rows.map((r) => ({
          id: r.id,
          name: r.name,
          capacity: r.capacity,
          held: r.held,
          version: r.version,
          last_heartbeat_at: r.last_heartbeat_at?.toISOString() ?? null,
          created_at: r.created_at.toISOString(),
          revoked_at: r.revoked_at?.toISOString() ?? null,
          dedicated_to: r.dedicated_to,
        })),
      ),
    );
    return;
  }
  if (rows.length === 0) {
    console.log('No VPS hosts. Create one with: vps-host create <name> --capacity N');
    return;
  }
  console.log(
    table([
      ['NAME', 'STATUS', 'CAPACITY', 'HELD', 'VERSION', 'LAST HEARTBEAT', 'DEDICATED TO'],
      ...rows.map((r) => [r.name, r.revoked_at ? 'revoked' : 'active', String(r.capacity), String(r.held), r.version ?? '-', when(r.last_heartbeat_at), r.dedicated_to ?? '-']),
    ]),
  );
}

async function main(argv: string[]): Promise<number> {
  let parsed: ReturnType<typeof parse>;
  try {
    parsed = parse(argv);
  } catch (error) {
    console.error(`${error instanceof Error ? error.message : String(error)}\n\n${USAGE}`);
    return 2;
  }
  const { values, positionals } = parsed;
  const command = positionals[0];
  if (values.help || command === undefined || command === 'help') {
    console.log(USAGE);
    return command === undefined && !values.help ? 2 : 0;
  }
  const db = adminDb(values['db-url'], 'rubi-vps-host');
  const run = (fn: (db: Db) => Promise<void>) => fn(db.open());
  try {
    switch (command) {
      case 'operator-key': {
        const sub = positionals[1];
        if (sub === 'list') {
          if (positionals.length !== 2) throw new UsageError('operator-key list takes no arguments');
          await run((d) => listOperatorKeys(d, values.json));
          break;
        }
        if (sub !== 'create' && sub !== 'revoke') throw new UsageError('operator-key takes create <name>, revoke <name> or list');
        const name = hostName(positionals.slice(1), `operator-key ${sub}`);
        await run((d) => (sub === 'create' ? createOperatorKey(d, name, values.json) : revokeOperatorKey(d, name, values.json)));
        break;
      }
      case 'fleet':
        if (positionals.length !== 1) throw new UsageError('fleet takes no arguments besides --url and --key');
        await fleet(values.url ?? process.env.RUBI_FUNCTIONS_URL, values.key ?? process.env.RUBI_OPERATOR_KEY, values.json);
        break;
      case 'create': {
        const name = hostName(positionals, 'create');
        const capacity = capacityOf(values.capacity);
        await run((d) => create(d, name, capacity, values['dedicated-to'], values.json));
        break;
      }
      case 'revoke': {
        const name = hostName(positionals, 'revoke');
        if (values.capacity !== undefined || values['dedicated-to'] !== undefined) throw new UsageError('--capacity and --dedicated-to only apply to create');
        await run((d) => revoke(d, name, values.json));
        break;
      }
      case 'list':
        if (positionals.length !== 1) throw new UsageError('list takes no arguments');
        await run((d) => list(d, values.json));
        break;
      default:
        throw new UsageError(`unknown command "${command}"`);
    }
    return 0;
  } catch (error) {
    return reportFailure('vps-host', USAGE, error);
  } finally {
    await db.close();
  }
}

process.exitCode = await main(process.argv.slice(2));
