import { status } from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { createTestKey } from '../helpers/createTestKey.js';
import { grpcError } from '../helpers/grpcClients.js';
import { settleFeed } from '../helpers/settleFeed.js';
import { startTestServer, type TestServer } from '../helpers/startTestServer.js';
import { TcpProxy } from '../helpers/TcpProxy.js';
import { actorOf, newOrganizationId } from '../helpers/testActors.js';
import { createTestDatabase, TEST_MYSQL_URL, type TestDatabase } from '../helpers/testDatabase.js';

const skipped = TEST_MYSQL_URL === '' ? ' (skipped: TEST_MYSQL_URL is not set)' : '';
const describeMysql = TEST_MYSQL_URL === '' ? describe.skip : describe;

const ACQUIRE_TIMEOUT_MS = 1000;
const QUERY_TIMEOUT_MS = 1500;
/**
 * The stated recovery time after the network heals: a connection hung in the partition is dropped at
 * most one statement deadline after its last byte, and a new one opens within the connect timeout; twice
 * that, plus slack for a loaded machine.
 */
const RECOVERY_BOUND_MS = 2 * (QUERY_TIMEOUT_MS + ACQUIRE_TIMEOUT_MS) + 3000;

const verifyRequest = (key: string) => ({ key, clientIp: '', requiredScopes: [] });
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Resolves once `condition` holds, or rejects after `timeoutMs`; returns how long it took (ms). */
async function until(condition: () => Promise<boolean>, timeoutMs: number): Promise<number> {
  const started = performance.now();
  while (!(await condition().catch(() => false))) {
    if (performance.now() - started > timeoutMs) throw new Error(`condition not reached within ${timeoutMs} ms`);
    await sleep(50);
  }
  return performance.now() - started;
}

describeMysql(`a database that stops answering on open sockets, then returns [mysql]${skipped}`, () => {
  let database: TestDatabase;
  let proxy: TcpProxy;
  let server: TestServer;
  let healthz: string;
  const admin = actorOf(newOrganizationId('partition'), 'alice');

  beforeAll(async () => {
    database = await createTestDatabase('mysql');
    const target = new URL(database.url);
    proxy = new TcpProxy(target.hostname, Number(target.port || 3306));
    await proxy.start();
    server = await startTestServer('mysql', {
      DATABASE_URL: `mysql://root@127.0.0.1:${proxy.port}${target.pathname}`,
      DATABASE_POOL_MAX: '4',
      DATABASE_TIMEOUT_MS: String(ACQUIRE_TIMEOUT_MS),
      DATABASE_QUERY_TIMEOUT_MS: String(QUERY_TIMEOUT_MS),
      LIVENESS_POOL_EXHAUSTED_MS: '3000',
      CHANGE_FEED_POLL_MS: '50',
    });
    const metricsAddress = /"metricsAddress":"([^"]+)"/.exec(server.logs.join('\n'))?.[1] ?? '';
    healthz = `http://${metricsAddress}/healthz`;
  });
  afterAll(async () => {
    await server.stop();
    await proxy.stop();
    await database.drop();
  });

  it('fails calls with UNAVAILABLE during the partition, stays live, and recovers by itself once it heals', async () => {
    const { admin: adminClient, verifier } = server.clients;
    const cold = await Promise.all(
      ['cold 1', 'cold 2', 'cold after'].map((name) => createTestKey(server, admin, { name })),
    );
    await settleFeed(server);
    expect((await fetch(healthz)).status).toBe(200);

    proxy.blackhole();
    // Calls caught by the partition: each holds a pooled connection whose statement is never answered.
    // Their deadline is far beyond the statement deadline: an answer that never comes shows as DEADLINE_EXCEEDED.
    const deadline = { deadlineMs: 4 * (QUERY_TIMEOUT_MS + ACQUIRE_TIMEOUT_MS) };
    const caught = [
      grpcError(
        adminClient.createKey(
          { metadata: {}, actor: admin, name: 'in the partition', scopes: ['tickets:read'], allowedIps: [] },
          deadline,
        ),
      ),
      grpcError(verifier.verifyKey(verifyRequest(cold[0]!.secret), deadline)),
      grpcError(verifier.verifyKey(verifyRequest(cold[1]!.secret), deadline)),
    ];
    const settledBefore = server.app.feed.stats.lastSettledAt;
    const errorsBefore = server.app.feed.stats.pollErrors;
    // Longer than a statement deadline plus a connect timeout, twice over: /healthz is asked throughout.
    const probes: number[] = [];
    const partitionEnds = performance.now() + 2 * (QUERY_TIMEOUT_MS + ACQUIRE_TIMEOUT_MS) + 1000;
    while (performance.now() < partitionEnds) {
      probes.push((await fetch(healthz)).status);
      await sleep(200);
    }
    for (const error of await Promise.all(caught)) expect(error.code).toBe(status.UNAVAILABLE);
    // The deadlines keep the process making progress: its polls end (failing), so it is not reported stuck.
    expect(probes.every((code) => code === 200)).toBe(true);
    expect(server.app.feed.stats.lastSettledAt).toBeGreaterThan(settledBefore);
    expect(server.app.feed.stats.pollErrors).toBeGreaterThan(errorsBefore);
    expect(server.app.liveness()).toBeNull();

    proxy.heal();
    const healedAt = performance.now();
    const polled = server.app.feed.stats.lastSuccessAt;
    // A key never verified before needs the database: the cache cannot answer it.
    await until(async () => (await verifier.verifyKey(verifyRequest(cold[2]!.secret))).valid, RECOVERY_BOUND_MS);
    const created = await adminClient.createKey({
      metadata: {},
      actor: admin,
      name: 'after',
      scopes: ['tickets:read'],
      allowedIps: [],
    });
    expect(created.key?.name).toBe('after');
    await until(() => Promise.resolve(server.app.feed.stats.lastSuccessAt > polled), RECOVERY_BOUND_MS);
    const recoveredMs = performance.now() - healedAt;
    expect(recoveredMs).toBeLessThan(RECOVERY_BOUND_MS);
    const pool = (server.app.db.client as { pool: { numUsed(): number; numPendingAcquires(): number } }).pool;
    expect(pool.numPendingAcquires()).toBe(0);
    expect(pool.numUsed()).toBeLessThan(4);
    expect(server.app.liveness()).toBeNull();
    expect((await fetch(healthz)).status).toBe(200);
  });
});
