import { status } from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { createTestKey } from '../helpers/createTestKey.js';
import { allowanceOf, createAuthorizationClient, envoyCheckRequest } from '../helpers/envoyCheck.js';
import { grpcError } from '../helpers/grpcClients.js';
import { settleFeed } from '../helpers/settleFeed.js';
import { startTestServer, type TestServer } from '../helpers/startTestServer.js';
import { TcpProxy } from '../helpers/TcpProxy.js';
import { actorOf, newOrganizationId } from '../helpers/testActors.js';
import { createTestDatabase, TEST_MYSQL_URL, type TestDatabase } from '../helpers/testDatabase.js';

const describeMysql = TEST_MYSQL_URL === '' ? describe.skip : describe;

describeMysql(
  'Envoy ext_authz Check during a database outage [mysql]' +
    (TEST_MYSQL_URL === '' ? ' (skipped: TEST_MYSQL_URL is not set)' : ''),
  () => {
    let database: TestDatabase;
    let proxy: TcpProxy;
    let server: TestServer;
    let envoy: ReturnType<typeof createAuthorizationClient>;
    beforeAll(async () => {
      database = await createTestDatabase('mysql');
      const target = new URL(database.url);
      proxy = new TcpProxy(target.hostname, Number(target.port || 3306));
      await proxy.start();
      target.host = `127.0.0.1:${proxy.port}`;
      server = await startTestServer('mysql', {
        DATABASE_URL: target.toString(),
        STALENESS_BOUND_MS: '2000',
        REPLICA_TIMEOUT_MS: '5000',
        DATABASE_TIMEOUT_MS: '300',
      });
      envoy = createAuthorizationClient(server.address);
    });
    afterAll(async () => {
      envoy.close();
      await server.stop();
      await proxy.stop();
      await database.drop();
    });

    it('fails a cold key UNAVAILABLE (for failure_mode_allow and status_on_error to decide) and still answers a warm one', async () => {
      const admin = actorOf(newOrganizationId('outage'), 'alice');
      const warm = await createTestKey(server, admin, { name: 'warm' });
      const cold = await createTestKey(server, admin, { name: 'cold' });
      await settleFeed(server);
      const check = (secret: string) =>
        envoy.check(
          envoyCheckRequest({
            headers: { authorization: `Bearer ${secret}` },
            contextExtensions: { required_scopes: 'tickets:read' },
          }),
        );
      expect(allowanceOf(await check(warm.secret)).removed).toEqual(['authorization']);
      proxy.cut();
      expect(allowanceOf(await check(warm.secret)).removed).toEqual(['authorization']);
      const failure = await grpcError(check(cold.secret));
      expect(failure.code).toBe(status.UNAVAILABLE);
    });
  },
);
