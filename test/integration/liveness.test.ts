import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';

import { startTestServer, type TestServer } from '../helpers/startTestServer.js';

describe('/healthz reports a stalled database pool [sqlite]', () => {
  let server: TestServer;
  let healthz: string;
  beforeAll(async () => {
    // SQLite's pool has one connection: a transaction held open stalls every other caller.
    server = await startTestServer('sqlite', {
      DATABASE_TIMEOUT_MS: '100',
      DATABASE_QUERY_TIMEOUT_MS: '1500',
      LIVENESS_POOL_EXHAUSTED_MS: '1700',
      CHANGE_FEED_POLL_MS: '20',
    });
    const metricsAddress = /"metricsAddress":"([^"]+)"/.exec(server.logs.join('\n'))?.[1] ?? '';
    healthz = `http://${metricsAddress}/healthz`;
  });
  afterAll(() => server.stop());

  it('answers 503 with the reason while the pool is stalled beyond the bound, and 200 again once it is not', async () => {
    expect((await fetch(healthz)).status).toBe(200);
    let release = (): void => undefined;
    const held = server.app.db.transaction(() => new Promise<void>((resolve) => (release = resolve)));
    // The change feed keeps asking for a connection (and failing after DATABASE_TIMEOUT_MS): it is
    // not stuck itself, but it is never served.
    await vi.waitFor(
      async () => {
        const response = await fetch(healthz);
        expect(response.status).toBe(503);
        expect(await response.text()).toMatch(
          /^not live: every database connection has been in use, with callers waiting and none served, for \d+ ms \(bound 1700 ms\)\n$/,
        );
      },
      { timeout: 10_000, interval: 100 },
    );

    release();
    await held;
    await vi.waitFor(async () => expect((await fetch(healthz)).status).toBe(200), { timeout: 10_000, interval: 50 });
    expect(server.app.liveness()).toBeNull();
  });
});
