import { status } from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import {
  type Actor,
  AuditAction,
  type AuditEvent,
  ListAuditEventsRequest,
  Role,
} from '../../gen/apikeys/v1/api_keys.js';
import type { Timestamp } from '../../gen/google/protobuf/timestamp.js';
import type { AuditRow } from '../../src/storage/rows.js';
import { createTestKey, type TestKey } from '../helpers/createTestKey.js';
import { describeEachDatabase } from '../helpers/eachDatabase.js';
import { grpcError } from '../helpers/grpcClients.js';
import { startTestServer, type TestServer } from '../helpers/startTestServer.js';
import { actorOf, newOrganizationId } from '../helpers/testActors.js';
import { timestampMs } from '../helpers/timestampMs.js';
import { useTestServer } from '../helpers/useTestServer.js';

const HOUR = 3_600_000;

function at(ms: number): Timestamp {
  return { seconds: Math.floor(ms / 1000), nanos: (ms % 1000) * 1_000_000 };
}

describeEachDatabase('audit trail', (kind) => {
  const server = useTestServer(kind);

  const rowsOf = async (organizationId: string): Promise<AuditRow[]> =>
    (await server.app
      .db('audit_events')
      .where('organization_id', organizationId)
      .orderBy([{ column: 'create_time' }, { column: 'id' }])) as AuditRow[];
  const listEvents = (request: Partial<ListAuditEventsRequest>) =>
    server.clients.admin.listAuditEvents(ListAuditEventsRequest.fromPartial(request));

  describe('one row per key affected by each write', () => {
    it('records a creation with actor, role, organization, key, every initial value, caller and time', async () => {
      const actor = actorOf(newOrganizationId(), 'alice');
      const { key } = await createTestKey(server, actor, {
        name: 'Zendesk',
        scopes: ['tickets:read', 'comments:read'],
        allowedIps: ['203.0.113.50'],
        expiresInHours: 24,
      });
      const rows = await rowsOf(actor.organizationId);
      expect(rows).toHaveLength(1);
      expect(rows[0]).toMatchObject({
        organization_id: actor.organizationId,
        key_id: key.id,
        action: 'key_created',
        actor_user_id: 'alice',
        actor_role: 'admin',
        caller: 'anonymous',
        related_key_id: null,
        reason: null,
      });
      expect(Number(rows[0]!.create_time)).toBe(timestampMs(key.createTime));
      expect(JSON.parse(rows[0]!.changes)).toEqual([
        { field: 'name', oldValue: '', newValue: 'Zendesk' },
        { field: 'scopes', oldValue: '', newValue: '["comments:read","tickets:read"]' },
        { field: 'allowed_ips', oldValue: '', newValue: '["203.0.113.50"]' },
        { field: 'expire_time', oldValue: '', newValue: new Date(timestampMs(key.expireTime)).toISOString() },
      ]);
    });

    it('records the Read-Only Admin role of a Read-Only Admin', async () => {
      const actor = actorOf(newOrganizationId(), 'rita', Role.ROLE_READ_ONLY_ADMIN);
      await createTestKey(server, actor);
      const { events } = await listEvents({ actor });
      expect(events.map((event) => [event.actorUserId, event.actorRole])).toEqual([
        ['rita', Role.ROLE_READ_ONLY_ADMIN],
      ]);
    });

    it('writes exactly one row per create, update, revoke, and one per key for rotations and offboarding', async () => {
      const organizationId = newOrganizationId();
      const actor = actorOf(organizationId, 'alice');
      const a = await createTestKey(server, actor);
      const b = await createTestKey(server, actorOf(organizationId, 'bob'));
      const c = await createTestKey(server, actorOf(organizationId, 'bob'));
      expect(await rowsOf(organizationId)).toHaveLength(3);
      await server.clients.admin.updateKey({
        metadata: {},
        actor,
        keyId: a.key.id,
        name: 'renamed',
        scopes: ['users:read'],
        allowedIps: [],
        expiresInHours: 0,
        updateMask: ['name', 'scopes'],
      });
      expect(await rowsOf(organizationId)).toHaveLength(4);
      const rotated = await server.clients.admin.rotateKey({ actor, keyId: a.key.id, gracePeriodHours: 0 });
      expect(await rowsOf(organizationId)).toHaveLength(6);
      await server.clients.admin.revokeKey({ actor, keyId: rotated.newKey!.id, reason: 'done' });
      expect(await rowsOf(organizationId)).toHaveLength(7);
      await server.clients.admin.revokeUserKeys({ actor, userId: 'bob', reason: 'offboarded' });
      const rows = await rowsOf(organizationId);
      expect(rows).toHaveLength(9);
      const newId = rotated.newKey!.id;
      // Rows of one write share a time, so compare the set of (action, key) rather than their order.
      expect(rows.map((row) => `${row.action} ${row.key_id}`).sort()).toEqual(
        [
          `key_created ${a.key.id}`,
          `key_created ${b.key.id}`,
          `key_created ${c.key.id}`,
          `key_updated ${a.key.id}`,
          `key_rotated ${a.key.id}`,
          `key_created ${newId}`,
          `key_revoked ${newId}`,
          `key_revoked ${b.key.id}`,
          `key_revoked ${c.key.id}`,
        ].sort(),
      );
    });

    it('never stores or returns a secret, not even in part', async () => {
      const organizationId = newOrganizationId();
      const actor = actorOf(organizationId, 'alice');
      const created = await createTestKey(server, actor, { allowedIps: ['10.0.0.0/8'] });
      const rotated = await server.clients.admin.rotateKey({ actor, keyId: created.key.id, gracePeriodHours: 1 });
      await server.clients.admin.updateKey({
        metadata: {},
        actor,
        keyId: rotated.newKey!.id,
        name: 'x',
        scopes: [],
        allowedIps: [],
        expiresInHours: 10,
        updateMask: ['name', 'expires_in_hours'],
      });
      await server.clients.admin.revokeKey({ actor, keyId: rotated.newKey!.id, reason: '' });
      const stored = JSON.stringify(await server.app.db('audit_events').where('organization_id', organizationId));
      const listed = JSON.stringify(await listEvents({ actor }));
      for (const secret of [created.secret, rotated.secret]) {
        const random = secret.slice('tt_admin_'.length);
        for (const text of [stored, listed]) {
          expect(text).not.toContain(random.slice(0, 24));
          expect(text).not.toContain(random.slice(8));
        }
      }
    });
  });

  describe('ListAuditEvents', () => {
    it('returns the organization’s events newest first, as AuditEvent messages', async () => {
      const organizationId = newOrganizationId();
      const actor = actorOf(organizationId, 'alice');
      const { key } = await createTestKey(server, actor);
      server.clock.advance(1000);
      await server.clients.admin.revokeKey({ actor, keyId: key.id, reason: 'why not' });
      await createTestKey(server, actorOf(newOrganizationId(), 'alice'));
      const { events, nextPageToken } = await listEvents({ actor });
      expect(nextPageToken).toBe('');
      expect(events).toHaveLength(2);
      expect(events[0]).toMatchObject({
        organizationId,
        keyId: key.id,
        action: AuditAction.AUDIT_ACTION_KEY_REVOKED,
        actorUserId: 'alice',
        actorRole: Role.ROLE_ADMIN,
        caller: 'anonymous',
        relatedKeyId: '',
        changes: [],
        reason: 'why not',
      });
      expect(events[0]!.id).toMatch(/^evt_[0-9A-Za-z]{22}$/);
      expect(events[1]!.action).toBe(AuditAction.AUDIT_ACTION_KEY_CREATED);
      expect(timestampMs(events[0]!.createTime)).toBeGreaterThan(timestampMs(events[1]!.createTime));
    });

    it('links the two events of a rotation through related_key_id', async () => {
      const actor = actorOf(newOrganizationId(), 'alice');
      const { key } = await createTestKey(server, actor);
      const rotated = await server.clients.admin.rotateKey({ actor, keyId: key.id, gracePeriodHours: 1 });
      const newId = rotated.newKey!.id;
      const oldEvents = (await listEvents({ actor, keyId: key.id })).events;
      const newEvents = (await listEvents({ actor, keyId: newId })).events;
      expect(oldEvents.map((event) => [event.action, event.relatedKeyId])).toEqual([
        [AuditAction.AUDIT_ACTION_KEY_ROTATED, newId],
        [AuditAction.AUDIT_ACTION_KEY_CREATED, ''],
      ]);
      expect(newEvents.map((event) => [event.action, event.relatedKeyId])).toEqual([
        [AuditAction.AUDIT_ACTION_KEY_CREATED, key.id],
      ]);
    });

    it('filters by key', async () => {
      const actor = actorOf(newOrganizationId(), 'alice');
      const a = await createTestKey(server, actor);
      const b = await createTestKey(server, actor);
      await server.clients.admin.revokeKey({ actor, keyId: b.key.id, reason: '' });
      const keysOf = async (keyId: string) => (await listEvents({ actor, keyId })).events.map((event) => event.keyId);
      expect(await keysOf(a.key.id)).toEqual([a.key.id]);
      expect(await keysOf(b.key.id)).toEqual([b.key.id, b.key.id]);
      expect(await keysOf('')).toHaveLength(3);
    });

    it('filters by time range: start inclusive, end exclusive', async () => {
      const actor = actorOf(newOrganizationId(), 'alice');
      const { key } = await createTestKey(server, actor);
      server.clock.advance(HOUR);
      await server.clients.admin.updateKey({
        metadata: {},
        actor,
        keyId: key.id,
        name: 'later',
        scopes: [],
        allowedIps: [],
        expiresInHours: 0,
        updateMask: ['name'],
      });
      server.clock.advance(HOUR);
      await server.clients.admin.revokeKey({ actor, keyId: key.id, reason: '' });
      const all = (await listEvents({ actor })).events;
      const [revoked, updated, created] = all.map((event) => timestampMs(event.createTime)) as [number, number, number];
      const actions = async (range: { startTime?: Timestamp; endTime?: Timestamp }) =>
        (await listEvents({ actor, ...range })).events.map((event) => event.action);
      const { AUDIT_ACTION_KEY_CREATED: C, AUDIT_ACTION_KEY_UPDATED: U, AUDIT_ACTION_KEY_REVOKED: R } = AuditAction;
      expect(await actions({})).toEqual([R, U, C]);
      expect(await actions({ startTime: at(updated) })).toEqual([R, U]);
      expect(await actions({ startTime: at(updated + 1) })).toEqual([R]);
      expect(await actions({ endTime: at(updated) })).toEqual([C]);
      expect(await actions({ startTime: at(created), endTime: at(revoked) })).toEqual([U, C]);
      expect(await actions({ startTime: at(updated), endTime: at(updated + 1) })).toEqual([U]);
      expect(await actions({ startTime: at(revoked + 1) })).toEqual([]);
    });

    it.each([
      ['equal to', 0],
      ['before', -1000],
    ])('rejects an end_time %s start_time', async (_what, offset) => {
      const now = server.clock.now();
      const error = await grpcError(
        listEvents({ actor: actorOf(newOrganizationId(), 'a'), startTime: at(now), endTime: at(now + offset) }),
      );
      expect(error.code).toBe(status.INVALID_ARGUMENT);
      expect(error.details).toBe('end_time must be after start_time');
    });

    it('rejects a timestamp with out-of-range nanos', async () => {
      const error = await grpcError(
        listEvents({ actor: actorOf(newOrganizationId(), 'a'), startTime: { seconds: 1, nanos: 1_000_000_000 } }),
      );
      expect(error.code).toBe(status.INVALID_ARGUMENT);
      expect(error.details).toBe('start_time is not a valid timestamp');
    });

    it('reports a bad timestamp before a missing actor (the order callers have always seen)', async () => {
      const error = await grpcError(listEvents({ startTime: { seconds: 1, nanos: -1 } }));
      expect(error.code).toBe(status.INVALID_ARGUMENT);
      expect(error.details).toBe('start_time is not a valid timestamp');
    });

    it('walks every page without duplicates or gaps', async () => {
      const actor = actorOf(newOrganizationId(), 'alice');
      const keys: TestKey[] = await Promise.all(Array.from({ length: 6 }, () => createTestKey(server, actor)));
      await Promise.all(
        keys.map(({ key }) => server.clients.admin.revokeKey({ actor, keyId: key.id, reason: 'bulk' })),
      );
      const pages: AuditEvent[][] = [];
      let pageToken = '';
      do {
        const page = await listEvents({ actor, pageSize: 5, pageToken });
        pages.push(page.events);
        pageToken = page.nextPageToken;
      } while (pageToken !== '' && pages.length < 10);
      expect(pages.map((page) => page.length)).toEqual([5, 5, 2]);
      const walked = pages.flat().map((event) => event.id);
      expect(new Set(walked).size).toBe(12);
      expect(walked).toEqual((await listEvents({ actor, pageSize: 100 })).events.map((event) => event.id));
    });

    it('rejects a tampered page token, or one reused with another filter', async () => {
      const actor = actorOf(newOrganizationId(), 'alice');
      const a = await createTestKey(server, actor);
      await createTestKey(server, actor);
      const { nextPageToken } = await listEvents({ actor, pageSize: 1 });
      expect(nextPageToken).not.toBe('');
      const tampered = `${nextPageToken.slice(0, 3)}${nextPageToken[3] === 'x' ? 'y' : 'x'}${nextPageToken.slice(4)}`;
      for (const request of [
        { actor, pageSize: 1, pageToken: tampered },
        { actor, pageSize: 1, pageToken: nextPageToken, keyId: a.key.id },
        { actor, pageSize: 1, pageToken: nextPageToken, startTime: at(0) },
        { actor: actorOf(newOrganizationId(), 'alice'), pageSize: 1, pageToken: nextPageToken },
      ]) {
        const error = await grpcError(listEvents(request));
        expect(error.code).toBe(status.INVALID_ARGUMENT);
        expect(error.details).toMatch(/^page_token is invalid/);
      }
    });

    it('reduces a page_size above 100 to 100 (AIP-158)', async () => {
      const actor = actorOf(newOrganizationId(), 'alice');
      await Promise.all(Array.from({ length: 101 }, () => createTestKey(server, actor)));
      const page = await listEvents({ actor, pageSize: 101 });
      expect(page.events).toHaveLength(100);
      const rest = await listEvents({ actor, pageSize: 2 ** 31 - 1, pageToken: page.nextPageToken });
      expect(rest.events).toHaveLength(1);
      expect(rest.nextPageToken).toBe('');
    });

    it('rejects a negative page_size', async () => {
      const error = await grpcError(listEvents({ actor: actorOf(newOrganizationId(), 'a'), pageSize: -1 }));
      expect(error.code).toBe(status.INVALID_ARGUMENT);
      expect(error.details).toBe('page_size must not be negative (0 means 50, above 100 means 100), got -1');
    });

    it('answers NOT_FOUND for another organization’s key, and shows nothing of it', async () => {
      const foreign = await createTestKey(server, actorOf(newOrganizationId(), 'alice'));
      const actor = actorOf(newOrganizationId(), 'alice');
      const error = await grpcError(listEvents({ actor, keyId: foreign.key.id }));
      expect(error.code).toBe(status.NOT_FOUND);
      expect(error.details).toBe(`API key "${foreign.key.id}" not found in your organization`);
      expect((await listEvents({ actor })).events).toEqual([]);
    });

    it('is open to both admin roles and closed to members', async () => {
      const organizationId = newOrganizationId();
      await createTestKey(server, actorOf(organizationId, 'alice'));
      const as = (role: Role): Actor => actorOf(organizationId, 'someone', role);
      expect((await listEvents({ actor: as(Role.ROLE_ADMIN) })).events).toHaveLength(1);
      expect((await listEvents({ actor: as(Role.ROLE_READ_ONLY_ADMIN) })).events).toHaveLength(1);
      const error = await grpcError(listEvents({ actor: as(Role.ROLE_MEMBER) }));
      expect(error.code).toBe(status.PERMISSION_DENIED);
      expect(error.details).toBe('only users with the Admin or Read-Only Admin role can manage API keys');
    });
  });
});

describeEachDatabase('a write and its audit record commit together or not at all', (kind) => {
  let server: TestServer;
  const organizationId = newOrganizationId('atomic');
  const actor = actorOf(organizationId, 'alice');
  let toRevoke: TestKey;
  let toRotate: TestKey;
  let toUpdate: TestKey;
  let bobsKey: TestKey;

  beforeAll(async () => {
    // No periodic last-used flush: it would change a verified key's row between two snapshots.
    server = await startTestServer(kind, { LAST_USED_FLUSH_MS: '3600000' });
    toRevoke = await createTestKey(server, actor);
    toRotate = await createTestKey(server, actor);
    toUpdate = await createTestKey(server, actor);
    bobsKey = await createTestKey(server, actorOf(organizationId, 'bob'));
    // From now on every audit insert fails inside the transaction of its write.
    await server.app.db.schema.dropTable('audit_events');
  });
  afterAll(async () => {
    await server.stop();
  });

  /** The organization's keys and the change-feed head (the audit table is gone, so databaseSnapshot cannot run). */
  async function keysAndFeed() {
    const keys = (await server.app.db('api_keys').where('organization_id', organizationId).orderBy('id')) as Record<
      string,
      unknown
    >[];
    const head = await server.app
      .db('key_feed_head')
      .where('id', 1)
      .first<{ position: unknown } | undefined>('position');
    return {
      keys: keys.map((row) => ({ ...row, secret_hash: Buffer.from(row.secret_hash as Buffer).toString('hex') })),
      feedHead: Number(head?.position ?? 0),
    };
  }

  /** Snapshots first, then starts the call, so its rejection is handled from the moment it exists. */
  async function expectFailedWithoutChange(start: () => Promise<unknown>): Promise<void> {
    const before = await keysAndFeed();
    const error = await grpcError(start());
    expect(error.code).toBe(status.INTERNAL);
    expect(error.details).toBe('internal error');
    expect(await keysAndFeed()).toEqual(before);
  }

  it('CreateKey fails and leaves no key behind', async () => {
    await expectFailedWithoutChange(() =>
      server.clients.admin.createKey({
        metadata: {},
        actor,
        name: 'never stored',
        scopes: ['tickets:read'],
        allowedIps: [],
      }),
    );
    expect(await server.app.db('api_keys').where('name', 'never stored')).toEqual([]);
  });

  it('RevokeKey fails and the key keeps verifying', async () => {
    await expectFailedWithoutChange(() =>
      server.clients.admin.revokeKey({ actor, keyId: toRevoke.key.id, reason: 'x' }),
    );
    const verified = await server.clients.verifier.verifyKey({
      key: toRevoke.secret,
      clientIp: '',
      requiredScopes: [],
    });
    expect(verified.valid).toBe(true);
  });

  it('RotateKey fails, creating no replacement and leaving the old key as it was', async () => {
    await expectFailedWithoutChange(() =>
      server.clients.admin.rotateKey({ actor, keyId: toRotate.key.id, gracePeriodHours: 0 }),
    );
  });

  it('UpdateKey fails and the key keeps its name', async () => {
    await expectFailedWithoutChange(() =>
      server.clients.admin.updateKey({
        metadata: {},
        actor,
        keyId: toUpdate.key.id,
        name: 'changed',
        scopes: [],
        allowedIps: [],
        expiresInHours: 0,
        updateMask: ['name'],
      }),
    );
    expect((await server.clients.admin.getKey({ actor, keyId: toUpdate.key.id })).key?.name).toBe('test key');
  });

  it('RevokeUserKeys fails and revokes none of the keys', async () => {
    await expectFailedWithoutChange(() => server.clients.admin.revokeUserKeys({ actor, userId: 'bob', reason: '' }));
    const verified = await server.clients.verifier.verifyKey({ key: bobsKey.secret, clientIp: '', requiredScopes: [] });
    expect(verified.valid).toBe(true);
  });
});
