import { describe, expect, it } from 'vitest';

import { createKey } from '../../../src/domain/admin/createKey.js';
import { getKey } from '../../../src/domain/admin/getKey.js';
import { listAuditEvents } from '../../../src/domain/admin/listAuditEvents.js';
import { listKeys } from '../../../src/domain/admin/listKeys.js';
import { revokeKey } from '../../../src/domain/admin/revokeKey.js';
import { actor, ADMIN, adminFixture, expectRefusal, NOW, type AdminFixture } from './adminFixture.js';

async function keys(fixture: AdminFixture, count: number, creator = ADMIN) {
  const made = [];
  for (let i = 0; i < count; i++) {
    made.push(
      (await createKey(fixture.deps, creator, { name: `k${i}`, scopes: ['tickets:read'], allowedIps: [] })).key,
    );
    fixture.advance(1);
  }
  return made;
}

describe('getKey', () => {
  it('returns a key of the organization, and NOT_FOUND for a key of another one', async () => {
    const fixture = adminFixture();
    const [key] = await keys(fixture, 1);
    await expect(getKey(fixture.deps, ADMIN, key!.id)).resolves.toEqual(key);
    await expectRefusal(
      getKey(fixture.deps, actor('admin', 'eve', 'org-b'), key!.id),
      'NOT_FOUND',
      `API key "${key!.id}" not found in your organization`,
    );
  });
});

describe('listKeys', () => {
  it('pages newest first with a token that continues where the last page ended', async () => {
    const fixture = adminFixture();
    await keys(fixture, 5);
    const request = { onlyMine: false, states: [], pageSize: 2 };
    const first = await listKeys(fixture.deps, ADMIN, { ...request, pageToken: '' });
    const second = await listKeys(fixture.deps, ADMIN, { ...request, pageToken: first.nextPageToken });
    const third = await listKeys(fixture.deps, ADMIN, { ...request, pageToken: second.nextPageToken });
    expect([first, second, third].map((page) => page.items.map((key) => key.name))).toEqual([
      ['k4', 'k3'],
      ['k2', 'k1'],
      ['k0'],
    ]);
    expect(third.nextPageToken).toBe('');
  });

  it("refuses a token reused with other filters, and lists only the actor's keys when asked", async () => {
    const fixture = adminFixture();
    await keys(fixture, 3);
    await keys(fixture, 1, actor('admin', 'bob'));
    const page = await listKeys(fixture.deps, ADMIN, { onlyMine: false, states: [], pageSize: 1, pageToken: '' });
    await expectRefusal(
      listKeys(fixture.deps, ADMIN, { onlyMine: true, states: [], pageSize: 1, pageToken: page.nextPageToken }),
      'INVALID_ARGUMENT',
      /^page_token is invalid/,
    );
    const bobs = await listKeys(fixture.deps, actor('admin', 'bob'), {
      onlyMine: true,
      states: [],
      pageSize: 0,
      pageToken: '',
    });
    expect(bobs.items.map((key) => key.createdByUserId)).toEqual(['bob']);
  });

  it('refuses a negative page size', async () => {
    await expectRefusal(
      listKeys(adminFixture().deps, ADMIN, { onlyMine: false, states: [], pageSize: -1, pageToken: '' }),
      'INVALID_ARGUMENT',
      'page_size must not be negative (0 means 50, above 100 means 100), got -1',
    );
  });
});

describe('listAuditEvents', () => {
  it("lists one key's events newest first, within a time range", async () => {
    const fixture = adminFixture();
    const [key] = await keys(fixture, 2);
    await revokeKey(fixture.deps, ADMIN, key!.id, 'done');
    const page = await listAuditEvents(fixture.deps, ADMIN, { keyId: key!.id, pageSize: 0, pageToken: '' });
    expect(page.items.map((event) => event.action)).toEqual(['key_revoked', 'key_created']);
    const early = await listAuditEvents(fixture.deps, ADMIN, {
      keyId: '',
      startTime: NOW,
      endTime: NOW + 1,
      pageSize: 0,
      pageToken: '',
    });
    expect(early.items.map((event) => event.keyId)).toEqual([key!.id]);
  });

  it('refuses an unknown key as NOT_FOUND and an empty time range as INVALID_ARGUMENT', async () => {
    const fixture = adminFixture();
    await expectRefusal(
      listAuditEvents(fixture.deps, ADMIN, { keyId: 'key_missing', pageSize: 0, pageToken: '' }),
      'NOT_FOUND',
      'API key "key_missing" not found in your organization',
    );
    await expectRefusal(
      listAuditEvents(fixture.deps, ADMIN, { keyId: '', startTime: NOW, endTime: NOW, pageSize: 0, pageToken: '' }),
      'INVALID_ARGUMENT',
      'end_time must be after start_time',
    );
  });
});
