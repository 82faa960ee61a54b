import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { parsePrometheusText } from '../../tests/support/prometheus-text.ts';
import { BACKEND_METRICS, escapeLabelValue, formatValue, renderMetrics, type MetricDefinition } from './metrics.ts';

describe('the metric definitions', () => {
  it('are named rubi_*, unique, in base units, _total only on counters', () => {
    const names = BACKEND_METRICS.map((m) => m.name);
    expect(new Set(names).size).toBe(names.length);
    for (const m of BACKEND_METRICS as readonly MetricDefinition[]) {
      expect(m.name).toMatch(/^rubi_[a-z0-9_]+$/);
      expect(m.name.endsWith('_total'), m.name).toBe(m.type === 'counter');
      expect(m.name, 'base units: seconds, bytes').not.toMatch(/_(ms|milliseconds|minutes|hours|kb|mb)(_|$)/);
      expect(m.help.length).toBeGreaterThan(10);
    }
  });
});

describe('renderMetrics', () => {
  it('writes HELP and TYPE for every metric, samples or not, and parses strictly', () => {
    const text = renderMetrics([
      { metric: 'rubi_signals', labels: { status: 'PENDING' }, value: 3 },
      { metric: 'rubi_signals', labels: { status: 'EXECUTED' }, value: 1e21 },
      { metric: 'rubi_signal_latency_seconds', labels: { stage: 'delivered', quantile: '0.5' }, value: NaN },
      { metric: 'rubi_vps_host_heartbeat_age_seconds', labels: { host: 'a' }, value: Infinity },
    ]);
    expect(text.endsWith('\n')).toBe(true);
    const families = parsePrometheusText(text);
    expect(families.map((f) => f.name)).toEqual(BACKEND_METRICS.map((m) => m.name));
    for (const f of families) {
      const def = BACKEND_METRICS.find((m) => m.name === f.name);
      expect(f.type).toBe(def?.type);
      expect(f.help).toBe(def?.help);
    }
    const signals = families.find((f) => f.name === 'rubi_signals');
    expect(signals?.samples).toEqual([
      { name: 'rubi_signals', labels: { status: 'EXECUTED' }, value: 1e21 },
      { name: 'rubi_signals', labels: { status: 'PENDING' }, value: 3 },
    ]);
    expect(text).toContain('rubi_signal_latency_seconds{quantile="0.5",stage="delivered"} NaN\n');
    expect(text).toContain('rubi_vps_host_heartbeat_age_seconds{host="a"} +Inf\n');
  });

  it('escapes label values: backslash, double quote, line feed', () => {
    expect(escapeLabelValue('a\\b"c\nd')).toBe('a\\\\b\\"c\\nd');
    const text = renderMetrics([{ metric: 'rubi_vps_host_capacity', labels: { host: 'we\\ird "host"\nname' }, value: 5 }]);
    expect(text).toContain('rubi_vps_host_capacity{host="we\\\\ird \\"host\\"\\nname"} 5\n');
    const [sample] = parsePrometheusText(text).find((f) => f.name === 'rubi_vps_host_capacity')?.samples ?? [];
    expect(sample?.labels.host).toBe('we\\ird "host"\nname');
  });

  it('round-trips any label value through the strict parser', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary', maxLength: 40 }), fc.double(), (host, value) => {
        const text = renderMetrics([{ metric: 'rubi_vps_host_accounts', labels: { host }, value }]);
        const [sample] = parsePrometheusText(text).find((f) => f.name === 'rubi_vps_host_accounts')?.samples ?? [];
        expect(sample?.labels.host).toBe(host);
        expect(Number.isNaN(value) ? Number.isNaN(sample?.value) : sample?.value === value).toBe(true);
      }),
    );
  });

  it('refuses a metric it does not define and a bad label name', () => {
    expect(() => renderMetrics([{ metric: 'rubi_unknown', labels: {}, value: 1 }])).toThrow(/not defined/);
    expect(() => renderMetrics([{ metric: 'rubi_signals', labels: { 'bad-name': 'x' }, value: 1 }])).toThrow(/invalid label name/);
  });

  it('formats values the way Prometheus parses them', () => {
    expect(formatValue(NaN)).toBe('NaN');
    expect(formatValue(-Infinity)).toBe('-Inf');
    expect(formatValue(0.000001)).toBe('0.000001');
    expect(formatValue(-0.5)).toBe('-0.5');
  });
});

describe('the strict parser', () => {
  it('rejects what Prometheus rejects', () => {
    expect(() => parsePrometheusText('# HELP x y\n# TYPE x gauge\nx 1')).toThrow(/line feed/);
    expect(() => parsePrometheusText('x 1\n')).toThrow(/no HELP/);
    expect(() => parsePrometheusText('# HELP x y\nx 1\n# TYPE x gauge\n')).toThrow(/TYPE after samples/);
    expect(() => parsePrometheusText('# HELP x y\n# TYPE x gauge\nx{a="\\q"} 1\n')).toThrow(/bad escape/);
    expect(() => parsePrometheusText('# HELP x y\n# TYPE x gauge\nx 1\nx 2\n')).toThrow(/duplicate/);
    expect(() => parsePrometheusText('# HELP x y\n# TYPE x gauge\nx one\n')).toThrow(/bad value/);
    expect(() => parsePrometheusText('# HELP x y\n# TYPE x counter\nx 1\n')).toThrow(/_total/);
  });
});
