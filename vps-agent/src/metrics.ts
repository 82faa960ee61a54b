import { createServer, type Server } from 'node:http';
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

/**
 * Prometheus metrics. Labels never carry a secret: an account is identified by its external id at
 * most in logs, and metrics only by platform/state/route (bounded cardinality).
 */
export interface AgentMetrics {
  registry: Registry;
  terminals: Gauge<'state'>;
  capacity: Gauge;
  restarts: Counter<'platform'>;
  claims: Counter;
  provisionings: Counter<'platform' | 'result'>;
  terminalErrors: Counter<'code'>;
  eaCompiles: Counter<'platform' | 'result'>;
  apiLatency: Histogram<'route' | 'status'>;
  apiErrors: Counter<'route' | 'kind'>;
  doorbells: Counter;
  reconciles: Counter<'reason'>;
}

export const TERMINAL_STATES = ['launching', 'running', 'connected', 'error', 'stopped'] as const;

export function createMetrics(options: { defaultMetrics?: boolean } = {}): AgentMetrics {
  const registry = new Registry();
  if (options.defaultMetrics ?? true) collectDefaultMetrics({ register: registry, prefix: 'rubi_vps_agent_' });
  const m: AgentMetrics = {
    registry,
    terminals: new Gauge({ name: 'rubi_vps_agent_terminals', help: 'Terminals on this host by state', labelNames: ['state'], registers: [registry] }),
    capacity: new Gauge({ name: 'rubi_vps_agent_capacity', help: 'Terminals this host may run', registers: [registry] }),
    restarts: new Counter({ name: 'rubi_vps_agent_terminal_restarts_total', help: 'Terminals restarted after an unplanned exit', labelNames: ['platform'], registers: [registry] }),
    claims: new Counter({ name: 'rubi_vps_agent_claims_total', help: 'Accounts claimed from the backend', registers: [registry] }),
    provisionings: new Counter({ name: 'rubi_vps_agent_provisionings_total', help: 'Provisioning attempts by result', labelNames: ['platform', 'result'], registers: [registry] }),
    terminalErrors: new Counter({ name: 'rubi_vps_agent_terminal_errors_total', help: 'Terminals reported in error, by code', labelNames: ['code'], registers: [registry] }),
    eaCompiles: new Counter({ name: 'rubi_vps_agent_ea_compiles_total', help: 'EA builds from sources by result (compiled, up_to_date, failed)', labelNames: ['platform', 'result'], registers: [registry] }),
    apiLatency: new Histogram({
      name: 'rubi_vps_agent_api_request_duration_seconds',
      help: 'Latency of calls to the vps function',
      labelNames: ['route', 'status'],
      buckets: [0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers: [registry],
    }),
    apiErrors: new Counter({ name: 'rubi_vps_agent_api_errors_total', help: 'Failed calls to the vps function (network, http, contract)', labelNames: ['route', 'kind'], registers: [registry] }),
    doorbells: new Counter({ name: 'rubi_vps_agent_doorbells_total', help: 'Realtime doorbells received', registers: [registry] }),
    reconciles: new Counter({ name: 'rubi_vps_agent_reconciles_total', help: 'Reconcile passes by trigger', labelNames: ['reason'], registers: [registry] }),
  };
  for (const state of TERMINAL_STATES) m.terminals.set({ state }, 0);
  return m;
}

/** Serves `/metrics` (Prometheus text format) and `/healthz`. */
export async function serveMetrics(metrics: AgentMetrics, host: string, port: number): Promise<Server> {
  const server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (req.method === 'GET' && path === '/metrics') {
      metrics.registry
        .metrics()
        .then((text) => {
          res.writeHead(200, { 'content-type': metrics.registry.contentType });
          res.end(text);
        })
        .catch((error: unknown) => {
          res.writeHead(500, { 'content-type': 'text/plain' });
          res.end(String(error));
        });
      return;
    }
    if (req.method === 'GET' && path === '/healthz') {
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.end('ok\n');
      return;
    }
    res.writeHead(404, { 'content-type': 'text/plain' });
    res.end('not found\n');
  });
  await new Promise<void>((resolveListen, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolveListen();
    });
  });
  return server;
}
