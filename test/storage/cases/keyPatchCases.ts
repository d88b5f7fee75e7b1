import { describe, expect, it } from 'vitest';

import type { ContractSubject } from '../keyRepository.contract.js';
import { keyRecord, T0 } from '../storageFixtures.js';

// ──────────────────────────────────────────────────────────────────────────────────────────────────────
// KEY PATCH CASES, written against today's `KeyPatch` (a Partial of the mutable columns: an absent
// property is "unchanged", a present `null` is "set to null"). When the typed patch lands, adapt the
// patch literals in this block only; the expectations stay.
// ──────────────────────────────────────────────────────────────────────────────────────────────────────

/** Updates through the key patch: only what it names changes, and `null` clears a column. */
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

    it('changes only the fields the patch names', async () => {
      const key = await patched(subject(), (tx) => tx.updateKey(original, { name: 'renamed', updateTime: T0 + 5 }));
      expect(key).toEqual({ ...original, name: 'renamed', updateTime: T0 + 5 });
    });

    it('stores scopes and allowed IPs as given, including empty lists', async () => {
      const key = await patched(subject(), (tx) =>
        tx.updateKey(original, { scopes: ['b:write', 'c:read'], allowedIps: [], expireTime: T0 + 7 }),
      );
      expect(key).toEqual({ ...original, scopes: ['b:write', 'c:read'], allowedIps: [], expireTime: T0 + 7 });
    });

    it('writes a revocation: time, user and reason', async () => {
      const revocation = { revokeTime: T0 + 3, revokedByUserId: 'bob', revokeReason: 'leaked', updateTime: T0 + 3 };
      const key = await patched(subject(), (tx) => tx.updateKey(original, revocation));
      expect(key).toEqual({ ...original, ...revocation });
    });

    it('sets a column to null when the patch holds null, and leaves it when the patch omits it', async () => {
      const target = subject();
      const cleared = await patched(target, (tx) =>
        tx.updateKey(original, { replacedByKeyId: null, revokeReason: null }),
      );
      expect(cleared).toEqual({ ...original, replacedByKeyId: null });
      await target.repository.transaction((tx) => tx.updateKey(original, { replacedByKeyId: 'k9' }));
      await target.repository.transaction((tx) => tx.updateKey(original, { name: 'kept link' }));
      expect(await target.repository.findById('org-a', 'k1')).toMatchObject({
        name: 'kept link',
        replacedByKeyId: 'k9',
      });
    });

    it('leaves the last-used columns, the creator and the rotation link to other writers', async () => {
      const key = await patched(subject(), (tx) =>
        tx.updateKey(original, { name: 'x', scopes: ['z:read'], allowedIps: ['::1'], updateTime: T0 + 2 }),
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
