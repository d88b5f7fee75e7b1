import { status } from '@grpc/grpc-js';
import { describe, expect, it } from 'vitest';

import {
  type Actor,
  type ApiKey,
  DenialReason,
  KeyState,
  Role,
  UpdateKeyRequest,
  type VerifyKeyResponse,
} from '../../gen/apikeys/v1/api_keys.js';
import { createTestKey } from '../helpers/createTestKey.js';
import { databaseSnapshot } from '../helpers/databaseSnapshot.js';
import { describeEachDatabase } from '../helpers/eachDatabase.js';
import { grpcError } from '../helpers/grpcClients.js';
import { actorOf, newOrganizationId } from '../helpers/testActors.js';
import { timestampMs } from '../helpers/timestampMs.js';
import { useTestServer } from '../helpers/useTestServer.js';

const HOUR = 3_600_000;

interface AuditRow {
  action: string;
  key_id: string;
  actor_user_id: string;
  related_key_id: string | null;
  changes: string;
  reason: string | null;
}

describeEachDatabase('UpdateKey, RevokeKey, RotateKey, RevokeUserKeys and expiry', (kind) => {
  const server = useTestServer(kind);

  const update = (request: Partial<UpdateKeyRequest>) =>
    server.clients.admin.updateKey(UpdateKeyRequest.fromPartial(request));
  const verify = (secret: string, requiredScopes: string[] = []): Promise<VerifyKeyResponse> =>
    server.clients.verifier.verifyKey({ key: secret, clientIp: '203.0.113.50', requiredScopes });
  const auditRows = async (keyId: string): Promise<AuditRow[]> =>
    (await server.app
      .db('audit_events')
      .where('key_id', keyId)
      .orderBy([{ column: 'create_time' }, { column: 'action' }])) as AuditRow[];
  const admin = (): Actor => actorOf(newOrganizationId(), 'alice');

  describe('UpdateKey', () => {
    it.each([
      ['name', { name: '  Renamed  ' }, { name: 'Renamed' }, ['name', 'test key', 'Renamed']],
      [
        'scopes',
        { scopes: ['users:write', 'tickets:read', 'users:write'] },
        { scopes: ['tickets:read', 'users:write'] },
        ['scopes', '["tickets:read"]', '["tickets:read","users:write"]'],
      ],
      [
        'allowed_ips',
        { allowedIps: ['2001:DB8::/32', '::ffff:203.0.113.50'] },
        { allowedIps: ['2001:db8::/32', '203.0.113.50'] },
        ['allowed_ips', '[]', '["2001:db8::/32","203.0.113.50"]'],
      ],
    ] as [string, Partial<UpdateKeyRequest>, Partial<ApiKey>, [string, string, string]][])(
      'changes %s alone and records old and new value',
      async (path, request, expected, change) => {
        const actor = admin();
        const { key } = await createTestKey(server, actor);
        server.clock.advance(1000);
        const updated = (await update({ actor, keyId: key.id, ...request, updateMask: [path] })).key!;
        expect(updated).toEqual({ ...key, ...expected, updateTime: updated.updateTime });
        expect(timestampMs(updated.updateTime)).toBeGreaterThan(timestampMs(key.updateTime));
        expect((await server.clients.admin.getKey({ actor, keyId: key.id })).key).toEqual(updated);
        const rows = await auditRows(key.id);
        expect(rows.map((row) => row.action)).toEqual(['key_created', 'key_updated']);
        const [field, oldValue, newValue] = change;
        expect(JSON.parse(rows[1]!.changes)).toEqual([{ field, oldValue, newValue }]);
      },
    );

    it('sets a new lifetime counted from now with expires_in_hours', async () => {
      const actor = admin();
      const { key } = await createTestKey(server, actor, { expiresInHours: 1 });
      server.clock.advance(HOUR / 2);
      const updated = (await update({ actor, keyId: key.id, expiresInHours: 48, updateMask: ['expires_in_hours'] }))
        .key!;
      expect(timestampMs(updated.expireTime) - timestampMs(updated.updateTime)).toBe(48 * HOUR);
      const rows = await auditRows(key.id);
      expect(JSON.parse(rows[1]!.changes)).toEqual([
        {
          field: 'expire_time',
          oldValue: new Date(timestampMs(key.expireTime)).toISOString(),
          newValue: new Date(timestampMs(updated.expireTime)).toISOString(),
        },
      ]);
    });

    it('changes several fields in one audit event, and leaves fields outside the mask alone', async () => {
      const actor = admin();
      const { key } = await createTestKey(server, actor, { allowedIps: ['10.0.0.0/8'] });
      const updated = (
        await update({
          actor,
          keyId: key.id,
          name: 'Both',
          scopes: ['users:read'],
          allowedIps: [],
          expiresInHours: 5,
          updateMask: ['name', 'scopes'],
        })
      ).key!;
      expect(updated).toMatchObject({ name: 'Both', scopes: ['users:read'], allowedIps: ['10.0.0.0/8'] });
      expect(updated.expireTime).toEqual(key.expireTime);
      const rows = await auditRows(key.id);
      expect(rows).toHaveLength(2);
      expect((JSON.parse(rows[1]!.changes) as { field: string }[]).map((change) => change.field)).toEqual([
        'name',
        'scopes',
      ]);
    });

    it('clears the allowlist with an empty allowed_ips in the mask', async () => {
      const actor = admin();
      const { key, secret } = await createTestKey(server, actor, { allowedIps: ['198.51.100.0/24'] });
      expect((await verify(secret)).denialReason).toBe(DenialReason.DENIAL_REASON_IP_NOT_ALLOWED);
      await update({ actor, keyId: key.id, allowedIps: [], updateMask: ['allowed_ips'] });
      expect((await verify(secret)).valid).toBe(true);
    });

    it('takes effect on the very next verification', async () => {
      const actor = admin();
      const { key, secret } = await createTestKey(server, actor, { scopes: ['tickets:read', 'tickets:write'] });
      expect((await verify(secret, ['tickets:write'])).valid).toBe(true);
      await update({ actor, keyId: key.id, scopes: ['tickets:read'], updateMask: ['scopes'] });
      expect(await verify(secret, ['tickets:write'])).toMatchObject({
        valid: false,
        denialReason: DenialReason.DENIAL_REASON_INSUFFICIENT_SCOPE,
      });
    });

    it('writes nothing, not even an audit event, when nothing changes', async () => {
      const actor = admin();
      const { key } = await createTestKey(server, actor, { name: 'Same', scopes: ['users:read', 'tickets:read'] });
      const before = await databaseSnapshot(server.app.db, [actor.organizationId]);
      server.clock.advance(1000);
      const updated = (
        await update({
          actor,
          keyId: key.id,
          name: ' Same ',
          scopes: ['tickets:read', 'users:read', 'tickets:read'],
          allowedIps: [],
          updateMask: ['name', 'scopes', 'allowed_ips'],
        })
      ).key!;
      expect(updated).toEqual(key);
      expect(await databaseSnapshot(server.app.db, [actor.organizationId])).toEqual(before);
    });

    describe('refuses, changing nothing', () => {
      it.each([
        ['an empty update_mask', [], 'update_mask is required: list the fields to change'],
        ['an unknown path', ['name', 'secret'], 'update_mask has unknown path "secret"; updatable: name, scopes'],
        ['unknown paths', ['expire_time', 'prefix'], 'update_mask has unknown paths "expire_time", "prefix"'],
      ])('%s as INVALID_ARGUMENT', async (_what, updateMask, message) => {
        const actor = admin();
        const { key } = await createTestKey(server, actor);
        const before = await databaseSnapshot(server.app.db, [actor.organizationId]);
        const error = await grpcError(update({ actor, keyId: key.id, name: 'x', updateMask }));
        expect(error.code).toBe(status.INVALID_ARGUMENT);
        expect(error.details.startsWith(message)).toBe(true);
        expect(await databaseSnapshot(server.app.db, [actor.organizationId])).toEqual(before);
      });

      it('a request without update_mask as INVALID_ARGUMENT', async () => {
        const actor = admin();
        const { key } = await createTestKey(server, actor);
        const error = await grpcError(
          server.clients.admin.updateKey({
            metadata: {},
            actor,
            keyId: key.id,
            name: 'x',
            scopes: [],
            allowedIps: [],
            expiresInHours: 0,
          }),
        );
        expect(error.code).toBe(status.INVALID_ARGUMENT);
        expect(error.details).toMatch(/^update_mask is required/);
      });

      it.each([
        [
          'an unknown scope',
          { scopes: ['tickets:fly'], updateMask: ['scopes'] },
          /^Invalid scope in scopes: "tickets:fly"/,
        ],
        ['no scopes', { scopes: [], updateMask: ['scopes'] }, /^scopes: at least one scope is required/],
        ['a blank name', { name: '  ', updateMask: ['name'] }, /^name is required/],
        ['a name with a NUL', { name: 'a\u0000b', updateMask: ['name'] }, /^name must not contain control characters/],
        ['an invalid IP', { allowedIps: ['1.2.3'], updateMask: ['allowed_ips'] }, /^allowed_ips: "1\.2\.3" is not/],
        [
          'a CIDR with host bits set',
          { allowedIps: ['10.0.0.1/8'], updateMask: ['allowed_ips'] },
          /host bits set; did you mean 10\.0\.0\.0\/8/,
        ],
        [
          '51 allowlist entries',
          { allowedIps: Array.from({ length: 51 }, (_, i) => `10.0.0.${i}`), updateMask: ['allowed_ips'] },
          /at most 50 entries allowed, got 51/,
        ],
        [
          'a zero lifetime',
          { expiresInHours: 0, updateMask: ['expires_in_hours'] },
          /^expires_in_hours must be between 1 and 8760/,
        ],
        [
          'a lifetime over a year',
          { expiresInHours: 8761, updateMask: ['expires_in_hours'] },
          /^expires_in_hours must be between 1 and 8760 \(one year\), got 8761/,
        ],
      ])('%s as INVALID_ARGUMENT, validated as in CreateKey', async (_what, request, message) => {
        const actor = admin();
        const { key } = await createTestKey(server, actor);
        const before = await databaseSnapshot(server.app.db, [actor.organizationId]);
        const error = await grpcError(update({ actor, keyId: key.id, ...request }));
        expect(error.code).toBe(status.INVALID_ARGUMENT);
        expect(error.details).toMatch(message);
        expect(await databaseSnapshot(server.app.db, [actor.organizationId])).toEqual(before);
      });

      it('a revoked key as FAILED_PRECONDITION', async () => {
        const actor = admin();
        const { key } = await createTestKey(server, actor);
        await server.clients.admin.revokeKey({ actor, keyId: key.id, reason: '' });
        const before = await databaseSnapshot(server.app.db, [actor.organizationId]);
        const error = await grpcError(update({ actor, keyId: key.id, name: 'new', updateMask: ['name'] }));
        expect(error.code).toBe(status.FAILED_PRECONDITION);
        expect(error.details).toBe(`key ${key.id} is revoked and cannot be updated`);
        expect(await databaseSnapshot(server.app.db, [actor.organizationId])).toEqual(before);
      });

      it('write scopes on a key a Read-Only Admin created as FAILED_PRECONDITION', async () => {
        const organizationId = newOrganizationId();
        const { key } = await createTestKey(server, actorOf(organizationId, 'rita', Role.ROLE_READ_ONLY_ADMIN));
        const actor = actorOf(organizationId, 'alice');
        const before = await databaseSnapshot(server.app.db, [organizationId]);
        const error = await grpcError(
          update({ actor, keyId: key.id, scopes: ['tickets:read', 'tickets:delete'], updateMask: ['scopes'] }),
        );
        expect(error.code).toBe(status.FAILED_PRECONDITION);
        expect(error.details).toBe(
          `key ${key.id} was created by a Read-Only Admin and may only hold *:read scopes; not allowed: tickets:delete`,
        );
        expect(await databaseSnapshot(server.app.db, [organizationId])).toEqual(before);
      });

      it('a new lifetime for a key a Read-Only Admin created as FAILED_PRECONDITION', async () => {
        const organizationId = newOrganizationId();
        const { key } = await createTestKey(server, actorOf(organizationId, 'rita', Role.ROLE_READ_ONLY_ADMIN));
        const actor = actorOf(organizationId, 'alice');
        const error = await grpcError(
          update({ actor, keyId: key.id, expiresInHours: 72, updateMask: ['expires_in_hours'] }),
        );
        expect(error.code).toBe(status.FAILED_PRECONDITION);
        expect(error.details).toBe(
          `key ${key.id} was created by a Read-Only Admin and has a fixed 72-hour lifetime that cannot be changed`,
        );
      });
    });

    it('lets an Admin rename a Read-Only Admin’s key and change it to other read scopes', async () => {
      const organizationId = newOrganizationId();
      const { key } = await createTestKey(server, actorOf(organizationId, 'rita', Role.ROLE_READ_ONLY_ADMIN));
      const updated = (
        await update({
          actor: actorOf(organizationId, 'alice'),
          keyId: key.id,
          name: 'Reporting',
          scopes: ['users:read', 'teams:read'],
          updateMask: ['name', 'scopes'],
        })
      ).key!;
      expect(updated).toMatchObject({ name: 'Reporting', scopes: ['teams:read', 'users:read'] });
      expect(updated.expireTime).toEqual(key.expireTime);
    });
  });

  describe('expiry', () => {
    it('reports a key EXPIRED as soon as the clock reaches its expiry, and it stops verifying', async () => {
      const actor = admin();
      const { key, secret } = await createTestKey(server, actor, { expiresInHours: 2 });
      expect((await server.clients.admin.getKey({ actor, keyId: key.id })).key?.state).toBe(KeyState.KEY_STATE_ACTIVE);
      server.clock.advance(2 * HOUR);
      expect((await server.clients.admin.getKey({ actor, keyId: key.id })).key?.state).toBe(KeyState.KEY_STATE_EXPIRED);
      expect((await verify(secret)).denialReason).toBe(DenialReason.DENIAL_REASON_EXPIRED);
    });

    it('expires a Read-Only Admin key 72 hours after creation', async () => {
      const actor = actorOf(newOrganizationId(), 'rita', Role.ROLE_READ_ONLY_ADMIN);
      const { key, secret } = await createTestKey(server, actor);
      expect((await verify(secret)).valid).toBe(true);
      server.clock.advance(72 * HOUR);
      expect((await server.clients.admin.getKey({ actor, keyId: key.id })).key?.state).toBe(KeyState.KEY_STATE_EXPIRED);
      expect((await verify(secret)).denialReason).toBe(DenialReason.DENIAL_REASON_EXPIRED);
    });

    it.each([
      ['name', { name: 'new' }],
      ['scopes', { scopes: ['users:read'] }],
      ['allowed_ips', { allowedIps: ['10.0.0.0/8'] }],
      ['expires_in_hours', { expiresInHours: 8760 }],
    ] as [string, Partial<UpdateKeyRequest>][])(
      'refuses to update %s of an expired key (it cannot be renewed)',
      async (path, request) => {
        const actor = admin();
        const { key } = await createTestKey(server, actor, { expiresInHours: 1 });
        server.clock.advance(HOUR);
        const before = await databaseSnapshot(server.app.db, [actor.organizationId]);
        const error = await grpcError(update({ actor, keyId: key.id, ...request, updateMask: [path] }));
        expect(error.code).toBe(status.FAILED_PRECONDITION);
        expect(error.details).toBe(
          `key ${key.id} expired at ${new Date(timestampMs(key.expireTime)).toISOString()}; expired keys cannot be renewed or updated, create a new key`,
        );
        expect(await databaseSnapshot(server.app.db, [actor.organizationId])).toEqual(before);
      },
    );

    it('refuses to rotate an expired key', async () => {
      const actor = admin();
      const { key } = await createTestKey(server, actor, { expiresInHours: 1 });
      server.clock.advance(HOUR);
      const before = await databaseSnapshot(server.app.db, [actor.organizationId]);
      const error = await grpcError(server.clients.admin.rotateKey({ actor, keyId: key.id, gracePeriodHours: 1 }));
      expect(error.code).toBe(status.FAILED_PRECONDITION);
      expect(error.details).toMatch(/expired keys cannot be renewed or rotated, create a new key$/);
      expect(await databaseSnapshot(server.app.db, [actor.organizationId])).toEqual(before);
    });
  });

  describe('RevokeKey', () => {
    it('revokes at once, recording when, by whom and why; the key stops verifying on the next call', async () => {
      const organizationId = newOrganizationId();
      const { key, secret } = await createTestKey(server, actorOf(organizationId, 'bob'));
      const actor = actorOf(organizationId, 'alice');
      server.clock.advance(1000);
      const revoked = (await server.clients.admin.revokeKey({ actor, keyId: key.id, reason: '  leaked in a CI log ' }))
        .key!;
      expect(revoked).toMatchObject({
        state: KeyState.KEY_STATE_REVOKED,
        revokedByUserId: 'alice',
        createdByUserId: 'bob',
        revokeReason: 'leaked in a CI log',
      });
      expect(revoked.revokeTime).toEqual(revoked.updateTime);
      expect(timestampMs(revoked.revokeTime)).toBeGreaterThan(timestampMs(key.createTime));
      expect((await server.clients.admin.getKey({ actor, keyId: key.id })).key).toEqual(revoked);
      expect(await verify(secret)).toMatchObject({ valid: false, denialReason: DenialReason.DENIAL_REASON_REVOKED });
      const rows = await auditRows(key.id);
      expect(rows.map((row) => [row.action, row.actor_user_id, row.reason])).toEqual([
        ['key_created', 'bob', null],
        ['key_revoked', 'alice', 'leaked in a CI log'],
      ]);
    });

    it('is idempotent: a second revoke returns the revoked key unchanged and writes no second audit event', async () => {
      const actor = admin();
      const { key } = await createTestKey(server, actor);
      const first = (await server.clients.admin.revokeKey({ actor, keyId: key.id, reason: 'first' })).key!;
      const before = await databaseSnapshot(server.app.db, [actor.organizationId]);
      server.clock.advance(1000);
      const second = (
        await server.clients.admin.revokeKey({
          actor: actorOf(actor.organizationId, 'carol'),
          keyId: key.id,
          reason: 'second',
        })
      ).key!;
      expect(second).toEqual(first);
      expect(await databaseSnapshot(server.app.db, [actor.organizationId])).toEqual(before);
    });

    it('writes one revocation however many concurrent revokes race for the key', async () => {
      const actor = admin();
      const { key } = await createTestKey(server, actor);
      const results = await Promise.all(
        Array.from({ length: 5 }, (_, i) =>
          server.clients.admin.revokeKey({ actor, keyId: key.id, reason: `attempt ${i}` }),
        ),
      );
      const first = results[0]!.key!;
      for (const result of results) expect(result.key).toEqual(first);
      expect((await auditRows(key.id)).map((row) => row.action)).toEqual(['key_created', 'key_revoked']);
    });

    it('accepts no reason', async () => {
      const actor = admin();
      const { key } = await createTestKey(server, actor);
      const revoked = (await server.clients.admin.revokeKey({ actor, keyId: key.id, reason: '' })).key!;
      expect(revoked.revokeReason).toBe('');
      expect(revoked.state).toBe(KeyState.KEY_STATE_REVOKED);
    });

    it.each([
      ['longer than 500 characters', 'x'.repeat(501), 'reason must be at most 500 characters, got 501'],
      ['with control characters', 'a\u0000b', 'reason must not contain control characters or invalid UTF-8'],
    ])('rejects a reason %s, changing nothing', async (_what, reason, message) => {
      const actor = admin();
      const { key } = await createTestKey(server, actor);
      const before = await databaseSnapshot(server.app.db, [actor.organizationId]);
      const error = await grpcError(server.clients.admin.revokeKey({ actor, keyId: key.id, reason }));
      expect(error.code).toBe(status.INVALID_ARGUMENT);
      expect(error.details).toBe(message);
      expect(await databaseSnapshot(server.app.db, [actor.organizationId])).toEqual(before);
    });

    it('keeps a 500-character reason in any language', async () => {
      const actor = admin();
      const { key } = await createTestKey(server, actor);
      const reason = '漏'.repeat(500);
      expect((await server.clients.admin.revokeKey({ actor, keyId: key.id, reason })).key?.revokeReason).toBe(reason);
    });
  });

  describe('RotateKey', () => {
    it('creates a replacement with the same name, scopes and IPs and a new secret, linked both ways', async () => {
      const actor = admin();
      const old = await createTestKey(server, actor, {
        name: 'Zendesk Sync',
        scopes: ['tickets:read', 'comments:write'],
        allowedIps: ['203.0.113.50', '2001:db8::/32'],
      });
      const rotated = await server.clients.admin.rotateKey({ actor, keyId: old.key.id, gracePeriodHours: 24 });
      const newKey = rotated.newKey!;
      expect(newKey).toMatchObject({
        name: 'Zendesk Sync',
        scopes: ['comments:write', 'tickets:read'],
        allowedIps: ['2001:db8::/32', '203.0.113.50'],
        state: KeyState.KEY_STATE_ACTIVE,
        rotatedFromKeyId: old.key.id,
        replacedByKeyId: '',
        organizationId: actor.organizationId,
      });
      expect(newKey.id).not.toBe(old.key.id);
      expect(newKey.prefix).not.toBe(old.key.prefix);
      expect(rotated.secret).toMatch(/^tt_admin_[0-9A-Za-z]{30}$/);
      expect(rotated.secret).not.toBe(old.secret);
      expect(newKey.prefix).toBe(rotated.secret.slice(0, 'tt_admin_'.length + 8));
      expect(rotated.oldKey).toMatchObject({
        id: old.key.id,
        replacedByKeyId: newKey.id,
        state: KeyState.KEY_STATE_ACTIVE,
      });
      expect((await verify(rotated.secret, ['comments:write'])).keyId).toBe(newKey.id);
      expect(server.logs.join('\n')).not.toContain(rotated.secret.slice('tt_admin_'.length));
    });

    it('keeps the old key valid for the grace period, then expires it', async () => {
      const actor = admin();
      const old = await createTestKey(server, actor);
      const rotated = await server.clients.admin.rotateKey({ actor, keyId: old.key.id, gracePeriodHours: 24 });
      expect(timestampMs(rotated.oldKey?.expireTime) - timestampMs(rotated.oldKey?.updateTime)).toBe(24 * HOUR);
      expect((await verify(old.secret)).valid).toBe(true);
      expect((await verify(rotated.secret)).valid).toBe(true);
      server.clock.advance(24 * HOUR);
      expect((await verify(old.secret)).denialReason).toBe(DenialReason.DENIAL_REASON_EXPIRED);
      expect((await verify(rotated.secret)).valid).toBe(true);
      expect((await server.clients.admin.getKey({ actor, keyId: old.key.id })).key?.state).toBe(
        KeyState.KEY_STATE_EXPIRED,
      );
    });

    it('refuses to extend the old key beyond its grace period, but still lets it be renamed', async () => {
      const actor = admin();
      const old = await createTestKey(server, actor);
      const rotated = await server.clients.admin.rotateKey({ actor, keyId: old.key.id, gracePeriodHours: 24 });
      const error = await grpcError(
        server.clients.admin.updateKey({
          metadata: {},
          actor,
          keyId: old.key.id,
          name: '',
          scopes: [],
          allowedIps: [],
          expiresInHours: 8760,
          updateMask: ['expires_in_hours'],
        }),
      );
      expect(error.code).toBe(status.FAILED_PRECONDITION);
      expect(error.details).toContain(`was rotated into ${rotated.newKey!.id}`);
      const renamed = await server.clients.admin.updateKey({
        metadata: {},
        actor,
        keyId: old.key.id,
        name: 'old, being retired',
        scopes: [],
        allowedIps: [],
        expiresInHours: 0,
        updateMask: ['name'],
      });
      expect(renamed.key?.expireTime).toEqual(rotated.oldKey?.expireTime);
    });

    it('never lengthens the old key’s life: an earlier expiry is kept', async () => {
      const actor = admin();
      const old = await createTestKey(server, actor, { expiresInHours: 2 });
      const rotated = await server.clients.admin.rotateKey({ actor, keyId: old.key.id, gracePeriodHours: 168 });
      expect(rotated.oldKey?.expireTime).toEqual(old.key.expireTime);
    });

    it('revokes the old key at once with a grace period of 0', async () => {
      const actor = admin();
      const old = await createTestKey(server, actor);
      const rotated = await server.clients.admin.rotateKey({ actor, keyId: old.key.id, gracePeriodHours: 0 });
      expect(rotated.oldKey).toMatchObject({
        state: KeyState.KEY_STATE_REVOKED,
        revokedByUserId: 'alice',
        revokeReason: `rotated into ${rotated.newKey?.id ?? ''}`,
        replacedByKeyId: rotated.newKey?.id,
      });
      expect((await verify(old.secret)).denialReason).toBe(DenialReason.DENIAL_REASON_REVOKED);
      expect((await verify(rotated.secret)).valid).toBe(true);
    });

    it('gives the replacement the default lifetime, or the one asked for', async () => {
      const actor = admin();
      const byDefault = await server.clients.admin.rotateKey({
        actor,
        keyId: (await createTestKey(server, actor, { expiresInHours: 5 })).key.id,
        gracePeriodHours: 1,
      });
      expect(timestampMs(byDefault.newKey?.expireTime) - timestampMs(byDefault.newKey?.createTime)).toBe(8760 * HOUR);
      const chosen = await server.clients.admin.rotateKey({
        actor,
        keyId: (await createTestKey(server, actor)).key.id,
        gracePeriodHours: 1,
        expiresInHours: 720,
      });
      expect(timestampMs(chosen.newKey?.expireTime) - timestampMs(chosen.newKey?.createTime)).toBe(720 * HOUR);
    });

    it('records one event per key, linked to each other', async () => {
      const actor = admin();
      const old = await createTestKey(server, actor);
      const rotated = await server.clients.admin.rotateKey({ actor, keyId: old.key.id, gracePeriodHours: 1 });
      const newId = rotated.newKey!.id;
      const oldEvents = await auditRows(old.key.id);
      const newEvents = await auditRows(newId);
      expect(oldEvents.map((row) => [row.action, row.related_key_id])).toEqual([
        ['key_created', null],
        ['key_rotated', newId],
      ]);
      expect(newEvents.map((row) => [row.action, row.related_key_id])).toEqual([['key_created', old.key.id]]);
      expect(JSON.parse(oldEvents[1]!.changes)).toEqual([
        {
          field: 'expire_time',
          oldValue: new Date(timestampMs(old.key.expireTime)).toISOString(),
          newValue: new Date(timestampMs(rotated.oldKey?.expireTime)).toISOString(),
        },
        { field: 'replaced_by_key_id', oldValue: '', newValue: newId },
      ]);
    });

    it.each([169, -1, 10_000])('rejects a grace period of %i hours, stating the range', async (gracePeriodHours) => {
      const actor = admin();
      const { key } = await createTestKey(server, actor);
      const before = await databaseSnapshot(server.app.db, [actor.organizationId]);
      const error = await grpcError(server.clients.admin.rotateKey({ actor, keyId: key.id, gracePeriodHours }));
      expect(error.code).toBe(status.INVALID_ARGUMENT);
      expect(error.details).toBe(
        `grace_period_hours must be between 0 and 168 (0 revokes the old key at once), got ${gracePeriodHours}`,
      );
      expect(await databaseSnapshot(server.app.db, [actor.organizationId])).toEqual(before);
    });

    it('accepts the longest grace period, 168 hours', async () => {
      const actor = admin();
      const { key } = await createTestKey(server, actor);
      const rotated = await server.clients.admin.rotateKey({ actor, keyId: key.id, gracePeriodHours: 168 });
      expect(timestampMs(rotated.oldKey?.expireTime) - timestampMs(rotated.oldKey?.updateTime)).toBe(168 * HOUR);
    });

    it('refuses to rotate a key that was already rotated, pointing at its replacement', async () => {
      const actor = admin();
      const { key } = await createTestKey(server, actor);
      const rotated = await server.clients.admin.rotateKey({ actor, keyId: key.id, gracePeriodHours: 24 });
      const before = await databaseSnapshot(server.app.db, [actor.organizationId]);
      const error = await grpcError(server.clients.admin.rotateKey({ actor, keyId: key.id, gracePeriodHours: 24 }));
      expect(error.code).toBe(status.FAILED_PRECONDITION);
      expect(error.details).toBe(
        `key ${key.id} was already rotated into ${rotated.newKey?.id ?? ''}; rotate that key instead`,
      );
      expect(await databaseSnapshot(server.app.db, [actor.organizationId])).toEqual(before);
    });

    it('lets exactly one of several concurrent rotations of a key succeed', async () => {
      const actor = admin();
      const { key } = await createTestKey(server, actor);
      const outcomes = await Promise.allSettled(
        Array.from({ length: 4 }, () => server.clients.admin.rotateKey({ actor, keyId: key.id, gracePeriodHours: 1 })),
      );
      const succeeded = outcomes.filter((outcome) => outcome.status === 'fulfilled');
      expect(succeeded).toHaveLength(1);
      for (const outcome of outcomes) {
        if (outcome.status === 'rejected') {
          expect((outcome.reason as { code: number }).code).toBe(status.FAILED_PRECONDITION);
        }
      }
      const rows = (await server.app.db('api_keys').where('rotated_from_key_id', key.id)) as unknown[];
      expect(rows).toHaveLength(1);
    });

    it('refuses to rotate a revoked key', async () => {
      const actor = admin();
      const { key } = await createTestKey(server, actor);
      await server.clients.admin.revokeKey({ actor, keyId: key.id, reason: '' });
      const error = await grpcError(server.clients.admin.rotateKey({ actor, keyId: key.id, gracePeriodHours: 1 }));
      expect(error.code).toBe(status.FAILED_PRECONDITION);
      expect(error.details).toBe(`key ${key.id} is revoked and cannot be rotated`);
    });

    it('can rotate the replacement again, forming a chain', async () => {
      const actor = admin();
      const { key } = await createTestKey(server, actor);
      const first = await server.clients.admin.rotateKey({ actor, keyId: key.id, gracePeriodHours: 1 });
      const second = await server.clients.admin.rotateKey({ actor, keyId: first.newKey!.id, gracePeriodHours: 1 });
      expect(second.newKey?.rotatedFromKeyId).toBe(first.newKey?.id);
      expect(second.oldKey?.rotatedFromKeyId).toBe(key.id);
    });
  });

  describe('RevokeUserKeys', () => {
    it('revokes exactly the user’s active keys in the actor’s organization and returns their ids', async () => {
      const organizationId = newOrganizationId();
      const otherOrganizationId = newOrganizationId();
      const actor = actorOf(organizationId, 'alice');
      const bob = actorOf(organizationId, 'bob');
      const active1 = await createTestKey(server, bob);
      const active2 = await createTestKey(server, bob, { allowedIps: ['203.0.113.50'] });
      const alreadyRevoked = await createTestKey(server, bob);
      await server.clients.admin.revokeKey({ actor, keyId: alreadyRevoked.key.id, reason: 'earlier' });
      const expired = await createTestKey(server, bob, { expiresInHours: 1 });
      const alices = await createTestKey(server, actor);
      const bobElsewhere = await createTestKey(server, actorOf(otherOrganizationId, 'bob'));
      server.clock.advance(HOUR);
      const untouched = await databaseSnapshot(server.app.db, [otherOrganizationId]);
      const revokedBefore = (await server.clients.admin.getKey({ actor, keyId: alreadyRevoked.key.id })).key;

      const result = await server.clients.admin.revokeUserKeys({ actor, userId: 'bob', reason: 'left the company' });

      expect(result.revokedCount).toBe(2);
      expect([...result.revokedKeyIds].sort()).toEqual([active1.key.id, active2.key.id].sort());
      for (const { key, secret } of [active1, active2]) {
        expect((await server.clients.admin.getKey({ actor, keyId: key.id })).key).toMatchObject({
          state: KeyState.KEY_STATE_REVOKED,
          revokedByUserId: 'alice',
          revokeReason: 'left the company',
        });
        expect((await verify(secret)).denialReason).toBe(DenialReason.DENIAL_REASON_REVOKED);
        expect((await auditRows(key.id)).map((row) => [row.action, row.reason])).toEqual([
          ['key_created', null],
          ['key_revoked', 'left the company'],
        ]);
      }
      expect((await server.clients.admin.getKey({ actor, keyId: alreadyRevoked.key.id })).key).toEqual(revokedBefore);
      expect((await server.clients.admin.getKey({ actor, keyId: expired.key.id })).key?.state).toBe(
        KeyState.KEY_STATE_EXPIRED,
      );
      expect((await server.clients.admin.getKey({ actor, keyId: alices.key.id })).key?.state).toBe(
        KeyState.KEY_STATE_ACTIVE,
      );
      const after = await databaseSnapshot(server.app.db, [otherOrganizationId]);
      expect([after.keys, after.auditEvents]).toEqual([untouched.keys, untouched.auditEvents]);
      expect((await verify(bobElsewhere.secret)).valid).toBe(true);
    });

    it('records a default reason when none is given', async () => {
      const organizationId = newOrganizationId();
      const { key } = await createTestKey(server, actorOf(organizationId, 'bob'));
      await server.clients.admin.revokeUserKeys({ actor: actorOf(organizationId, 'alice'), userId: 'bob', reason: '' });
      expect(
        (await server.clients.admin.getKey({ actor: actorOf(organizationId, 'alice'), keyId: key.id })).key
          ?.revokeReason,
      ).toBe('keys of user bob revoked');
    });

    it('returns zero when the user has no active keys, writing nothing', async () => {
      const actor = admin();
      const before = await databaseSnapshot(server.app.db, [actor.organizationId]);
      expect(await server.clients.admin.revokeUserKeys({ actor, userId: 'nobody', reason: '' })).toEqual({
        revokedCount: 0,
        revokedKeyIds: [],
        propagation: {
          confirmedReplicas: 1,
          liveReplicas: 1,
          unconfirmedReplicaIds: [],
          waitMs: expect.any(Number) as number,
          complete: true,
        },
      });
      expect(await databaseSnapshot(server.app.db, [actor.organizationId])).toEqual(before);
    });

    it.each([
      ['an empty user_id', '', 'user_id is required'],
      ['a malformed user_id', 'bob smith', 'user_id must be 1–64 characters of letters, digits, ".", "_" or "-"'],
    ])('rejects %s as INVALID_ARGUMENT', async (_what, userId, message) => {
      const error = await grpcError(server.clients.admin.revokeUserKeys({ actor: admin(), userId, reason: '' }));
      expect(error.code).toBe(status.INVALID_ARGUMENT);
      expect(error.details).toBe(message);
    });
  });
});
