// A read-only value with a Copy button (the EA key secret, shown once).
import { useState } from 'preact/hooks';

export function CopyField({ value, label, testId }: { value: string; label: string; testId?: string }) {
  const [copied, setCopied] = useState(false);
  const copy = async () => {
    try {
      await navigator.clipboard.writeText(value);
      setCopied(true);
    } catch {
      // No clipboard permission (http, or a test browser): the field stays selectable.
      setCopied(false);
    }
  };
  return (
    <fieldset role="group">
      <input aria-label={label} readOnly value={value} data-testid={testId} onFocus={(e) => e.currentTarget.select()} />
      <button type="button" onClick={copy}>
        {copied ? 'Copied' : 'Copy'}
      </button>
    </fieldset>
  );
}
