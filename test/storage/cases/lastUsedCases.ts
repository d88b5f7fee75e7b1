import { describe, expect, it } from 'vitest';

import type { ContractSubject } from '../keyRepository.contract.js';
import { keyRecord, T0 } from '../storageFixtures.js';

async function lastUsedOf(target: ContractSubject, keyId: string): Promise<[number | null, string | null]> {
  const key = await target.repository.findById('org-a', keyId);
  return [key?.lastUsedTime ?? null, key?.lastUsedIp ?? null];
}

/** Last-used observations from many replicas: the newest one wins, whatever order they arrive in. */
export function lastUsedCases(subject: () => ContractSubject): void {
  describe('last-used writes', () => {
    it('stores time and IP without touching the update time or the change feed', async () => {
      const target = subject();
      await target.repository.transaction((tx) => tx.insertKey(keyRecord('k1')));
      await target.repository.recordLastUsed([{ keyId: 'k1', time: T0 + 10, ip: '10.0.0.1' }]);
      expect(await lastUsedOf(target, 'k1')).toEqual([T0 + 10, '10.0.0.1']);
      expect((await target.repository.findById('org-a', 'k1'))?.updateTime).toBe(T0);
      expect(await target.repository.latestChangePosition()).toBe(1);
    });

    it('never lets an older observation, or one of the same millisecond, replace a newer one', async () => {
      const target = subject();
      await target.repository.transaction((tx) => tx.insertKey(keyRecord('k1')));
      await target.repository.recordLastUsed([{ keyId: 'k1', time: T0 + 10, ip: '10.0.0.1' }]);
      await target.repository.recordLastUsed([{ keyId: 'k1', time: T0 + 9, ip: '10.0.0.2' }]);
      await target.repository.recordLastUsed([{ keyId: 'k1', time: T0 + 10, ip: '10.0.0.3' }]);
      expect(await lastUsedOf(target, 'k1')).toEqual([T0 + 10, '10.0.0.1']);
      await target.repository.recordLastUsed([{ keyId: 'k1', time: T0 + 11, ip: null }]);
      expect(await lastUsedOf(target, 'k1')).toEqual([T0 + 11, null]);
    });

    it('keeps the newest observation of each key in a batch, in whatever order the batch lists them', async () => {
      const target = subject();
      await target.repository.transaction(async (tx) => {
        await tx.insertKey(keyRecord('k1'));
        await tx.insertKey(keyRecord('k2'));
      });
      await target.repository.recordLastUsed([
        { keyId: 'k1', time: T0 + 20, ip: '10.0.0.20' },
        { keyId: 'k2', time: T0 + 5, ip: '10.0.0.5' },
        { keyId: 'k1', time: T0 + 15, ip: '10.0.0.15' },
        { keyId: 'k2', time: T0 + 6, ip: '10.0.0.6' },
      ]);
      expect(await lastUsedOf(target, 'k1')).toEqual([T0 + 20, '10.0.0.20']);
      expect(await lastUsedOf(target, 'k2')).toEqual([T0 + 6, '10.0.0.6']);
    });

    it('ignores observations of unknown keys and accepts an empty batch', async () => {
      const target = subject();
      await target.repository.transaction((tx) => tx.insertKey(keyRecord('k1')));
      await target.repository.recordLastUsed([]);
      await target.repository.recordLastUsed([
        { keyId: 'gone', time: T0 + 1, ip: null },
        { keyId: 'k1', time: T0 + 2, ip: '10.0.0.2' },
      ]);
      expect(await lastUsedOf(target, 'k1')).toEqual([T0 + 2, '10.0.0.2']);
      expect(await target.repository.findById('org-a', 'gone')).toBeNull();
    });
  });
}
