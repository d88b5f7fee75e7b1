import { describe, expect, it } from 'vitest';

import { InternTable } from '../../src/domain/InternTable.js';
import type { ApiKeyRecord } from '../../src/domain/types.js';
import { NO_METADATA, toVerifiableKey } from '../../src/domain/VerifiableKey.js';

function record(overrides: Partial<ApiKeyRecord>): ApiKeyRecord {
  return {
    id: 'key_1',
    organizationId: 'org-1',
    name: 'key',
    prefix: 'tt_admin_AAAAAAAA',
    secretHash: Buffer.alloc(32),
    scopes: ['comments:read', 'tickets:read'],
    allowedIps: ['198.51.100.0/24', '2001:db8::/32'],
    metadata: {},
    createdByUserId: 'user-1',
    createdByRole: 'admin',
    createTime: 0,
    expireTime: 1000,
    updateTime: 0,
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

  it('shares one frozen metadata map among keys with equal metadata in the same order, none for keys without', () => {
    const none = toVerifiableKey(record({ id: 'key_a' }));
    expect(none.metadata).toBe(NO_METADATA);
    expect(toVerifiableKey(record({ id: 'key_b', metadata: {} })).metadata).toBe(NO_METADATA);
    const team = toVerifiableKey(record({ metadata: { team: 'payments', env: 'prod' } }));
    const same = toVerifiableKey(record({ id: 'key_c', metadata: { team: 'payments', env: 'prod' } }));
    const reordered = toVerifiableKey(record({ id: 'key_d', metadata: { env: 'prod', team: 'payments' } }));
    expect(same.metadata).toBe(team.metadata);
    expect(reordered.metadata).not.toBe(team.metadata);
    expect(Object.entries(reordered.metadata)).toEqual([
      ['env', 'prod'],
      ['team', 'payments'],
    ]);
    expect(Object.isFrozen(team.metadata)).toBe(true);
    const long = { note: 'x'.repeat(2000) };
    const big = toVerifiableKey(record({ metadata: long }));
    expect(big.metadata).toEqual(long);
    expect(big.metadata).not.toBe(long);
  });

  it('keeps the suspension and who suspended it, the name shared with equal ones', () => {
    const key = toVerifiableKey(record({ disableTime: 500, disabledByUserId: 'user-1' }));
    expect(key.disableTime).toBe(500);
    expect(key.disabledByUserId).toBe('user-1');
    expect(toVerifiableKey(record({})).disabledByUserId).toBeNull();
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
