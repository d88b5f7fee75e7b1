import { Agent, get } from 'node:http';
import type { AddressInfo } from 'node:net';

import { pino } from 'pino';
import { describe, expect, it } from 'vitest';

import { StopDeadline } from '../../src/lifecycle/StopDeadline.js';
import { MetricsHttpServer } from '../../src/metrics/MetricsHttpServer.js';

/** A metrics port on 127.0.0.1:0 whose /metrics answers after `delayMs` (a cluster primary asking workers). */
async function startServer(delayMs = 0): Promise<{ server: MetricsHttpServer; port: number }> {
  const metrics = () =>
    new Promise<{ contentType: string; body: string }>((resolve) =>
      setTimeout(() => resolve({ contentType: 'text/plain', body: 'x 1\n' }), delayMs),
    );
  const server = new MetricsHttpServer(
    { host: '127.0.0.1', port: 0 },
    { metrics, ready: () => true, liveness: () => null },
    pino({ level: 'silent' }),
  );
  await server.start();
  const port = (server as unknown as { server: { address(): AddressInfo } }).server.address().port;
  return { server, port };
}

describe('MetricsHttpServer stop', () => {
  it('ends within the shutdown budget while slow scrapes keep its connections busy', async () => {
    const { server, port } = await startServer(10_000);
    const agent = new Agent({ keepAlive: true, maxSockets: 4 });
    let scraping = true;
    const scrape = (): void => {
      if (!scraping) return;
      get({ host: '127.0.0.1', port, path: '/metrics', agent }, (response) => {
        response.resume();
        response.on('end', scrape);
      }).on('error', () => undefined);
    };
    for (let i = 0; i < 4; i++) scrape();
    await new Promise((resolve) => setTimeout(resolve, 200));
    const started = Date.now();
    await server.stop(StopDeadline.after(400));
    const took = Date.now() - started;
    scraping = false;
    agent.destroy();
    // Bounded by the budget (plus scheduling slack), not by the scraper.
    expect(took).toBeLessThan(3000);
  });

  it('stops at once when nobody is connected', async () => {
    const { server } = await startServer();
    await server.stop(StopDeadline.after(10_000));
  });
});
