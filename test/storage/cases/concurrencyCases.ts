import { describe, expect, it } from 'vitest';

import type { KeyRepository } from '../../../src/domain/KeyRepository.js';
import type { ContractCapabilities, ContractSubject } from '../keyRepository.contract.js';
import { type HeldTransaction, holdTransaction } from '../holdTransaction.js';
import { keyRecord } from '../storageFixtures.js';

/** A transaction that has inserted `keyId` and waits, uncommitted, until `commit()` is called. */
function openInsert(repository: KeyRepository, keyId: string): Promise<HeldTransaction> {
  return holdTransaction(repository, (tx) => tx.insertKey(keyRecord(keyId)));
}

/** What an open transaction looks like from outside, where the implementation lets anyone look. */
export function concurrencyCases(subject: () => ContractSubject, capabilities: ContractCapabilities): void {
  describe('while another transaction is open', () => {
    it.runIf(capabilities.readsDuringTransactions)(
      'reads outside it see none of its writes until it commits',
      async () => {
        const { repository } = subject();
        const open = await openInsert(repository, 'k1');
        expect(await repository.findById('org-a', 'k1')).toBeNull();
        expect(await repository.readChanges(0, 10)).toEqual([]);
        expect(await repository.latestChangePosition()).toBe(0);
        await open.commit();
        expect(await repository.findById('org-a', 'k1')).not.toBeNull();
        expect(await repository.latestChangePosition()).toBe(1);
      },
    );

    it.runIf(capabilities.concurrentTransactions)(
      'a transaction that wrote first but commits last takes the later feed position (commit order, no gap)',
      async () => {
        const { repository } = subject();
        const slow = await openInsert(repository, 'slow');
        await repository.transaction((tx) => tx.insertKey(keyRecord('fast')));
        const seen = await repository.readChanges(0, 10);
        expect(seen.map((row) => [row.position, row.keyId])).toEqual([[1, 'fast']]);
        await slow.commit();
        const late = await repository.readChanges(1, 10);
        expect(late.map((row) => [row.position, row.keyId])).toEqual([[2, 'slow']]);
      },
    );
  });
}
