import { describe, expect, it } from 'vitest';

import { createKey } from '../../../src/domain/admin/createKey.js';
import { revokeKey } from '../../../src/domain/admin/revokeKey.js';
import { rotateKey } from '../../../src/domain/admin/rotateKey.js';
import { updateKey } from '../../../src/domain/admin/updateKey.js';
import { setTo, UNCHANGED } from '../../../src/domain/FieldUpdate.js';
import { hashSecret } from '../../../src/domain/keyFormat.js';
import { ADMIN, adminFixture, expectRefusal, HOUR, NOW, READ_ONLY_ADMIN, type AdminFixture } from './adminFixture.js';

async function keyToRotate(fixture: AdminFixture) {
  const { key } = await createKey(fixture.deps, ADMIN, {
    name: 'deploy',
    scopes: ['tickets:read', 'tickets:write'],
    allowedIps: ['10.0.0.0/8'],
    expiresInHours: 100,
  });
  fixture.advance(1);
  return key;
}

/** A fresh fixture whose key is rotated an hour after its creation, with `gracePeriodHours` of grace. */
async function rotatedKey(gracePeriodHours: number) {
  const fixture = adminFixture();
  const old = await keyToRotate(fixture);
  const rotated = await rotateKey(fixture.deps, ADMIN, { keyId: old.id, gracePeriodHours });
  return { fixture, old, rotated };
}

describe('rotateKey', () => {
  describe('with a grace period', () => {
    it('makes a new key like the old one, and lets the old one work until the grace period ends', async () => {
      const { fixture, old, rotated } = await rotatedKey(24);
      const now = NOW + HOUR;
      expect(rotated.key).toMatchObject({
        name: 'deploy',
        scopes: ['tickets:read', 'tickets:write'],
        allowedIps: ['10.0.0.0/8'],
        createTime: now,
        expireTime: now + 720 * HOUR,
        rotatedFromKeyId: old.id,
        replacedByKeyId: null,
      });
      expect(rotated.key.secretHash).toEqual(hashSecret(rotated.secret));
      expect(rotated.oldKey).toEqual({
        ...old,
        replacedByKeyId: rotated.key.id,
        expireTime: now + 24 * HOUR,
        updateTime: now,
        version: old.version + 1,
      });
      expect(await fixture.stored(old.id)).toEqual(rotated.oldKey);
      expect(await fixture.stored(rotated.key.id)).toEqual(rotated.key);
    });

    it('never lets the old key live longer than it would have', async () => {
      const { old, rotated } = await rotatedKey(168);
      expect(rotated.oldKey.expireTime).toBe(old.expireTime);
    });

    it('audits the new key as created from the old one, and the old one as rotated with its diff', async () => {
      const { fixture, old, rotated } = await rotatedKey(24);
      const events = (await fixture.auditTrail()).filter((event) => event.createTime === NOW + HOUR);
      expect(events.map((event) => [event.action, event.keyId, event.relatedKeyId]).sort()).toEqual(
        [
          ['key_created', rotated.key.id, old.id],
          ['key_rotated', old.id, rotated.key.id],
        ].sort(),
      );
      expect(events.find((event) => event.action === 'key_rotated')?.changes).toEqual([
        {
          field: 'expire_time',
          oldValue: new Date(old.expireTime).toISOString(),
          newValue: new Date(NOW + 25 * HOUR).toISOString(),
        },
        { field: 'replaced_by_key_id', oldValue: '', newValue: rotated.key.id },
      ]);
    });

    it('announces the old key only, after the commit', async () => {
      const { fixture, old } = await rotatedKey(24);
      expect(fixture.announced).toEqual([[old.id]]);
    });
  });

  describe('without a grace period', () => {
    it('revokes the old key at once, naming its replacement as the reason', async () => {
      const { fixture, old, rotated } = await rotatedKey(0);
      const now = NOW + HOUR;
      expect(rotated.oldKey).toEqual({
        ...old,
        replacedByKeyId: rotated.key.id,
        revokeTime: now,
        revokedByUserId: 'alice',
        revokeReason: `rotated into ${rotated.key.id}`,
        updateTime: now,
        version: old.version + 1,
      });
      const audit = (await fixture.auditTrail()).find((event) => event.action === 'key_rotated');
      expect(audit?.changes).toEqual([
        { field: 'revoke_time', oldValue: '', newValue: new Date(now).toISOString() },
        { field: 'replaced_by_key_id', oldValue: '', newValue: rotated.key.id },
      ]);
    });
  });

  describe("keeps a Read-Only Admin's key a read-only key", () => {
    async function rotatedReadOnlyKey(expiresInHours?: number) {
      const fixture = adminFixture();
      const { key: old } = await createKey(fixture.deps, READ_ONLY_ADMIN, {
        name: 'report',
        scopes: ['tickets:read'],
        allowedIps: [],
      });
      fixture.advance(1);
      const rotated = await rotateKey(fixture.deps, ADMIN, { keyId: old.id, gracePeriodHours: 1, expiresInHours });
      return { fixture, old, rotated };
    }

    it.each([undefined, 72])(
      'with its label, its creator and the fixed 72-hour lifetime (expires_in_hours %s)',
      async (hours) => {
        const { fixture, old, rotated } = await rotatedReadOnlyKey(hours);
        expect(rotated.secret).toMatch(/^tt_readonly_/);
        expect(rotated.key.prefix).toMatch(/^tt_readonly_/);
        expect(rotated.key).toMatchObject({
          scopes: ['tickets:read'],
          createdByUserId: old.createdByUserId,
          createdByRole: 'read_only_admin',
          expireTime: NOW + HOUR + 72 * HOUR,
        });
        expect(await fixture.stored(rotated.key.id)).toEqual(rotated.key);
        const created = (await fixture.auditTrail()).find(
          (event) => event.action === 'key_created' && event.keyId === rotated.key.id,
        );
        expect(created).toMatchObject({ actorUserId: 'alice', actorRole: 'admin' });
      },
    );

    it('whose replacement cannot be widened or given a new lifetime afterwards', async () => {
      const { fixture, rotated } = await rotatedReadOnlyKey();
      const edits = { name: UNCHANGED, allowedIps: UNCHANGED, enabled: UNCHANGED, metadata: UNCHANGED } as const;
      await expectRefusal(
        updateKey(fixture.deps, ADMIN, {
          keyId: rotated.key.id,
          edits: () => ({ ...edits, scopes: setTo(['tickets:delete', 'users:delete']), expiresInHours: UNCHANGED }),
        }),
        'FAILED_PRECONDITION',
        `key ${rotated.key.id} was created by a Read-Only Admin and may only hold *:read scopes; not allowed: tickets:delete, users:delete`,
      );
      await expectRefusal(
        updateKey(fixture.deps, ADMIN, {
          keyId: rotated.key.id,
          edits: () => ({ ...edits, scopes: UNCHANGED, expiresInHours: setTo(8760) }),
        }),
        'FAILED_PRECONDITION',
        `key ${rotated.key.id} was created by a Read-Only Admin and has a fixed 72-hour lifetime that cannot be changed`,
      );
    });

    it('and refuses another lifetime for the replacement, writing nothing', async () => {
      const fixture = adminFixture();
      const { key: old } = await createKey(fixture.deps, READ_ONLY_ADMIN, {
        name: 'report',
        scopes: ['tickets:read'],
        allowedIps: [],
      });
      const trail = await fixture.auditTrail();
      await expectRefusal(
        rotateKey(fixture.deps, ADMIN, { keyId: old.id, gracePeriodHours: 1, expiresInHours: 8760 }),
        'FAILED_PRECONDITION',
        `key ${old.id} was created by a Read-Only Admin; its replacement has the same fixed 72-hour lifetime; omit expires_in_hours (got 8760)`,
      );
      expect(await fixture.auditTrail()).toEqual(trail);
      expect(await fixture.stored(old.id)).toEqual(old);
    });

    it("while an Admin's key rotated by another Admin becomes the rotating Admin's", async () => {
      const fixture = adminFixture();
      const old = await keyToRotate(fixture);
      const other = { ...ADMIN, userId: 'alan' };
      const rotated = await rotateKey(fixture.deps, other, { keyId: old.id, gracePeriodHours: 1 });
      expect(rotated.key).toMatchObject({ createdByUserId: 'alan', createdByRole: 'admin' });
      expect(rotated.secret).toMatch(/^tt_admin_/);
    });
  });

  describe('refuses', () => {
    it('a key already rotated, and writes nothing', async () => {
      const { fixture, old, rotated: first } = await rotatedKey(24);
      const trail = await fixture.auditTrail();
      await expectRefusal(
        rotateKey(fixture.deps, ADMIN, { keyId: old.id, gracePeriodHours: 24 }),
        'FAILED_PRECONDITION',
        `key ${old.id} was already rotated into ${first.key.id}; rotate that key instead`,
      );
      expect(await fixture.auditTrail()).toEqual(trail);
      const keys = await fixture.repository.listKeys({ organizationId: 'org-a', states: [], now: NOW, limit: 10 });
      expect(keys).toHaveLength(2);
    });

    it('a revoked key', async () => {
      const fixture = adminFixture();
      const old = await keyToRotate(fixture);
      await revokeKey(fixture.deps, ADMIN, old.id, '');
      await expectRefusal(
        rotateKey(fixture.deps, ADMIN, { keyId: old.id, gracePeriodHours: 1 }),
        'FAILED_PRECONDITION',
        `key ${old.id} is revoked and cannot be rotated`,
      );
    });

    it.each([-1, 169, 1.5])('a grace period of %s hours with INVALID_ARGUMENT', async (hours) => {
      const fixture = adminFixture();
      const old = await keyToRotate(fixture);
      await expectRefusal(
        rotateKey(fixture.deps, ADMIN, { keyId: old.id, gracePeriodHours: hours }),
        'INVALID_ARGUMENT',
        `grace_period_hours must be between 0 and 168 (0 revokes the old key at once), got ${hours}`,
      );
    });
  });
});
