import { z } from '@hono/zod-openapi';
import { VOCABULARY } from './vocabulary.ts';

// The vocabularies of rebate plans (supabase/schemas/092_rebate_plans.sql, 090_cashback.sql).

/** The market a traded symbol belongs to (private.symbol_group). */
export const SymbolGroup = z.enum(VOCABULARY.symbol_group).openapi('SymbolGroup', {
  description: 'The market of a symbol, broker suffixes and prefixes ignored: forex, metals, indices, energies, crypto, stocks or other',
});
export type SymbolGroup = z.infer<typeof SymbolGroup>;

/** Which sides of a round trip a per-lot rebate rule pays: open or close = 1 side, both = 2. */
export const RebateSide = z.enum(VOCABULARY.rebate_side).openapi('RebateSide');
export type RebateSide = z.infer<typeof RebateSide>;

/** How a rebate rule prices a trade: an amount per lot (per side), or a percentage of its commission. */
export const RebateKind = z.enum(VOCABULARY.rebate_kind).openapi('RebateKind');
export type RebateKind = z.infer<typeof RebateKind>;
