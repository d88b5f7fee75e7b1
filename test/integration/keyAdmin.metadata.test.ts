import { status } from '@grpc/grpc-js';
import { describe, expect, it } from 'vitest';

import { type Actor, KeyOwnerFilter, UpdateKeyRequest } from '../../gen/apikeys/v1/api_keys.js';
import { createTestKey, type TestKey } from '../helpers/createTestKey.js';
import { databaseSnapshot } from '../helpers/databaseSnapshot.js';
import { describeEachDatabase } from '../helpers/eachDatabase.js';
import { grpcError } from '../helpers/grpcClients.js';
import { actorOf, newOrganizationId } from '../helpers/testActors.js';
import { useTestServer } from '../helpers/useTestServer.js';

describeEachDatabase('key metadata', (kind) => {
  const server = useTestServer(kind);
  const admin = (): Actor => actorOf(newOrganizationId('meta'), 'alice');
  const setMetadata = (actor: Actor, key: TestKey, metadata: Record<string, string>) =>
    server.clients.admin.updateKey(
      UpdateKeyRequest.fromPartial({ actor, keyId: key.key.id, metadata, updateMask: ['metadata'] }),
    );
  const changesOf = async (actor: Actor, key: TestKey) =>
    (await server.clients.admin.listAuditEvents({ actor, keyId: key.key.id, pageSize: 1, pageToken: '' })).events[0]
      ?.changes;

  describe('is kept and returned', () => {
    it('by CreateKey, GetKey, ListKeys and VerifyKey (so a gateway can route by it)', async () => {
      const actor = admin();
      const metadata = { team: 'payments', 'env.tier': 'prod', ticket: 'OPS-1234, urgent' };
      const key = await createTestKey(server, actor, { metadata });
      expect(key.key.metadata).toEqual(metadata);
      expect((await server.clients.admin.getKey({ actor, keyId: key.key.id })).key?.metadata).toEqual(metadata);
      const listed = await server.clients.admin.listKeys({
        actor,
        owner: KeyOwnerFilter.KEY_OWNER_FILTER_ORGANIZATION,
        states: [],
        pageSize: 0,
        pageToken: '',
      });
      expect(listed.keys[0]?.metadata).toEqual(metadata);
      const verified = await server.clients.verifier.verifyKey({ key: key.secret, clientIp: '', requiredScopes: [] });
      expect(verified.metadata).toEqual(metadata);
      expect(await changesOf(actor, key)).toEqual(
        expect.arrayContaining([
          { field: 'metadata.env.tier', oldValue: '', newValue: 'prod' },
          { field: 'metadata.team', oldValue: '', newValue: 'payments' },
          { field: 'metadata.ticket', oldValue: '', newValue: 'OPS-1234, urgent' },
        ]),
      );
    });

    it('replaced by UpdateKey, the audit trail naming each entry added, changed or removed', async () => {
      const actor = admin();
      const key = await createTestKey(server, actor, { metadata: { team: 'payments', env: 'prod', old: 'x' } });
      const verifiedBefore = await server.clients.verifier.verifyKey({
        key: key.secret,
        clientIp: '',
        requiredScopes: [],
      });
      expect(verifiedBefore.metadata).toEqual({ team: 'payments', env: 'prod', old: 'x' }); // cached
      const { key: updated } = await setMetadata(actor, key, { team: 'billing', env: 'prod', owner: 'bob' });
      expect(updated?.metadata).toEqual({ env: 'prod', owner: 'bob', team: 'billing' });
      expect(await changesOf(actor, key)).toEqual([
        { field: 'metadata.old', oldValue: 'x', newValue: '' },
        { field: 'metadata.owner', oldValue: '', newValue: 'bob' },
        { field: 'metadata.team', oldValue: 'payments', newValue: 'billing' },
      ]);
      // The change reaches the verifier's cache like any update.
      const verified = await server.clients.verifier.verifyKey({ key: key.secret, clientIp: '', requiredScopes: [] });
      expect(verified.metadata).toEqual({ env: 'prod', owner: 'bob', team: 'billing' });
    });

    it('cleared by an empty map in the mask; the same map again changes nothing', async () => {
      const actor = admin();
      const key = await createTestKey(server, actor, { metadata: { team: 'payments' } });
      const before = await databaseSnapshot(server.app.db, [actor.organizationId]);
      await setMetadata(actor, key, { team: 'payments' });
      expect(await databaseSnapshot(server.app.db, [actor.organizationId])).toEqual(before);
      const { key: cleared } = await setMetadata(actor, key, {});
      expect(cleared?.metadata).toEqual({});
    });

    it('carried over to the replacement by RotateKey', async () => {
      const actor = admin();
      const key = await createTestKey(server, actor, { metadata: { team: 'payments' } });
      const rotated = await server.clients.admin.rotateKey({ actor, keyId: key.key.id, gracePeriodHours: 1 });
      expect(rotated.newKey?.metadata).toEqual({ team: 'payments' });
    });
  });

  describe('is refused with INVALID_ARGUMENT, storing nothing', () => {
    const realKeyLike = 'tt_admin_' + 'A'.repeat(30);
    it.each([
      [
        '21 entries',
        Object.fromEntries(Array.from({ length: 21 }, (_, i) => [`k${i}`, 'v'])),
        'metadata: at most 20 entries allowed, got 21',
      ],
      [
        'a name with a capital letter',
        { Team: 'x' },
        'metadata: name "Team" must be 1–64 characters of a-z, 0-9, "_", "." or "-", starting with a letter',
      ],
      [
        'a name starting with a digit',
        { '1team': 'x' },
        'metadata: name "1team" must be 1–64 characters of a-z, 0-9, "_", "." or "-", starting with a letter',
      ],
      [
        'a name of 65 characters',
        { ['a'.repeat(65)]: 'x' },
        `metadata: name "${'a'.repeat(64)}" must be 1–64 characters of a-z, 0-9, "_", "." or "-", starting with a letter`,
      ],
      [
        'a value of 513 characters',
        { team: 'é'.repeat(513) },
        'metadata.team: value must be at most 512 characters, got 513',
      ],
      [
        'a value with a control character',
        { team: 'a\nb' },
        'metadata.team: value must not contain control characters or invalid UTF-8',
      ],
      [
        'more than 4 KB in all',
        Object.fromEntries(Array.from({ length: 9 }, (_, i) => [`k${i}`, 'x'.repeat(500)])),
        'metadata: at most 4096 bytes of names and values in all, got 4518',
      ],
      [
        'a value holding an API key',
        { note: `old key ${realKeyLike} do not use` },
        'metadata.note: value looks like an API key; metadata is shown to every admin and gateway, never store a secret in it',
      ],
    ])('%s', async (_label, metadata, message) => {
      const actor = admin();
      const key = await createTestKey(server, actor);
      const before = await databaseSnapshot(server.app.db, [actor.organizationId]);
      for (const call of [() => createTestKey(server, actor, { metadata }), () => setMetadata(actor, key, metadata)]) {
        const error = await grpcError(call());
        expect(error.code).toBe(status.INVALID_ARGUMENT);
        expect(error.details).toBe(message);
      }
      expect(await databaseSnapshot(server.app.db, [actor.organizationId])).toEqual(before);
    });

    it('accepts exactly the limits: 20 entries, 64-character names, 512-character values within 4096 bytes', async () => {
      const actor = admin();
      const metadata = Object.fromEntries(
        Array.from({ length: 7 }, (_, i) => [`${'n'.repeat(63)}${i}`, 'v'.repeat(512)]),
      );
      const key = await createTestKey(server, actor, { metadata });
      expect(Object.keys(key.key.metadata)).toHaveLength(7);
      const twenty = Object.fromEntries(Array.from({ length: 20 }, (_, i) => [`k${i}`, 'v']));
      expect((await setMetadata(actor, key, twenty)).key?.metadata).toEqual(twenty);
    });
  });
});
