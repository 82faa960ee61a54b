// Display helpers: money, lots, times and relative times, the same everywhere on the page.

export const money = (n: number | null | undefined, currency = ''): string =>
  n == null ? '–' : `${n.toLocaleString('en-US', { minimumFractionDigits: 2, maximumFractionDigits: 2 })}${currency ? ` ${currency}` : ''}`;

export const lots = (n: number | null | undefined): string => (n == null ? '–' : n.toLocaleString('en-US', { maximumFractionDigits: 2 }));

export const price = (n: number | null | undefined): string => (n == null ? '–' : String(n));

export function time(iso: string | null | undefined): string {
  if (!iso) return '–';
  const d = new Date(iso);
  return d.toLocaleString('en-GB', { dateStyle: 'short', timeStyle: 'medium' });
}

export function ago(iso: string | null | undefined, now = Date.now()): string {
  if (!iso) return 'never';
  const s = Math.round((now - Date.parse(iso)) / 1000);
  if (s < 5) return 'just now';
  if (s < 60) return `${s}s ago`;
  if (s < 3600) return `${Math.floor(s / 60)} min ago`;
  if (s < 86_400) return `${Math.floor(s / 3600)} h ago`;
  return `${Math.floor(s / 86_400)} d ago`;
}

export const shortId = (id: string): string => id.slice(0, 8);
