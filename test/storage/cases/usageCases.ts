import { describe, expect, it } from 'vitest';

import { noUsage, type UsageCounts, type UsageEntry } from '../../../src/domain/UsageTally.js';
import type { ContractSubject } from '../keyRepository.contract.js';
import { keyRecord, T0 } from '../storageFixtures.js';

function entry(keyId: string, day: number, counts: Partial<UsageCounts>): UsageEntry {
  return { keyId, day, counts: { ...noUsage(), ...counts } };
}

/** Usage history: counts are added to what is stored, so replicas' flushes sum. */
export function usageCases(subject: () => ContractSubject): void {
  describe('usage history', () => {
    it('adds each flush to the stored counts of its key and day, with the last-used data', async () => {
      const target = subject();
      await target.repository.transaction(async (tx) => {
        await tx.insertKey(keyRecord('k1'));
        await tx.insertKey(keyRecord('k2'));
      });
      await target.repository.recordLastUsed(
        [{ keyId: 'k1', time: T0 + 1, ip: null }],
        [entry('k1', 100, { valid: 3, revoked: 1 }), entry('k2', 100, { insufficient_scope: 2 })],
      );
      await target.repository.recordLastUsed([], [entry('k1', 100, { valid: 4, ip_not_allowed: 5 })]);
      await target.repository.recordLastUsed([], [entry('k1', 101, { expired: 1, disabled: 2 })]);
      expect(await target.repository.readUsage('k1', 99, 101)).toEqual([
        entry('k1', 100, { valid: 7, revoked: 1, ip_not_allowed: 5 }),
        entry('k1', 101, { expired: 1, disabled: 2 }),
      ]);
      expect(await target.repository.readUsage('k2', 100, 100)).toEqual([entry('k2', 100, { insufficient_scope: 2 })]);
      expect(await target.repository.readUsage('k1', 101, 101)).toHaveLength(1);
      expect((await target.repository.findById('org-a', 'k1'))?.lastUsedTime).toBe(T0 + 1);
    });

    it('keeps counts beyond 2^32', async () => {
      const target = subject();
      await target.repository.transaction((tx) => tx.insertKey(keyRecord('k1')));
      await target.repository.recordLastUsed([], [entry('k1', 5, { valid: 2 ** 32 })]);
      await target.repository.recordLastUsed([], [entry('k1', 5, { valid: 2 ** 32 })]);
      expect((await target.repository.readUsage('k1', 5, 5))[0]?.counts.valid).toBe(2 ** 33);
    });

    it('deletes the days before a day, and only those', async () => {
      const target = subject();
      await target.repository.transaction((tx) => tx.insertKey(keyRecord('k1')));
      await target.repository.recordLastUsed(
        [],
        [entry('k1', 10, { valid: 1 }), entry('k1', 11, { valid: 1 }), entry('k1', 12, { valid: 1 })],
      );
      expect(await target.repository.pruneUsage(12)).toBe(2);
      expect((await target.repository.readUsage('k1', 0, 100)).map((row) => row.day)).toEqual([12]);
    });
  });
}
