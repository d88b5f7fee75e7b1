import { describe, expect, it } from 'vitest';

import { createKey } from '../../../src/domain/admin/createKey.js';
import { hashSecret } from '../../../src/domain/keyFormat.js';
import { ADMIN, adminFixture, expectRefusal, HOUR, NOW, READ_ONLY_ADMIN } from './adminFixture.js';

describe('createKey', () => {
  describe('by an Admin', () => {
    it('stores the hash of a secret it returns once, with normalized fields and the default lifetime', async () => {
      const fixture = adminFixture();
      const created = await createKey(fixture.deps, ADMIN, {
        name: ' ci ',
        scopes: ['tickets:write', 'tickets:read', 'tickets:read'],
        allowedIps: ['192.0.2.1'],
      });
      expect(created.secret).toMatch(/^tt_admin_/);
      expect(created.key).toMatchObject({
        organizationId: 'org-a',
        name: 'ci',
        scopes: ['tickets:read', 'tickets:write'],
        allowedIps: ['192.0.2.1'],
        secretHash: hashSecret(created.secret),
        createdByUserId: 'alice',
        createdByRole: 'admin',
        createTime: NOW,
        expireTime: NOW + 720 * HOUR,
        revokeTime: null,
      });
      expect(await fixture.stored(created.key.id)).toEqual(created.key);
    });

    it('audits the new key as changes from nothing, leaving out empty fields', async () => {
      const fixture = adminFixture();
      const { key } = await createKey(fixture.deps, ADMIN, { name: 'ci', scopes: ['users:read'], allowedIps: [] });
      const [event] = await fixture.auditTrail();
      expect(event).toMatchObject({ action: 'key_created', keyId: key.id, actorRole: 'admin', relatedKeyId: null });
      expect(event?.changes).toEqual([
        { field: 'name', oldValue: '', newValue: 'ci' },
        { field: 'scopes', oldValue: '', newValue: '["users:read"]' },
        { field: 'allowed_ips', oldValue: '', newValue: '[]' },
        { field: 'expire_time', oldValue: '', newValue: new Date(NOW + 720 * HOUR).toISOString() },
      ]);
    });

    it('announces nothing: no cache holds a key that did not exist', async () => {
      const fixture = adminFixture();
      await createKey(fixture.deps, ADMIN, { name: 'ci', scopes: ['users:read'], allowedIps: [] });
      expect(fixture.announced).toEqual([]);
    });
  });

  describe('by a Read-Only Admin', () => {
    it('makes a 72-hour key with a readonly label', async () => {
      const fixture = adminFixture();
      const created = await createKey(fixture.deps, READ_ONLY_ADMIN, {
        name: 'report',
        scopes: ['tickets:read'],
        allowedIps: [],
        expiresInHours: 72,
      });
      expect(created.secret).toMatch(/^tt_readonly_/);
      expect(created.key.expireTime).toBe(NOW + 72 * HOUR);
    });

    it('refuses any other lifetime with INVALID_ARGUMENT', async () => {
      await expectRefusal(
        createKey(adminFixture().deps, READ_ONLY_ADMIN, {
          name: 'report',
          scopes: ['tickets:read'],
          allowedIps: [],
          expiresInHours: 24,
        }),
        'INVALID_ARGUMENT',
        'keys created by a Read-Only Admin have a fixed lifetime of 72 hours; omit expires_in_hours (got 24)',
      );
    });

    it('refuses scopes other than *:read with PERMISSION_DENIED, naming them', async () => {
      const fixture = adminFixture();
      await expectRefusal(
        createKey(fixture.deps, READ_ONLY_ADMIN, {
          name: 'report',
          scopes: ['tickets:read', 'tickets:delete', 'users:write'],
          allowedIps: [],
        }),
        'PERMISSION_DENIED',
        'User cannot create keys with these scopes: tickets:delete, users:write (a Read-Only Admin may only grant *:read scopes)',
      );
      expect(await fixture.auditTrail()).toEqual([]);
    });
  });
});
