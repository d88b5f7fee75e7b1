import { createServer, type Server } from 'node:http';

import type { Registry } from 'prom-client';

/** What the HTTP endpoints report. */
export interface MetricsEndpoints {
  /** The Prometheus exposition (for a cluster: every worker aggregated). */
  metrics(): Promise<{ contentType: string; body: string }>;
  /** Ready for traffic: serving and able to vouch for its cache. */
  ready(): boolean;
}

/** Endpoints over one registry (a single process). */
export function registryEndpoints(registry: Registry, ready: () => boolean): MetricsEndpoints {
  return {
    metrics: async () => ({ contentType: registry.contentType, body: await registry.metrics() }),
    ready,
  };
}

/**
 * The operator HTTP port: `/metrics` (Prometheus), `/healthz` (the process answers: liveness) and
 * `/readyz` (200 when serving and the cache can be trusted, else 503) for orchestrators that cannot
 * speak gRPC health. Resolves with the bound port.
 */
export function startMetricsServer(
  host: string,
  port: number,
  endpoints: MetricsEndpoints,
): Promise<{ server: Server; port: number }> {
  const server = createServer((request, response) => {
    const path = (request.url ?? '/').split('?')[0];
    if (request.method !== 'GET' && request.method !== 'HEAD') {
      response.writeHead(405, { allow: 'GET, HEAD' }).end();
    } else if (path === '/metrics') {
      endpoints.metrics().then(
        ({ contentType, body }) => response.writeHead(200, { 'content-type': contentType }).end(body),
        () => response.writeHead(500, { 'content-type': 'text/plain' }).end('metrics unavailable\n'),
      );
    } else if (path === '/healthz') {
      response.writeHead(200, { 'content-type': 'text/plain' }).end('ok\n');
    } else if (path === '/readyz') {
      const ready = endpoints.ready();
      response.writeHead(ready ? 200 : 503, { 'content-type': 'text/plain' }).end(ready ? 'ready\n' : 'not ready\n');
    } else {
      response.writeHead(404, { 'content-type': 'text/plain' }).end('not found: try /metrics, /healthz, /readyz\n');
    }
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      const address = server.address();
      resolve({ server, port: typeof address === 'object' && address !== null ? address.port : port });
    });
  });
}
