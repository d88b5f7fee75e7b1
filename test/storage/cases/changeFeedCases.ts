import { describe, expect, it } from 'vitest';

import { setTo } from '../../../src/domain/FieldUpdate.js';
import { keyPatch } from '../../../src/domain/KeyPatch.js';
import type { KeyChange } from '../../../src/domain/KeyRepository.js';
import type { ContractSubject } from '../keyRepository.contract.js';
import { auditEvent, hashOf, keyRecord, T0 } from '../storageFixtures.js';

/** A change row as another replica would commit it. */
function change(id: number, changeTime = T0): KeyChange {
  return { id, keyId: `key${id}`, secretHash: hashOf(`key${id}`), changeTime };
}

const ids = (changes: readonly KeyChange[]): number[] => changes.map((row) => row.id);

async function commitAll(subject: ContractSubject, changeIds: readonly number[]): Promise<void> {
  for (const id of changeIds) await subject.commitChange(change(id));
}

/** The change feed: what key writes append, and the reads, pruning and latest id replicas poll with. */
export function changeFeedCases(subject: () => ContractSubject): void {
  describe('change feed', () => {
    it('appends one row per key insert and update (not per audit event), with ascending ids from 1', async () => {
      const { repository } = subject();
      const key = keyRecord('k1', { updateTime: T0 + 1 });
      await repository.transaction(async (tx) => {
        await tx.insertKey(key);
        await tx.insertAuditEvent(auditEvent('e1', 'k1'));
      });
      await repository.transaction((tx) => tx.updateKey(key, { ...keyPatch(T0 + 5), name: setTo('renamed') }));
      await repository.transaction((tx) => tx.updateKey(key, { ...keyPatch(T0 + 6), name: setTo('again') }));
      expect(await repository.readChanges(0, [], 10)).toEqual([
        { id: 1, keyId: 'k1', secretHash: hashOf('k1'), changeTime: T0 + 1 },
        { id: 2, keyId: 'k1', secretHash: hashOf('k1'), changeTime: T0 + 5 },
        { id: 3, keyId: 'k1', secretHash: hashOf('k1'), changeTime: T0 + 6 },
      ]);
      expect(await repository.latestChangeId()).toBe(3);
    });

    it('reports 0 as the latest id of an empty feed', async () => {
      expect(await subject().repository.latestChangeId()).toBe(0);
    });

    it('reads only ids above the one given, ascending, at most the batch limit', async () => {
      const target = subject();
      await commitAll(target, [3, 1, 5, 2, 4]);
      expect(ids(await target.repository.readChanges(0, [], 10))).toEqual([1, 2, 3, 4, 5]);
      expect(ids(await target.repository.readChanges(2, [], 10))).toEqual([3, 4, 5]);
      expect(ids(await target.repository.readChanges(0, [], 2))).toEqual([1, 2]);
      expect(ids(await target.repository.readChanges(2, [], 2))).toEqual([3, 4]);
      expect(await target.repository.readChanges(5, [], 10)).toEqual([]);
    });

    it('finds a missing id once it commits after higher ids were read (out-of-order commit)', async () => {
      const target = subject();
      await commitAll(target, [1, 2, 4, 7]);
      expect(ids(await target.repository.readChanges(0, [], 10))).toEqual([1, 2, 4, 7]);
      expect(await target.repository.readChanges(7, [3, 5, 6], 10)).toEqual([]);
      await commitAll(target, [5]);
      expect(ids(await target.repository.readChanges(7, [3, 5, 6], 10))).toEqual([5]);
      await commitAll(target, [8, 3]);
      expect(ids(await target.repository.readChanges(7, [3, 6], 10))).toEqual([3, 8]);
      expect(await target.repository.latestChangeId()).toBe(8);
    });

    it('orders missing ids with the new ones and counts them against the batch limit', async () => {
      const target = subject();
      await commitAll(target, [2, 5, 6, 7]);
      expect(ids(await target.repository.readChanges(4, [2], 2))).toEqual([2, 5]);
      expect(ids(await target.repository.readChanges(5, [2], 1))).toEqual([2]);
    });

    it('returns nothing for missing ids that never commit, and a row asked for twice only once', async () => {
      const target = subject();
      await commitAll(target, [1, 4]);
      expect(ids(await target.repository.readChanges(1, [2, 3, 4], 10))).toEqual([4]);
      expect(await target.repository.readChanges(4, [2, 3], 10)).toEqual([]);
    });

    it('keeps rows written by the repository and rows committed elsewhere in one id sequence', async () => {
      const target = subject();
      await commitAll(target, [1, 2]);
      await target.repository.transaction((tx) => tx.insertKey(keyRecord('k1')));
      expect(ids(await target.repository.readChanges(0, [], 10))).toEqual([1, 2, 3]);
      expect((await target.repository.readChanges(2, [], 10))[0]?.keyId).toBe('k1');
    });
  });

  describe('change feed pruning', () => {
    it('deletes the rows changed strictly before the instant and says how many', async () => {
      const target = subject();
      for (const [id, time] of [
        [1, T0 - 2],
        [2, T0 - 1],
        [3, T0],
        [4, T0 + 1],
      ] as const) {
        await target.commitChange(change(id, time));
      }
      expect(await target.repository.pruneChanges(T0)).toBe(2);
      expect(ids(await target.repository.readChanges(0, [1, 2], 10))).toEqual([3, 4]);
      expect(await target.repository.pruneChanges(T0)).toBe(0);
      expect(await target.repository.latestChangeId()).toBe(4);
    });

    it('reports 0 as the latest id once everything is pruned, and never reuses a pruned id', async () => {
      const { repository } = subject();
      await repository.transaction(async (tx) => {
        await tx.insertKey(keyRecord('k1'));
        await tx.insertKey(keyRecord('k2'));
      });
      expect(await repository.pruneChanges(T0 + 1)).toBe(2);
      expect(await repository.latestChangeId()).toBe(0);
      await repository.transaction((tx) => tx.insertKey(keyRecord('k3')));
      expect(ids(await repository.readChanges(0, [], 10))).toEqual([3]);
    });
  });
}
