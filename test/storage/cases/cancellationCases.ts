import { describe, expect, it } from 'vitest';

import { AppError } from '../../../src/domain/AppError.js';
import { setTo } from '../../../src/domain/FieldUpdate.js';
import { keyPatch } from '../../../src/domain/KeyPatch.js';
import type { ContractCapabilities, ContractSubject } from '../keyRepository.contract.js';
import { keyRecord } from '../storageFixtures.js';

async function codeOf(work: Promise<unknown>): Promise<string> {
  try {
    await work;
  } catch (error) {
    return error instanceof AppError ? error.code : String(error);
  }
  return 'OK';
}

/** A transaction whose caller stops waiting for it (TransactionOptions.signal). */
export function cancellationCases(subject: () => ContractSubject, capabilities: ContractCapabilities): void {
  describe('a transaction whose signal aborts', () => {
    it('does not run when the signal aborted before it started, and rejects with CANCELLED', async () => {
      const { repository } = subject();
      let ran = false;
      const code = await codeOf(
        repository.transaction(
          async (tx) => {
            ran = true;
            await tx.insertKey(keyRecord('k1'));
          },
          { signal: AbortSignal.abort() },
        ),
      );
      expect(code).toBe('CANCELLED');
      expect(ran).toBe(false);
      expect(await repository.findById('org-a', 'k1')).toBeNull();
    });

    it.runIf(capabilities.cancelsOpenTransactions)(
      'rolls back at once when it aborts while the work waits, so the next transaction locks the same key',
      async () => {
        const { repository } = subject();
        await repository.transaction((tx) => tx.insertKey(keyRecord('k1')));
        const controller = new AbortController();
        let locked = (): void => undefined;
        const lockTaken = new Promise<void>((resolve) => (locked = resolve));
        const held = repository.transaction(
          async (tx) => {
            const key = await tx.lockKey('org-a', 'k1');
            await tx.updateKey(key!, { ...keyPatch(2), name: setTo('held') });
            locked();
            // Waits for something that never comes: only the abort ends it.
            await new Promise(() => undefined);
          },
          { signal: controller.signal },
        );
        await lockTaken;
        controller.abort();
        expect(await codeOf(held)).toBe('CANCELLED');
        const again = await repository.transaction(async (tx) => tx.lockKey('org-a', 'k1'));
        expect(again?.name).toBe(keyRecord('k1').name);
      },
    );
  });
}
