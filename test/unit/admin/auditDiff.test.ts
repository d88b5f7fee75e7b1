import { describe, expect, it } from 'vitest';

import { auditDiff, describeNewKey } from '../../../src/domain/admin/auditDiff.js';
import { setTo } from '../../../src/domain/FieldUpdate.js';
import { keyPatch } from '../../../src/domain/KeyPatch.js';
import { keyRecord, T0 } from '../../storage/storageFixtures.js';

const key = keyRecord('k1', { scopes: ['a:read'], allowedIps: ['10.0.0.1'] });

describe('auditDiff', () => {
  it('lists nothing for a patch that sets no audited field', () => {
    expect(auditDiff(key, { ...keyPatch(T0 + 1), revokedByUserId: setTo('bob'), revokeReason: setTo('x') })).toEqual(
      [],
    );
  });

  it('lists a field set to another value with both values as text, in a fixed field order', () => {
    const patch = {
      ...keyPatch(T0 + 1),
      replacedByKeyId: setTo('k2'),
      allowedIps: setTo([]),
      expireTime: setTo(T0),
      name: setTo('renamed'),
    };
    expect(auditDiff(key, patch)).toEqual([
      { field: 'name', oldValue: 'key k1', newValue: 'renamed' },
      { field: 'allowed_ips', oldValue: '["10.0.0.1"]', newValue: '[]' },
      { field: 'expire_time', oldValue: new Date(key.expireTime).toISOString(), newValue: new Date(T0).toISOString() },
      { field: 'replaced_by_key_id', oldValue: '', newValue: 'k2' },
    ]);
  });

  it('leaves out fields set to the value they have', () => {
    expect(auditDiff(key, { ...keyPatch(T0 + 1), name: setTo('key k1'), scopes: setTo(['a:read']) })).toEqual([]);
  });

  it('renders a field set to null as empty text', () => {
    const linked = { ...key, replacedByKeyId: 'k0' };
    expect(auditDiff(linked, { ...keyPatch(T0 + 1), replacedByKeyId: setTo(null) })).toEqual([
      { field: 'replaced_by_key_id', oldValue: 'k0', newValue: '' },
    ]);
  });
});

describe('describeNewKey', () => {
  it('lists every audited field that holds a value, from nothing', () => {
    expect(describeNewKey({ ...key, revokeTime: T0 }).map((change) => [change.field, change.oldValue])).toEqual([
      ['name', ''],
      ['scopes', ''],
      ['allowed_ips', ''],
      ['expire_time', ''],
      ['revoke_time', ''],
    ]);
  });
});
