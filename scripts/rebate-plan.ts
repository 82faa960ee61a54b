// Admin CLI for rebate plans (issue #17; the model is in supabase/schemas/092_rebate_plans.sql):
// list plans and their rules, create a plan version, add a rule, delete an unused rule or plan,
// set and list exchange rates. Plans are the operator's: users never write them. A rule or plan that
// priced a trade is never deleted nor changed in place, and its plan's rule set is frozen: none of its
// rules changes or goes, and it takes no new one (the database refuses: 092_rebate_plans.sql); terms
// change by a new plan version.
//
//   deno run --allow-net --allow-env --allow-read scripts/rebate-plan.ts <command> [options]
//   (npm run rebate-plan -- <command> [options])
//
// Connects as the database owner to DATABASE_URL or SUPABASE_DB_URL (or --db-url), like
// scripts/vps-host.ts.
import process from 'node:process';
import { parseArgs } from 'node:util';
import { asOwner, type Db } from '@rubi/db';
import { adminDb, CommandError, reportFailure, UsageError } from './lib/admin-cli.ts';

const USAGE = `Usage: rebate-plan <command> [options]

Commands:
  list [--broker <name>]         Plans (newest version first) with their rules.
  create --broker <name> --name <plan name> [--account <account id>] [--valid-from <ISO time>] [--copy-rules]
                                 A new plan version of the broker (or of one account, overriding the
                                 broker's), in force for trades closed from --valid-from (default now).
                                 --copy-rules copies the rules of the version in force now.
                                 Prints the plan id. Past accruals never move.
  rule <plan id> --amount <n> --currency <ISO> [--symbol <SYMBOL> | --pattern <LIKE> | --group <group>]
       [--side open|close|both] [--kind per_lot|commission_percent] [--multiplier <n>]
       [--min-lots <n>] [--min-seconds <n>] [--priority <n>]
                                 Add a rule. No --symbol/--pattern/--group: the default rule (any
                                 symbol). Precedence: symbol > pattern > group > default, then
                                 priority (higher first). per_lot pays amount x lots x multiplier
                                 per side (both = 2 sides); commission_percent pays amount % of
                                 abs(commission). A plan that priced a trade takes no new rule:
                                 add a new plan version (create --copy-rules) instead.
  delete-rule <rule id>          Delete a rule of a plan that priced no trade (a mistake). Once a plan
                                 priced a trade, its rules are frozen (even those that priced nothing):
                                 add a new plan version (create --copy-rules) instead.
  delete-plan <plan id>          Delete a plan version, with its rules, if none of them priced a trade.
  fx <BASE> <QUOTE> <rate> [--as-of <ISO time>]
                                 Set a rate (1 BASE = rate QUOTE), from --as-of (default now;
                                 not later than now). Trades waiting for it (no_fx_rate)
                                 accrue once, at the latest rate in force.
  fx-list                        The rates, newest first.

Options:
  --db-url <url>   PostgreSQL connection string (default: $DATABASE_URL, then $SUPABASE_DB_URL)
  --json           Machine-readable output
  -h, --help       This help
`;


const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const NUMBER = /^\d+(\.\d+)?$/;

function parse(argv: string[]) {
  return parseArgs({
    args: argv,
    allowPositionals: true,
    strict: true,
    options: {
      broker: { type: 'string' },
      account: { type: 'string' },
      name: { type: 'string' },
      'valid-from': { type: 'string' },
      'copy-rules': { type: 'boolean', default: false },
      amount: { type: 'string' },
      currency: { type: 'string' },
      symbol: { type: 'string' },
      pattern: { type: 'string' },
      group: { type: 'string' },
      side: { type: 'string' },
      kind: { type: 'string' },
      multiplier: { type: 'string' },
      'min-lots': { type: 'string' },
      'min-seconds': { type: 'string' },
      priority: { type: 'string' },
      'as-of': { type: 'string' },
      'db-url': { type: 'string' },
      json: { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
}
type Values = ReturnType<typeof parse>['values'];

function num(raw: string | undefined, flag: string, fallback: string | null): string | null {
  if (raw === undefined) return fallback;
  if (!NUMBER.test(raw)) throw new UsageError(`${flag} must be a non-negative number`);
  return raw;
}

function time(raw: string | undefined, flag: string): string | null {
  if (raw === undefined) return null;
  if (Number.isNaN(Date.parse(raw))) throw new UsageError(`${flag} must be an ISO 8601 time`);
  return raw;
}

interface PlanRow {
  id: string;
  broker: string;
  account_id: string | null;
  name: string;
  valid_from: string;
  rules: Record<string, unknown>[];
}

async function list(db: Db, broker: string | undefined, json: boolean): Promise<void> {
  const rows = await db.query<PlanRow>(
    asOwner(),
    `select p.id, b.name as broker, p.account_id, p.name, p.valid_from::text as valid_from,
            coalesce((select jsonb_agg(jsonb_build_object('id', r.id, 'symbol', r.symbol, 'pattern', r.symbol_pattern,
                        'group', r.symbol_group, 'side', r.side, 'kind', r.kind, 'amount', r.amount, 'multiplier', r.lot_multiplier,
                        'min_lots', r.min_lots, 'min_seconds', r.min_duration_seconds, 'currency', r.currency, 'priority', r.priority)
                      order by num_nonnulls(r.symbol, r.symbol_pattern, r.symbol_group) desc, r.priority desc, r.created_at)
                      from public.rebate_rules r where r.plan_id = p.id), '[]') as rules
     from public.rebate_plans p join public.brokers b on b.id = p.broker_id
     where $1::text is null or b.name = $1
     order by b.name, p.account_id nulls first, p.valid_from desc`,
    [broker ?? null],
  );
  if (json) {
    console.log(JSON.stringify(rows));
    return;
  }
  for (const p of rows) {
    console.log(`${p.broker}${p.account_id ? ` / account ${p.account_id}` : ''}: ${p.name} (id ${p.id}), from ${p.valid_from}`);
    for (const r of p.rules) {
      const match = r.symbol ? `symbol ${String(r.symbol)}` : r.pattern ? `pattern ${String(r.pattern)}` : r.group ? `group ${String(r.group)}` : 'any symbol';
      console.log(
        `  ${match}: ${String(r.kind)} ${String(r.amount)} ${String(r.currency)}, ${String(r.side)}, x${String(r.multiplier)}, ` +
          `min ${String(r.min_lots)} lots / ${String(r.min_seconds)} s, priority ${String(r.priority)} (rule ${String(r.id)})`,
      );
    }
  }
}

async function create(db: Db, v: Values): Promise<void> {
  if (!v.broker || !v.name) throw new UsageError('create needs --broker and --name');
  if (v.account !== undefined && !UUID.test(v.account)) throw new UsageError('--account must be an account id (uuid)');
  const validFrom = time(v['valid-from'], '--valid-from');
  const [row] = await db.query<{ id: string }>(
    asOwner(),
    `with b as (select id from public.brokers where name = $1),
     plan as (
       insert into public.rebate_plans (broker_id, account_id, name, valid_from)
       select b.id, $2::uuid, $3, coalesce($4::timestamptz, now()) from b returning id, broker_id, account_id
     ),
     copied as (
       insert into public.rebate_rules (plan_id, symbol, symbol_pattern, symbol_group, side, kind, amount, lot_multiplier,
         min_lots, min_duration_seconds, currency, priority)
       select plan.id, r.symbol, r.symbol_pattern, r.symbol_group, r.side, r.kind, r.amount, r.lot_multiplier,
         r.min_lots, r.min_duration_seconds, r.currency, r.priority
       from plan join public.rebate_rules r on r.plan_id = (
         select p.id from public.rebate_plans p
         where p.broker_id = plan.broker_id and (p.account_id = plan.account_id or p.account_id is null) and p.valid_from <= now()
         order by p.account_id nulls last, p.valid_from desc limit 1)
       where $5
       returning 1
     )
     select plan.id, (select count(*) from copied)::int as copied from plan`,
    [v.broker, v.account ?? null, v.name, validFrom, v['copy-rules']],
  );
  if (!row) throw new CommandError(`no broker named "${v.broker}"`);
  console.log(v.json ? JSON.stringify(row) : `Created plan "${v.name}" (id ${row.id}).`);
}

async function rule(db: Db, planId: string | undefined, v: Values): Promise<void> {
  if (planId === undefined || !UUID.test(planId)) throw new UsageError('rule takes a plan id (uuid)');
  if (v.amount === undefined || v.currency === undefined) throw new UsageError('rule needs --amount and --currency');
  const matches = [v.symbol, v.pattern, v.group].filter((x) => x !== undefined).length;
  if (matches > 1) throw new UsageError('a rule matches by one of --symbol, --pattern, --group (or none: the default rule)');
  const [row] = await db.query<{ id: string }>(
    asOwner(),
    `insert into public.rebate_rules (plan_id, symbol, symbol_pattern, symbol_group, side, kind, amount, lot_multiplier,
       min_lots, min_duration_seconds, currency, priority)
     values ($1, upper($2), upper($3), $4, coalesce($5, 'close'), coalesce($6, 'per_lot'), $7::numeric, $8::numeric, $9::numeric, $10::int, upper($11), $12::int)
     returning id`,
    [
      planId,
      v.symbol ?? null,
      v.pattern ?? null,
      v.group ?? null,
      v.side ?? null,
      v.kind ?? null,
      num(v.amount, '--amount', null),
      num(v.multiplier, '--multiplier', '1'),
      num(v['min-lots'], '--min-lots', '0'),
      num(v['min-seconds'], '--min-seconds', '0'),
      v.currency,
      v.priority === undefined ? '0' : /^-?\d{1,9}$/.test(v.priority) ? v.priority : (() => { throw new UsageError('--priority must be a whole number'); })(),
    ],
  );
  console.log(v.json ? JSON.stringify(row) : `Added rule ${row?.id ?? '?'} to plan ${planId}.`);
}

async function remove(db: Db, what: 'rule' | 'plan', id: string | undefined, json: boolean): Promise<void> {
  if (id === undefined || !UUID.test(id)) throw new UsageError(`delete-${what} takes a ${what} id (uuid)`);
  const table = what === 'rule' ? 'public.rebate_rules' : 'public.rebate_plans';
  const rows = await db.query<{ id: string }>(asOwner(), `delete from ${table} where id = $1 returning id`, [id]);
  if (rows.length === 0) throw new CommandError(`no ${what} ${id}`);
  console.log(json ? JSON.stringify({ id, deleted: true }) : `Deleted ${what} ${id}.`);
}

async function fx(db: Db, args: string[], v: Values): Promise<void> {
  const [base, quote, rate] = args;
  if (args.length !== 3 || !base || !quote || !rate) throw new UsageError('fx takes <BASE> <QUOTE> <rate>');
  if (!/^[A-Za-z]{3}$/.test(base) || !/^[A-Za-z]{3}$/.test(quote)) throw new UsageError('BASE and QUOTE are ISO 4217 codes');
  if (!NUMBER.test(rate) || Number(rate) <= 0) throw new UsageError('the rate must be a positive number');
  const [row] = await db.query<{ accrued: number }>(asOwner(), 'select private.set_fx_rate($1, $2, $3::numeric, coalesce($4::timestamptz, now())) as accrued', [
    base,
    quote,
    rate,
    time(v['as-of'], '--as-of'),
  ]);
  const accrued = row?.accrued ?? 0;
  console.log(v.json ? JSON.stringify({ base: base.toUpperCase(), quote: quote.toUpperCase(), rate, accrued }) : `1 ${base.toUpperCase()} = ${rate} ${quote.toUpperCase()}; ${accrued} waiting trade(s) accrued.`);
}

async function fxList(db: Db, json: boolean): Promise<void> {
  const rows = await db.query<{ base: string; quote: string; rate: string; as_of: string }>(
    asOwner(),
    'select base, quote, rate::text as rate, as_of::text as as_of from public.fx_rates order by as_of desc, base, quote',
  );
  if (json) console.log(JSON.stringify(rows));
  else for (const r of rows) console.log(`${r.as_of}  1 ${r.base} = ${r.rate} ${r.quote}`);
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
  const db = adminDb(values['db-url'], 'rubi-rebate-plan');
  const open = () => db.open();
  try {
    switch (command) {
      case 'list':
        await list(open(), values.broker, values.json);
        break;
      case 'create':
        await create(open(), values);
        break;
      case 'rule':
        await rule(open(), positionals[1], values);
        break;
      case 'delete-rule':
        await remove(open(), 'rule', positionals[1], values.json);
        break;
      case 'delete-plan':
        await remove(open(), 'plan', positionals[1], values.json);
        break;
      case 'fx':
        await fx(open(), positionals.slice(1), values);
        break;
      case 'fx-list':
        await fxList(open(), values.json);
        break;
      default:
        throw new UsageError(`unknown command "${command}"`);
    }
    return 0;
  } catch (error) {
    return reportFailure('rebate-plan', USAGE, error);
  } finally {
    await db.close();
  }
}

process.exitCode = await main(process.argv.slice(2));
