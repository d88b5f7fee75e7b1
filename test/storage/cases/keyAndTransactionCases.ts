import { describe, expect, it } from 'vitest';

import { AppError } from '../../../src/domain/AppError.js';
import { setTo } from '../../../src/domain/FieldUpdate.js';
import { keyPatch } from '../../../src/domain/KeyPatch.js';
import type { KeyRepository } from '../../../src/domain/KeyRepository.js';
import type { ApiKeyRecord } from '../../../src/domain/types.js';
import { type HeldTransaction, holdTransaction } from '../holdTransaction.js';
import type { ContractSubject } from '../keyRepository.contract.js';
import { auditEvent, hashOf, keyRecord, T0 } from '../storageFixtures.js';

/** Inserts key k1, then holds a transaction that has locked it; on commit it renames the key to `name`. */
async function holdLockOnK1(repository: KeyRepository, name: string): Promise<HeldTransaction> {
  await repository.transaction((tx) => tx.insertKey(keyRecord('k1')));
  let key: ApiKeyRecord | null = null;
  return holdTransaction(
    repository,
    async (tx) => {
      key = await tx.lockKey('org-a', 'k1');
    },
    (tx) => tx.updateKey(key!, { ...keyPatch(T0 + 1), name: setTo(name) }),
  );
}

const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Inserting and finding keys, transactions that commit together or not at all, and row locks. */
export function keyAndTransactionCases(subject: () => ContractSubject): void {
  describe('keys', () => {
    it('finds an inserted key by hash and by organization and id, with every field intact', async () => {
      const { repository } = subject();
      const key = keyRecord('k1', {
        scopes: ['a:read', 'b:write'],
        allowedIps: ['10.0.0.0/8', '2001:db8::/32'],
        createdByRole: 'read_only_admin',
        revokeTime: T0 + 5,
        revokedByUserId: 'bob',
        revokeReason: 'leaked — ünïcode',
        lastUsedTime: T0 + 3,
        lastUsedIp: '10.1.2.3',
        rotatedFromKeyId: 'k0',
        replacedByKeyId: 'k2',
      });
      await repository.transaction((tx) => tx.insertKey(key));
      expect(await repository.findByHash(hashOf('k1'))).toEqual(key);
      expect(await repository.findById('org-a', 'k1')).toEqual(key);
    });

    it('finds nothing for an unknown hash, an unknown id or another organization', async () => {
      const { repository } = subject();
      await repository.transaction((tx) => tx.insertKey(keyRecord('k1')));
      expect(await repository.findByHash(hashOf('unknown'))).toBeNull();
      expect(await repository.findById('org-a', 'unknown')).toBeNull();
      expect(await repository.findById('org-b', 'k1')).toBeNull();
    });

    it('lists every secret hash once, in ascending byte order, page by page', async () => {
      const { repository } = subject();
      const ids = Array.from({ length: 7 }, (_, i) => `k${i}`);
      await repository.transaction(async (tx) => {
        for (const id of ids) await tx.insertKey(keyRecord(id, { revokeTime: id === 'k3' ? T0 : null }));
      });
      const expected = ids.map((id) => hashOf(id)).sort((x, y) => Buffer.compare(x, y));
      const seen: Buffer[] = [];
      let after: Buffer | null = null;
      for (;;) {
        const page: Buffer[] = await repository.listSecretHashes(after, 3);
        seen.push(...page);
        if (page.length < 3) break;
        after = page[page.length - 1]!;
      }
      expect(seen.map((hash) => hash.toString('hex'))).toEqual(expected.map((hash) => hash.toString('hex')));
      expect(await repository.listSecretHashes(expected[6]!, 3)).toEqual([]);
    });

    it('locks only the active keys a user created in the organization, oldest first', async () => {
      const { repository } = subject();
      const keys = [
        keyRecord('newer', { createTime: T0 + 2 }),
        keyRecord('older', { createTime: T0 + 1 }),
        keyRecord('revoked', { revokeTime: T0 }),
        keyRecord('expired', { expireTime: T0 + 10 }),
        keyRecord('bobs', { createdByUserId: 'bob' }),
        keyRecord('other-org', { organizationId: 'org-b' }),
      ];
      await repository.transaction(async (tx) => {
        for (const key of keys) await tx.insertKey(key);
      });
      const locked = await repository.transaction((tx) => tx.lockActiveKeysOf('org-a', 'alice', T0 + 10, 10));
      expect(locked.map((key) => key.id)).toEqual(['older', 'newer']);
      const first = await repository.transaction((tx) => tx.lockActiveKeysOf('org-a', 'alice', T0 + 10, 1));
      expect(first.map((key) => key.id)).toEqual(['older']);
    });

    it('refuses a second key with the same secret hash as INTERNAL and keeps neither write of that transaction', async () => {
      const { repository } = subject();
      await repository.transaction((tx) => tx.insertKey(keyRecord('k1')));
      const failure = repository.transaction(async (tx) => {
        await tx.insertKey(keyRecord('k2'));
        await tx.insertKey(keyRecord('k3', { secretHash: hashOf('k1') }));
      });
      await expect(failure).rejects.toMatchObject({ name: 'AppError', code: 'INTERNAL' });
      expect(await repository.findById('org-a', 'k2')).toBeNull();
      expect(await repository.findById('org-a', 'k3')).toBeNull();
      expect((await repository.readChanges(0, 10)).map((change) => change.keyId)).toEqual(['k1']);
    });

    it('answers a ping', async () => {
      await expect(subject().repository.ping()).resolves.toBeUndefined();
    });
  });

  describe('transactions', () => {
    it("returns the work's result and commits its key, audit event and change rows together", async () => {
      const { repository } = subject();
      const result = await repository.transaction(async (tx) => {
        await tx.insertKey(keyRecord('k1'));
        await tx.insertAuditEvent(auditEvent('e1', 'k1'));
        return 'done';
      });
      expect(result).toBe('done');
      expect(await repository.findById('org-a', 'k1')).not.toBeNull();
      expect(await repository.listAuditEvents({ organizationId: 'org-a', limit: 10 })).toHaveLength(1);
      expect(await repository.readChanges(0, 10)).toHaveLength(1);
    });

    it('leaves nothing behind when the work throws, and rethrows an AppError as it is', async () => {
      const { repository } = subject();
      await repository.transaction((tx) => tx.insertKey(keyRecord('k1')));
      const refusal = new AppError('FAILED_PRECONDITION', 'changed my mind');
      const failure = repository.transaction(async (tx) => {
        await tx.insertKey(keyRecord('k2'));
        await tx.updateKey(keyRecord('k1'), { ...keyPatch(T0 + 1), name: setTo('renamed') });
        await tx.insertAuditEvent(auditEvent('e1', 'k2'));
        throw refusal;
      });
      await expect(failure).rejects.toBe(refusal);
      expect(await repository.findById('org-a', 'k2')).toBeNull();
      expect((await repository.findById('org-a', 'k1'))?.name).toBe('key k1');
      expect(await repository.listAuditEvents({ organizationId: 'org-a', limit: 10 })).toEqual([]);
      expect((await repository.readChanges(0, 10)).map((change) => change.keyId)).toEqual(['k1']);
    });

    it('turns any other error thrown by the work into INTERNAL, keeping it as the cause', async () => {
      const { repository } = subject();
      const bug = new Error('a bug in the work');
      const failure = repository.transaction(async (tx) => {
        await tx.insertKey(keyRecord('k1'));
        throw bug;
      });
      await expect(failure).rejects.toMatchObject({ name: 'AppError', code: 'INTERNAL', cause: bug });
      expect(await repository.findById('org-a', 'k1')).toBeNull();
    });

    it('makes a second transaction that locks the same key wait until the first commits, then see its write', async () => {
      const { repository } = subject();
      const first = await holdLockOnK1(repository, 'first');
      const events: string[] = [];
      const second = repository.transaction(async (tx) => {
        const key = await tx.lockKey('org-a', 'k1');
        events.push(`second read ${key?.name}`);
        await tx.updateKey(key!, { ...keyPatch(T0 + 2), name: setTo(`${key?.name} then second`) });
      });
      await pause(150);
      events.push('first released');
      await first.commit();
      await second;
      expect(events).toEqual(['first released', 'second read first']);
      expect((await repository.findById('org-a', 'k1'))?.name).toBe('first then second');
    });

    it('makes a last-used write to a locked key wait, and loses neither write', async () => {
      const { repository } = subject();
      const first = await holdLockOnK1(repository, 'renamed');
      const lastUsed = repository.recordLastUsed([{ keyId: 'k1', time: T0 + 7, ip: '10.0.0.1' }]);
      await pause(100);
      await first.commit();
      await lastUsed;
      const key = await repository.findById('org-a', 'k1');
      expect(key).toMatchObject({ name: 'renamed', lastUsedTime: T0 + 7, lastUsedIp: '10.0.0.1' });
    });

    it('reads a locked key of another organization as absent', async () => {
      const { repository } = subject();
      await repository.transaction((tx) => tx.insertKey(keyRecord('k1')));
      expect(await repository.transaction((tx) => tx.lockKey('org-b', 'k1'))).toBeNull();
      expect(await repository.transaction((tx) => tx.lockKey('org-a', 'k1'))).toEqual(keyRecord('k1'));
    });
  });
}
