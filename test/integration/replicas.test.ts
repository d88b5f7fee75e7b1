import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { DenialReason } from '../../gen/apikeys/v1/api_keys.js';
import { createTestKey } from '../helpers/createTestKey.js';
import { createClients } from '../helpers/grpcClients.js';
import { type ServiceProcess, startServiceProcess } from '../helpers/startProcess.js';
import { actorOf } from '../helpers/testActors.js';
import { createTestDatabase, TEST_MYSQL_URL, type TestDatabase } from '../helpers/testDatabase.js';

const admin = actorOf('org-replicas', 'alice');
const describeMysql = TEST_MYSQL_URL === '' ? describe.skip : describe;

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? NaN;
}

describeMysql(
  `two replicas on one MySQL database [mysql]${TEST_MYSQL_URL === '' ? ' (skipped: TEST_MYSQL_URL is not set)' : ''}`,
  () => {
    let database: TestDatabase;
    let a: ServiceProcess;
    let b: ServiceProcess;
    beforeAll(async () => {
      database = await createTestDatabase('mysql');
      const env = { LISTEN_ADDRESS: '127.0.0.1:0', DATABASE_URL: database.url, MIGRATE_ON_START: 'true' };
      a = await startServiceProcess(env);
      b = await startServiceProcess(env);
    }, 60_000);
    afterAll(async () => {
      expect(await a.stop()).toBe(0);
      expect(await b.stop()).toBe(0);
      await database.drop();
    });

    it('denies a key on replica B shortly after it is revoked on replica A (default settings)', async () => {
      const onA = createClients(a.address);
      const onB = createClients(b.address);
      const delays: number[] = [];
      for (let i = 0; i < 10; i++) {
        const created = await onA.admin.createKey({
          metadata: {},
          actor: admin,
          name: `k${i}`,
          scopes: ['tickets:read'],
          allowedIps: [],
        });
        const verifyOnB = () => onB.verifier.verifyKey({ key: created.secret, clientIp: '', requiredScopes: [] });
        expect((await verifyOnB()).valid).toBe(true); // cached on B
        await onA.admin.revokeKey({ actor: admin, keyId: created.key!.id, reason: '' });
        const revokedAt = performance.now();
        for (;;) {
          const answer = await verifyOnB();
          if (!answer.valid) {
            expect(answer.denialReason).toBe(DenialReason.DENIAL_REASON_REVOKED);
            break;
          }
          if (performance.now() - revokedAt > 5000)
            throw new Error('replica B still accepts a key revoked on A after 5 s');
        }
        delays.push(performance.now() - revokedAt);
      }
      onA.close();
      onB.close();
      delays.sort((x, y) => x - y);
      process.stdout.write(
        `cross-replica revocation delay over ${delays.length} revocations: p50 ${percentile(delays, 50).toFixed(0)} ms, max ${delays.at(-1)!.toFixed(0)} ms\n`,
      );
    });
  },
);

describe('one replica with two worker processes (WORKERS=2)', () => {
  let service: ServiceProcess;
  beforeAll(async () => {
    const dir = mkdtempSync(join(tmpdir(), 'apikeys-workers-'));
    // A very slow change feed proves the workers learn of the revocation through IPC, not the feed.
    service = await startServiceProcess({
      LISTEN_ADDRESS: '127.0.0.1:0',
      DATABASE_URL: `sqlite:${join(dir, 'keys.db')}`,
      WORKERS: '2',
      CHANGE_FEED_POLL_MS: '60000',
      STALENESS_BOUND_MS: '120000',
      REPLICA_TIMEOUT_MS: '125000',
      LOG_LEVEL: 'debug', // every verify logs its worker id
    });
  }, 60_000);
  afterAll(async () => {
    expect(await service.stop()).toBe(0);
  });

  it('rejects a revoked key on the very next call whatever worker the call lands on', async () => {
    const connections = Array.from({ length: 6 }, () => createClients(service.address, { ownConnection: true }));
    const created = await createTestKey(connections[0]!, admin, { name: 'w' });
    const verifyAll = () =>
      Promise.all(
        connections.map((c) => c.verifier.verifyKey({ key: created.secret, clientIp: '', requiredScopes: [] })),
      );
    expect((await verifyAll()).every((answer) => answer.valid)).toBe(true);
    await connections[1]!.admin.revokeKey({ actor: admin, keyId: created.key.id, reason: '' });
    const after = await verifyAll();
    expect(after.map((answer) => answer.denialReason)).toEqual(
      connections.map(() => DenialReason.DENIAL_REASON_REVOKED),
    );
    for (const c of connections) c.close();
    const workers = new Set([...service.output().matchAll(/"worker":(\d+)/g)].map((m) => m[1]));
    expect(workers.size).toBe(2);
  });
});
