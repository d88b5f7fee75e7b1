import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';

import type { Logger } from 'pino';

import type { StopDeadline } from '../lifecycle/StopDeadline.js';
import type { Component } from '../lifecycle/Component.js';

/** What the HTTP endpoints report. */
export interface MetricsEndpoints {
  /** The Prometheus exposition (for a cluster: every worker aggregated). */
  metrics(): Promise<{ contentType: string; body: string }>;
  /** Ready for traffic: serving and able to vouch for its cache. */
  ready(): boolean;
  /** Null while the process makes progress (liveness), else the reason it does not (see livenessCheck). */
  liveness(): string | null;
}

/**
 * The operator HTTP port: `/metrics` (Prometheus), `/healthz` (liveness: 200 while the process makes
 * progress, 503 with the reason when it cannot and a restart would help) and
 * `/readyz` (200 when serving and the cache can be trusted, else 503) for orchestrators that cannot
 * speak gRPC health. It starts first and stops last, so /readyz says 503 rather than nothing while the
 * process comes up or drains.
 */
export class MetricsHttpServer implements Component {
  private readonly server: Server;
  private listening = false;

  constructor(
    private readonly address: { readonly host: string; readonly port: number },
    endpoints: MetricsEndpoints,
    private readonly logger: Logger,
  ) {
    this.server = createServer((request, response) => answer(endpoints, request, response));
  }

  /** Listens, and logs the bound address (the real port when 0 was configured). */
  async start(): Promise<void> {
    const { host, port } = this.address;
    const bound = await new Promise<number>((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(port, host, () => {
        const address = this.server.address();
        resolve(typeof address === 'object' && address !== null ? address.port : port);
      });
    });
    this.listening = true;
    this.logger.info({ metricsAddress: `${host}:${bound}` }, 'metrics, /healthz and /readyz listening');
  }

  /**
   * Stops listening and closes idle keep-alive connections; a scraper that keeps its connection busy is
   * cut off when the shutdown budget ends, so it cannot hold the exit past SHUTDOWN_TIMEOUT_MS.
   */
  async stop(deadline: StopDeadline): Promise<void> {
    if (!this.listening) return;
    this.listening = false;
    const closed = new Promise((resolve) => this.server.close(resolve));
    this.server.closeIdleConnections();
    if (!(await deadline.bound(closed))) {
      this.server.closeAllConnections();
      await closed;
    }
  }
}

function answer(endpoints: MetricsEndpoints, request: IncomingMessage, response: ServerResponse): void {
  const path = (request.url ?? '/').split('?')[0];
  if (request.method !== 'GET' && request.method !== 'HEAD') {
    response.writeHead(405, { allow: 'GET, HEAD' }).end();
  } else if (path === '/metrics') {
    endpoints.metrics().then(
      ({ contentType, body }) => response.writeHead(200, { 'content-type': contentType }).end(body),
      () => response.writeHead(500, { 'content-type': 'text/plain' }).end('metrics unavailable\n'),
    );
  } else if (path === '/healthz') {
    const problem = endpoints.liveness();
    if (problem === null) response.writeHead(200, { 'content-type': 'text/plain' }).end('ok\n');
    else response.writeHead(503, { 'content-type': 'text/plain' }).end(`not live: ${problem}\n`);
  } else if (path === '/readyz') {
    const ready = endpoints.ready();
    response.writeHead(ready ? 200 : 503, { 'content-type': 'text/plain' }).end(ready ? 'ready\n' : 'not ready\n');
  } else {
    response.writeHead(404, { 'content-type': 'text/plain' }).end('not found: try /metrics, /healthz, /readyz\n');
  }
}
