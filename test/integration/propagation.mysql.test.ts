import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { DenialReason, type Propagation } from '../../gen/apikeys/v1/api_keys.js';
import { createTestKey, type TestKey } from '../helpers/createTestKey.js';
import { createClients } from '../helpers/grpcClients.js';
import { type ServiceProcess, startServiceProcess } from '../helpers/startProcess.js';
import { actorOf, newOrganizationId } from '../helpers/testActors.js';
import { createTestDatabase, TEST_MYSQL_URL, type TestDatabase } from '../helpers/testDatabase.js';

const describeMysql = TEST_MYSQL_URL === '' ? describe.skip : describe;

const WAIT_MS = 1000;
const HEARTBEAT_MS = 250;
const TIMEOUT_MS = 4000;

/**
 * A slow change feed (300 ms between polls): without the wait, another replica would usually still
 * answer from its cache right after the write returns; with it, the write returns only once they applied it.
 */
const ENV = {
  LISTEN_ADDRESS: '127.0.0.1:0',
  MIGRATE_ON_START: 'true',
  CHANGE_FEED_POLL_MS: '300',
  PROPAGATION_WAIT_MS: String(WAIT_MS),
  REPLICA_HEARTBEAT_MS: String(HEARTBEAT_MS),
  REPLICA_TIMEOUT_MS: String(TIMEOUT_MS),
};

/** A replica process with its clients and the id it registered under. */
interface Replica {
  readonly process: ServiceProcess;
  readonly clients: ReturnType<typeof createClients>;
  readonly id: string;
}

async function startReplica(databaseUrl: string): Promise<Replica> {
  const process = await startServiceProcess({ ...ENV, DATABASE_URL: databaseUrl });
  const id = /"replicaId":"([^"]+)"/.exec(process.output())?.[1];
  if (id === undefined) throw new Error(`no replica id logged:\n${process.output()}`);
  return { process, clients: createClients(process.address), id };
}

/** The answer of `replica` for `key` now. */
const verifyOn = (replica: Replica, key: TestKey) =>
  replica.clients.verifier.verifyKey({ key: key.secret, clientIp: '', requiredScopes: [] });

/** Verifies `key` on every replica, so each caches it (a later answer from the cache would be stale). */
async function cacheEverywhere(replicas: readonly Replica[], key: TestKey): Promise<void> {
  for (const replica of replicas) expect((await verifyOn(replica, key)).valid).toBe(true);
}

/** `propagation` says every one of `replicas` confirmed. */
function expectComplete(propagation: Propagation | undefined, replicas: number): void {
  expect(propagation).toEqual({
    confirmedReplicas: replicas,
    liveReplicas: replicas,
    unconfirmedReplicaIds: [],
    waitMs: expect.any(Number) as number,
    complete: true,
  });
  expect(propagation!.waitMs).toBeLessThanOrEqual(WAIT_MS);
}

describeMysql(
  `acknowledged propagation across replica processes [mysql]${TEST_MYSQL_URL === '' ? ' (skipped: TEST_MYSQL_URL is not set)' : ''}`,
  () => {
    const admin = actorOf(newOrganizationId('ack'), 'alice');
    let database: TestDatabase;
    let a: Replica;
    let b: Replica;
    let c: Replica | undefined;
    beforeAll(async () => {
      database = await createTestDatabase('mysql');
      a = await startReplica(database.url);
      b = await startReplica(database.url);
    }, 60_000);
    afterAll(async () => {
      for (const replica of [a, b, c]) replica?.clients.close();
      expect(await a.process.stop()).toBe(0);
      expect(await b.process.stop()).toBe(0);
      if (c !== undefined && c.process.child.exitCode === null && c.process.child.signalCode === null) {
        c.process.child.kill('SIGCONT');
        await c.process.stop();
      }
      await database.drop();
    });

    it('with two replicas: a revocation returns once the other replica applied it, and says so', async () => {
      const key = await createTestKey(a.clients, admin);
      await cacheEverywhere([a, b], key);
      const response = await a.clients.admin.revokeKey({ actor: admin, keyId: key.key.id, reason: '' });
      expectComplete(response.propagation, 2);
      // Acknowledged: the other replica's very next answer is the revocation, not its cached copy.
      expect((await verifyOn(b, key)).denialReason).toBe(DenialReason.DENIAL_REASON_REVOKED);
    });

    it('with two replicas: an update is acknowledged the same way', async () => {
      const key = await createTestKey(b.clients, admin);
      await cacheEverywhere([a, b], key);
      const response = await b.clients.admin.updateKey({
        metadata: {},
        actor: admin,
        keyId: key.key.id,
        name: '',
        scopes: ['users:read'],
        allowedIps: [],
        expiresInHours: 0,
        updateMask: ['scopes'],
      });
      expectComplete(response.propagation, 2);
      expect((await verifyOn(a, key)).scopes).toEqual(['users:read']);
    });

    it('with two replicas: a suspension and a resumption are acknowledged like a revocation', async () => {
      const key = await createTestKey(a.clients, admin);
      await cacheEverywhere([a, b], key);
      const toggle = (enabled: boolean) =>
        a.clients.admin.updateKey({
          metadata: {},
          actor: admin,
          keyId: key.key.id,
          name: '',
          scopes: [],
          allowedIps: [],
          expiresInHours: 0,
          enabled,
          updateMask: ['enabled'],
        });
      expectComplete((await toggle(false)).propagation, 2);
      // B held the enabled key in its cache: its very next answer is the suspension.
      const suspended = await verifyOn(b, key);
      expect(suspended).toMatchObject({
        valid: false,
        denialReason: DenialReason.DENIAL_REASON_DISABLED,
        httpStatus: 401,
      });
      expect(suspended.message).toMatch(/is suspended .* by user alice\); ask that user or another Admin/);
      expectComplete((await toggle(true)).propagation, 2);
      expect((await verifyOn(b, key)).valid).toBe(true);
    });

    describe('with three replicas', () => {
      beforeAll(async () => {
        c = await startReplica(database.url);
      }, 60_000);

      it('revoke, rotate and revoke-user each return once all three applied them', async () => {
        const all = [a, b, c!];
        const revoked = await createTestKey(a.clients, admin);
        await cacheEverywhere(all, revoked);
        expectComplete(
          (await a.clients.admin.revokeKey({ actor: admin, keyId: revoked.key.id, reason: '' })).propagation,
          3,
        );
        for (const replica of all) expect((await verifyOn(replica, revoked)).valid).toBe(false);

        const rotated = await createTestKey(b.clients, admin);
        await cacheEverywhere(all, rotated);
        const rotation = await b.clients.admin.rotateKey({ actor: admin, keyId: rotated.key.id, gracePeriodHours: 0 });
        expectComplete(rotation.propagation, 3);
        for (const replica of all) expect((await verifyOn(replica, rotated)).valid).toBe(false);

        const bob = actorOf(admin.organizationId, 'bob');
        const bobs = [await createTestKey(a.clients, bob), await createTestKey(a.clients, bob)];
        for (const key of bobs) await cacheEverywhere(all, key);
        const offboarding = await c!.clients.admin.revokeUserKeys({ actor: admin, userId: 'bob', reason: 'left' });
        expect(offboarding.revokedCount).toBe(2);
        expectComplete(offboarding.propagation, 3);
        for (const replica of all) for (const key of bobs) expect((await verifyOn(replica, key)).valid).toBe(false);
      });

      it('names a paused replica as not confirmed and still returns within the wait; confirms again once it resumes', async () => {
        const replica = c!;
        const key = await createTestKey(a.clients, admin);
        replica.process.child.kill('SIGSTOP');
        try {
          const started = performance.now();
          const response = await a.clients.admin.revokeKey({ actor: admin, keyId: key.key.id, reason: '' });
          const tookMs = performance.now() - started;
          expect(response.propagation).toMatchObject({
            confirmedReplicas: 2,
            liveReplicas: 3,
            unconfirmedReplicaIds: [replica.id],
            complete: false,
          });
          expect(response.propagation!.waitMs).toBeGreaterThanOrEqual(WAIT_MS - 5);
          // The wait is bounded: the call is not held by the paused replica (margin for a loaded machine).
          expect(tookMs).toBeLessThan(WAIT_MS + 1500);
        } finally {
          replica.process.child.kill('SIGCONT');
        }
        const outcomes: (Propagation | undefined)[] = [];
        for (let attempt = 0; attempt < 5; attempt++) {
          const next = await createTestKey(a.clients, admin);
          outcomes.push(
            (await a.clients.admin.revokeKey({ actor: admin, keyId: next.key.id, reason: '' })).propagation,
          );
          if (outcomes.at(-1)?.complete === true) break;
        }
        expectComplete(outcomes.at(-1), 3);
      });

      it('names a killed replica as not confirmed until its heartbeat times out, then leaves it out', async () => {
        const replica = c!;
        replica.process.child.kill('SIGKILL');
        await replica.process.exited;
        const killedAt = performance.now();
        const first = await createTestKey(a.clients, admin);
        const response = await a.clients.admin.revokeKey({ actor: admin, keyId: first.key.id, reason: '' });
        expect(response.propagation).toMatchObject({
          confirmedReplicas: 2,
          liveReplicas: 3,
          unconfirmedReplicaIds: [replica.id],
          complete: false,
        });
        let completeAt: number | undefined;
        while (completeAt === undefined && performance.now() - killedAt < TIMEOUT_MS + 10_000) {
          const key = await createTestKey(a.clients, admin);
          const propagation = (await b.clients.admin.revokeKey({ actor: admin, keyId: key.key.id, reason: '' }))
            .propagation!;
          if (propagation.complete) {
            completeAt = performance.now();
            expect(propagation).toMatchObject({ confirmedReplicas: 2, liveReplicas: 2 });
          } else {
            expect(propagation.unconfirmedReplicaIds).toEqual([replica.id]);
          }
        }
        expect(completeAt).toBeDefined();
        // It dropped out no earlier than its last heartbeat (at most one interval before the kill) + timeout.
        expect(completeAt! - killedAt).toBeGreaterThanOrEqual(TIMEOUT_MS - HEARTBEAT_MS - 100);
      }, 30_000);
    });
  },
);
