import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SessionStatus } from '@rubi/contracts/accounts-read.ts';
import { EaScope } from '@rubi/contracts/keys.ts';
import { NotificationKind } from '@rubi/contracts/notifications.ts';
import { PositionType } from '@rubi/contracts/positions.ts';
import { RebateKind, RebateSide, SymbolGroup } from '@rubi/contracts/rebate-plans.ts';
import { ReportedStatus, SignalSource, SignalStatus, SignalType, Timeframe } from '@rubi/contracts/signals.ts';
import { CashbackWithheld, ClosedTrade, TradeType } from '@rubi/contracts/trades.ts';
import { Platform, TerminalState, TradingAccountStatus } from '@rubi/contracts/shared.ts';
import { VOCABULARY, type VocabularyName } from '@rubi/contracts/vocabulary.ts';
import { AccountStatus, HeartbeatTerminal, ReportedState, VpsPlatform } from '@rubi/contracts/vps.ts';
import { asOwner, isPgError } from '@rubi/db';
import type { PgliteDb } from '@rubi/db/pglite';
import { Constants } from '@rubi/db/types';
import { createMigratedPglite } from '../support/pglite-schema.ts';

// One vocabulary (issue #13, item 5): each closed set of values is an enum in the database
// (supabase/migrations/20261130000700_vocabulary.sql), generated into `Constants`
// (packages/db/src/database.types.ts, `npm run db:types`), from which the contracts build their zod
// enums. Here the three are compared: the catalog of the migrated schema (pg_enum), the generated
// file, and every contract enum that stands for a whole vocabulary. Any difference fails, naming
// the enum, where it differs and what to do.

/** What is compared of a zod enum. */
type AnyEnum = { readonly options: readonly string[] };

/** Every contract enum that must hold exactly the values of a database enum, by that enum. */
const CONTRACTS: Record<VocabularyName, Record<string, AnyEnum>> = {
  account_status: { 'shared.ts TradingAccountStatus': TradingAccountStatus, 'vps.ts AccountStatus': AccountStatus },
  cashback_withheld_reason: { 'trades.ts CashbackWithheld': CashbackWithheld },
  ea_scope: { 'keys.ts EaScope': EaScope },
  notification_kind: { 'notifications.ts NotificationKind': NotificationKind },
  platform: { 'shared.ts Platform': Platform, 'vps.ts VpsPlatform': VpsPlatform },
  rebate_kind: { 'rebate-plans.ts RebateKind': RebateKind },
  rebate_side: { 'rebate-plans.ts RebateSide': RebateSide },
  session_status: { 'accounts-read.ts SessionStatus': SessionStatus },
  signal_source: { 'signals.ts SignalSource': SignalSource },
  signal_status: { 'signals.ts SignalStatus': SignalStatus },
  signal_type: { 'signals.ts SignalType': SignalType },
  symbol_group: { 'rebate-plans.ts SymbolGroup': SymbolGroup, 'trades.ts ClosedTrade.symbol_group': ClosedTrade.shape.symbol_group },
  terminal_state: { 'shared.ts TerminalState': TerminalState, 'vps.ts HeartbeatTerminal.state': HeartbeatTerminal.shape.state },
  timeframe: { 'signals.ts Timeframe': Timeframe },
  trade_side: { 'positions.ts PositionType': PositionType, 'trades.ts TradeType': TradeType },
};

const GENERATED = 'packages/db/src/database.types.ts';
const show = (values: readonly string[] | undefined): string => (values ? `[${values.join(', ')}]` : 'nothing');

let db: PgliteDb;
/** public's enums as the catalog has them: name -> labels in their sort order. */
let catalog: Map<string, string[]>;

beforeAll(async () => {
  ({ db } = await createMigratedPglite());
  const rows = await db.query<{ name: string; labels: string[] }>(
    asOwner(),
    `select t.typname::text as name, array_agg(e.enumlabel::text order by e.enumsortorder) as labels
     from pg_catalog.pg_enum e
     join pg_catalog.pg_type t on t.oid = e.enumtypid
     join pg_catalog.pg_namespace n on n.oid = t.typnamespace
     where n.nspname = 'public'
     group by t.typname
     order by 1`,
  );
  catalog = new Map(rows.map((r) => [r.name, r.labels]));
});
afterAll(async () => {
  await db?.close();
});

describe('one vocabulary: database, generated types, contracts', () => {
  it('the migrated schema declares its vocabularies as enums in public', () => {
    expect(catalog.size, 'no enum in public: did the vocabulary migration run?').toBeGreaterThanOrEqual(11);
  });

  it(`${GENERATED} has every enum of the database, with the same values in the same order`, () => {
    const generated: Record<string, readonly string[]> = Constants.public.Enums;
    const drift: string[] = [];
    for (const name of new Set([...catalog.keys(), ...Object.keys(generated)])) {
      const inDb = catalog.get(name);
      const inFile = generated[name];
      if (JSON.stringify(inDb) !== JSON.stringify(inFile)) {
        drift.push(`enum public.${name}: the database has ${show(inDb)}, ${GENERATED} has ${show(inFile)}`);
      }
    }
    expect(drift, `${drift.join('\n')}\nrun \`npm run db:types\` and commit ${GENERATED}`).toEqual([]);
  });

  it('every contract enum of a vocabulary has exactly its values, in order', () => {
    const drift: string[] = [];
    for (const [name, contracts] of Object.entries(CONTRACTS)) {
      const inDb = catalog.get(name);
      for (const [where, schema] of Object.entries(contracts)) {
        if (JSON.stringify(schema.options) !== JSON.stringify(inDb)) {
          drift.push(
            `packages/contracts/src/${where} is ${show(schema.options)} but enum public.${name} is ${show(inDb)}: ` +
              `build it from VOCABULARY.${name} (packages/contracts/src/vocabulary.ts)`,
          );
        }
      }
    }
    expect(drift, drift.join('\n')).toEqual([]);
  });

  it('every enum of the database stands behind at least one contract', () => {
    const unmapped = [...catalog.keys()].filter((name) => !(name in CONTRACTS));
    expect(
      unmapped,
      `enums without a contract: ${unmapped.join(', ')}. Build the contract's zod enum from VOCABULARY.<name> and list it in CONTRACTS here`,
    ).toEqual([]);
    expect(Object.keys(VOCABULARY).sort()).toEqual([...catalog.keys()].sort());
  });

  it('no check constraint in public spells out a list of text values (a vocabulary is an enum)', async () => {
    const lists = await db.query<{ what: string }>(
      asOwner(),
      `select c.conrelid::regclass::text || '.' || c.conname || ': ' || pg_get_constraintdef(c.oid) as what
       from pg_catalog.pg_constraint c
       join pg_catalog.pg_namespace n on n.oid = c.connamespace
       where n.nspname = 'public' and c.contype = 'c' and pg_get_constraintdef(c.oid) ~ 'ARRAY\\[''[^'']*''::text'`,
    );
    expect(lists.map((l) => l.what), 'declare these values as an enum (see 20261130000700_vocabulary.sql)').toEqual([]);
  });
});

describe('contract subsets of a vocabulary agree with the database', () => {
  it('ReportedSignalStatus: exactly the states the EA may move a DELIVERED signal to', async () => {
    const rows = await db.query<{ to_state: string }>(
      asOwner(),
      `select to_state from private.state_transitions where machine = 'signal' and from_state = 'DELIVERED' and actor = 'ea'`,
    );
    expect([...ReportedStatus.options].sort()).toEqual(rows.map((r) => r.to_state).sort());
  });

  /** The SQLSTATE a private function raises for `sql` (run as the owner), or 'ok'. */
  async function outcome(sql: string, params: unknown[]): Promise<string> {
    try {
      await db.query(asOwner(), sql, params);
      return 'ok';
    } catch (error) {
      if (isPgError(error)) return error.code;
      throw error;
    }
  }

  it('VpsReportedState: exactly the states private.vps_report_state accepts', async () => {
    const candidates = [...new Set([...VOCABULARY.terminal_state, ...VOCABULARY.account_status, 'exploded'])];
    const accepted: string[] = [];
    for (const state of candidates) {
      // An unknown account of an unknown host: a state it accepts yields no row, one it refuses raises 22023.
      const code = await outcome(`select * from private.vps_report_state(gen_random_uuid(), gen_random_uuid(), $1, 'E_TEST', null)`, [state]);
      expect(['ok', '22023'], `${state}: ${code}`).toContain(code);
      if (code === 'ok') accepted.push(state);
    }
    expect(accepted.sort()).toEqual([...ReportedState.options].sort());
  });

  it('HeartbeatTerminal.state: exactly the states private.vps_report_terminals accepts', async () => {
    const candidates = [...new Set([...VOCABULARY.terminal_state, ...VOCABULARY.account_status, 'exploded'])];
    const accepted: string[] = [];
    for (const state of candidates) {
      // The states are checked before the host: an accepted state then fails on the unknown host (42501).
      const code = await outcome(`select * from private.vps_report_terminals(gen_random_uuid(), $1::jsonb)`, [
        JSON.stringify([{ account_id: crypto.randomUUID(), state }]),
      ]);
      expect(['42501', '22023'], `${state}: ${code}`).toContain(code);
      if (code === '42501') accepted.push(state);
    }
    expect(accepted.sort()).toEqual([...HeartbeatTerminal.shape.state.options].sort());
  });
});
