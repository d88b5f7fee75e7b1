import type { ApiKeyRecord } from '../../src/domain/types.js';

/**
 * A stored key as the repository returns it: active, created by an admin at `createTime`, living an hour
 * unless `patch` says otherwise. For unit tests that need a record without a database.
 */
export function keyRecord(secretHash: Buffer, patch: Partial<ApiKeyRecord> = {}): ApiKeyRecord {
  const createTime = patch.createTime ?? 0;
  return {
    id: 'key_stored',
    organizationId: 'org',
    name: 'stored',
    prefix: 'tt_admin_xxxxxxxx',
    secretHash,
    scopes: ['tickets:read'],
    allowedIps: [],
    createdByUserId: 'alice',
    createdByRole: 'admin',
    createTime,
    expireTime: createTime + 3_600_000,
    updateTime: createTime,
    revokeTime: null,
    revokedByUserId: null,
    revokeReason: null,
    lastUsedTime: null,
    lastUsedIp: null,
    rotatedFromKeyId: null,
    replacedByKeyId: null,
    ...patch,
  };
}
