import { describe, expect, it } from 'vitest';

import { hashOf, keyRecord } from './storageFixtures.js';
import { type ContractTarget, useContractTarget } from './keyRepository.contract.js';

/** Declares every KeyRepository contract case against `target`. */
export function defineKeyRepositoryContract(target: ContractTarget): void {
  const subject = useContractTarget(target);

  describe('keys', () => {
    it('finds an inserted key by hash and by organization and id, with every field intact', async () => {
      const { repository } = subject();
      const key = keyRecord('k1', { scopes: ['a:read', 'b:write'], allowedIps: ['10.0.0.0/8'] });
      await repository.transaction((tx) => tx.insertKey(key));
      expect(await repository.findByHash(hashOf('k1'))).toEqual(key);
      expect(await repository.findById('org-a', 'k1')).toEqual(key);
      expect(await repository.findById('org-b', 'k1')).toBeNull();
      expect(await repository.findByHash(hashOf('nope'))).toBeNull();
    });
  });
}
