import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { locatePg15, platformSqlFiles } from './cluster.ts';
import { repoRoot, supabaseBin } from './paths.ts';
import { parsePgUrl, pgConnArgs, pgConnEnv } from './pg-url.ts';
import { psql } from './psql.ts';
import { describeRun, run, which } from './run.ts';

/**
 * Builds a database from a list of SQL files and captures its catalog in a form two builds can be
 * compared with (tests/integration/declarative-schema.test.ts: supabase/migrations against
 * supabase/schemas).
 *
 * What is compared:
 *  - `pg_dump --schema-only` of the whole database (every schema: ours, and the platform's, where
 *    our realtime policy and the pg_cron extension live), split into its table-of-contents entries
 *    ("-- Name: ...; Type: ...; Schema: ...") and keyed by type, schema and name: tables with their
 *    columns, types, defaults and checks, constraints, indexes, RLS, policies with their
 *    expressions, triggers, functions with their full text and settings, grants (ACL), default
 *    privileges, comments, extensions, publications and their tables;
 *  - what `--schema-only` leaves out, as "facts" from catalog queries: the pg_cron jobs (rows of
 *    cron.job, an extension configuration table), the rows of every table in public and private
 *    (reference data such as private.settings and private.state_transitions; any other table is
 *    empty after a build), and the date-named partitions (below).
 *
 * Normalised, because it legitimately differs between two builds of the same schema, and nothing
 * else:
 *  - the order of the dump's entries: pg_dump orders objects of one kind by name but breaks ties
 *    and dependency chains by creation order (OIDs), which differs when a migration drops and
 *    recreates an object that a declarative file creates once. Entries are compared as a set.
 *  - `\restrict <key>` / `\unrestrict <key>`: pg_dump (15.14 and later) writes a random key there
 *    on every run.
 *  - partitions named after a date (`<table>_pYYYYMMDD`, the daily account_snapshots partitions a
 *    function creates around the day of the build): left out of the dump and compared as the list
 *    of their offsets in days from the build day, per parent table.
 *  - cron.job.jobid: a sequence number, not part of a job's definition.
 */

/** pg_cron creates its extension only in `cron.database_name` or in this database (its regression-test escape hatch). */
export const SCRATCH_DATABASE = 'contrib_regression';

/** Date-named partitions (`<name>_pYYYYMMDD`) as a pg_dump --exclude-table pattern. */
const DATED_PARTITION_PATTERN = '*.*_p[0-9][0-9][0-9][0-9][0-9][0-9][0-9][0-9]';

export interface CatalogSnapshot {
  /** pg_dump entries: "TYPE schema.name" -> the entry's SQL. */
  objects: Map<string, string>;
  /** Catalog facts pg_dump --schema-only does not print: "CRON JOB name", "ROWS schema.table", ... */
  facts: Map<string, string>;
}

/** The *.sql files of a directory in file-name order (the order the CLI applies them). */
export function sqlFilesIn(dir: string): string[] {
  return readdirSync(dir)
    .filter((name) => name.endsWith('.sql'))
    .sort()
    .map((name) => join(dir, name));
}

function withDatabase(url: string, database: string): string {
  const parsed = new URL(url);
  parsed.pathname = `/${encodeURIComponent(database)}`;
  return parsed.toString();
}

function psqlQuote(path: string): string {
  return `'${path.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;
}

/**
 * Creates SCRATCH_DATABASE afresh on the server of `serverUrl` and builds it: the platform SQL
 * (supabase/platform, as tests/integration/global-setup.ts applies it), then `files`, each in its
 * own transaction (as `supabase db push` applies each migration). Returns its URL. One scratch
 * database at a time: its name is fixed (see SCRATCH_DATABASE).
 */
export async function buildScratchDatabase(serverUrl: string, files: readonly string[]): Promise<string> {
  const scratchUrl = withDatabase(serverUrl, SCRATCH_DATABASE);
  await psql(
    withDatabase(serverUrl, 'postgres'),
    `drop database if exists ${SCRATCH_DATABASE} with (force);\ncreate database ${SCRATCH_DATABASE};`,
  );
  const script = [
    '\\set ON_ERROR_STOP 1',
    'set client_min_messages = warning;',
    ...platformSqlFiles().map((file) => `\\i ${psqlQuote(file)}`),
    ...files.flatMap((file) => ['begin;', `\\i ${psqlQuote(file)}`, 'commit;']),
  ].join('\n');
  await psql(scratchUrl, `${script}\n`);
  return scratchUrl;
}

export async function dropScratchDatabase(serverUrl: string): Promise<void> {
  await psql(withDatabase(serverUrl, 'postgres'), `drop database if exists ${SCRATCH_DATABASE} with (force);`);
}

/** Builds the scratch database from `files` (see buildScratchDatabase), snapshots it and drops it. */
export async function buildAndSnapshot(serverUrl: string, files: readonly string[]): Promise<CatalogSnapshot> {
  try {
    return await snapshotCatalog(await buildScratchDatabase(serverUrl, files));
  } finally {
    await dropScratchDatabase(serverUrl);
  }
}

/**
 * A draft migration from the database `fromUrl` to one built from `files`: `supabase db diff
 * --from <url> --to <url>` (pg-delta, bundled in the CLI: no Docker, no shadow database). Schema
 * only (no reference rows), "flattened review SQL" in the CLI's words: review it before saving it
 * as a migration.
 */
export async function draftMigration(fromUrl: string, files: readonly string[]): Promise<string> {
  try {
    const toUrl = await buildScratchDatabase(fromUrl, files);
    const result = await run(
      supabaseBin,
      ['db', 'diff', '--from', fromUrl, '--to', toUrl, '--workdir', repoRoot, '--agent', 'no'],
      { cwd: repoRoot, env: { PGSSLMODE: process.env.PGSSLMODE ?? 'disable' }, timeoutMs: 120_000 },
    );
    if (result.code !== 0) return `(supabase db diff failed)\n${result.stdout}\n${result.stderr}`;
    return result.stdout.replace(/^Target: .*\n/, '').trim();
  } finally {
    await dropScratchDatabase(fromUrl);
  }
}

function pgDumpBinary(): string {
  const install = locatePg15();
  const found = install ? join(install.bindir, 'pg_dump') : which('pg_dump');
  if (!found) throw new Error('pg_dump not found (install postgresql-client-15, or postgresql-15)');
  return found;
}

export async function snapshotCatalog(url: string): Promise<CatalogSnapshot> {
  const conn = parsePgUrl(url);
  const dump = await run(
    pgDumpBinary(),
    ['--schema-only', `--exclude-table=${DATED_PARTITION_PATTERN}`, ...pgConnArgs(conn)],
    { env: pgConnEnv(conn), timeoutMs: 120_000 },
  );
  if (dump.code !== 0) throw new Error(`pg_dump failed\n${describeRun(dump)}`);
  return { objects: parseDump(dump.stdout), facts: await catalogFacts(url) };
}

const ENTRY_HEADER = /^-- (?:Data for )?Name: (.*); Type: (.*); Schema: (.*); Owner: .*$/;

/**
 * "TABLE public.brokers", "POLICY public.brokers signed-in users read active brokers",
 * "ACL FUNCTION private.setting(p_key text)", "COMMENT COLUMN private.vps_hosts.dedicated_user_id",
 * "DEFAULT ACL DEFAULT PRIVILEGES FOR TABLES IN SCHEMA public", "EXTENSION pg_cron".
 */
function entryKey(type: string, schema: string, name: string): string {
  if (schema === '-') return `${type} ${name}`;
  const about = /^(COLUMN|CONSTRAINT|DOMAIN|FUNCTION|INDEX|POLICY|PROCEDURE|SEQUENCE|TABLE|TRIGGER|TYPE|VIEW) (.*)$/.exec(name);
  if (about) return `${type} ${about[1]!} ${schema}.${about[2]!}`;
  if (/^[A-Z]+ /.test(name)) return `${type} ${name} IN SCHEMA ${schema}`;
  return `${type} ${schema}.${name}`;
}

/** Splits a plain-format pg_dump into its entries, keyed "TYPE schema.name" (or "TYPE name"). */
export function parseDump(text: string): Map<string, string> {
  const entries = new Map<string, string>();
  let key = '(preamble)';
  let body: string[] = [];
  const flush = (): void => {
    const sql = body
      .filter((line) => !/^\\(un)?restrict /.test(line))
      .join('\n')
      .replace(/^(--\n|\n)+/, '')
      .replace(/(\n--|\n)+$/, '')
      .trim();
    let unique = key;
    for (let n = 2; entries.has(unique); n++) unique = `${key} #${String(n)}`;
    entries.set(unique, sql);
  };
  for (const line of text.split('\n')) {
    const header = ENTRY_HEADER.exec(line);
    if (header) {
      flush();
      const [, name, type, schema] = header as unknown as [string, string, string, string];
      key = entryKey(type, schema, name);
      body = [];
    } else {
      body.push(line);
    }
  }
  flush();
  return entries;
}

/** What pg_dump --schema-only does not show: key -> value, from catalog queries (one JSON pair a row). */
async function catalogFacts(url: string): Promise<Map<string, string>> {
  const tables = (
    await psql(
      url,
      `select format('%I.%I', n.nspname, c.relname)
       from pg_class c join pg_namespace n on n.oid = c.relnamespace
       where n.nspname in ('public', 'private') and c.relkind in ('r', 'p') and not c.relispartition
       order by 1;`,
    )
  )
    .split('\n')
    .filter((line) => line !== '');
  const rowQueries = tables.map(
    (table) =>
      `select 'ROWS ${table}', string_agg(r::text, E'\\n' order by r::text) from (select to_jsonb(t) as r from ${table} t) s having count(*) > 0`,
  );
  const out = await psql(
    url,
    [
      // pg_cron jobs by name (jobid is a sequence number).
      `select 'CRON JOB ' || coalesce(jobname, '(unnamed) ' || command),
              concat_ws(' | ', 'schedule ' || schedule, 'command ' || command, 'user ' || username,
                        case when active then 'active' else 'inactive' end)
       from cron.job`,
      // Date-named partitions, as offsets in days from the day of the build.
      `select format('DATED PARTITIONS OF %I.%I', pn.nspname, p.relname),
              string_agg(format('%s.%s', n.nspname, regexp_replace(c.relname, '[0-9]{8}$', '<today' ||
                to_char(to_date(substring(c.relname from '[0-9]{8}$'), 'YYYYMMDD') - (now() at time zone 'utc')::date, 'SGFM999') || '>')),
                E'\\n' order by c.relname)
       from pg_inherits i
       join pg_class c on c.oid = i.inhrelid
       join pg_namespace n on n.oid = c.relnamespace
       join pg_class p on p.oid = i.inhparent
       join pg_namespace pn on pn.oid = p.relnamespace
       where c.relname ~ '_p[0-9]{8}$'
       group by pn.nspname, p.relname`,
      ...rowQueries,
    ]
      .map((query) => `select json_build_array(k, v) from (${query}) as f (k, v);`)
      .join('\n'),
  );
  const facts = new Map<string, string>();
  for (const line of out.split('\n')) {
    if (line === '') continue;
    const [key, value] = JSON.parse(line) as [string, string];
    facts.set(key, value);
  }
  return facts;
}

/** A minimal line diff (longest common subsequence): "  " kept, "- " only in a, "+ " only in b. */
export function lineDiff(a: string, b: string): string[] {
  const x = a.split('\n');
  const y = b.split('\n');
  const lcs: number[][] = Array.from({ length: x.length + 1 }, () => new Array<number>(y.length + 1).fill(0));
  for (let i = x.length - 1; i >= 0; i--) {
    for (let j = y.length - 1; j >= 0; j--) {
      lcs[i]![j] = x[i] === y[j] ? lcs[i + 1]![j + 1]! + 1 : Math.max(lcs[i + 1]![j]!, lcs[i]![j + 1]!);
    }
  }
  const out: string[] = [];
  let i = 0;
  let j = 0;
  while (i < x.length || j < y.length) {
    if (i < x.length && j < y.length && x[i] === y[j]) {
      out.push(`  ${x[i]!}`);
      i++;
      j++;
    } else if (i < x.length && (j === y.length || lcs[i + 1]![j]! >= lcs[i]![j + 1]!)) {
      out.push(`- ${x[i]!}`);
      i++;
    } else {
      out.push(`+ ${y[j]!}`);
      j++;
    }
  }
  return out;
}

export interface CatalogDifference {
  /** "TYPE schema.name" of a pg_dump entry, or the key of a fact ("CRON JOB name", "ROWS table"). */
  object: string;
  kind: 'only in a' | 'only in b' | 'differs';
  /** The object's SQL (only in one) or a line diff (- a, + b). */
  detail: string[];
}

function compareMaps(a: Map<string, string>, b: Map<string, string>): CatalogDifference[] {
  const differences: CatalogDifference[] = [];
  for (const key of [...new Set([...a.keys(), ...b.keys()])].sort()) {
    const left = a.get(key);
    const right = b.get(key);
    if (left === right) continue;
    if (right === undefined) differences.push({ object: key, kind: 'only in a', detail: left!.split('\n') });
    else if (left === undefined) differences.push({ object: key, kind: 'only in b', detail: right.split('\n') });
    else differences.push({ object: key, kind: 'differs', detail: lineDiff(left, right) });
  }
  return differences;
}

export function compareSnapshots(a: CatalogSnapshot, b: CatalogSnapshot): CatalogDifference[] {
  return [...compareMaps(a.objects, b.objects), ...compareMaps(a.facts, b.facts)];
}

/** The changed lines of a line diff with `context` unchanged lines around them, "..." for the rest. */
function withContext(diff: readonly string[], context: number): string[] {
  const changed = diff.map((line) => !line.startsWith('  '));
  const out: string[] = [];
  let skipping = false;
  diff.forEach((line, i) => {
    if (changed.slice(Math.max(0, i - context), i + context + 1).some(Boolean)) {
      out.push(line);
      skipping = false;
    } else if (!skipping) {
      out.push('  ...');
      skipping = true;
    }
  });
  return out;
}

/** The differences as a readable report, naming each object and which side has what. */
export function formatDifferences(differences: readonly CatalogDifference[], a: string, b: string): string {
  return differences
    .map((d) => {
      const what = d.kind === 'differs' ? `differs (- ${a}, + ${b})` : d.kind === 'only in a' ? `only in ${a}` : `only in ${b}`;
      const detail = d.kind === 'differs' ? withContext(d.detail, 3) : d.detail;
      return [`${d.object}: ${what}`, ...detail.map((line) => `    ${line}`)].join('\n');
    })
    .join('\n\n');
}
