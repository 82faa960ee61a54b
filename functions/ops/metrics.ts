/**
 * The backend's Prometheus metrics: their names, types and HELP (the one list: the Grafana
 * dashboard's test checks its queries against it), and the text exposition format (0.0.4) they are
 * rendered in. The values come from ONE SQL function, private.ops_metrics
 * (supabase/schemas/095_operations.sql), as (metric, labels, value) rows.
 *
 * Conventions: the `rubi_` prefix, base units (seconds, bytes), `_total` only for counters (none
 * here: every figure is read from the database's current state, so they are gauges). HELP says
 * which values are estimates (pg_class.reltuples).
 */

export type MetricType = 'gauge' | 'counter';

export interface MetricDefinition {
  name: string;
  type: MetricType;
  help: string;
}

export const BACKEND_METRICS = [
  { name: 'rubi_sessions', type: 'gauge', help: 'EA sessions by status (active and stale exact; disconnected is an estimate from pg_class.reltuples)' },
  {
    name: 'rubi_terminals_heard_from',
    type: 'gauge',
    help: 'Terminals heard from within ops_metrics_window_seconds: kind="session" active sessions pinged, kind="account" provisioned accounts seen',
  },
  { name: 'rubi_signals', type: 'gauge', help: 'Trading signals by status (from the per-user counters public.user_signal_stats)' },
  { name: 'rubi_signal_oldest_pending_age_seconds', type: 'gauge', help: 'Age of the oldest PENDING signal (0 when none)' },
  {
    name: 'rubi_signal_latency_seconds',
    type: 'gauge',
    help:
      'Quantiles of signal latency over the signals completed within ops_metrics_window_seconds: stage="delivered" created to delivered, ' +
      'stage="reported" delivered to reported by the EA (NaN when the window has none)',
  },
  { name: 'rubi_signal_latency_window_signals', type: 'gauge', help: 'Signals behind rubi_signal_latency_seconds, by stage' },
  { name: 'rubi_closed_trades', type: 'gauge', help: 'Closed trades ingested (estimate from pg_class.reltuples)' },
  { name: 'rubi_closed_trades_withheld', type: 'gauge', help: 'Closed trades that earned no cashback at ingest, by reason (exact)' },
  { name: 'rubi_cashback_accrued_unsettled', type: 'gauge', help: 'Cashback accrued on closed trades and not settled yet, by currency (currency units)' },
  { name: 'rubi_cashback_settled', type: 'gauge', help: 'Cashback settled into the ledger, by currency (currency units)' },
  { name: 'rubi_accounts', type: 'gauge', help: 'Trading accounts (not deleted) by status' },
  { name: 'rubi_accounts_in_error', type: 'gauge', help: 'Trading accounts in error, by error code' },
  { name: 'rubi_vps_hosts', type: 'gauge', help: 'VPS hosts by state (active, revoked)' },
  { name: 'rubi_vps_host_heartbeat_age_seconds', type: 'gauge', help: 'Seconds since each active VPS host last sent a heartbeat (NaN: never)' },
  { name: 'rubi_vps_host_capacity', type: 'gauge', help: 'Terminals each active VPS host may run' },
  { name: 'rubi_vps_host_accounts', type: 'gauge', help: 'Trading accounts each active VPS host holds' },
  { name: 'rubi_cron_available', type: 'gauge', help: '1 when pg_cron (cron.job) is present, 0 when absent' },
  { name: 'rubi_cron_job_last_run_timestamp_seconds', type: 'gauge', help: 'Start of each pg_cron job\'s newest run (unix time)' },
  { name: 'rubi_cron_job_last_run_success', type: 'gauge', help: '1 when each pg_cron job\'s newest run succeeded, 0 when it failed (NaN: still running)' },
  { name: 'rubi_table_rows_estimate', type: 'gauge', help: 'Rows in the housekeeping tables (replay protection, rate limits): estimate from pg_class.reltuples' },
  { name: 'rubi_table_size_bytes', type: 'gauge', help: 'Size on disk of the housekeeping tables (replay protection, rate limits), indexes included' },
  { name: 'rubi_ops_metrics_query_seconds', type: 'gauge', help: 'Time private.ops_metrics took for this scrape' },
] as const satisfies readonly MetricDefinition[];

export interface Sample {
  metric: string;
  labels: Record<string, string>;
  value: number;
}

export const CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8';

const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/;

/** A label value as the exposition format writes it: backslash, double quote and line feed escaped. */
export function escapeLabelValue(value: string): string {
  return value.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
}

/** HELP text: backslash and line feed escaped. */
function escapeHelp(text: string): string {
  return text.replace(/\\/g, '\\\\').replace(/\n/g, '\\n');
}

/** A sample value: NaN, +Inf, -Inf or the number. */
export function formatValue(value: number): string {
  if (Number.isNaN(value)) return 'NaN';
  if (value === Infinity) return '+Inf';
  if (value === -Infinity) return '-Inf';
  return String(value);
}

function formatLabels(labels: Record<string, string>): string {
  const names = Object.keys(labels).sort();
  if (names.length === 0) return '';
  return `{${names
    .map((name) => {
      if (!LABEL_NAME.test(name) || name.startsWith('__')) throw new Error(`invalid label name ${JSON.stringify(name)}`);
      return `${name}="${escapeLabelValue(labels[name] ?? '')}"`;
    })
    .join(',')}}`;
}

/**
 * The exposition: every defined metric, in definition order, with its HELP and TYPE (also when it
 * has no sample now, so the names and types stay stable), then its samples sorted by labels. A
 * sample whose name is not defined is an error: a metric is added here and in SQL together.
 */
export function renderMetrics(samples: readonly Sample[], definitions: readonly MetricDefinition[] = BACKEND_METRICS): string {
  const byName = new Map<string, string[]>(definitions.map((d) => [d.name, []]));
  for (const s of samples) {
    const lines = byName.get(s.metric);
    if (!lines) throw new Error(`metric ${s.metric} is not defined in functions/ops/metrics.ts`);
    lines.push(`${s.metric}${formatLabels(s.labels)} ${formatValue(s.value)}`);
  }
  const out: string[] = [];
  for (const d of definitions) {
    out.push(`# HELP ${d.name} ${escapeHelp(d.help)}`, `# TYPE ${d.name} ${d.type}`);
    out.push(...(byName.get(d.name) ?? []).sort());
  }
  return `${out.join('\n')}\n`;
}
