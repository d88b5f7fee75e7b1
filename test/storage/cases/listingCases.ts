import { describe, expect, it } from 'vitest';

import type { ListCursor } from '../../../src/domain/KeyRepository.js';
import type { KeyState } from '../../../src/domain/types.js';
import type { ContractSubject } from '../keyRepository.contract.js';
import { auditEvent, keyRecord, T0 } from '../storageFixtures.js';

interface Listed {
  readonly id: string;
  readonly createTime: number;
}

/** Every page of a listing, each read with the cursor of the last row of the page before. */
async function allPages(read: (after: ListCursor | undefined) => Promise<readonly Listed[]>): Promise<string[][]> {
  const pages: string[][] = [];
  let after: ListCursor | undefined;
  for (;;) {
    const page = await read(after);
    if (page.length === 0) return pages;
    pages.push(page.map((row) => row.id));
    const last = page[page.length - 1]!;
    after = { time: last.createTime, id: last.id };
  }
}

// Three rows share one millisecond: the id decides their order, and a page boundary falls among them.
const TIMES: readonly [string, number][] = [
  ['a1', T0 + 1],
  ['b2', T0 + 2],
  ['c2', T0 + 2],
  ['d2', T0 + 2],
  ['e3', T0 + 3],
];
const NEWEST_FIRST = ['e3', 'd2', 'c2', 'b2', 'a1'];

/** Newest-first keyset listings of keys and audit events: ties, page boundaries and filters. */
export function listingCases(subject: () => ContractSubject): void {
  describe('key listings', () => {
    async function insertKeys(target: ContractSubject): Promise<void> {
      await target.repository.transaction(async (tx) => {
        for (const [id, createTime] of TIMES) await tx.insertKey(keyRecord(id, { createTime }));
        await tx.insertKey(keyRecord('other-org', { organizationId: 'org-b', createTime: T0 + 2 }));
      });
    }

    it('lists newest first, ties on the same millisecond by id descending, at most the limit', async () => {
      const target = subject();
      await insertKeys(target);
      const list = (limit: number) =>
        target.repository.listKeys({ organizationId: 'org-a', states: [], now: T0, limit });
      expect((await list(10)).map((key) => key.id)).toEqual(NEWEST_FIRST);
      expect((await list(2)).map((key) => key.id)).toEqual(['e3', 'd2']);
    });

    it('pages through ties with the keyset cursor, each key exactly once', async () => {
      const target = subject();
      await insertKeys(target);
      const pages = await allPages((after) =>
        target.repository.listKeys({ organizationId: 'org-a', states: [], now: T0, limit: 2, after }),
      );
      expect(pages).toEqual([['e3', 'd2'], ['c2', 'b2'], ['a1']]);
      const fromTie = await target.repository.listKeys({
        organizationId: 'org-a',
        states: [],
        now: T0,
        limit: 10,
        after: { time: T0 + 2, id: 'c2' },
      });
      expect(fromTie.map((key) => key.id)).toEqual(['b2', 'a1']);
    });

    it('filters by creator and by state at the given instant', async () => {
      const target = subject();
      await target.repository.transaction(async (tx) => {
        await tx.insertKey(keyRecord('active', { createTime: T0 + 4, expireTime: T0 + 101 }));
        await tx.insertKey(keyRecord('expires-now', { createTime: T0 + 3, expireTime: T0 + 100 }));
        await tx.insertKey(keyRecord('revoked', { createTime: T0 + 2, revokeTime: T0 + 50 }));
        await tx.insertKey(keyRecord('revoked-expired', { createTime: T0 + 1, revokeTime: T0, expireTime: T0 + 1 }));
        await tx.insertKey(keyRecord('bobs', { createdByUserId: 'bob', expireTime: T0 + 1 }));
      });
      const list = async (states: KeyState[], createdByUserId?: string) =>
        (
          await target.repository.listKeys({
            organizationId: 'org-a',
            createdByUserId,
            states,
            now: T0 + 100,
            limit: 10,
          })
        ).map((key) => key.id);
      expect(await list(['active'])).toEqual(['active']);
      expect(await list(['expired'])).toEqual(['expires-now', 'bobs']);
      expect(await list(['revoked'])).toEqual(['revoked', 'revoked-expired']);
      expect(await list(['active', 'revoked'])).toEqual(['active', 'revoked', 'revoked-expired']);
      expect(await list(['active', 'expired', 'revoked'])).toHaveLength(5);
      expect(await list([])).toHaveLength(5);
      expect(await list([], 'bob')).toEqual(['bobs']);
      expect(await list(['expired'], 'alice')).toEqual(['expires-now']);
    });
  });

  describe('audit listings', () => {
    async function insertEvents(target: ContractSubject): Promise<void> {
      await target.repository.transaction(async (tx) => {
        for (const [id, createTime] of TIMES) await tx.insertAuditEvent(auditEvent(id, 'k1', { createTime }));
        await tx.insertAuditEvent(auditEvent('other-key', 'k2', { createTime: T0 + 2 }));
        await tx.insertAuditEvent(auditEvent('other-org', 'k1', { organizationId: 'org-b', createTime: T0 + 2 }));
      });
    }

    it('keeps every field of an event', async () => {
      const { repository } = subject();
      const event = auditEvent('e1', 'k1', {
        action: 'key_rotated',
        actorRole: 'member',
        relatedKeyId: 'k2',
        changes: [{ field: 'name', oldValue: 'old', newValue: 'nëw' }],
        reason: 'because',
      });
      await repository.transaction((tx) => tx.insertAuditEvent(event));
      expect(await repository.listAuditEvents({ organizationId: 'org-a', limit: 10 })).toEqual([event]);
    });

    it('pages newest first through ties with the keyset cursor, filtered by key', async () => {
      const target = subject();
      await insertEvents(target);
      const pages = await allPages((after) =>
        target.repository.listAuditEvents({ organizationId: 'org-a', keyId: 'k1', limit: 2, after }),
      );
      expect(pages).toEqual([['e3', 'd2'], ['c2', 'b2'], ['a1']]);
      const all = await target.repository.listAuditEvents({ organizationId: 'org-a', limit: 10 });
      expect(all.map((event) => event.id)).toEqual(['e3', 'other-key', 'd2', 'c2', 'b2', 'a1']);
    });

    it('filters by an inclusive start and an exclusive end time', async () => {
      const target = subject();
      await insertEvents(target);
      const list = async (startTime?: number, endTime?: number) =>
        (
          await target.repository.listAuditEvents({
            organizationId: 'org-a',
            keyId: 'k1',
            startTime,
            endTime,
            limit: 10,
          })
        ).map((event) => event.id);
      expect(await list(T0 + 2)).toEqual(['e3', 'd2', 'c2', 'b2']);
      expect(await list(undefined, T0 + 2)).toEqual(['a1']);
      expect(await list(T0 + 2, T0 + 3)).toEqual(['d2', 'c2', 'b2']);
      expect(await list(T0 + 3, T0 + 3)).toEqual([]);
    });
  });
}
