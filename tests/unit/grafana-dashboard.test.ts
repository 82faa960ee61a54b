import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { BACKEND_METRICS } from '../../functions/ops/metrics.ts';
import { createMetrics } from '../../vps-agent/src/metrics.ts';

// ops/grafana/rubi-mt-bridge.json: importable as is (a Prometheus datasource input), and every
// query names only metrics we export: the backend's (functions/ops/metrics.ts) and the agent's
// (vps-agent/src/metrics.ts: its registry, default process metrics included).

const root = join(import.meta.dirname, '..', '..');
const dashboard = JSON.parse(readFileSync(join(root, 'ops', 'grafana', 'rubi-mt-bridge.json'), 'utf8')) as {
  __inputs: { name: string; type: string; pluginId: string }[];
  uid: string;
  title: string;
  panels: Panel[];
};
interface Panel {
  id: number;
  type: string;
  title: string;
  datasource?: { type: string; uid: string };
  targets?: { expr: string; refId: string; datasource?: { uid: string } }[];
  panels?: Panel[];
}

/** PromQL words that are not metric names: functions, aggregations, keywords. */
const PROMQL_WORDS = new Set([
  'sum', 'min', 'max', 'avg', 'count', 'stddev', 'stdvar', 'topk', 'bottomk', 'quantile', 'count_values', 'group',
  'by', 'without', 'on', 'ignoring', 'group_left', 'group_right', 'bool', 'and', 'or', 'unless', 'offset',
  'rate', 'irate', 'increase', 'delta', 'idelta', 'deriv', 'histogram_quantile', 'time', 'clamp_min', 'clamp_max', 'abs',
  'vector', 'scalar', 'absent', 'changes', 'resets', 'label_replace', 'max_over_time', 'min_over_time', 'avg_over_time', 'round',
  'inf', 'nan',
]);

/**
 * The metric names a PromQL expression reads. A small parser for the subset the dashboard uses:
 * it checks brackets balance and strings close, drops label matchers, range and offset durations,
 * and label lists of `by`/`without`/`on`/`ignoring`/`group_*`; every identifier left that is not a
 * PromQL word (or a function call) is a metric name.
 */
export function metricNamesIn(expr: string): string[] {
  const stack: string[] = [];
  const pairs: Record<string, string> = { ')': '(', ']': '[', '}': '{' };
  let inString = false;
  for (const ch of expr) {
    if (ch === '"') inString = !inString;
    if (inString) continue;
    if ('([{'.includes(ch)) stack.push(ch);
    if (')]}'.includes(ch) && stack.pop() !== pairs[ch]) throw new Error(`unbalanced ${ch} in ${expr}`);
  }
  if (inString || stack.length > 0) throw new Error(`unterminated string or bracket in ${expr}`);
  const stripped = expr
    .replace(/"(?:[^"\\]|\\.)*"/g, '""')
    .replace(/\{[^}]*\}/g, ' ')
    .replace(/\[[^\]]*\]/g, ' ')
    .replace(/\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, ' ');
  const names: string[] = [];
  for (const m of stripped.matchAll(/[a-zA-Z_:][a-zA-Z0-9_:]*(\s*\()?/g)) {
    const word = m[0].replace(/\s*\($/, '');
    if (m[1] !== undefined || PROMQL_WORDS.has(word.toLowerCase())) continue;
    if (/^\d/.test(word)) continue;
    names.push(word);
  }
  return names;
}

async function exportedNames(): Promise<Set<string>> {
  const names = new Set<string>(BACKEND_METRICS.map((m) => m.name));
  for (const m of await createMetrics().registry.getMetricsAsJSON()) {
    names.add(m.name);
    const type = String(m.type);
    if (type === 'histogram' || type === 'summary') for (const suffix of ['_bucket', '_sum', '_count']) names.add(`${m.name}${suffix}`);
  }
  return names;
}

const allPanels = (panels: Panel[]): Panel[] => panels.flatMap((p) => [p, ...allPanels(p.panels ?? [])]);

describe('the Grafana dashboard', () => {
  it('is importable as is: a Prometheus datasource input every query uses, unique panel ids', () => {
    expect(dashboard.uid).toBe('rubi-mt-bridge');
    expect(dashboard.__inputs).toEqual([expect.objectContaining({ name: 'DS_PROMETHEUS', type: 'datasource', pluginId: 'prometheus' })]);
    const panels = allPanels(dashboard.panels);
    expect(new Set(panels.map((p) => p.id)).size).toBe(panels.length);
    for (const p of panels.filter((q) => q.type !== 'row')) {
      expect(p.datasource, p.title).toEqual({ type: 'prometheus', uid: '${DS_PROMETHEUS}' });
      expect(p.targets?.length, p.title).toBeGreaterThan(0);
      for (const t of p.targets ?? []) expect(t.datasource?.uid, p.title).toBe('${DS_PROMETHEUS}');
    }
  });

  it('names only metrics we export, in every query', async () => {
    const exported = await exportedNames();
    const used = new Set<string>();
    for (const p of allPanels(dashboard.panels)) {
      for (const t of p.targets ?? []) {
        const names = metricNamesIn(t.expr);
        expect(names.length, `${p.title}: ${t.expr} names no metric`).toBeGreaterThan(0);
        for (const name of names) {
          expect(exported.has(name), `${p.title}: ${name} is not a metric we export`).toBe(true);
          used.add(name);
        }
      }
    }
    // Every backend metric is on the board.
    for (const m of BACKEND_METRICS) expect(used.has(m.name), `${m.name} has no panel`).toBe(true);
  });

  it('the query parser finds names and refuses broken queries', () => {
    expect(metricNamesIn('histogram_quantile(0.99, sum by (le, route) (rate(x_bucket{route="a{b}"}[5m])))')).toEqual(['x_bucket']);
    expect(metricNamesIn('max by (host) (a) / max by (host) (b > 0)')).toEqual(['a', 'b']);
    expect(metricNamesIn('time() - c')).toEqual(['c']);
    expect(() => metricNamesIn('sum(rate(x[5m])')).toThrow(/unterminated|unbalanced/);
    expect(() => metricNamesIn('x{a="b}')).toThrow(/unterminated/);
  });
});
