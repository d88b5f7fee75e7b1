import { describe, expect, it } from 'vitest';

import { InMemoryKeyRepository } from './InMemoryKeyRepository.js';
import { hashOf, keyRecord } from './storageFixtures.js';

// What the contract suite cannot ask of a real database: the in-memory repository's own test hooks.
describe('InMemoryKeyRepository test hooks', () => {
  it('fails every call with UNAVAILABLE while unavailable, changes nothing, and recovers', async () => {
    const repository = new InMemoryKeyRepository();
    repository.unavailable = true;
    const unavailable = { name: 'AppError', code: 'UNAVAILABLE' };
    await expect(repository.transaction((tx) => tx.insertKey(keyRecord('k1')))).rejects.toMatchObject(unavailable);
    await expect(repository.findByHash(hashOf('k1'))).rejects.toMatchObject(unavailable);
    await expect(repository.recordLastUsed([])).rejects.toMatchObject(unavailable);
    await expect(repository.ping()).rejects.toMatchObject(unavailable);
    repository.unavailable = false;
    expect(await repository.findByHash(hashOf('k1'))).toBeNull();
    expect(await repository.latestChangePosition()).toBe(0);
  });

  it('does not let a caller change stored records through the objects it passed in or got back', async () => {
    const repository = new InMemoryKeyRepository();
    const key = keyRecord('k1', { scopes: ['a:read'] });
    await repository.transaction((tx) => tx.insertKey(key));
    (key.scopes as string[]).push('b:write');
    const found = await repository.findById('org-a', 'k1');
    (found?.scopes as string[]).push('c:write');
    expect((await repository.findById('org-a', 'k1'))?.scopes).toEqual(['a:read']);
  });
});
