import { describe, expect, it } from 'vitest';

import { createKey } from '../../../src/domain/admin/createKey.js';
import { getKey } from '../../../src/domain/admin/getKey.js';
import { listAuditEvents } from '../../../src/domain/admin/listAuditEvents.js';
import { listKeys } from '../../../src/domain/admin/listKeys.js';
import { listScopes } from '../../../src/domain/admin/listScopes.js';
import { requirePermission, type KeyAdminAction } from '../../../src/domain/admin/requirePermission.js';
import { revokeKey } from '../../../src/domain/admin/revokeKey.js';
import { revokeUserKeys } from '../../../src/domain/admin/revokeUserKeys.js';
import { rotateKey } from '../../../src/domain/admin/rotateKey.js';
import { updateKey } from '../../../src/domain/admin/updateKey.js';
import { setTo, UNCHANGED } from '../../../src/domain/FieldUpdate.js';
import type { Actor, Role } from '../../../src/domain/types.js';
import { actor, ADMIN, adminFixture, expectRefusal, type AdminFixture } from './adminFixture.js';

const NOT_AN_ADMIN = 'only users with the Admin or Read-Only Admin role can manage API keys';

/** Every use case, called with a valid request about a key an Admin made. */
const USE_CASES: Readonly<Record<string, (f: AdminFixture, who: Actor, keyId: string) => Promise<unknown>>> = {
  createKey: (f, who) => createKey(f.deps, who, { name: 'n', scopes: ['tickets:read'], allowedIps: [] }),
  getKey: (f, who, keyId) => getKey(f.deps, who, keyId),
  listKeys: (f, who) => listKeys(f.deps, who, { onlyMine: false, states: [], pageSize: 0, pageToken: '' }),
  listAuditEvents: (f, who, keyId) => listAuditEvents(f.deps, who, { keyId, pageSize: 0, pageToken: '' }),
  listScopes: (f, who) => Promise.resolve().then(() => listScopes(f.deps, who)),
  updateKey: (f, who, keyId) =>
    updateKey(f.deps, who, {
      keyId,
      edits: () => ({
        name: setTo('renamed'),
        scopes: UNCHANGED,
        allowedIps: UNCHANGED,
        expiresInHours: UNCHANGED,
        enabled: UNCHANGED,
        metadata: UNCHANGED,
      }),
    }),
  revokeKey: (f, who, keyId) => revokeKey(f.deps, who, keyId, ''),
  revokeUserKeys: (f, who) => revokeUserKeys(f.deps, who, 'alice', ''),
  rotateKey: (f, who, keyId) => rotateKey(f.deps, who, { keyId, gracePeriodHours: 24 }),
};

/** What each role is refused, with the message; absent = allowed. */
const REFUSED: Readonly<Record<Role, Readonly<Record<string, string>>>> = {
  admin: {},
  read_only_admin: {
    updateKey: 'only users with the Admin role can update keys',
    revokeKey: 'only users with the Admin role can revoke keys',
    revokeUserKeys: 'only users with the Admin role can revoke keys',
    rotateKey: 'only users with the Admin role can rotate keys',
  },
  member: Object.fromEntries(Object.keys(USE_CASES).map((name) => [name, NOT_AN_ADMIN])),
};

async function seededFixture(): Promise<{ fixture: AdminFixture; keyId: string }> {
  const fixture = adminFixture();
  const created = await createKey(fixture.deps, ADMIN, { name: 'seed', scopes: ['tickets:read'], allowedIps: [] });
  return { fixture, keyId: created.key.id };
}

describe('role policy', () => {
  const cases = (['admin', 'read_only_admin', 'member'] as const).flatMap((role) =>
    Object.keys(USE_CASES).map((name) => [role, name, REFUSED[role][name]] as const),
  );

  describe.each(cases.filter(([, , refusal]) => refusal === undefined))('allows', (role, name) => {
    it(`${role} to call ${name}`, async () => {
      const { fixture, keyId } = await seededFixture();
      await expect(USE_CASES[name]!(fixture, actor(role, 'alice'), keyId)).resolves.toBeDefined();
    });
  });

  describe.each(cases.filter(([, , refusal]) => refusal !== undefined))('refuses', (role, name, refusal) => {
    it(`${role} calling ${name} with PERMISSION_DENIED, before anything is read or written`, async () => {
      const { fixture, keyId } = await seededFixture();
      const before = await fixture.auditTrail();
      fixture.repository.unavailable = true; // any read or write would now fail with UNAVAILABLE instead
      await expectRefusal(USE_CASES[name]!(fixture, actor(role, 'alice'), keyId), 'PERMISSION_DENIED', refusal!);
      fixture.repository.unavailable = false;
      expect(await fixture.auditTrail()).toEqual(before);
      expect(fixture.announced).toEqual([]);
    });
  });

  it('names one rule per action, and Admins may do every action', () => {
    const actions: KeyAdminAction[] = ['create keys', 'read keys', 'update keys', 'revoke keys', 'rotate keys'];
    for (const action of actions) expect(() => requirePermission(ADMIN, action)).not.toThrow();
    const readOnly = actor('read_only_admin');
    expect(actions.filter((action) => !throws(() => requirePermission(readOnly, action)))).toEqual([
      'create keys',
      'read keys',
    ]);
  });
});

function throws(work: () => void): boolean {
  try {
    work();
    return false;
  } catch {
    return true;
  }
}
