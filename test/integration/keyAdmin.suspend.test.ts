import { status } from '@grpc/grpc-js';
import { describe, expect, it } from 'vitest';

import {
  type Actor,
  AuditAction,
  DenialReason,
  KeyOwnerFilter,
  KeyState,
  UpdateKeyRequest,
} from '../../gen/apikeys/v1/api_keys.js';
import { createTestKey, type TestKey } from '../helpers/createTestKey.js';
import { databaseSnapshot } from '../helpers/databaseSnapshot.js';
import { describeEachDatabase } from '../helpers/eachDatabase.js';
import { grpcError } from '../helpers/grpcClients.js';
import { actorOf, newOrganizationId } from '../helpers/testActors.js';
import { timestampMs } from '../helpers/timestampMs.js';
import { useTestServer } from '../helpers/useTestServer.js';

const HOUR = 3_600_000;

describeEachDatabase('suspending and resuming a key (UpdateKey enabled)', (kind) => {
  const server = useTestServer(kind);
  const admin = (): Actor => actorOf(newOrganizationId('suspend'), 'alice');
  const setEnabled = (actor: Actor, key: TestKey, enabled: boolean, extra: Partial<UpdateKeyRequest> = {}) =>
    server.clients.admin.updateKey(
      UpdateKeyRequest.fromPartial({ actor, keyId: key.key.id, enabled, updateMask: ['enabled'], ...extra }),
    );
  const verify = (key: TestKey) =>
    server.clients.verifier.verifyKey({ key: key.secret, clientIp: '', requiredScopes: [] });
  const events = async (actor: Actor, key: TestKey) =>
    (await server.clients.admin.listAuditEvents({ actor, keyId: key.key.id, pageSize: 0, pageToken: '' })).events;

  describe('a suspended key', () => {
    it('is denied DENIAL_REASON_DISABLED (401) on the very next call, naming who suspended it', async () => {
      const actor = admin();
      const key = await createTestKey(server, actor);
      expect((await verify(key)).valid).toBe(true); // cached
      const { key: suspended } = await setEnabled(actor, key, false);
      expect(suspended).toMatchObject({ state: KeyState.KEY_STATE_DISABLED, disabledByUserId: 'alice' });
      const since = new Date(timestampMs(suspended?.disableTime)).toISOString();
      const answer = await verify(key);
      expect(answer).toMatchObject({
        valid: false,
        denialReason: DenialReason.DENIAL_REASON_DISABLED,
        httpStatus: 401,
        keyId: key.key.id,
      });
      expect(answer.message).toBe(
        `API key ${key.key.prefix}… is suspended (since ${since}, by user alice); ask that user or another Admin of your organization to resume it`,
      );
    });

    it('shows its own state in GetKey and ListKeys, and is listed by the KEY_STATE_DISABLED filter only', async () => {
      const actor = admin();
      const suspended = await createTestKey(server, actor, { name: 'suspended' });
      await createTestKey(server, actor, { name: 'active' });
      await setEnabled(actor, suspended, false);
      expect((await server.clients.admin.getKey({ actor, keyId: suspended.key.id })).key?.state).toBe(
        KeyState.KEY_STATE_DISABLED,
      );
      const listed = async (states: KeyState[]) =>
        (
          await server.clients.admin.listKeys({
            actor,
            owner: KeyOwnerFilter.KEY_OWNER_FILTER_ORGANIZATION,
            states,
            pageSize: 0,
            pageToken: '',
          })
        ).keys.map((key) => key.name);
      expect(await listed([KeyState.KEY_STATE_DISABLED])).toEqual(['suspended']);
      expect(await listed([KeyState.KEY_STATE_ACTIVE])).toEqual(['active']);
      expect(await listed([KeyState.KEY_STATE_ACTIVE, KeyState.KEY_STATE_DISABLED]).then((n) => n.sort())).toEqual([
        'active',
        'suspended',
      ]);
      expect(await listed([KeyState.KEY_STATE_REVOKED, KeyState.KEY_STATE_EXPIRED])).toEqual([]);
    });

    it('keeps its expiry running: past it the key is EXPIRED and can no longer be resumed', async () => {
      const actor = admin();
      const key = await createTestKey(server, actor, { expiresInHours: 1 });
      await setEnabled(actor, key, false);
      server.clock.advance(HOUR);
      expect((await verify(key)).denialReason).toBe(DenialReason.DENIAL_REASON_EXPIRED);
      expect((await server.clients.admin.getKey({ actor, keyId: key.key.id })).key?.state).toBe(
        KeyState.KEY_STATE_EXPIRED,
      );
      const before = await databaseSnapshot(server.app.db, [actor.organizationId]);
      const error = await grpcError(setEnabled(actor, key, true));
      expect(error.code).toBe(status.FAILED_PRECONDITION);
      expect(error.details).toMatch(
        new RegExp(`^key ${key.key.id} expired at .*; expired keys cannot be renewed or resumed`),
      );
      expect(await databaseSnapshot(server.app.db, [actor.organizationId])).toEqual(before);
    });

    it('may still be renamed or narrowed, but not rotated until it is resumed', async () => {
      const actor = admin();
      const key = await createTestKey(server, actor);
      await setEnabled(actor, key, false);
      const renamed = await server.clients.admin.updateKey(
        UpdateKeyRequest.fromPartial({ actor, keyId: key.key.id, name: 'under investigation', updateMask: ['name'] }),
      );
      expect(renamed.key).toMatchObject({ name: 'under investigation', state: KeyState.KEY_STATE_DISABLED });
      const error = await grpcError(server.clients.admin.rotateKey({ actor, keyId: key.key.id, gracePeriodHours: 1 }));
      expect(error.code).toBe(status.FAILED_PRECONDITION);
      expect(error.details).toBe(
        `key ${key.key.id} is suspended and cannot be rotated; resume it first (UpdateKey enabled)`,
      );
    });

    it('is revoked with the user’s other keys by RevokeUserKeys, and can be revoked by RevokeKey', async () => {
      const actor = admin();
      const bob = actorOf(actor.organizationId, 'bob');
      const bobs = await createTestKey(server, bob);
      const alices = await createTestKey(server, actor);
      await setEnabled(actor, bobs, false);
      await setEnabled(actor, alices, false);
      const offboarding = await server.clients.admin.revokeUserKeys({ actor, userId: 'bob', reason: '' });
      expect(offboarding.revokedKeyIds).toEqual([bobs.key.id]);
      const revoked = await server.clients.admin.revokeKey({ actor, keyId: alices.key.id, reason: 'done' });
      expect(revoked.key?.state).toBe(KeyState.KEY_STATE_REVOKED);
      expect((await verify(alices)).denialReason).toBe(DenialReason.DENIAL_REASON_REVOKED);
    });
  });

  describe('resuming', () => {
    it('makes the key verify again at once, clears who suspended it, and audits both steps', async () => {
      const actor = admin();
      const key = await createTestKey(server, actor);
      const { key: suspended } = await setEnabled(actor, key, false);
      const since = new Date(timestampMs(suspended?.disableTime)).toISOString();
      server.clock.advance(1000);
      const { key: resumed } = await setEnabled(actor, key, true);
      expect(resumed).toMatchObject({ state: KeyState.KEY_STATE_ACTIVE, disabledByUserId: '' });
      expect(resumed?.disableTime).toBeUndefined();
      expect((await verify(key)).valid).toBe(true);
      const audit = await events(actor, key);
      expect(audit.map((event) => event.action)).toEqual([
        AuditAction.AUDIT_ACTION_KEY_ENABLED,
        AuditAction.AUDIT_ACTION_KEY_DISABLED,
        AuditAction.AUDIT_ACTION_KEY_CREATED,
      ]);
      expect(audit[1]?.changes).toEqual([{ field: 'disable_time', oldValue: '', newValue: since }]);
      expect(audit[0]?.changes).toEqual([{ field: 'disable_time', oldValue: since, newValue: '' }]);
    });

    it('changes nothing for an enabled key, and suspending a suspended key keeps who suspended it first', async () => {
      const actor = admin();
      const key = await createTestKey(server, actor);
      const before = await databaseSnapshot(server.app.db, [actor.organizationId]);
      await setEnabled(actor, key, true);
      expect(await databaseSnapshot(server.app.db, [actor.organizationId])).toEqual(before);
      await setEnabled(actor, key, false);
      const suspended = await databaseSnapshot(server.app.db, [actor.organizationId]);
      const { key: again } = await setEnabled(actorOf(actor.organizationId, 'carol'), key, false);
      expect(again?.disabledByUserId).toBe('alice');
      expect(await databaseSnapshot(server.app.db, [actor.organizationId])).toEqual(suspended);
    });

    it('is refused for a revoked key, changing nothing', async () => {
      const actor = admin();
      const key = await createTestKey(server, actor);
      await setEnabled(actor, key, false);
      await server.clients.admin.revokeKey({ actor, keyId: key.key.id, reason: '' });
      const before = await databaseSnapshot(server.app.db, [actor.organizationId]);
      for (const [enabled, verb] of [
        [true, 'resumed'],
        [false, 'suspended'],
      ] as const) {
        const error = await grpcError(setEnabled(actor, key, enabled));
        expect(error.code).toBe(status.FAILED_PRECONDITION);
        expect(error.details).toBe(`key ${key.key.id} is revoked and cannot be ${verb}`);
      }
      expect(await databaseSnapshot(server.app.db, [actor.organizationId])).toEqual(before);
    });

    it('a suspension combined with other fields in one call is one KEY_DISABLED event listing every change', async () => {
      const actor = admin();
      const key = await createTestKey(server, actor);
      await setEnabled(actor, key, false, { name: 'paused', updateMask: ['enabled', 'name'] });
      const [event] = await events(actor, key);
      expect(event?.action).toBe(AuditAction.AUDIT_ACTION_KEY_DISABLED);
      expect(event?.changes.map((change) => change.field)).toEqual(['name', 'disable_time']);
    });
  });
});
