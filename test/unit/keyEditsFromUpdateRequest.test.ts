import { describe, expect, it } from 'vitest';

import { UpdateKeyRequest } from '../../gen/apikeys/v1/api_keys.js';
import { setTo, UNCHANGED } from '../../src/domain/FieldUpdate.js';
import { keyEditsFromUpdateRequest } from '../../src/transport/keyEditsFromUpdateRequest.js';

function request(fields: Partial<UpdateKeyRequest>): UpdateKeyRequest {
  return UpdateKeyRequest.fromPartial({
    keyId: 'k1',
    name: 'renamed',
    scopes: ['tickets:read'],
    allowedIps: [],
    expiresInHours: 0,
    ...fields,
  });
}

describe('keyEditsFromUpdateRequest', () => {
  describe('sets the fields the update_mask names and leaves the others unchanged', () => {
    it('names only the name', () => {
      expect(keyEditsFromUpdateRequest(request({ updateMask: ['name'] }))).toEqual({
        name: setTo('renamed'),
        scopes: UNCHANGED,
        allowedIps: UNCHANGED,
        expiresInHours: UNCHANGED,
        enabled: UNCHANGED,
        metadata: UNCHANGED,
      });
    });

    it('reads enabled only when the mask names it; unset there means false (suspend)', () => {
      expect(keyEditsFromUpdateRequest(request({ updateMask: ['enabled'], enabled: true })).enabled).toEqual(
        setTo(true),
      );
      expect(keyEditsFromUpdateRequest(request({ updateMask: ['enabled'] })).enabled).toEqual(setTo(false));
      expect(keyEditsFromUpdateRequest(request({ updateMask: ['name'], enabled: false })).enabled).toEqual(UNCHANGED);
    });

    it('turns a named, empty allowed_ips into clearing the allowlist, and an unnamed one into no change', () => {
      expect(keyEditsFromUpdateRequest(request({ updateMask: ['allowed_ips'] })).allowedIps).toEqual(setTo([]));
      expect(keyEditsFromUpdateRequest(request({ updateMask: ['scopes'] })).allowedIps).toEqual(UNCHANGED);
    });

    it('takes every field, however often a path repeats', () => {
      const edits = keyEditsFromUpdateRequest(
        request({ updateMask: ['expires_in_hours', 'name', 'scopes', 'allowed_ips', 'name'], expiresInHours: 5 }),
      );
      expect(edits).toEqual({
        name: setTo('renamed'),
        scopes: setTo(['tickets:read']),
        allowedIps: setTo([]),
        expiresInHours: setTo(5),
        enabled: UNCHANGED,
        metadata: UNCHANGED,
      });
    });
  });

  describe('refuses with INVALID_ARGUMENT', () => {
    it.each([
      [
        undefined,
        'update_mask is required: list the fields to change (name, scopes, allowed_ips, expires_in_hours, enabled, metadata)',
      ],
      [
        [],
        'update_mask is required: list the fields to change (name, scopes, allowed_ips, expires_in_hours, enabled, metadata)',
      ],
      [
        ['name', 'secret', 'secret'],
        'update_mask has unknown path "secret"; updatable: name, scopes, allowed_ips, expires_in_hours, enabled, metadata',
      ],
      [
        ['a', 'b', 'c', 'd', 'e', 'f', 'g'],
        'update_mask has unknown paths "a", "b", "c", "d", "e" and 2 more; updatable: name, scopes, allowed_ips, expires_in_hours, enabled, metadata',
      ],
    ])('a mask of %j', (updateMask, message) => {
      expect(() => keyEditsFromUpdateRequest(request({ updateMask }))).toThrow(
        expect.objectContaining({ code: 'INVALID_ARGUMENT', message }),
      );
    });
  });
});
