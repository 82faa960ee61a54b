/**
 * Prints the demo as it happens: each step's title, what happened in it, and at the end a summary
 * table. A failed step ends the story (what follows depends on it); `failed` says which one.
 */

export interface StepResult {
  title: string;
  ok: boolean;
  ms: number;
  outcome: string;
}

export class Story {
  readonly results: StepResult[] = [];
  failed: StepResult | undefined;
  private readonly started = performance.now();

  constructor(private readonly write: (line: string) => void = (line) => console.log(line)) {}

  say(line: string): void {
    this.write(`     ${line}`);
  }

  /** Runs a step unless an earlier one failed; its return value is the outcome shown in the summary. */
  async step<T extends string | { outcome: string }>(title: string, run: () => Promise<T>): Promise<T | undefined> {
    if (this.failed) return undefined;
    const n = this.results.length + 1;
    this.write(`\n ${String(n).padStart(2)}. ${title}`);
    const t0 = performance.now();
    try {
      const value = await run();
      const outcome = typeof value === 'string' ? value : value.outcome;
      this.results.push({ title, ok: true, ms: Math.round(performance.now() - t0), outcome });
      this.write(`     ✓ ${outcome}`);
      return value;
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);
      const result = { title, ok: false, ms: Math.round(performance.now() - t0), outcome: message };
      this.results.push(result);
      this.failed = result;
      this.write(`     ✗ ${message}`);
      return undefined;
    }
  }

  summary(): string {
    const rows = this.results.map((r, i) => [String(i + 1), r.ok ? 'ok' : 'FAILED', `${(r.ms / 1000).toFixed(1)}s`, r.title, r.outcome]);
    return table(['#', 'result', 'time', 'step', 'outcome'], rows, 72) + `\n\n total ${((performance.now() - this.started) / 1000).toFixed(1)}s`;
  }
}

/** A plain-text table; long cells are cut so a row stays on one line of a wide terminal. */
export function table(head: string[], rows: string[][], maxCell = 90): string {
  const cut = (s: string) => (s.length > maxCell ? `${s.slice(0, maxCell - 1)}…` : s);
  const all = [head, ...rows].map((r) => r.map(cut));
  const widths = head.map((_, i) => Math.max(...all.map((r) => (r[i] ?? '').length)));
  const line = (r: string[]) => ` ${r.map((c, i) => c.padEnd(widths[i] ?? 0)).join('  ')}`.trimEnd();
  return [line(all[0]!), ` ${widths.map((w) => '─'.repeat(w)).join('  ')}`, ...all.slice(1).map(line)].join('\n');
}

/** Polls `probe` until it returns something truthy, or fails saying what it waited for. */
export async function waitFor<T>(what: string, probe: () => Promise<T | undefined | null | false>, timeoutMs = 30_000, everyMs = 250): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs / 1000}s waiting for ${what}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}
