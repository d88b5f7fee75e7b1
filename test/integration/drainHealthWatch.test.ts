import { Client, credentials, type StatusObject } from '@grpc/grpc-js';
import { service as healthService } from 'grpc-health-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { StopDeadline } from '../../src/lifecycle/StopDeadline.js';
import { startTestServer, type TestServer } from '../helpers/startTestServer.js';

/** An open grpc.health.v1.Health/Watch: the statuses it received, and how it ended. */
function watchHealth(address: string) {
  const client = new Client(address, credentials.createInsecure());
  const { path, requestSerialize, responseDeserialize } = healthService.Watch as {
    path: string;
    requestSerialize: (request: { service: string }) => Buffer;
    responseDeserialize: (bytes: Buffer) => { status: string };
  };
  const statuses: string[] = [];
  const stream = client.makeServerStreamRequest(path, requestSerialize, responseDeserialize, { service: '' });
  stream.on('data', (response: { status: string }) => statuses.push(response.status));
  stream.on('error', () => undefined);
  const ended = new Promise<StatusObject>((resolve) => stream.on('status', resolve));
  return { statuses, ended, close: () => client.close() };
}

describe('a graceful stop with an open health Watch [sqlite]', () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer('sqlite');
  });
  afterAll(() => server.stop());

  it('tells the watcher NOT_SERVING, then ends its stream cleanly instead of holding the stop until in-flight calls are cancelled', async () => {
    const watch = watchHealth(server.address);
    await expect.poll(() => watch.statuses).toEqual(['SERVING']);

    await server.app.stop(StopDeadline.after(5000, { drainMs: 200 }));

    const ended = await watch.ended;
    watch.close();
    expect(watch.statuses).toEqual(['SERVING', 'NOT_SERVING']);
    expect(ended.code).toBe(0);
    expect(server.logs.join('')).not.toContain('cancelling in-flight calls');
  });
});
