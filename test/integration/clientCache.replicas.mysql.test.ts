import { type ServiceError, status } from '@grpc/grpc-js';
import { afterEach, describe, expect, it } from 'vitest';

import { UpdateKeyRequest } from '../../gen/apikeys/v1/api_keys.js';
import { createVerifierClient, type VerifierClient } from '../../src/index.js';
import { createTestKey } from '../helpers/createTestKey.js';
import { type Replica, startReplica, until } from '../helpers/replicaProcess.js';
import { TcpProxy } from '../helpers/TcpProxy.js';
import { actorOf } from '../helpers/testActors.js';
import { createTestDatabase, TEST_MYSQL_URL } from '../helpers/testDatabase.js';

/**
 * The client cache with service processes on MariaDB: a client attached to replica B learns of writes
 * made on replica A through B's change feed and its WatchKeyChanges stream; a stopped B is noticed by the
 * heartbeats' absence, a proxy that cuts the stream and a restarted replica behind it by the stream's end.
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

  async function replicas(): Promise<{ a: Replica; b: Replica; url: string }> {
    const database = await createTestDatabase('mysql');
    cleanups.push(() => database.drop());
    const a = await startReplica(database.url, { MIGRATE_ON_START: 'true' });
    cleanups.push(() => a.stop());
    const b = await startReplica(database.url);
    cleanups.push(() => b.stop());
    return { a, b, url: database.url };
  }

  function cachedClient(on: Replica | string, deadlineMs = 500): VerifierClient {
    const address = typeof on === 'string' ? on : on.process.address;
    const client = createVerifierClient({ address, deadlineMs, cache: { maxKeys: 1000 } });
    cleanups.push(() => client.close());
    return client;
  }

  /** A TCP proxy the test controls in front of `replica`; clients attach to `address`. */
  async function proxyTo(replica: Replica): Promise<{ proxy: TcpProxy; address: string }> {
    const [host, port] = replica.process.address.split(':');
    const proxy = new TcpProxy(host ?? '127.0.0.1', Number(port));
    await proxy.start();
    cleanups.push(() => proxy.stop());
    return { proxy, address: `127.0.0.1:${proxy.port}` };
  }

  /** Resolves with the ms from now until the client no longer trusts its memory. */
  async function distrusted(client: VerifierClient): Promise<number> {
    return until(() => Promise.resolve(client.cacheStatus()?.healthy === false), WAIT_MS, 'cache distrusted');
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

  it('denies a key suspended on replica A while attached to replica B, as B does', async () => {
    const { a, b } = await replicas();
    const client = cachedClient(b);
    const key = await createTestKey(a.clients, admin, { name: 'suspended on A' });
    await warm(client, key.secret);
    await a.clients.admin.updateKey(
      UpdateKeyRequest.fromPartial({ actor: admin, keyId: key.key.id, enabled: false, updateMask: ['enabled'] }),
    );
    await until(
      async () => {
        const hits = client.cacheStatus()?.hits ?? 0;
        const result = await client.verify({ key: key.secret });
        return !result.valid && result.reason === 'disabled' && client.cacheStatus()?.hits === hits + 1;
      },
      WAIT_MS,
      'denied as disabled from memory',
    );
    const fromServer = await b.verify(key.secret);
    const fromCache = await client.verify({ key: key.secret });
    expect(fromCache.message).toBe(fromServer.message);
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

  it('stops answering from memory within the staleness bound when a proxy cuts its stream, and recovers by itself', async () => {
    const { a, b } = await replicas();
    const { proxy, address } = await proxyTo(b);
    const client = cachedClient(address, 300);
    const key = await createTestKey(a.clients, admin, { name: 'cut by a proxy' });
    await warm(client, key.secret);
    proxy.cut();
    // cache.stalenessBoundMs is 1000 by default.
    expect(await distrusted(client)).toBeLessThan(1000);
    const hits = client.cacheStatus()?.hits ?? 0;
    const error = await client.verify({ key: key.secret }).then(
      () => undefined,
      (failure: unknown) => failure as ServiceError,
    );
    expect([status.UNAVAILABLE, status.DEADLINE_EXCEEDED]).toContain(error?.code);
    expect(client.cacheStatus()?.hits).toBe(hits);
    // Revoked while the client is cut off: it must not come back with the old answer.
    await a.clients.admin.revokeKey({ actor: admin, keyId: key.key.id, reason: 'while cut' });
    proxy.restore();
    await until(() => Promise.resolve(client.cacheStatus()?.healthy === true), WAIT_MS, 'stream back');
    expect(await client.verify({ key: key.secret })).toMatchObject({ valid: false, reason: 'revoked' });
  });

  it('stops answering from memory while its replica restarts behind a proxy, and recovers on the new process', async () => {
    const { a, b, url } = await replicas();
    const { proxy, address } = await proxyTo(b);
    const client = cachedClient(address, 300);
    const key = await createTestKey(a.clients, admin, { name: 'restarted replica' });
    await warm(client, key.secret);
    await b.stop();
    expect(await distrusted(client)).toBeLessThan(1000);
    const restarted = await startReplica(url);
    cleanups.push(() => restarted.stop());
    const [host, port] = restarted.process.address.split(':');
    proxy.retarget(host ?? '127.0.0.1', Number(port));
    await warm(client, key.secret);
    expect(client.cacheStatus()?.healthy).toBe(true);
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
