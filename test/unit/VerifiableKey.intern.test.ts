import { describe, expect, it } from 'vitest';

import { InternTable } from '../../src/domain/InternTable.js';
import type { ApiKeyRecord } from '../../src/domain/types.js';
import { toVerifiableKey } from '../../src/domain/VerifiableKey.js';

function record(overrides: Partial<ApiKeyRecord>): ApiKeyRecord {
  return {
    id: 'key_1',
    organizationId: 'org-1',
    name: 'key',
    prefix: 'tt_admin_AAAAAAAA',
    secretHash: Buffer.alloc(32),
    scopes: ['comments:read', 'tickets:read'],
    allowedIps: ['198.51.100.0/24', '2001:db8::/32'],
    createdByUserId: 'user-1',
    createdByRole: 'admin',
    createTime: 0,
    expireTime: 1000,
    updateTime: 0,
    revokeTime: null,
    revokedByUserId: null,
    revokeReason: null,
    lastUsedTime: null,
    lastUsedIp: null,
    rotatedFromKeyId: null,
    replacedByKeyId: null,
    version: 1,
    ...overrides,
  };
}

describe('toVerifiableKey', () => {
  it('shares one scope set and one allowlist among keys that hold equal ones', () => {
    const a = toVerifiableKey(record({ id: 'key_a' }));
    const b = toVerifiableKey(record({ id: 'key_b', scopes: [...record({}).scopes] }));
    expect(b.scopeSet).toBe(a.scopeSet);
    expect(b.scopes).toBe(a.scopes);
    expect(b.allowlist).toBe(a.allowlist);
  });

  it('keeps keys with other scopes or allowlists apart, and decides for each by its own', () => {
    const wide = toVerifiableKey(record({ scopes: ['tickets:read'], allowedIps: [] }));
    const narrow = toVerifiableKey(record({ scopes: ['tickets:write'], allowedIps: ['203.0.113.7'] }));
    expect(wide.scopeSet.has('tickets:read')).toBe(true);
    expect(narrow.scopeSet.has('tickets:read')).toBe(false);
    expect(wide.allowlist.check('198.51.100.7').allowed).toBe(true);
    expect(narrow.allowlist.check('198.51.100.7').allowed).toBe(false);
    expect(narrow.allowlist.check('203.0.113.7').allowed).toBe(true);
    expect(toVerifiableKey(record({ scopes: [] })).scopes).toEqual([]);
  });
});

describe('InternTable', () => {
  it('starts afresh past its bound, so it never holds more than that many values', () => {
    const table = new InternTable<string>(2);
    for (const text of ['a', 'b', 'c', 'd']) table.get(text, () => text);
    expect(table.size).toBeLessThanOrEqual(2);
    expect(table.get('d', () => 'other')).toBe('d');
  });
});
