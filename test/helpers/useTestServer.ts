import { afterAll, beforeAll } from 'vitest';

import { startTestServer, type TestServer } from './startTestServer.js';
import type { DatabaseKind } from './testDatabase.js';

/**
 * A test server for the tests of the enclosing `describe`: started before the first of them, stopped
 * after the last. The returned object is filled in when the server has started, so tests (not the
 * describe body) may read it.
 */
export function useTestServer(kind: DatabaseKind, env: Record<string, string> = {}): TestServer {
  const server = {} as TestServer;
  beforeAll(async () => {
    Object.assign(server, await startTestServer(kind, env));
  });
  afterAll(async () => {
    // A server that never started has nothing to stop (beforeAll already reported why).
    if ('stop' in server) await server.stop();
  });
  return server;
}
