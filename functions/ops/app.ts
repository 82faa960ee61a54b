import { fleetRoute, metricsRoute, type FleetResponse } from '@rubi/contracts/ops.ts';
import { createFunctionApp, requireOperator, withDb, type EdgeDeps } from '@rubi/edge';
import { CONTENT_TYPE, renderMetrics, type Sample } from './metrics.ts';

interface MetricRow {
  metric: string;
  labels: Record<string, string>;
  value: number;
}

/**
 * `ops`: the operator's routes. GET /ops/metrics (Prometheus text) and GET /ops/fleet (JSON), both
 * behind an operator key (requireOperator: not the service_role key, not a VPS host key, not a
 * user's token), each ONE call of a private function granted to service_role only
 * (supabase/schemas/095_operations.sql), made after the key check.
 */
export function createOpsApp(deps: EdgeDeps) {
  const app = createFunctionApp('ops', deps);
  app.openAPIRegistry.registerComponent('securitySchemes', 'operatorKey', {
    type: 'http',
    scheme: 'bearer',
    description: 'An operator key (`npm run vps-host -- operator-key create <name>`); X-Operator-Key: <key> works too',
  });

  app.openapi({ ...metricsRoute, middleware: [requireOperator()] }, async (c) => {
    const started = performance.now();
    const rows = await withDb(c, (tx) => tx.query<MetricRow>('select metric, labels, value from private.ops_metrics()'));
    const seconds = (performance.now() - started) / 1000;
    const samples: Sample[] = rows.map((r) => ({ metric: r.metric, labels: r.labels, value: Number(r.value) }));
    samples.push({ metric: 'rubi_ops_metrics_query_seconds', labels: {}, value: Math.round(seconds * 1e6) / 1e6 });
    return c.text(renderMetrics(samples), 200, { 'content-type': CONTENT_TYPE, 'cache-control': 'no-store' });
  });

  app.openapi({ ...fleetRoute, middleware: [requireOperator()] }, async (c) => {
    const [row] = await withDb(c, (tx) => tx.query<{ fleet: FleetResponse }>('select private.ops_fleet() as fleet'));
    if (!row) throw new Error('private.ops_fleet returned no row');
    c.header('cache-control', 'no-store');
    return c.json(row.fleet, 200);
  });

  return app;
}
