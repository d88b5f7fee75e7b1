import { describe, expect, it } from 'vitest';

import { setTo } from '../../../src/domain/FieldUpdate.js';
import { applyKeyPatch, keyPatch } from '../../../src/domain/KeyPatch.js';
import type { KeyChange } from '../../../src/domain/KeyRepository.js';
import type { ContractSubject } from '../keyRepository.contract.js';
import { auditEvent, hashOf, keyRecord, T0 } from '../storageFixtures.js';

const positions = (changes: readonly KeyChange[]): number[] => changes.map((row) => row.position);

/** Commits one new key per id, each in its own transaction, at change time `time`. */
async function insertKeys(subject: ContractSubject, ids: readonly string[], time = T0): Promise<void> {
  for (const id of ids) await subject.repository.transaction((tx) => tx.insertKey(keyRecord(id, { updateTime: time })));
}

/** The change feed: what key writes append, and the reads, pruning and latest position replicas poll with. */
export function changeFeedCases(subject: () => ContractSubject): void {
  describe('change feed', () => {
    it('appends one row per key insert and update (not per audit event), positions 1, 2, 3 and key versions', async () => {
      const { repository } = subject();
      const key = keyRecord('k1', { updateTime: T0 + 1 });
      await repository.transaction(async (tx) => {
        await tx.insertKey(key);
        await tx.insertAuditEvent(auditEvent('e1', 'k1'));
      });
      const renamed = { ...keyPatch(T0 + 5), name: setTo('renamed') };
      await repository.transaction((tx) => tx.updateKey(key, renamed));
      const v2 = applyKeyPatch(key, renamed);
      await repository.transaction((tx) => tx.updateKey(v2, { ...keyPatch(T0 + 6), name: setTo('again') }));
      expect(await repository.readChanges(0, 10)).toEqual([
        { position: 1, keyId: 'k1', secretHash: hashOf('k1'), keyVersion: 1, changeTime: T0 + 1 },
        { position: 2, keyId: 'k1', secretHash: hashOf('k1'), keyVersion: 2, changeTime: T0 + 5 },
        { position: 3, keyId: 'k1', secretHash: hashOf('k1'), keyVersion: 3, changeTime: T0 + 6 },
      ]);
      expect(await repository.latestChangePosition()).toBe(3);
      expect((await repository.findById('org-a', 'k1'))?.version).toBe(3);
    });

    it('gives several changes of one transaction consecutive positions, in the order written', async () => {
      const { repository } = subject();
      let committedAt: number | undefined;
      await repository.transaction(
        async (tx) => {
          await tx.insertKey(keyRecord('k1'));
          await tx.insertKey(keyRecord('k2'));
          await tx.insertKey(keyRecord('k3'));
        },
        { onCommitted: (last) => (committedAt = last) },
      );
      const rows = await repository.readChanges(0, 10);
      expect(rows.map((row) => [row.position, row.keyId])).toEqual([
        [1, 'k1'],
        [2, 'k2'],
        [3, 'k3'],
      ]);
      expect(committedAt).toBe(3);
    });

    it('updates many keys with one patch, each one version up, one change each', async () => {
      const { repository } = subject();
      await insertKeys(subject(), ['a', 'b']);
      const a = (await repository.findById('org-a', 'a'))!;
      const b = (await repository.findById('org-a', 'b'))!;
      const bumped = applyKeyPatch(b, { ...keyPatch(T0 + 1), name: setTo('x') });
      await repository.transaction((tx) => tx.updateKey(b, { ...keyPatch(T0 + 1), name: setTo('x') }));
      await repository.transaction((tx) =>
        tx.updateKeys([a, bumped], { ...keyPatch(T0 + 2), revokeTime: setTo(T0 + 2) }),
      );
      const rows = await repository.readChanges(3, 10);
      expect(rows.map((row) => [row.position, row.keyId, row.keyVersion])).toEqual([
        [4, 'a', 2],
        [5, 'b', 3],
      ]);
      expect(await repository.findById('org-a', 'a')).toMatchObject({ version: 2, revokeTime: T0 + 2 });
      expect(await repository.findById('org-a', 'b')).toMatchObject({ version: 3, revokeTime: T0 + 2, name: 'x' });
    });

    it("gives a rolled-back transaction's positions back: the next commit takes them, no gap", async () => {
      const { repository } = subject();
      await insertKeys(subject(), ['k1']);
      let called = false;
      const failed = repository.transaction(
        async (tx) => {
          await tx.insertKey(keyRecord('k2'));
          throw new Error('changed my mind');
        },
        { onCommitted: () => (called = true) },
      );
      await expect(failed).rejects.toThrow();
      await insertKeys(subject(), ['k3']);
      expect((await repository.readChanges(0, 10)).map((row) => [row.position, row.keyId])).toEqual([
        [1, 'k1'],
        [2, 'k3'],
      ]);
      expect(called).toBe(false);
    });

    it('reports 0 as the latest position of an empty feed, and does not call onCommitted without changes', async () => {
      const { repository } = subject();
      expect(await repository.latestChangePosition()).toBe(0);
      let called = false;
      await repository.transaction((tx) => tx.insertAuditEvent(auditEvent('e1', 'k1')), {
        onCommitted: () => (called = true),
      });
      expect(called).toBe(false);
      expect(await repository.latestChangePosition()).toBe(0);
    });

    it('reads only positions above the one given, ascending, at most the batch limit', async () => {
      const target = subject();
      await insertKeys(target, ['k1', 'k2', 'k3', 'k4', 'k5']);
      expect(positions(await target.repository.readChanges(0, 10))).toEqual([1, 2, 3, 4, 5]);
      expect(positions(await target.repository.readChanges(2, 10))).toEqual([3, 4, 5]);
      expect(positions(await target.repository.readChanges(0, 2))).toEqual([1, 2]);
      expect(positions(await target.repository.readChanges(2, 2))).toEqual([3, 4]);
      expect(await target.repository.readChanges(5, 10)).toEqual([]);
    });
  });

  describe('change feed pruning', () => {
    it('deletes the rows changed strictly before the instant, never the newest row, and says how many', async () => {
      const target = subject();
      await insertKeys(target, ['k1'], T0 - 2);
      await insertKeys(target, ['k2'], T0 - 1);
      await insertKeys(target, ['k3'], T0);
      await insertKeys(target, ['k4'], T0 + 1);
      expect(await target.repository.pruneChanges(T0)).toBe(2);
      expect(positions(await target.repository.readChanges(0, 10))).toEqual([3, 4]);
      expect(await target.repository.pruneChanges(T0)).toBe(0);
      expect(await target.repository.pruneChanges(T0 + 100)).toBe(1);
      // The newest row stays, so a reader at position 1 sees the gap before 4.
      expect(positions(await target.repository.readChanges(1, 10))).toEqual([4]);
      expect(await target.repository.latestChangePosition()).toBe(4);
    });

    it('keeps the latest position once rows are pruned, and never reuses a pruned position', async () => {
      const target = subject();
      await target.repository.transaction(async (tx) => {
        await tx.insertKey(keyRecord('k1'));
        await tx.insertKey(keyRecord('k2'));
      });
      expect(await target.repository.pruneChanges(T0 + 1)).toBe(1);
      expect(await target.repository.latestChangePosition()).toBe(2);
      await insertKeys(target, ['k3']);
      expect(positions(await target.repository.readChanges(0, 10))).toEqual([2, 3]);
    });
  });
}
