import { createHash } from 'node:crypto';

import type { ApiKeyRecord, AuditEventRecord } from '../../src/domain/types.js';

/** A fixed instant the storage cases count from (epoch ms). */
export const T0 = Date.UTC(2026, 11, 1, 12, 0, 0);

/** A distinct 32-byte secret hash per label. */
export function hashOf(label: string): Buffer {
  return createHash('sha256').update(label).digest();
}

/** A key record of `org-a` created by `alice` at T0, active for a day, with `overrides` applied. */
export function keyRecord(id: string, overrides: Partial<ApiKeyRecord> = {}): ApiKeyRecord {
  return {
    id,
    organizationId: 'org-a',
    name: `key ${id}`,
    prefix: `tt_live_${id}`.slice(0, 16),
    secretHash: hashOf(id),
    scopes: ['tickets:read'],
    allowedIps: [],
    metadata: {},
    createdByUserId: 'alice',
    createdByRole: 'admin',
    createTime: T0,
    expireTime: T0 + 86_400_000,
    updateTime: T0,
    revokeTime: null,
    revokedByUserId: null,
    revokeReason: null,
    disableTime: null,
    disabledByUserId: null,
    lastUsedTime: null,
    lastUsedIp: null,
    rotatedFromKeyId: null,
    replacedByKeyId: null,
    version: 1,
    ...overrides,
  };
}

/** An audit event of `org-a` about `keyId` at T0, with `overrides` applied. */
export function auditEvent(id: string, keyId: string, overrides: Partial<AuditEventRecord> = {}): AuditEventRecord {
  return {
    id,
    organizationId: 'org-a',
    keyId,
    action: 'key_created',
    actorUserId: 'alice',
    actorRole: 'admin',
    caller: 'backend-a',
    createTime: T0,
    relatedKeyId: null,
    changes: [],
    reason: null,
    ...overrides,
  };
}
