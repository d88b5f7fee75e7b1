import { hashOf, keyRecord } from '../storage/storageFixtures.js';
import type { ApiKeyRecord } from '../../src/domain/types.js';

/** The organization whose user `bob` is offboarded, and another one with a user of the same id. */
export const ORG_A = 'org-a';
export const ORG_B = 'org-b';

/** Owners of the 10 keys of the small table, in creation order. */
const SMALL_TABLE_OWNERS: readonly (readonly [organizationId: string, userId: string])[] = [
  [ORG_A, 'alice'],
  [ORG_A, 'bob'],
  [ORG_A, 'bob'],
  [ORG_A, 'bob'],
  [ORG_A, 'bob'],
  [ORG_A, 'bob'],
  [ORG_A, 'bob'],
  [ORG_A, 'carol'],
  [ORG_B, 'bob'],
  [ORG_B, 'dave'],
];

/**
 * A table of 10 active keys in which `bob` of org-a owns 6, with colleagues on both sides of him in the
 * creator index (alice, carol) and a namesake in org-b. With most of a small table matching, MariaDB's
 * optimiser prefers a table scan for "bob's keys" unless told to use the index: the case where a locking
 * read without the hint locks every row. Created an hour before `now`, living a day.
 */
export function userKeysTable(now: number): ApiKeyRecord[] {
  return SMALL_TABLE_OWNERS.map(([organizationId, userId], index) => {
    const id = `key_${organizationId}_${userId}_${index}`;
    return keyRecord(id, {
      organizationId,
      createdByUserId: userId,
      secretHash: hashOf(`${id}-${now}`),
      createTime: now - 3_600_000 + index,
      updateTime: now - 3_600_000 + index,
      expireTime: now + 86_400_000,
    });
  });
}
