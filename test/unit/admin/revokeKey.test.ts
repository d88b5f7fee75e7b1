import { describe, expect, it } from 'vitest';

import { createKey } from '../../../src/domain/admin/createKey.js';
import { revokeKey } from '../../../src/domain/admin/revokeKey.js';
import { REVOKE_BATCH_SIZE, revokeUserKeys } from '../../../src/domain/admin/revokeUserKeys.js';
import { AppError } from '../../../src/domain/AppError.js';
import type { KeyRepository } from '../../../src/domain/KeyRepository.js';
import type { Actor } from '../../../src/domain/types.js';
import { actor, ADMIN, adminFixture, expectRefusal, HOUR, NOW, type AdminFixture } from './adminFixture.js';

async function keyOf(fixture: AdminFixture, creator: Actor, hours = 720) {
  const created = await createKey(fixture.deps, creator, {
    name: 'k',
    scopes: ['tickets:read'],
    allowedIps: [],
    expiresInHours: hours,
  });
  return created.key;
}

describe('revokeKey', () => {
  it('revokes at once, with who, when and why, and audits the reason', async () => {
    const fixture = adminFixture();
    const key = await keyOf(fixture, ADMIN);
    fixture.advance(1);
    const revoked = (await revokeKey(fixture.deps, ADMIN, key.id, '  leaked in a log  ')).key;
    expect(revoked).toEqual({
      ...key,
      revokeTime: NOW + HOUR,
      revokedByUserId: 'alice',
      revokeReason: 'leaked in a log',
      updateTime: NOW + HOUR,
      version: key.version + 1,
    });
    expect((await fixture.auditTrail()).at(-1)).toMatchObject({
      action: 'key_revoked',
      keyId: key.id,
      reason: 'leaked in a log',
      changes: [],
    });
    expect(fixture.announced).toEqual([[key.id]]);
  });

  it('stores no reason when none is given', async () => {
    const fixture = adminFixture();
    const key = await keyOf(fixture, ADMIN);
    expect((await revokeKey(fixture.deps, ADMIN, key.id, '   ')).key.revokeReason).toBeNull();
  });

  describe('is idempotent', () => {
    it('returns a revoked key unchanged, and writes and audits nothing more', async () => {
      const fixture = adminFixture();
      const key = await keyOf(fixture, ADMIN);
      const first = (await revokeKey(fixture.deps, ADMIN, key.id, 'first')).key;
      const trail = await fixture.auditTrail();
      fixture.advance(1);
      const second = (await revokeKey(fixture.deps, actor('admin', 'bob'), key.id, 'second')).key;
      expect(second).toEqual(first);
      expect(await fixture.stored(key.id)).toEqual(first);
      expect(await fixture.auditTrail()).toEqual(trail);
    });
  });

  it('refuses a key of another organization as NOT_FOUND', async () => {
    const fixture = adminFixture();
    const key = await keyOf(fixture, ADMIN);
    await expectRefusal(
      revokeKey(fixture.deps, actor('admin', 'eve', 'org-b'), key.id, ''),
      'NOT_FOUND',
      `API key "${key.id}" not found in your organization`,
    );
    expect((await fixture.stored(key.id))?.revokeTime).toBeNull();
  });
});

describe('revokeUserKeys', () => {
  it("revokes every working key the user created, and leaves others' and dead keys alone", async () => {
    const fixture = adminFixture();
    const bob = actor('admin', 'bob');
    const working = [await keyOf(fixture, bob), await keyOf(fixture, bob)];
    const expiring = await keyOf(fixture, bob, 1);
    const alreadyRevoked = await keyOf(fixture, bob);
    await revokeKey(fixture.deps, ADMIN, alreadyRevoked.id, 'earlier');
    const alices = await keyOf(fixture, ADMIN);
    fixture.advance(2);
    const revoked = (await revokeUserKeys(fixture.deps, ADMIN, 'bob', '')).keys;
    expect(revoked.map((key) => key.id).sort()).toEqual(working.map((key) => key.id).sort());
    expect(revoked.every((key) => key.revokeReason === 'keys of user bob revoked')).toBe(true);
    expect((await fixture.stored(expiring.id))?.revokeTime).toBeNull();
    expect((await fixture.stored(alreadyRevoked.id))?.revokeReason).toBe('earlier');
    expect((await fixture.stored(alices.id))?.revokeTime).toBeNull();
    expect(fixture.announced.at(-1)?.sort()).toEqual(working.map((key) => key.id).sort());
  });

  it('says how many keys it revoked when a later batch fails, instead of "nothing was changed"', async () => {
    const fixture = adminFixture();
    const bob = actor('admin', 'bob');
    for (let i = 0; i <= REVOKE_BATCH_SIZE; i++) await keyOf(fixture, bob);
    const { repository } = fixture;
    let transactions = 0;
    const failingSecondBatch: KeyRepository = Object.create(repository, {
      transaction: {
        value: (...args: Parameters<KeyRepository['transaction']>) => {
          if (++transactions === 2) {
            return Promise.reject(
              new AppError('UNAVAILABLE', 'the key database is unavailable; nothing was changed, retry shortly'),
            );
          }
          return repository.transaction(...args);
        },
      },
    }) as KeyRepository;
    await expectRefusal(
      revokeUserKeys({ ...fixture.deps, repository: failingSecondBatch }, ADMIN, 'bob', ''),
      'UNAVAILABLE',
      `${REVOKE_BATCH_SIZE} keys of user bob were revoked before this failure, the others were not: call RevokeUserKeys again to revoke them (this batch: the key database is unavailable; nothing was changed, retry shortly)`,
    );
    expect(fixture.announced).toHaveLength(1);
    expect(fixture.announced[0]).toHaveLength(REVOKE_BATCH_SIZE);
  });

  it('revokes nothing, and still answers, for a user without working keys', async () => {
    const fixture = adminFixture();
    await expect(revokeUserKeys(fixture.deps, ADMIN, 'nobody', 'offboarded')).resolves.toEqual({
      keys: [],
      propagation: null,
    });
    expect(fixture.announced).toEqual([[]]);
  });
});
