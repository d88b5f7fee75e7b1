import { describe, expect, it } from 'vitest';

import { createKey } from '../../../src/domain/admin/createKey.js';
import { rotateKey } from '../../../src/domain/admin/rotateKey.js';
import { revokeKey } from '../../../src/domain/admin/revokeKey.js';
import { updateKey, type KeyEdits } from '../../../src/domain/admin/updateKey.js';
import { setTo, UNCHANGED } from '../../../src/domain/FieldUpdate.js';
import type { Actor } from '../../../src/domain/types.js';
import { ADMIN, adminFixture, expectRefusal, HOUR, NOW, READ_ONLY_ADMIN, type AdminFixture } from './adminFixture.js';

const NO_EDITS: KeyEdits = {
  name: UNCHANGED,
  scopes: UNCHANGED,
  allowedIps: UNCHANGED,
  expiresInHours: UNCHANGED,
  enabled: UNCHANGED,
  metadata: UNCHANGED,
};

async function keyWithAllowlist(fixture: AdminFixture, creator: Actor = ADMIN) {
  const { key } = await createKey(fixture.deps, creator, {
    name: 'ci',
    scopes: ['tickets:read'],
    allowedIps: ['10.0.0.1'],
  });
  return key;
}

async function update(fixture: AdminFixture, keyId: string, edits: Partial<KeyEdits>) {
  return (await updateKey(fixture.deps, ADMIN, { keyId, edits: () => ({ ...NO_EDITS, ...edits }) })).key;
}

describe('updateKey', () => {
  describe('changes exactly the fields the edits set', () => {
    it('keeps an allowlist the edits leave unchanged', async () => {
      const fixture = adminFixture();
      const key = await keyWithAllowlist(fixture);
      const updated = await update(fixture, key.id, { name: setTo('renamed') });
      expect(updated.allowedIps).toEqual(['10.0.0.1']);
      expect(await fixture.stored(key.id)).toMatchObject({ name: 'renamed', allowedIps: ['10.0.0.1'] });
    });

    it('clears an allowlist the edits set to an empty list (any IP may use the key)', async () => {
      const fixture = adminFixture();
      const key = await keyWithAllowlist(fixture);
      const updated = await update(fixture, key.id, { allowedIps: setTo([]) });
      expect(updated.allowedIps).toEqual([]);
      expect(await fixture.stored(key.id)).toMatchObject({ name: 'ci', allowedIps: [] });
    });

    it('normalizes what it sets: a trimmed name, sorted scopes, canonical IPs', async () => {
      const fixture = adminFixture();
      const key = await keyWithAllowlist(fixture);
      const updated = await update(fixture, key.id, {
        name: setTo('  spaced  '),
        scopes: setTo(['tickets:write', 'comments:read']),
        allowedIps: setTo(['2001:DB8::1']),
      });
      expect(updated).toMatchObject({
        name: 'spaced',
        scopes: ['comments:read', 'tickets:write'],
        allowedIps: ['2001:db8::1'],
      });
    });

    it('counts a new lifetime from now and stamps the update time', async () => {
      const fixture = adminFixture();
      const key = await keyWithAllowlist(fixture);
      fixture.advance(2);
      const updated = await update(fixture, key.id, { expiresInHours: setTo(48) });
      expect(updated).toMatchObject({ expireTime: NOW + 50 * HOUR, updateTime: NOW + 2 * HOUR });
      expect(await fixture.stored(key.id)).toEqual(updated);
      expect(fixture.announced).toEqual([[key.id]]);
    });
  });

  describe('audits the difference', () => {
    it('records old and new values of each changed field, and nothing for fields set to what they were', async () => {
      const fixture = adminFixture();
      const key = await keyWithAllowlist(fixture);
      fixture.advance(1);
      await update(fixture, key.id, { name: setTo('renamed'), scopes: setTo(['tickets:read']), allowedIps: setTo([]) });
      const event = (await fixture.auditTrail()).at(-1);
      expect(event).toMatchObject({ action: 'key_updated', keyId: key.id, actorUserId: 'alice', caller: 'backend-a' });
      expect(event?.changes).toEqual([
        { field: 'name', oldValue: 'ci', newValue: 'renamed' },
        { field: 'allowed_ips', oldValue: '["10.0.0.1"]', newValue: '[]' },
      ]);
    });

    it('writes and audits nothing when every set field already has its value, and returns the key as it was', async () => {
      const fixture = adminFixture();
      const key = await keyWithAllowlist(fixture);
      fixture.advance(1);
      const updated = await update(fixture, key.id, { name: setTo('ci'), allowedIps: setTo(['10.0.0.1']) });
      expect(updated).toEqual(key);
      expect(await fixture.stored(key.id)).toEqual(key);
      expect((await fixture.auditTrail()).map((event) => event.action)).toEqual(['key_created']);
    });
  });

  describe('refuses', () => {
    it('edits of a revoked key with FAILED_PRECONDITION', async () => {
      const fixture = adminFixture();
      const key = await keyWithAllowlist(fixture);
      await revokeKey(fixture.deps, ADMIN, key.id, '');
      await expectRefusal(
        update(fixture, key.id, { name: setTo('x') }),
        'FAILED_PRECONDITION',
        `key ${key.id} is revoked and cannot be updated`,
      );
    });

    it('edits of an expired key with FAILED_PRECONDITION naming the expiry', async () => {
      const fixture = adminFixture();
      const key = await keyWithAllowlist(fixture);
      fixture.advance(720);
      await expectRefusal(
        update(fixture, key.id, { name: setTo('x') }),
        'FAILED_PRECONDITION',
        `key ${key.id} expired at ${new Date(key.expireTime).toISOString()}; expired keys cannot be renewed or updated, create a new key`,
      );
    });

    it('a new lifetime for a key rotated away, which lives only for its grace period', async () => {
      const fixture = adminFixture();
      const key = await keyWithAllowlist(fixture);
      const rotated = await rotateKey(fixture.deps, ADMIN, { keyId: key.id, gracePeriodHours: 24 });
      await expectRefusal(
        update(fixture, key.id, { expiresInHours: setTo(48) }),
        'FAILED_PRECONDITION',
        `key ${key.id} was rotated into ${rotated.key.id} and lives only until its grace period ends; update the new key instead`,
      );
      await expect(update(fixture, key.id, { name: setTo('still nameable') })).resolves.toMatchObject({
        name: 'still nameable',
      });
    });

    it("a new lifetime or wider scopes for a Read-Only Admin's key", async () => {
      const fixture = adminFixture();
      const key = await keyWithAllowlist(fixture, READ_ONLY_ADMIN);
      await expectRefusal(
        update(fixture, key.id, { expiresInHours: setTo(24) }),
        'FAILED_PRECONDITION',
        `key ${key.id} was created by a Read-Only Admin and has a fixed 72-hour lifetime that cannot be changed`,
      );
      await expectRefusal(
        update(fixture, key.id, { scopes: setTo(['tickets:read', 'tickets:write', 'users:delete']) }),
        'FAILED_PRECONDITION',
        `key ${key.id} was created by a Read-Only Admin and may only hold *:read scopes; not allowed: tickets:write, users:delete`,
      );
      await expect(update(fixture, key.id, { scopes: setTo(['users:read']) })).resolves.toMatchObject({
        scopes: ['users:read'],
      });
    });

    it('invalid values with INVALID_ARGUMENT before anything is locked or written', async () => {
      const fixture = adminFixture();
      const key = await keyWithAllowlist(fixture);
      await expectRefusal(update(fixture, key.id, { name: setTo('  ') }), 'INVALID_ARGUMENT', /^name is required/);
      await expectRefusal(
        update(fixture, key.id, { expiresInHours: setTo(8761) }),
        'INVALID_ARGUMENT',
        'expires_in_hours must be between 1 and 8760 (one year), got 8761',
      );
      expect(await fixture.stored(key.id)).toEqual(key);
      expect(fixture.announced).toEqual([]);
    });

    it('a key of another organization as NOT_FOUND', async () => {
      const fixture = adminFixture();
      const key = await keyWithAllowlist(fixture);
      const stranger = { ...ADMIN, organizationId: 'org-b' };
      await expectRefusal(
        updateKey(fixture.deps, stranger, { keyId: key.id, edits: () => ({ ...NO_EDITS, name: setTo('x') }) }),
        'NOT_FOUND',
        `API key "${key.id}" not found in your organization`,
      );
    });
  });

  it('reads the edits only after the role and the key id are checked, so those refusals come first', async () => {
    const fixture = adminFixture();
    let read = 0;
    const edits = (): KeyEdits => {
      read++;
      throw new Error('the edits were read');
    };
    await expectRefusal(updateKey(fixture.deps, READ_ONLY_ADMIN, { keyId: 'k', edits }), 'PERMISSION_DENIED', /Admin/);
    await expectRefusal(updateKey(fixture.deps, ADMIN, { keyId: 'a b', edits }), 'INVALID_ARGUMENT', /^key_id must/);
    expect(read).toBe(0);
  });
});
