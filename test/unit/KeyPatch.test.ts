import { describe, expect, it } from 'vitest';

import { mapFieldUpdate, setTo, UNCHANGED, valueAfter } from '../../src/domain/FieldUpdate.js';
import { applyKeyPatch, keyPatch } from '../../src/domain/KeyPatch.js';
import { keyRecord, T0 } from '../storage/storageFixtures.js';

describe('FieldUpdate', () => {
  it('keeps the current value when unchanged, and takes the new one (null included) when set', () => {
    expect(valueAfter<string | null>(UNCHANGED, 'kept')).toBe('kept');
    expect(valueAfter<string | null>(setTo(null), 'kept')).toBeNull();
    expect(valueAfter(setTo<readonly string[]>([]), ['10.0.0.1'])).toEqual([]);
  });

  it('transforms only a set value', () => {
    let calls = 0;
    const double = (n: number): number => {
      calls++;
      return n * 2;
    };
    expect(mapFieldUpdate(UNCHANGED, double)).toEqual(UNCHANGED);
    expect(mapFieldUpdate(setTo(2), double)).toEqual(setTo(4));
    expect(calls).toBe(1);
  });
});

describe('KeyPatch', () => {
  const key = keyRecord('k1', { allowedIps: ['10.0.0.1'], replacedByKeyId: 'k0', revokeReason: 'why' });

  it('changes nothing but the update time when every field is left unchanged', () => {
    expect(applyKeyPatch(key, keyPatch(T0 + 9))).toEqual({ ...key, updateTime: T0 + 9, version: key.version + 1 });
  });

  it('sets exactly the fields it sets, clearing lists and nullable columns only when told to', () => {
    const patched = applyKeyPatch(key, {
      ...keyPatch(T0 + 9),
      allowedIps: setTo([]),
      replacedByKeyId: setTo(null),
      name: setTo('renamed'),
    });
    expect(patched).toEqual({
      ...key,
      allowedIps: [],
      replacedByKeyId: null,
      name: 'renamed',
      updateTime: T0 + 9,
      version: key.version + 1,
    });
    expect(patched.revokeReason).toBe('why');
  });
});
