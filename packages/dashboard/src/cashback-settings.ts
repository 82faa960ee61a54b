// An account's cashback settings as the form edits them (lists typed as text), the body sent to
// PUT /accounts/trading-accounts/{id}/cashback-settings, and the API's field errors placed back next
// to the field they name (details paths such as body.excluded_symbols.1).
import type { TradingAccount } from '@rubi/contracts/trading-accounts.ts';

export type CashbackSettings = TradingAccount['cashback_settings'];
export type SettingsField = keyof CashbackSettings;
export type SettingsDraft = Record<SettingsField, string>;
/**
 * What the form sends. A magic number that is not a whole number is sent as typed, so the API's
 * validation names it (400, body.excluded_magics.<i>): the dashboard does not check it twice.
 */
export interface SettingsBody {
  payout_currency: string | null;
  excluded_magics: (number | string)[];
  excluded_symbols: string[];
}

const FIELDS: readonly SettingsField[] = ['payout_currency', 'excluded_magics', 'excluded_symbols'];
const tokens = (text: string) => text.split(/[\s,;]+/).filter(Boolean);

export function toDraft(s: CashbackSettings): SettingsDraft {
  return { payout_currency: s.payout_currency ?? '', excluded_magics: s.excluded_magics.join(', '), excluded_symbols: s.excluded_symbols.join(', ') };
}

export function toBody(d: SettingsDraft): SettingsBody {
  const currency = d.payout_currency.trim().toUpperCase();
  return {
    payout_currency: currency === '' ? null : currency,
    excluded_magics: tokens(d.excluded_magics).map((t) => (/^-?\d+$/.test(t) && Number.isSafeInteger(Number(t)) ? Number(t) : t)),
    excluded_symbols: tokens(d.excluded_symbols),
  };
}

/**
 * The API's field errors by field, each entry of a list named by its value ("EUR USD": ...), and
 * the details that name no field of the form (shown with the error itself).
 */
export function fieldErrors(details: readonly { path: string; message: string }[], sent: SettingsBody) {
  const byField: Partial<Record<SettingsField, string>> = {};
  const rest: { path: string; message: string }[] = [];
  for (const d of details) {
    const [where, name, index] = d.path.split('.');
    const field = FIELDS.find((f) => f === name);
    if (where !== 'body' || !field) {
      rest.push(d);
      continue;
    }
    const value = index === undefined || field === 'payout_currency' ? undefined : sent[field][Number(index)];
    const message = value === undefined ? d.message : `“${String(value)}”: ${d.message}`;
    byField[field] = byField[field] ? `${byField[field]}; ${message}` : message;
  }
  return { byField, rest };
}
