import { credentials, makeClientConstructor, status } from '@grpc/grpc-js';
import { service as healthService } from 'grpc-health-check';
import knex from 'knex';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';

import { DenialReason, KeyState } from '../../gen/apikeys/v1/api_keys.js';
import { createTestKey } from '../helpers/createTestKey.js';
import { createClients, grpcError } from '../helpers/grpcClients.js';
import { settleFeed } from '../helpers/settleFeed.js';
import { type ServiceProcess, startServiceProcess } from '../helpers/startProcess.js';
import { startTestServer, type TestServer } from '../helpers/startTestServer.js';
import { TcpProxy } from '../helpers/TcpProxy.js';
import { actorOf } from '../helpers/testActors.js';
import { createTestDatabase, TEST_MYSQL_URL, type TestDatabase } from '../helpers/testDatabase.js';

const skipped = TEST_MYSQL_URL === '' ? ' (skipped: TEST_MYSQL_URL is not set)' : '';
const describeMysql = TEST_MYSQL_URL === '' ? describe.skip : describe;
const admin = actorOf('org-faults', 'alice');
const verifyRequest = (key: string) => ({ key, clientIp: '', requiredScopes: [] });

async function until(condition: () => Promise<boolean>, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition().catch(() => false))) {
    if (Date.now() > deadline) throw new Error('condition not reached in time');
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

/** A fresh MySQL database behind a TCP proxy the test controls; `url` goes through the proxy. */
async function proxiedDatabase(): Promise<{ database: TestDatabase; proxy: TcpProxy; url: string }> {
  const database = await createTestDatabase('mysql');
  const target = new URL(database.url);
  const proxy = new TcpProxy(target.hostname, Number(target.port || 3306));
  await proxy.start();
  target.host = `127.0.0.1:${proxy.port}`;
  return { database, proxy, url: target.toString() };
}

/** Runs `query` on a direct one-connection pool to `url` (not through the proxy) and closes it. */
async function withDatabase<T>(url: string, query: (db: knex.Knex) => Promise<T>): Promise<T> {
  const db = knex({ client: 'mysql2', connection: url, pool: { min: 0, max: 1 } });
  try {
    return await query(db);
  } finally {
    await db.destroy();
  }
}

async function tableCounts(url: string): Promise<Record<string, number>> {
  return withDatabase(url, async (db) => {
    const counts: Record<string, number> = {};
    for (const table of ['api_keys', 'audit_events', 'key_feed']) {
      const [row] = (await db(table).count({ n: '*' })) as [{ n: number | string }];
      counts[table] = Number(row.n);
    }
    return counts;
  });
}

describeMysql(`database faults under traffic [mysql]${skipped}`, () => {
  let database: TestDatabase;
  let proxy: TcpProxy;
  let server: TestServer;
  beforeAll(async () => {
    ({ database, proxy } = await proxiedDatabase());
    server = await startTestServer('mysql', {
      DATABASE_URL: `mysql://root@127.0.0.1:${proxy.port}${new URL(database.url).pathname}`,
      DATABASE_TIMEOUT_MS: '400',
      CHANGE_FEED_POLL_MS: '20',
    });
  });
  afterEach(() => {
    proxy.delayMs = 0;
    proxy.restore();
  });
  afterAll(async () => {
    await server.stop();
    await proxy.stop();
    await database.drop();
  });

  /**
   * Creates a key that is verified once (so it sits in the cache) and one that is never verified (so its
   * next verification is a cache miss that must reach the database).
   */
  async function cachedAndColdKeys(): Promise<{ cached: { secret: string }; cold: { secret: string } }> {
    const { admin: adminClient, verifier } = server.clients;
    const cached = await adminClient.createKey({
      metadata: {},
      actor: admin,
      name: 'hot',
      scopes: ['tickets:read'],
      allowedIps: [],
    });
    const cold = await adminClient.createKey({
      metadata: {},
      actor: admin,
      name: 'cold',
      scopes: ['tickets:read'],
      allowedIps: [],
    });
    // Applying the creations from the change feed drops the keys from the cache: let that happen first.
    await settleFeed(server);
    await until(async () => (await verifier.verifyKey(verifyRequest(cached.secret))).valid);
    return { cached, cold };
  }

  it('refuses every admin write with UNAVAILABLE while the database is cut, writes nothing, and recovers by itself', async () => {
    const { admin: adminClient, verifier } = server.clients;
    const key = await adminClient.createKey({
      metadata: {},
      actor: admin,
      name: 'k',
      scopes: ['tickets:read'],
      allowedIps: [],
    });
    const before = await tableCounts(database.url);

    proxy.cut();
    const attempts = await Promise.all([
      grpcError(
        adminClient.createKey({ metadata: {}, actor: admin, name: 'new', scopes: ['tickets:read'], allowedIps: [] }),
      ),
      grpcError(adminClient.revokeKey({ actor: admin, keyId: key.key!.id, reason: '' })),
      grpcError(
        adminClient.updateKey({
          metadata: {},
          actor: admin,
          keyId: key.key!.id,
          name: 'renamed',
          scopes: [],
          allowedIps: [],
          expiresInHours: 0,
          updateMask: ['name'],
        }),
      ),
      grpcError(adminClient.rotateKey({ actor: admin, keyId: key.key!.id, gracePeriodHours: 0 })),
      grpcError(adminClient.revokeUserKeys({ actor: admin, userId: 'alice', reason: '' })),
      grpcError(adminClient.getKey({ actor: admin, keyId: key.key!.id })),
    ]);
    for (const error of attempts) {
      expect(error.code).toBe(status.UNAVAILABLE);
      expect(error.details).toBe('the key database is unavailable; nothing was changed, retry shortly');
    }
    expect(await tableCounts(database.url)).toEqual(before);

    proxy.restore();
    await until(async () => (await adminClient.getKey({ actor: admin, keyId: key.key!.id })).key !== undefined);
    const revoked = await adminClient.revokeKey({ actor: admin, keyId: key.key!.id, reason: 'after the outage' });
    expect(revoked.key?.state).toBe(KeyState.KEY_STATE_REVOKED);
    expect((await verifier.verifyKey(verifyRequest(key.secret))).denialReason).toBe(DenialReason.DENIAL_REASON_REVOKED);
  });

  it('keeps verifying cached keys under continuous traffic while the database is cut, and never says valid for an unknown key', async () => {
    const { verifier } = server.clients;
    const { cached, cold } = await cachedAndColdKeys();
    const traffic = { running: true };
    const outcomes = { valid: 0, other: 0 };
    const load = (async () => {
      while (traffic.running) {
        const answer = await verifier.verifyKey(verifyRequest(cached.secret));
        if (answer.valid) outcomes.valid++;
        else outcomes.other++;
      }
    })();
    await new Promise((resolve) => setTimeout(resolve, 100));
    proxy.cut();
    await new Promise((resolve) => setTimeout(resolve, 300));
    const unknown = await grpcError(verifier.verifyKey(verifyRequest(cold.secret)));
    expect(unknown.code).toBe(status.UNAVAILABLE);
    traffic.running = false;
    await load;
    expect(outcomes.other).toBe(0);
    expect(outcomes.valid).toBeGreaterThan(0);
    proxy.restore();
    await until(async () => (await verifier.verifyKey(verifyRequest(cold.secret))).valid);
  });

  it('answers cached keys while a slow database holds a cache miss', async () => {
    const { verifier } = server.clients;
    const { cached, cold } = await cachedAndColdKeys();
    proxy.delayMs = 300;
    const order: string[] = [];
    const slow = verifier.verifyKey(verifyRequest(cold.secret)).then((answer) => {
      order.push('cold');
      return answer;
    });
    await new Promise((resolve) => setTimeout(resolve, 20));
    const fast = verifier.verifyKey(verifyRequest(cached.secret)).then((answer) => {
      order.push('cached');
      return answer;
    });
    expect((await fast).valid).toBe(true);
    expect((await slow).valid).toBe(true);
    expect(order).toEqual(['cached', 'cold']);
  });
});

type HealthWatchClient = {
  watch(request: { service: string }): NodeJS.EventEmitter & { cancel(): void };
  close(): void;
};

describeMysql(`process shutdown and crash [mysql]${skipped}`, () => {
  let database: TestDatabase;
  let proxy: TcpProxy;
  let url: string;
  let service: ServiceProcess | undefined;
  beforeAll(async () => {
    ({ database, proxy, url } = await proxiedDatabase());
  });
  afterEach(() => {
    if (service !== undefined && service.child.exitCode === null) service.child.kill('SIGKILL');
    service = undefined;
    proxy.delayMs = 0;
  });
  afterAll(async () => {
    await proxy.stop();
    await database.drop();
  });

  /** Starts the service process on the proxied database with last-used flushes only at shutdown. */
  async function startService(environment: Record<string, string> = {}): Promise<ServiceProcess> {
    return startServiceProcess({
      LISTEN_ADDRESS: '127.0.0.1:0',
      DATABASE_URL: url,
      MIGRATE_ON_START: 'true',
      LAST_USED_FLUSH_MS: '600000',
      ...environment,
    });
  }

  it('on SIGTERM under load: health goes NOT_SERVING, in-flight calls complete, new calls are refused, last-used is flushed, exit 0', async () => {
    service = await startService({ SHUTDOWN_TIMEOUT_MS: '10000' });
    const clients = createClients(service.address);
    const used = await createTestKey(clients, admin, { name: 'used' });
    expect(
      (await clients.verifier.verifyKey({ key: used.secret, clientIp: '203.0.113.9', requiredScopes: [] })).valid,
    ).toBe(true);
    const cold = await Promise.all(
      Array.from({ length: 20 }, (_, i) =>
        clients.admin.createKey({
          metadata: {},
          actor: admin,
          name: `cold ${i}`,
          scopes: ['tickets:read'],
          allowedIps: [],
        }),
      ),
    );

    const Health = makeClientConstructor(healthService, 'grpc.health.v1.Health') as unknown as new (
      address: string,
      creds: ReturnType<typeof credentials.createInsecure>,
    ) => HealthWatchClient;
    const health = new Health(service.address, credentials.createInsecure());
    const statuses: string[] = [];
    const watch = health.watch({ service: '' });
    watch.on('data', (message: { status: string }) => statuses.push(message.status));
    watch.on('error', () => undefined);
    await until(() => Promise.resolve(statuses.includes('SERVING')));

    proxy.delayMs = 400; // every cache miss now takes ≥ 400 ms: these calls are in flight at SIGTERM
    const inFlight = cold.map((key) => clients.verifier.verifyKey(verifyRequest(key.secret)));
    // SIGTERM once the service has started all 20 lookups (1 miss before them: the first verify of `used`).
    const metricsAddress = /"metricsAddress":"([^"]+)"/.exec(service.output())?.[1];
    await until(async () => {
      const body = await (await fetch(`http://${metricsAddress}/metrics`)).text();
      return Number(/^apikeys_cache_misses_total (\d+)$/m.exec(body)?.[1] ?? 0) >= 21;
    });
    service.child.kill('SIGTERM');
    const answers = await Promise.all(inFlight);
    expect(answers.every((answer) => answer.valid)).toBe(true);
    proxy.delayMs = 0; // the final last-used flush and pool close need no artificial latency
    await until(() => Promise.resolve(statuses.includes('NOT_SERVING')));
    watch.cancel(); // an open Watch stream would otherwise hold the drain until the shutdown deadline

    const late = createClients(service.address, { ownConnection: true });
    const refused = await grpcError(late.verifier.verifyKey(verifyRequest(used.secret), { deadlineMs: 2000 }));
    expect([status.UNAVAILABLE, status.DEADLINE_EXCEEDED]).toContain(refused.code);
    late.close();

    expect(await service.exited).toBe(0);
    health.close();
    clients.close();
    const row = await withDatabase(
      database.url,
      async (db) => (await db('api_keys').where('id', used.key.id).first()) as { last_used_ip: string | null },
    );
    expect(row.last_used_ip).toBe('203.0.113.9');
  });

  it('on SIGTERM with a database that stopped answering: exits within SHUTDOWN_TIMEOUT_MS, saying what was not written', async () => {
    service = await startService({ SHUTDOWN_TIMEOUT_MS: '1500', DATABASE_TIMEOUT_MS: '20000' });
    const clients = createClients(service.address);
    const used = await createTestKey(clients, admin, { name: 'used' });
    expect((await clients.verifier.verifyKey(verifyRequest(used.secret))).valid).toBe(true);
    clients.close();
    proxy.delayMs = 60_000; // every answer from the database now arrives a minute late
    const started = Date.now();
    service.child.kill('SIGTERM');
    expect(await service.exited).toBe(0);
    const tookMs = Date.now() - started;
    // Before the bound the final flush alone could wait DATABASE_TIMEOUT_MS (20 s) and the pool close as
    // long again; 12 s leaves a loaded machine plenty of room while telling the two apart.
    expect(tookMs).toBeLessThan(12_000);
    expect(service.output()).toContain(
      'shutdown deadline reached before the final last-used flush finished; exiting without it',
    );
    expect(service.output()).toMatch(/"unwrittenKeys":1\b/);
  });

  it('on SIGKILL loses at most the unflushed last-used data and nothing else', async () => {
    service = await startService();
    const clients = createClients(service.address);
    const kept = await createTestKey(clients, admin, { name: 'kept' });
    const revoked = await createTestKey(clients, admin, { name: 'revoked' });
    await clients.admin.revokeKey({ actor: admin, keyId: revoked.key.id, reason: 'before the crash' });
    expect(
      (await clients.verifier.verifyKey({ key: kept.secret, clientIp: '203.0.113.10', requiredScopes: [] })).valid,
    ).toBe(true);
    clients.close();
    service.child.kill('SIGKILL');
    await service.exited;

    const { keptRow, revokedRow, events } = await withDatabase(database.url, async (db) => ({
      keptRow: (await db('api_keys').where('id', kept.key.id).first()) as { last_used_time: number | null },
      revokedRow: (await db('api_keys').where('id', revoked.key.id).first()) as { revoke_time: number | null },
      events: (await db('audit_events').whereIn('key_id', [kept.key.id, revoked.key.id])) as unknown[],
    }));
    expect(keptRow.last_used_time).toBeNull(); // the one interval of last-used data that was not flushed
    expect(revokedRow.revoke_time).not.toBeNull(); // committed writes survive
    expect(events).toHaveLength(3); // two creations and one revocation
  });

  it('exits non-zero with one clear message when a migration fails', async () => {
    const broken = await createTestDatabase('mysql');
    // The first migration cannot create its table.
    await withDatabase(broken.url, (db) => db.raw('CREATE TABLE api_keys (id INT)'));
    const child = await startServiceProcess({
      LISTEN_ADDRESS: '127.0.0.1:0',
      DATABASE_URL: broken.url,
      MIGRATE_ON_START: 'true',
    }).catch((error: unknown) => error as Error);
    await broken.drop();
    expect(child).toBeInstanceOf(Error);
    const message = (child as Error).message;
    expect(message).toMatch(/exited with 1/);
    expect(message).toMatch(/cannot start: .*api_keys/);
  });
});
