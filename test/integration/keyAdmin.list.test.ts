import { createHash } from 'node:crypto';

import { status } from '@grpc/grpc-js';
import { describe, expect, it } from 'vitest';

import {
  type Actor,
  type ApiKey,
  KeyOwnerFilter,
  KeyState,
  ListKeysRequest,
  Role,
} from '../../gen/apikeys/v1/api_keys.js';
import { createTestKey } from '../helpers/createTestKey.js';
import { describeEachDatabase } from '../helpers/eachDatabase.js';
import { grpcError } from '../helpers/grpcClients.js';
import { actorOf, newOrganizationId } from '../helpers/testActors.js';
import { useTestServer } from '../helpers/useTestServer.js';

const HOUR = 3_600_000;

describeEachDatabase('GetKey and ListKeys', (kind) => {
  const server = useTestServer(kind);

  const list = (request: Partial<ListKeysRequest>) =>
    server.clients.admin.listKeys(ListKeysRequest.fromPartial(request));

  /** Every key of a listing, walking all pages with `pageSize`. */
  async function listAll(request: Partial<ListKeysRequest>, pageSize: number): Promise<{ pages: ApiKey[][] }> {
    const pages: ApiKey[][] = [];
    let pageToken = '';
    do {
      const page = await list({ ...request, pageSize, pageToken });
      pages.push(page.keys);
      pageToken = page.nextPageToken;
    } while (pageToken !== '' && pages.length < 100);
    return { pages };
  }

  describe('GetKey', () => {
    it('returns the key as CreateKey returned it', async () => {
      const actor = actorOf(newOrganizationId(), 'alice');
      const { key } = await createTestKey(server, actor, {
        name: 'Zendesk Sync - Production',
        scopes: ['tickets:read', 'comments:read'],
        allowedIps: ['203.0.113.50'],
        expiresInHours: 720,
      });
      expect((await server.clients.admin.getKey({ actor, keyId: key.id })).key).toEqual(key);
    });

    it('answers NOT_FOUND with the same message for a missing key and another organization’s key', async () => {
      const foreign = await createTestKey(server, actorOf(newOrganizationId(), 'alice'));
      const actor = actorOf(newOrganizationId(), 'alice');
      const missingId = `key_${'A'.repeat(22)}`;
      const missing = await grpcError(server.clients.admin.getKey({ actor, keyId: missingId }));
      const other = await grpcError(server.clients.admin.getKey({ actor, keyId: foreign.key.id }));
      expect([missing.code, other.code]).toEqual([status.NOT_FOUND, status.NOT_FOUND]);
      expect(missing.details).toBe(`API key "${missingId}" not found in your organization`);
      expect(other.details).toBe(`API key "${foreign.key.id}" not found in your organization`);
    });

    it.each([
      ['an empty key_id', '', 'key_id is required'],
      ['a key_id with a slash', 'key_../etc', 'key_id must be 1–64 characters of letters, digits, ".", "_" or "-"'],
      ['a 65-character key_id', 'k'.repeat(65), 'key_id must be 1–64 characters of letters, digits, ".", "_" or "-"'],
    ])('rejects %s as INVALID_ARGUMENT', async (_what, keyId, message) => {
      const error = await grpcError(server.clients.admin.getKey({ actor: actorOf(newOrganizationId(), 'a'), keyId }));
      expect(error.code).toBe(status.INVALID_ARGUMENT);
      expect(error.details).toBe(message);
    });

    it.each([
      ['no actor', undefined, 'actor is required: the organization, user and role you act for'],
      [
        'an empty organization id',
        { organizationId: '', userId: 'alice', role: Role.ROLE_ADMIN },
        'actor.organization_id is required',
      ],
      [
        'a malformed user id',
        { organizationId: 'org', userId: 'alice smith', role: Role.ROLE_ADMIN },
        'actor.user_id must be 1–64 characters of letters, digits, ".", "_" or "-"',
      ],
      [
        'an unknown role',
        // A value outside the enum, as a newer or buggy client could send.
        // eslint-disable-next-line @typescript-eslint/no-unsafe-enum-assignment
        { organizationId: 'org', userId: 'alice', role: 42 as Role },
        'actor.role must be ROLE_ADMIN, ROLE_READ_ONLY_ADMIN or ROLE_MEMBER, got 42',
      ],
      [
        'ROLE_UNSPECIFIED',
        { organizationId: 'org', userId: 'alice', role: Role.ROLE_UNSPECIFIED },
        'actor.role must be ROLE_ADMIN, ROLE_READ_ONLY_ADMIN or ROLE_MEMBER, got ROLE_UNSPECIFIED',
      ],
    ])('rejects %s as INVALID_ARGUMENT', async (_what, actor: Actor | undefined, message) => {
      const error = await grpcError(server.clients.admin.getKey({ actor, keyId: 'key_x' }));
      expect(error.code).toBe(status.INVALID_ARGUMENT);
      expect(error.details).toBe(message);
    });
  });

  describe('ListKeys: owner filter', () => {
    it('lists only the actor’s keys with MINE, and the whole organization otherwise', async () => {
      const organizationId = newOrganizationId();
      const alice = actorOf(organizationId, 'alice');
      const bob = actorOf(organizationId, 'bob');
      const mine = await createTestKey(server, alice);
      const theirs = await createTestKey(server, bob);
      await createTestKey(server, actorOf(newOrganizationId(), 'alice'));
      const ids = async (owner: KeyOwnerFilter) =>
        (await list({ actor: alice, owner })).keys.map((key) => key.id).sort();
      expect(await ids(KeyOwnerFilter.KEY_OWNER_FILTER_MINE)).toEqual([mine.key.id]);
      const everything = [mine.key.id, theirs.key.id].sort();
      expect(await ids(KeyOwnerFilter.KEY_OWNER_FILTER_ORGANIZATION)).toEqual(everything);
      expect(await ids(KeyOwnerFilter.KEY_OWNER_FILTER_UNSPECIFIED)).toEqual(everything);
    });

    it('lets a Read-Only Admin list the whole organization, Admins’ keys included', async () => {
      const organizationId = newOrganizationId();
      const { key } = await createTestKey(server, actorOf(organizationId, 'alice'));
      const reader = actorOf(organizationId, 'rita', Role.ROLE_READ_ONLY_ADMIN);
      expect((await list({ actor: reader })).keys.map((listed) => listed.id)).toEqual([key.id]);
      expect((await list({ actor: reader, owner: KeyOwnerFilter.KEY_OWNER_FILTER_MINE })).keys).toEqual([]);
    });

    it('rejects an unknown owner filter', async () => {
      // eslint-disable-next-line @typescript-eslint/no-unsafe-enum-assignment -- a value outside the enum on purpose
      const error = await grpcError(list({ actor: actorOf(newOrganizationId(), 'a'), owner: 7 as KeyOwnerFilter }));
      expect(error.code).toBe(status.INVALID_ARGUMENT);
      expect(error.details).toBe('owner: 7 is not a valid KeyOwnerFilter');
    });
  });

  describe('ListKeys: order and state filter', () => {
    it('lists newest first', async () => {
      const actor = actorOf(newOrganizationId(), 'alice');
      const created: string[] = [];
      for (let i = 0; i < 4; i++) {
        created.push((await createTestKey(server, actor, { name: `key ${i}` })).key.id);
        server.clock.advance(1000);
      }
      expect((await list({ actor })).keys.map((key) => key.id)).toEqual(created.reverse());
    });

    it('filters by the state at request time', async () => {
      const actor = actorOf(newOrganizationId(), 'alice');
      const active = await createTestKey(server, actor, { expiresInHours: 8760 });
      const revoked = await createTestKey(server, actor);
      await server.clients.admin.revokeKey({ actor, keyId: revoked.key.id, reason: '' });
      const expired = await createTestKey(server, actor, { expiresInHours: 1 });
      server.clock.advance(HOUR);
      const ids = async (states: KeyState[]) => (await list({ actor, states })).keys.map((key) => key.id).sort();
      expect(await ids([KeyState.KEY_STATE_ACTIVE])).toEqual([active.key.id]);
      expect(await ids([KeyState.KEY_STATE_REVOKED])).toEqual([revoked.key.id]);
      expect(await ids([KeyState.KEY_STATE_EXPIRED])).toEqual([expired.key.id]);
      expect(await ids([KeyState.KEY_STATE_ACTIVE, KeyState.KEY_STATE_REVOKED])).toEqual(
        [active.key.id, revoked.key.id].sort(),
      );
      expect(await ids([])).toEqual([active.key.id, revoked.key.id, expired.key.id].sort());
      const states = (await list({ actor })).keys.map((key) => [key.id, key.state]);
      expect(new Map(states as [string, KeyState][])).toEqual(
        new Map([
          [active.key.id, KeyState.KEY_STATE_ACTIVE],
          [revoked.key.id, KeyState.KEY_STATE_REVOKED],
          [expired.key.id, KeyState.KEY_STATE_EXPIRED],
        ]),
      );
    });

    it('rejects KEY_STATE_UNSPECIFIED as a state filter', async () => {
      const error = await grpcError(
        list({ actor: actorOf(newOrganizationId(), 'a'), states: [KeyState.KEY_STATE_UNSPECIFIED] }),
      );
      expect(error.code).toBe(status.INVALID_ARGUMENT);
      expect(error.details).toBe('states: 0 is not a valid KeyState');
    });
  });

  describe('ListKeys: pages', () => {
    it('walks every page without duplicates or gaps, newest first, even for keys created in the same instant', async () => {
      const actor = actorOf(newOrganizationId(), 'alice');
      // Created concurrently, so several share a creation millisecond and only the id orders them.
      const keys = await Promise.all(
        Array.from({ length: 23 }, (_, i) => createTestKey(server, actor, { name: `k${i}` })),
      );
      const { pages } = await listAll({ actor }, 5);
      expect(pages.map((page) => page.length)).toEqual([5, 5, 5, 5, 3]);
      const walked = pages.flat();
      expect(new Set(walked.map((key) => key.id)).size).toBe(23);
      expect(walked.map((key) => key.id).sort()).toEqual(keys.map(({ key }) => key.id).sort());
      const oneQuery = (await list({ actor, pageSize: 100 })).keys.map((key) => key.id);
      expect(walked.map((key) => key.id)).toEqual(oneQuery);
    });

    it('ends with an empty next_page_token when the last page is exactly full', async () => {
      const actor = actorOf(newOrganizationId(), 'alice');
      for (let i = 0; i < 4; i++) await createTestKey(server, actor);
      const { pages } = await listAll({ actor }, 2);
      expect(pages.map((page) => page.length)).toEqual([2, 2]);
    });

    it('does not repeat or skip keys when new keys are created between pages', async () => {
      const actor = actorOf(newOrganizationId(), 'alice');
      const old = [];
      for (let i = 0; i < 4; i++) {
        old.push((await createTestKey(server, actor)).key.id);
        server.clock.advance(1000);
      }
      const first = await list({ actor, pageSize: 2 });
      await createTestKey(server, actor, { name: 'newer' });
      const second = await list({ actor, pageSize: 2, pageToken: first.nextPageToken });
      expect([...first.keys, ...second.keys].map((key) => key.id)).toEqual(old.reverse());
      expect(second.nextPageToken).toBe('');
    });

    it('uses 50 keys per page when page_size is 0, and accepts up to 100', async () => {
      const actor = actorOf(newOrganizationId(), 'alice');
      await Promise.all(Array.from({ length: 51 }, () => createTestKey(server, actor)));
      const byDefault = await list({ actor, pageSize: 0 });
      expect(byDefault.keys).toHaveLength(50);
      expect(byDefault.nextPageToken).not.toBe('');
      const hundred = await list({ actor, pageSize: 100 });
      expect(hundred.keys).toHaveLength(51);
      expect(hundred.nextPageToken).toBe('');
    });

    it.each([101, 1000, 2 ** 31 - 1])('reduces a page_size of %i to 100 (AIP-158)', async (pageSize) => {
      const actor = actorOf(newOrganizationId(), 'alice');
      await Promise.all(Array.from({ length: 101 }, () => createTestKey(server, actor)));
      const page = await list({ actor, pageSize });
      expect(page.keys).toHaveLength(100);
      const rest = await list({ actor, pageSize, pageToken: page.nextPageToken });
      expect(rest.keys).toHaveLength(1);
      expect(rest.nextPageToken).toBe('');
    });

    it.each([-1, -(2 ** 31)])('rejects a page_size of %i, stating the rule', async (pageSize) => {
      const error = await grpcError(list({ actor: actorOf(newOrganizationId(), 'a'), pageSize }));
      expect(error.code).toBe(status.INVALID_ARGUMENT);
      expect(error.details).toBe(`page_size must not be negative (0 means 50, above 100 means 100), got ${pageSize}`);
    });

    async function firstPageToken(actor: Actor): Promise<string> {
      await createTestKey(server, actor);
      await createTestKey(server, actor);
      const page = await list({ actor, pageSize: 1 });
      expect(page.nextPageToken).not.toBe('');
      return page.nextPageToken;
    }

    const flipped = (text: string, index: number) =>
      text.slice(0, index) + (text[index] === 'A' ? 'B' : 'A') + text.slice(index + 1);

    it.each([
      ['a changed character in the position', (token: string) => flipped(token, 2)],
      ['a changed character in the checksum', (token: string) => flipped(token, token.length - 2)],
      ['a truncated token', (token: string) => token.slice(0, -1)],
      ['an extra segment', (token: string) => `${token}.x`],
      ['an invented token', () => 'bm90LWEtdG9rZW4'],
    ])('rejects a page token with %s', async (_what, tamper) => {
      const actor = actorOf(newOrganizationId(), 'alice');
      const token = await firstPageToken(actor);
      const error = await grpcError(list({ actor, pageSize: 1, pageToken: tamper(token) }));
      expect(error.code).toBe(status.INVALID_ARGUMENT);
      expect(error.details).toBe(
        'page_token is invalid: pass the next_page_token of a previous response unchanged, by the same caller with the same filters, or restart the listing without page_token',
      );
    });

    it('rejects a forged token whose checksum matches but whose payload is not a position', async () => {
      // Main's checksum was public (sha256 over the filters): a token sealed that way is no longer accepted.
      const actor = actorOf(newOrganizationId(), 'alice');
      const payload = Buffer.from('not json {').toString('base64url');
      const filters = JSON.stringify(['keys', actor.organizationId, '', []]);
      const mac = createHash('sha256')
        .update(`api-key-service/page-token/v1\n${filters}\n${payload}`)
        .digest('base64url')
        .slice(0, 22);
      const error = await grpcError(list({ actor, pageToken: `${payload}.${mac}` }));
      expect(error.code).toBe(status.INVALID_ARGUMENT);
      expect(error.details).toMatch(/^page_token is invalid/);
    });

    const MINE = KeyOwnerFilter.KEY_OWNER_FILTER_MINE;
    it.each([
      ['another owner filter', (alice: Actor) => [{ actor: alice }, { actor: alice, owner: MINE }]],
      [
        'another state filter',
        (alice: Actor) => [{ actor: alice }, { actor: alice, states: [KeyState.KEY_STATE_ACTIVE] }],
      ],
      [
        'another user (with MINE)',
        (alice: Actor) => [
          { actor: alice, owner: MINE },
          { actor: actorOf(alice.organizationId, 'bob'), owner: MINE },
        ],
      ],
      [
        'another organization',
        (alice: Actor) => [{ actor: alice }, { actor: actorOf(newOrganizationId(), alice.userId) }],
      ],
    ] as const)('rejects a page token reused with %s', async (_what, requests) => {
      const alice = actorOf(newOrganizationId(), 'alice');
      await createTestKey(server, alice);
      await createTestKey(server, alice);
      const [first, second] = requests(alice) as [Partial<ListKeysRequest>, Partial<ListKeysRequest>];
      const page = await list({ ...first, pageSize: 1 });
      expect(page.nextPageToken).not.toBe('');
      const error = await grpcError(list({ ...second, pageSize: 1, pageToken: page.nextPageToken }));
      expect(error.code).toBe(status.INVALID_ARGUMENT);
      expect(error.details).toMatch(/^page_token is invalid/);
    });

    it('accepts a page token with another page size', async () => {
      const actor = actorOf(newOrganizationId(), 'alice');
      for (let i = 0; i < 3; i++) await createTestKey(server, actor);
      const first = await list({ actor, pageSize: 1 });
      const rest = await list({ actor, pageSize: 10, pageToken: first.nextPageToken });
      expect(rest.keys).toHaveLength(2);
    });
  });
});
