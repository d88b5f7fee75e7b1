import { status } from '@grpc/grpc-js';
import knex, { type Knex } from 'knex';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { DenialReason } from '../../gen/apikeys/v1/api_keys.js';
import { hashSecret } from '../../src/domain/keyFormat.js';
import { createTestKey } from '../helpers/createTestKey.js';
import { grpcError } from '../helpers/grpcClients.js';
import { settleFeed } from '../helpers/settleFeed.js';
import { startTestServer, type TestServer } from '../helpers/startTestServer.js';
import { TcpProxy } from '../helpers/TcpProxy.js';
import { actorOf } from '../helpers/testActors.js';
import { createTestDatabase, TEST_MYSQL_URL, type TestDatabase } from '../helpers/testDatabase.js';

const describeMysql = TEST_MYSQL_URL === '' ? describe.skip : describe;
const admin = actorOf('org-feed', 'alice');

async function until(condition: () => Promise<boolean>, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error('condition not reached in time');
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

describeMysql(
  'change feed on MySQL [mysql]' + (TEST_MYSQL_URL === '' ? ' (skipped: TEST_MYSQL_URL is not set)' : ''),
  () => {
    let server: TestServer;
    let other: Knex;
    beforeAll(async () => {
      server = await startTestServer('mysql', { CHANGE_FEED_POLL_MS: '20' });
      other = knex({ client: 'mysql2', connection: server.databaseUrl, pool: { min: 0, max: 2 } });
    });
    afterAll(async () => {
      await other.destroy();
      await server.stop();
    });

    it('applies a change whose commit became visible long after it took its feed position, and holds later writers back meanwhile', async () => {
      const a = await createTestKey(server, admin, { name: 'A' });
      const b = await createTestKey(server, admin, { name: 'B' });
      const verify = (secret: string) =>
        server.clients.verifier.verifyKey({ key: secret, clientIp: '', requiredScopes: [] });
      await settleFeed(server);
      expect((await verify(a.secret)).valid).toBe(true); // A is now cached on the server

      // Another replica revokes A exactly as the service writes: the key, then the feed head and row last.
      const trx = await other.transaction();
      const now = Date.now();
      await trx('api_keys')
        .where('id', a.key.id)
        .update({ revoke_time: now, revoked_by_user_id: 'bob', update_time: now, version: 2 });
      await trx('key_feed_head').where('id', 1).increment('position', 1);
      const head = await trx('key_feed_head').where('id', 1).first<{ position: number }>('position');
      await trx('key_feed').insert({
        position: head.position,
        key_id: a.key.id,
        secret_hash: hashSecret(a.secret),
        key_version: 2,
        change_time: now,
      });

      // Meanwhile B is revoked on this replica: it waits for the feed head until A's revocation commits.
      const revokeB = server.clients.admin.revokeKey({ actor: admin, keyId: b.key.id, reason: '' });
      const polls = server.app.feed.stats.polls;
      // Far longer than the staleness bound and the poll timeout: the feed keeps polling and stays fresh.
      await new Promise((resolve) => setTimeout(resolve, 2500));
      expect(server.app.feed.stats.polls).toBeGreaterThan(polls + 10);
      expect(server.app.feed.isFresh()).toBe(true);
      expect((await verify(a.secret)).valid).toBe(true); // not committed yet: still valid
      expect((await verify(b.secret)).valid).toBe(true);

      await trx.commit();
      await until(async () => (await verify(a.secret)).denialReason === DenialReason.DENIAL_REASON_REVOKED);
      await revokeB;
      expect((await verify(b.secret)).denialReason).toBe(DenialReason.DENIAL_REASON_REVOKED);
      const rows = (await other('key_feed').where('position', '>=', head.position).orderBy('position')) as {
        key_id: string;
      }[];
      expect(rows.map((row) => row.key_id)).toEqual([a.key.id, b.key.id]);
    });
  },
);

describeMysql(
  'database outage [mysql]' + (TEST_MYSQL_URL === '' ? ' (skipped: TEST_MYSQL_URL is not set)' : ''),
  () => {
    let database: TestDatabase;
    let proxy: TcpProxy;
    let server: TestServer;
    beforeAll(async () => {
      database = await createTestDatabase('mysql');
      const target = new URL(database.url);
      proxy = new TcpProxy(target.hostname, Number(target.port || 3306));
      await proxy.start();
      target.host = `127.0.0.1:${proxy.port}`;
      server = await startTestServer('mysql', {
        DATABASE_URL: target.toString(),
        STALENESS_BOUND_MS: '2000',
        DATABASE_TIMEOUT_MS: '300',
        CHANGE_FEED_POLL_MS: '20',
      });
    });
    afterAll(async () => {
      await server.stop();
      await proxy.stop();
      await database.drop();
    });

    it('serves cached keys within the staleness bound, refuses unknown keys, fails closed after it, and recovers by itself', async () => {
      const cached = await createTestKey(server, admin, { name: 'cached' });
      const unknown = await createTestKey(server, admin, { name: 'never verified' });
      const verify = (secret: string) =>
        server.clients.verifier.verifyKey({ key: secret, clientIp: '', requiredScopes: [] });
      // Applying the creations from the change feed drops the keys from the cache: let that happen first.
      await settleFeed(server);
      expect((await verify(cached.secret)).valid).toBe(true);

      proxy.cut();
      // Within the bound: the cached key still verifies; a key that is not cached cannot be checked.
      expect((await verify(cached.secret)).valid).toBe(true);
      const unavailable = await grpcError(verify(unknown.secret));
      expect(unavailable.code).toBe(status.UNAVAILABLE);
      const write = await grpcError(
        server.clients.admin.createKey({
          metadata: {},
          actor: admin,
          name: 'during outage',
          scopes: ['tickets:read'],
          allowedIps: [],
        }),
      );
      expect(write.code).toBe(status.UNAVAILABLE);

      // Beyond the bound (measured on the monotonic clock): even the cached key is refused (UNAVAILABLE,
      // never valid).
      await until(async () => {
        try {
          await verify(cached.secret);
          return false;
        } catch (error) {
          return (error as { code?: number }).code === status.UNAVAILABLE;
        }
      });

      proxy.restore();
      await until(async () => {
        try {
          return (await verify(cached.secret)).valid;
        } catch {
          return false;
        }
      });
      expect((await verify(unknown.secret)).valid).toBe(true);
      const rows: unknown[] = await server.app.db('api_keys').where('name', 'during outage');
      expect(rows).toHaveLength(0);
    });
  },
);
