import { Constants, type Enums } from '@rubi/db/types';

// The closed vocabularies (statuses, platforms, scopes, ...). Each is declared once, as an enum in
// the database (supabase/migrations/20261130000700_vocabulary.sql); `npm run db:types` writes its
// values into packages/db/src/database.types.ts (`Constants`), and everything else takes them from
// there: the contracts build their zod enums from these lists, and code without zod (the
// dashboard, the VPS agent, the EA simulator) imports the lists or the `Vocabulary` types from
// here. tests/unit/vocabulary.test.ts fails when the database, the generated file and a contract
// disagree. This module has no runtime dependency (no zod).

/** Every vocabulary, by its enum's name in the database: the values in the database's order. */
export const VOCABULARY = Constants.public.Enums;

/** The names of the vocabularies (the database's enum types). */
export type VocabularyName = keyof typeof VOCABULARY;

/** The values of one vocabulary, e.g. `Vocabulary<'platform'>` is `'MT4' | 'MT5'`. */
export type Vocabulary<Name extends VocabularyName> = Enums<Name>;

/** True when `value` belongs to the vocabulary (narrows it). */
export function isInVocabulary<Name extends VocabularyName>(name: Name, value: unknown): value is Vocabulary<Name> {
  return (VOCABULARY[name] as readonly unknown[]).includes(value);
}
