import autocannon from 'autocannon';
import type { CpuUse } from './cpu.ts';

/**
 * The two load generators of the benchmarks, measured the same way so their figures compare:
 * every completed operation's latency (milliseconds, float) is kept and p50/p99 are the
 * nearest-rank percentiles of that list; throughput is completed operations over wall time.
 */

export interface Figures {
  /** Completed operations (HTTP responses of any status, or SQL transactions that committed or failed). */
  count: number;
  perSecond: number;
  p50: number;
  p99: number;
  /** HTTP: non-2xx responses + connection errors + timeouts. SQL: transactions that threw. */
  errors: number;
  /** What the first failure said, to make a failing run explain itself. */
  firstError?: string;
  /** Where the CPU went meanwhile (./cpu.ts), when it was measured. */
  cpu?: CpuUse;
}

/** Nearest-rank percentile of an ascending list (NaN when empty). */
export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  const rank = Math.min(sorted.length, Math.max(1, Math.ceil((p / 100) * sorted.length)));
  return sorted[rank - 1] ?? Number.NaN;
}

function figures(latencies: number[], elapsedMs: number, errors: number, firstError: string | undefined): Figures {
  const sorted = [...latencies].sort((a, b) => a - b);
  return {
    count: sorted.length,
    perSecond: sorted.length / (elapsedMs / 1000),
    p50: percentile(sorted, 50),
    p99: percentile(sorted, 99),
    errors,
    ...(firstError === undefined ? {} : { firstError }),
  };
}

export interface NextRequest {
  body?: string;
  headers: Record<string, string>;
  path?: string;
}

export interface HttpLoad {
  /** Full URL of the route (its origin is what autocannon connects to). */
  url: string;
  method: 'GET' | 'POST';
  /**
   * Called for every request autocannon sends: its body and headers (sign here) and, when it
   * differs from `url`'s, its path with query string.
   */
  next: () => NextRequest;
  seconds: number;
  connections: number;
}

/**
 * autocannon against one route, `connections` keep-alive connections each with one request in
 * flight, for `seconds`. `next()` runs in autocannon's setupRequest hook, so every request is built
 * (and signed) just before it is sent.
 */
export function runHttp(load: HttpLoad): Promise<Figures> {
  const target = new URL(load.url);
  const latencies: number[] = [];
  let non2xx = 0;
  let firstError: string | undefined;
  const started = performance.now();
  return new Promise<Figures>((resolveRun, rejectRun) => {
    const instance = autocannon(
      {
        url: target.origin,
        connections: load.connections,
        pipelining: 1,
        duration: load.seconds,
        timeout: 30,
        requests: [
          {
            setupRequest: (request) => {
              const { body, headers, path } = load.next();
              return {
                ...request,
                method: load.method,
                path: path ?? `${target.pathname}${target.search}`,
                headers: { ...headers, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
                ...(body === undefined ? {} : { body }),
              };
            },
            onResponse: (status, body) => {
              if (status >= 300 && firstError === undefined) firstError = `${status} ${body.slice(0, 300)}`;
            },
          },
        ],
      },
      (error: unknown, result: autocannon.Result) => {
        if (error) {
          rejectRun(error instanceof Error ? error : new Error(String(error)));
          return;
        }
        const elapsed = performance.now() - started;
        const connectionErrors = result.errors + result.timeouts;
        if (connectionErrors > 0 && firstError === undefined) firstError = `${result.errors} connection errors, ${result.timeouts} timeouts`;
        // autocannon's own wall time: from the first request to the stop (in-flight requests are dropped).
        resolveRun(figures(latencies, result.duration > 0 ? result.duration * 1000 : elapsed, non2xx + connectionErrors, firstError));
      },
    );
    instance.on('response', (_client, statusCode, _bytes, responseTime) => {
      latencies.push(responseTime);
      if (statusCode < 200 || statusCode >= 300) non2xx += 1;
    });
  });
}

export interface SqlLoad {
  /** One operation: the function's database work for one request (a whole transaction). */
  op: () => Promise<unknown>;
  seconds: number;
  concurrency: number;
}

/** `concurrency` loops, each running `op` back to back until `seconds` have passed. */
export async function runSql(load: SqlLoad): Promise<Figures> {
  const latencies: number[] = [];
  let errors = 0;
  let firstError: string | undefined;
  const started = performance.now();
  const deadline = started + load.seconds * 1000;
  const loop = async (): Promise<void> => {
    while (performance.now() < deadline) {
      const t0 = performance.now();
      try {
        await load.op();
      } catch (error) {
        errors += 1;
        firstError ??= error instanceof Error ? error.message : String(error);
      }
      latencies.push(performance.now() - t0);
    }
  };
  await Promise.all(Array.from({ length: load.concurrency }, loop));
  return figures(latencies, performance.now() - started, errors, firstError);
}

/** A reference measured beside a scenario: its figures and what it is. */
export interface Reference {
  label: string;
  figures: Figures;
}

/** One scenario of one concurrency: the function and what it is compared with. */
export interface Row {
  scenario: string;
  fn: Figures;
  /** The one-call SQL doing the same work, through the same adapter. */
  baseline: Figures;
  /** The ceiling: a bare round trip through the same stack, or the raw insert. */
  ceiling?: Reference;
  /** The request path before issue #13 (SQL only). */
  legacy?: Reference;
  /** The function before issue #13 itself, served from the old tree (./legacy-tree.ts). */
  legacyFunction?: Reference;
}

export const ms = (value: number): string => (Number.isFinite(value) ? value.toFixed(2) : '–');
export const rate = (value: number): string => (Number.isFinite(value) ? Math.round(value).toString() : '–');
const ratio = (a: number, b: number | undefined): string => (b !== undefined && Number.isFinite(a / b) && b > 0 ? `${(a / b).toFixed(2)}×` : '–');

/** A Markdown table, first column left-aligned, the others right-aligned (pasted as is into bench/README.md). */
export function markdownTable(header: readonly string[], lines: readonly (readonly string[])[]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...lines.map((l) => (l[i] ?? '').length)));
  const fmt = (cells: readonly string[]) => `| ${cells.map((c, i) => (i === 0 ? c.padEnd(widths[i] ?? 0) : c.padStart(widths[i] ?? 0))).join(' | ')} |`;
  const rule = `| ${widths.map((w, i) => (i === 0 ? '-'.repeat(w) : `${'-'.repeat(w - 1)}:`)).join(' | ')} |`;
  return [fmt(header), rule, ...lines.map(fmt)].join('\n');
}

/** Errors of a row: the function's, then failed references as `+N SQL`. */
function errorsOf(r: Row): string {
  const others = r.baseline.errors + (r.ceiling?.figures.errors ?? 0) + (r.legacy?.figures.errors ?? 0) + (r.legacyFunction?.figures.errors ?? 0);
  return others > 0 ? `${r.fn.errors} (+${others} ref)` : String(r.fn.errors);
}

/** One concurrency's scenarios beside their SQL baseline, ceiling, legacy path (SQL) and legacy function. */
export function formatTable(rows: readonly Row[]): string {
  const header = [
    'scenario',
    'req/s',
    'p50 ms',
    'p99 ms',
    'errors',
    'baseline ops/s',
    'ceiling ops/s',
    'legacy ops/s',
    'legacy fn req/s',
    'fn/baseline',
    'fn/ceiling',
    'fn/legacy',
    'fn/legacy fn',
  ];
  const lines = rows.map((r) => [
    r.scenario,
    rate(r.fn.perSecond),
    ms(r.fn.p50),
    ms(r.fn.p99),
    errorsOf(r),
    rate(r.baseline.perSecond),
    r.ceiling ? rate(r.ceiling.figures.perSecond) : '–',
    r.legacy ? rate(r.legacy.figures.perSecond) : '–',
    r.legacyFunction ? rate(r.legacyFunction.figures.perSecond) : '–',
    ratio(r.fn.perSecond, r.baseline.perSecond),
    ratio(r.fn.perSecond, r.ceiling?.figures.perSecond),
    ratio(r.fn.perSecond, r.legacy?.figures.perSecond),
    ratio(r.fn.perSecond, r.legacyFunction?.figures.perSecond),
  ]);
  return markdownTable(header, lines);
}

/** A measurement of the run, for the table of every measurement. */
export interface Measured {
  label: string;
  figures: Figures;
}

const pct = (value: number | undefined): string => (value !== undefined && Number.isFinite(value) ? Math.round(value).toString() : '–');
/** CPU milliseconds per operation from a CPU percentage (of one core) and a throughput. */
const perOp = (percent: number | undefined, perSecond: number): string =>
  percent !== undefined && Number.isFinite(percent) && percent > 0 && perSecond > 0 ? ((percent / 100 / perSecond) * 1000).toFixed(2) : '–';

/** Every measurement of one concurrency with its latencies and where the CPU went (percent of one core). */
export function formatMeasurements(list: readonly Measured[]): string {
  return markdownTable(
    ['measurement', 'ops/s', 'p50 ms', 'p99 ms', 'errors', 'client CPU %', 'Deno CPU %', 'PG CPU %', 'others CPU %', 'Deno CPU ms/op', 'PG CPU ms/op'],
    list.map(({ label, figures: f }) => [
      label,
      rate(f.perSecond),
      ms(f.p50),
      ms(f.p99),
      String(f.errors),
      pct(f.cpu?.client),
      pct(f.cpu?.deno),
      pct(f.cpu?.postgres),
      pct(f.cpu?.others),
      perOp(f.cpu?.deno, f.perSecond),
      perOp(f.cpu?.postgres, f.perSecond),
    ]),
  );
}

/** One line per measurement while the run goes on. */
export function describeFigures(label: string, f: Figures): string {
  const cpu = f.cpu ? `; CPU % client ${pct(f.cpu.client)}, Deno ${pct(f.cpu.deno)}, PG ${pct(f.cpu.postgres)}, others ${pct(f.cpu.others)}` : '';
  return `${label}: ${f.count} ops, ${rate(f.perSecond)}/s, p50 ${ms(f.p50)} ms, p99 ${ms(f.p99)} ms, errors ${f.errors}${f.firstError ? ` (first: ${f.firstError})` : ''}${cpu}`;
}
