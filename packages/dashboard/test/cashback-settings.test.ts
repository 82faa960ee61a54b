// The cashback settings form's text <-> API body, and the API's field errors placed by field
// (packages/dashboard/src/cashback-settings.ts).
import { describe, expect, it } from 'vitest';
import { fieldErrors, toBody, toDraft } from '../src/cashback-settings.ts';

describe('cashback settings form', () => {
  it('shows the settings as text and reads them back', () => {
    const draft = toDraft({ payout_currency: null, excluded_magics: [777, 9001], excluded_symbols: ['XAU%', 'BTCUSD'] });
    expect(draft).toEqual({ payout_currency: '', excluded_magics: '777, 9001', excluded_symbols: 'XAU%, BTCUSD' });
    expect(toBody(draft)).toEqual({ payout_currency: null, excluded_magics: [777, 9001], excluded_symbols: ['XAU%', 'BTCUSD'] });
  });

  it('splits lists on commas, spaces or semicolons, upper-cases the currency, and sends a bad magic number as typed', () => {
    expect(toBody({ payout_currency: ' eur ', excluded_magics: '1;2  abc,,-3 99999999999999999999', excluded_symbols: 'xau% ,eurusd.r' })).toEqual({
      payout_currency: 'EUR',
      excluded_magics: [1, 2, 'abc', -3, '99999999999999999999'],
      excluded_symbols: ['xau%', 'eurusd.r'],
    });
  });

  it('places field errors by field, naming the list entry, and keeps the others', () => {
    const sent = toBody({ payout_currency: 'DOLLAR', excluded_magics: '777 abc', excluded_symbols: 'XAU% EUR-USD!?' });
    const { byField, rest } = fieldErrors(
      [
        { path: 'body.payout_currency', message: 'a 3-letter ISO 4217 code in upper case' },
        { path: 'body.excluded_magics.1', message: 'a magic number: a whole number' },
        { path: 'body.excluded_symbols.1', message: 'a symbol, or a pattern' },
        { path: 'path.id', message: 'invalid uuid' },
      ],
      sent,
    );
    expect(byField).toEqual({
      payout_currency: 'a 3-letter ISO 4217 code in upper case',
      excluded_magics: '“abc”: a magic number: a whole number',
      excluded_symbols: '“EUR-USD!?”: a symbol, or a pattern',
    });
    expect(rest).toEqual([{ path: 'path.id', message: 'invalid uuid' }]);
  });
});
