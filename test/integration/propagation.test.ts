import { beforeEach, describe, expect, it } from 'vitest';

import { KeyState, type Propagation } from '../../gen/apikeys/v1/api_keys.js';
import { KnexReplicaRegistry } from '../../src/storage/KnexReplicaRegistry.js';
import { createTestKey } from '../helpers/createTestKey.js';
import { describeEachDatabase } from '../helpers/eachDatabase.js';
import { actorOf, newOrganizationId } from '../helpers/testActors.js';
import { useTestServer } from '../helpers/useTestServer.js';

const WAIT_MS = 300;
/** A replica row written by no process: it stays where the test puts it. */
const GHOST = 'ghost-host:4242:abcdef';

const lone = (propagation: Propagation | undefined) =>
  expect(propagation).toEqual({
    confirmedReplicas: 1,
    liveReplicas: 1,
    unconfirmedReplicaIds: [],
    waitMs: expect.any(Number) as number,
    complete: true,
  });

describeEachDatabase('acknowledged propagation in one process', (kind) => {
  const server = useTestServer(kind, { PROPAGATION_WAIT_MS: String(WAIT_MS), REPLICA_TIMEOUT_MS: '5000' });
  const admin = () => actorOf(newOrganizationId('ack'), 'alice');
  const ghosts = () => new KnexReplicaRegistry(server.app.db);
  const head = async () =>
    Number(
      (await server.app.db('key_feed_head').where('id', 1).first<{ position: number | string }>('position')).position,
    );
  beforeEach(async () => {
    await server.app.db('feed_replicas').where('replica_id', GHOST).delete();
  });

  it('a lone replica confirms its own revoke, update, rotation and revocation of a user at once (1/1)', async () => {
    const actor = admin();
    const key = await createTestKey(server, actor);
    const { admin: client } = server.clients;
    lone(
      (
        await client.updateKey({
          metadata: {},
          actor,
          keyId: key.key.id,
          name: 'renamed',
          scopes: [],
          allowedIps: [],
          expiresInHours: 0,
          updateMask: ['name'],
        })
      ).propagation,
    );
    lone((await client.rotateKey({ actor, keyId: key.key.id, gracePeriodHours: 1 })).propagation);
    lone((await client.revokeKey({ actor, keyId: key.key.id, reason: '' })).propagation);
    lone((await client.revokeUserKeys({ actor, userId: 'alice', reason: '' })).propagation);
  });

  it('names a live replica that has not applied the write, after waiting the whole bound', async () => {
    const actor = admin();
    const key = await createTestKey(server, actor);
    await ghosts().register(GHOST, 0);
    const response = await server.clients.admin.revokeKey({ actor, keyId: key.key.id, reason: '' });
    expect(response.propagation).toMatchObject({
      confirmedReplicas: 1,
      liveReplicas: 2,
      unconfirmedReplicaIds: [GHOST],
      complete: false,
    });
    expect(response.propagation!.waitMs).toBeGreaterThanOrEqual(WAIT_MS - 5);
  });

  it("stops waiting before the caller's deadline: the committed write is answered, marked incomplete", async () => {
    const actor = admin();
    const key = await createTestKey(server, actor);
    await ghosts().register(GHOST, 0);
    // The wait bound (WAIT_MS) is longer than this caller waits: without the deadline's bound the call
    // would fail with DEADLINE_EXCEEDED although the key was revoked.
    const response = await server.clients.admin.revokeKey(
      { actor, keyId: key.key.id, reason: '' },
      { deadlineMs: WAIT_MS - 100 },
    );
    expect(response.key?.state).toBe(KeyState.KEY_STATE_REVOKED);
    expect(response.propagation).toMatchObject({ unconfirmedReplicaIds: [GHOST], complete: false });
    expect(response.propagation!.waitMs).toBeLessThan(WAIT_MS - 100);
  });

  it('counts a replica once its row says it applied the write', async () => {
    const actor = admin();
    const key = await createTestKey(server, actor);
    await ghosts().register(GHOST, 0);
    const revoking = server.clients.admin.revokeKey({ actor, keyId: key.key.id, reason: '' });
    await new Promise((resolve) => setTimeout(resolve, 50));
    await ghosts().report(GHOST, await head());
    expect((await revoking).propagation).toMatchObject({ confirmedReplicas: 2, liveReplicas: 2, complete: true });
  });

  it("does not wait for a replica whose heartbeat is older than REPLICA_TIMEOUT_MS by the database's clock", async () => {
    const actor = admin();
    const key = await createTestKey(server, actor);
    await ghosts().register(GHOST, 0);
    await server.app
      .db('feed_replicas')
      .where('replica_id', GHOST)
      .update({ heartbeat_at: server.app.db.raw('heartbeat_at - 6000') });
    lone((await server.clients.admin.revokeKey({ actor, keyId: key.key.id, reason: '' })).propagation);
  });

  it('revoking a revoked key again waits for every change made until then, so a repeat confirms the first', async () => {
    const actor = admin();
    const key = await createTestKey(server, actor);
    await ghosts().register(GHOST, 0);
    const first = await server.clients.admin.revokeKey({ actor, keyId: key.key.id, reason: '' });
    expect(first.propagation?.complete).toBe(false);
    expect((await server.clients.admin.revokeKey({ actor, keyId: key.key.id, reason: '' })).propagation).toMatchObject({
      unconfirmedReplicaIds: [GHOST],
      complete: false,
    });
    await ghosts().report(GHOST, await head());
    expect((await server.clients.admin.revokeKey({ actor, keyId: key.key.id, reason: '' })).propagation).toMatchObject({
      confirmedReplicas: 2,
      complete: true,
    });
  });

  describe('with PROPAGATION_WAIT_MS=0', () => {
    const quick = useTestServer(kind, { PROPAGATION_WAIT_MS: '0' });

    it('does not wait: the responses carry no propagation', async () => {
      const actor = admin();
      const key = await createTestKey(quick, actor);
      await new KnexReplicaRegistry(quick.app.db).register(GHOST, 0);
      expect(
        (await quick.clients.admin.revokeKey({ actor, keyId: key.key.id, reason: '' })).propagation,
      ).toBeUndefined();
      expect(
        (await quick.clients.admin.revokeUserKeys({ actor, userId: 'alice', reason: '' })).propagation,
      ).toBeUndefined();
    });
  });
});
