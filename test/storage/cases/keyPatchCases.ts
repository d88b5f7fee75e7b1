import { describe, expect, it } from 'vitest';

import { setTo, UNCHANGED } from '../../../src/domain/FieldUpdate.js';
import { keyPatch, type KeyPatch } from '../../../src/domain/KeyPatch.js';
import type { ContractSubject } from '../keyRepository.contract.js';
import { keyRecord, T0 } from '../storageFixtures.js';

// ──────────────────────────────────────────────────────────────────────────────────────────────────────
// KEY PATCH CASES, against the typed `KeyPatch`: every field is `UNCHANGED` or `setTo(value)` (null
// included), and every patch stamps the update time.
// ──────────────────────────────────────────────────────────────────────────────────────────────────────

/** Updates through the key patch: only what it sets changes, and `setTo(null)` clears a column. */
export function keyPatchCases(subject: () => ContractSubject): void {
  describe('key patch', () => {
    const original = keyRecord('k1', {
      scopes: ['a:read'],
      allowedIps: ['10.0.0.1'],
      replacedByKeyId: 'k0',
      lastUsedTime: T0 + 1,
      lastUsedIp: '10.0.0.9',
    });

    async function patched(target: ContractSubject, patch: Parameters<typeof target.repository.transaction>[0]) {
      await target.repository.transaction((tx) => tx.insertKey(original));
      await target.repository.transaction(patch);
      return target.repository.findById('org-a', 'k1');
    }

    it('changes only the fields the patch sets', async () => {
      const key = await patched(subject(), (tx) =>
        tx.updateKey(original, { ...keyPatch(T0 + 5), name: setTo('renamed') }),
      );
      expect(key).toEqual({ ...original, name: 'renamed', updateTime: T0 + 5, version: 2 });
    });

    it('stores scopes and allowed IPs as given, including empty lists', async () => {
      const key = await patched(subject(), (tx) =>
        tx.updateKey(original, {
          ...keyPatch(T0 + 6),
          scopes: setTo(['b:write', 'c:read']),
          allowedIps: setTo([]),
          expireTime: setTo(T0 + 7),
        }),
      );
      expect(key).toEqual({
        ...original,
        version: 2,
        scopes: ['b:write', 'c:read'],
        allowedIps: [],
        expireTime: T0 + 7,
        updateTime: T0 + 6,
      });
    });

    it('writes a revocation: time, user and reason', async () => {
      const revocation: KeyPatch = {
        ...keyPatch(T0 + 3),
        revokeTime: setTo(T0 + 3),
        revokedByUserId: setTo('bob'),
        revokeReason: setTo('leaked'),
      };
      const key = await patched(subject(), (tx) => tx.updateKey(original, revocation));
      expect(key).toEqual({
        ...original,
        version: 2,
        revokeTime: T0 + 3,
        revokedByUserId: 'bob',
        revokeReason: 'leaked',
        updateTime: T0 + 3,
      });
    });

    it('sets a column to null when the patch sets null, and leaves it when the patch leaves it unchanged', async () => {
      const target = subject();
      const cleared = await patched(target, (tx) =>
        tx.updateKey(original, { ...keyPatch(T0 + 4), replacedByKeyId: setTo(null), revokeReason: setTo(null) }),
      );
      expect(cleared).toEqual({ ...original, replacedByKeyId: null, updateTime: T0 + 4, version: 2 });
      await target.repository.transaction((tx) =>
        tx.updateKey(original, { ...keyPatch(T0 + 5), replacedByKeyId: setTo('k9') }),
      );
      await target.repository.transaction((tx) =>
        tx.updateKey(original, { ...keyPatch(T0 + 6), name: setTo('kept link'), replacedByKeyId: UNCHANGED }),
      );
      expect(await target.repository.findById('org-a', 'k1')).toMatchObject({
        name: 'kept link',
        replacedByKeyId: 'k9',
      });
    });

    it('leaves the last-used columns, the creator and the rotation link to other writers', async () => {
      const key = await patched(subject(), (tx) =>
        tx.updateKey(original, {
          ...keyPatch(T0 + 2),
          name: setTo('x'),
          scopes: setTo(['z:read']),
          allowedIps: setTo(['::1']),
        }),
      );
      expect(key).toMatchObject({
        lastUsedTime: T0 + 1,
        lastUsedIp: '10.0.0.9',
        createdByUserId: 'alice',
        rotatedFromKeyId: null,
        createTime: T0,
      });
    });
  });
}
// ─────────────────────────────────────────── END OF KEY PATCH CASES ───────────────────────────────────
