import { type ServiceError, status } from '@grpc/grpc-js';
import { afterEach, describe, expect, it } from 'vitest';

import { UpdateKeyRequest } from '../../gen/apikeys/v1/api_keys.js';
import { createVerifierClient, type VerifierClient } from '../../src/index.js';
import { createTestKey } from '../helpers/createTestKey.js';
import { type Replica, startReplica, until } from '../helpers/replicaProcess.js';
import { actorOf } from '../helpers/testActors.js';
import { createTestDatabase, TEST_MYSQL_URL } from '../helpers/testDatabase.js';

/**
 * The client cache with service processes on MariaDB: a client attached to replica B learns of writes
 * made on replica A through B's change feed and its WatchKeyChanges stream; a stopped B is noticed by the
 * heartbeats' absence.
 */
const skipped = TEST_MYSQL_URL === '' ? ' (skipped: TEST_MYSQL_URL is not set)' : '';
const describeMysql = TEST_MYSQL_URL === '' ? describe.skip : describe;
const admin = actorOf('org-client-cache-replicas', 'alice');
const WAIT_MS = 10_000;

describeMysql(`client cache with replica processes [mysql]${skipped}`, () => {
  const cleanups: (() => Promise<void> | void)[] = [];
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  });

  async function replicas(): Promise<{ a: Replica; b: Replica }> {
    const database = await createTestDatabase('mysql');
    cleanups.push(() => database.drop());
    const a = await startReplica(database.url, { MIGRATE_ON_START: 'true' });
    cleanups.push(() => a.stop());
    const b = await startReplica(database.url);
    cleanups.push(() => b.stop());
    return { a, b };
  }

  function cachedClient(on: Replica, deadlineMs = 500): VerifierClient {
    const client = createVerifierClient({ address: on.process.address, deadlineMs, cache: { maxKeys: 1000 } });
    cleanups.push(() => client.close());
    return client;
  }

  /** Verifies until the client answers from memory. */
  async function warm(client: VerifierClient, key: string, clientIp = ''): Promise<void> {
    await until(
      async () => {
        const hits = client.cacheStatus()?.hits ?? 0;
        const result = await client.verify({ key, clientIp });
        return result.valid && client.cacheStatus()?.hits === hits + 1;
      },
      WAIT_MS,
      'answered from memory',
    );
  }

  it('denies a key revoked on replica A while attached to replica B', async () => {
    const { a, b } = await replicas();
    const client = cachedClient(b);
    const key = await createTestKey(a.clients, admin, { name: 'revoked on A' });
    await warm(client, key.secret);
    await a.clients.admin.revokeKey({ actor: admin, keyId: key.key.id, reason: 'test' });
    await until(
      async () => {
        const result = await client.verify({ key: key.secret });
        return !result.valid && result.reason === 'revoked';
      },
      WAIT_MS,
      'denied as revoked',
    );
  });

  it('denies a client IP an allowlist tightened on replica A no longer allows', async () => {
    const { a, b } = await replicas();
    const client = cachedClient(b);
    const key = await createTestKey(a.clients, admin, { name: 'tightened on A', allowedIps: ['198.51.100.0/24'] });
    await warm(client, key.secret, '198.51.100.9');
    await a.clients.admin.updateKey(
      UpdateKeyRequest.fromPartial({
        actor: admin,
        keyId: key.key.id,
        allowedIps: ['198.51.100.1'],
        updateMask: ['allowed_ips'],
      }),
    );
    await until(
      async () => {
        const result = await client.verify({ key: key.secret, clientIp: '198.51.100.9' });
        return !result.valid && result.reason === 'ip_not_allowed';
      },
      WAIT_MS,
      'denied by the new allowlist',
    );
  });

  it('stops answering from memory while its replica is SIGSTOPped, and recovers after SIGCONT', async () => {
    const { a, b } = await replicas();
    const client = cachedClient(b, 300);
    const key = await createTestKey(a.clients, admin, { name: 'stopped replica' });
    await warm(client, key.secret);
    b.process.child.kill('SIGSTOP');
    cleanups.push(() => void b.process.child.kill('SIGCONT'));
    await until(() => Promise.resolve(client.cacheStatus()?.healthy === false), WAIT_MS, 'cache distrusted');
    const error = await client.verify({ key: key.secret }).then(
      () => undefined,
      (failure: unknown) => failure as ServiceError,
    );
    expect(error?.code).toBe(status.DEADLINE_EXCEEDED);
    b.process.child.kill('SIGCONT');
    await warm(client, key.secret);
    expect(client.cacheStatus()?.healthy).toBe(true);
  });
});
