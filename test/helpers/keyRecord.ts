import type { ApiKeyRecord } from '../../src/domain/types.js';
import { keyRecord as storedKeyRecord } from '../storage/storageFixtures.js';

/**
 * A stored key as the repository returns it: active, created by an admin at `createTime`, living an hour
 * unless `patch` says otherwise. For unit tests that need a record without a database; built on the storage
 * fixture so the two agree on every field they do not deliberately set differently.
 */
export function keyRecord(secretHash: Buffer, patch: Partial<ApiKeyRecord> = {}): ApiKeyRecord {
  const createTime = patch.createTime ?? 0;
  return storedKeyRecord('key_stored', {
    organizationId: 'org',
    name: 'stored',
    prefix: 'tt_admin_xxxxxxxx',
    secretHash,
    createTime,
    expireTime: createTime + 3_600_000,
    updateTime: createTime,
    ...patch,
  });
}
