// An account's cashback settings (issue #17): the currency its cashback is paid in and the trades
// its owner excludes (by magic number or symbol), shown on the account page with an editor
// (PUT .../cashback-settings). The API's field errors are shown under the field they name.
import { useState } from 'preact/hooks';
import { api, ApiError, type TradingAccount } from '../api.ts';
import { ErrorNote } from '../components/Async.tsx';
import { fieldErrors, toBody, toDraft, type SettingsField } from '../cashback-settings.ts';
import { useAction } from '../hooks.ts';

export function CashbackSettings({ account: a, onSaved }: { account: TradingAccount; onSaved: () => void }) {
  const [editing, setEditing] = useState(false);
  const s = a.cashback_settings;
  const list = (items: (string | number)[]) => (items.length ? items.join(', ') : 'none');
  return (
    <div data-testid="cashback-settings">
      <dl class="settings">
        <div>
          <dt>Paid in</dt>
          <dd data-testid="settings-payout-currency">{s.payout_currency ?? `${a.figures.currency} (the broker's currency)`}</dd>
        </div>
        <div>
          <dt>Excluded magic numbers</dt>
          <dd data-testid="settings-excluded-magics">{list(s.excluded_magics)}</dd>
        </div>
        <div>
          <dt>Excluded symbols</dt>
          <dd data-testid="settings-excluded-symbols">{list(s.excluded_symbols)}</dd>
        </div>
      </dl>
      <small class="muted">
        Excluded trades are kept with no cashback (withheld as filtered). Changes apply to trades reported from now on; past trades keep what they
        earned.
      </small>
      {editing ? (
        <SettingsForm account={a} onDone={() => (setEditing(false), onSaved())} onCancel={() => setEditing(false)} />
      ) : (
        <p>
          <button class="secondary outline" onClick={() => setEditing(true)}>
            Edit cashback settings
          </button>
        </p>
      )}
    </div>
  );
}

function SettingsForm({ account: a, onDone, onCancel }: { account: TradingAccount; onDone: () => void; onCancel: () => void }) {
  const [draft, setDraft] = useState(() => toDraft(a.cashback_settings));
  const [errors, setErrors] = useState<ReturnType<typeof fieldErrors>>({ byField: {}, rest: [] });
  const save = useAction(async () => {
    const body = toBody(draft);
    setErrors({ byField: {}, rest: [] });
    try {
      await api.setCashbackSettings(a.id, body);
    } catch (e) {
      if (e instanceof ApiError) setErrors(fieldErrors(e.fields, body));
      throw e;
    }
  }, onDone);
  const placed = Object.keys(errors.byField).length > 0 && errors.rest.length === 0;
  const field = (name: SettingsField, label: string, placeholder: string, hint: string) => {
    const error = errors.byField[name];
    return (
      <label>
        {label}
        <input
          name={name}
          placeholder={placeholder}
          autocomplete="off"
          value={draft[name]}
          aria-invalid={error ? 'true' : undefined}
          aria-describedby={`${name}-help`}
          onInput={(e) => setDraft({ ...draft, [name]: (e.currentTarget as HTMLInputElement).value })}
        />
        <small id={`${name}-help`} data-testid={error ? `settings-error-${name}` : undefined}>
          {error ?? hint}
        </small>
      </label>
    );
  };
  return (
    <form onSubmit={(e) => (e.preventDefault(), save.run())} data-testid="cashback-settings-form" noValidate>
      <div class="grid">
        {field('payout_currency', 'Payout currency', 'USD', "ISO 4217 code; empty: the broker's currency")}
        {field('excluded_magics', 'Excluded magic numbers', '777, 9001', 'A copier’s or a manager’s magic numbers, separated by commas')}
        {field('excluded_symbols', 'Excluded symbols', 'XAU%, BTCUSD', 'Symbols, or patterns: % any run of characters, _ one')}
      </div>
      {save.error && !placed && <ErrorNote error={save.error} />}
      <div class="settings-actions">
        <button type="submit" aria-busy={save.pending} disabled={save.pending}>
          Save cashback settings
        </button>
        <button type="button" class="secondary outline" onClick={onCancel}>
          Cancel
        </button>
      </div>
    </form>
  );
}
