import { describe, expect, it } from 'vitest';

import { type ApiKey, DenialReason, KeyOwnerFilter, Role } from '../../gen/apikeys/v1/api_keys.js';
import { KnexKeyRepository } from '../../src/storage/KnexKeyRepository.js';
import { createTestKey, type TestKey } from '../helpers/createTestKey.js';
import { describeEachDatabase } from '../helpers/eachDatabase.js';
import { actorOf, newOrganizationId } from '../helpers/testActors.js';
import { timestampMs } from '../helpers/timestampMs.js';
import { useTestServer } from '../helpers/useTestServer.js';

const HOUR = 3_600_000;

function admin() {
  return actorOf(newOrganizationId('last-used'), 'alice', Role.ROLE_ADMIN);
}

describeEachDatabase('VerifyKey last-used tracking', (kind) => {
  const server = useTestServer(kind);

  const verify = (key: string, clientIp = '', requiredScopes: string[] = []) =>
    server.clients.verifier.verifyKey({ key, clientIp, requiredScopes });

  const actorFor = (created: TestKey) => actorOf(created.key.organizationId, 'alice');

  const getKey = async (created: TestKey): Promise<ApiKey> => {
    const { key } = await server.clients.admin.getKey({ actor: actorFor(created), keyId: created.key.id });
    if (key === undefined) throw new Error('GetKey returned no key');
    return key;
  };

  const listedKey = async (created: TestKey): Promise<ApiKey | undefined> => {
    const { keys } = await server.clients.admin.listKeys({
      actor: actorFor(created),
      owner: KeyOwnerFilter.KEY_OWNER_FILTER_ORGANIZATION,
      states: [],
      pageSize: 100,
      pageToken: '',
    });
    return keys.find((key) => key.id === created.key.id);
  };

  describe('recorded for successful verifications', () => {
    it('is unset on a key that never verified', async () => {
      const created = await createTestKey(server, admin());
      await server.app.lastUsed.flush();
      const key = await getKey(created);
      expect(key.lastUsedTime).toBeUndefined();
      expect(key.lastUsedIp).toBe('');
    });

    it('shows the time and client IP of the latest verify in GetKey and ListKeys once flushed', async () => {
      const created = await createTestKey(server, admin());
      await verify(created.secret, '198.51.100.1');
      server.clock.advance(1000);
      const latest = await verify(created.secret, '2001:db8::7', ['tickets:read']);
      expect(latest.valid).toBe(true);
      await server.app.lastUsed.flush();

      const fromGet = await getKey(created);
      expect(timestampMs(fromGet.lastUsedTime)).toBe(timestampMs(latest.authenticateTime));
      expect(fromGet.lastUsedIp).toBe('2001:db8::7');

      const fromList = await listedKey(created);
      expect(fromList?.lastUsedTime).toEqual(fromGet.lastUsedTime);
      expect(fromList?.lastUsedIp).toBe('2001:db8::7');
    });

    it('records the client IP without surrounding whitespace', async () => {
      const created = await createTestKey(server, admin());
      await verify(created.secret, ' \t203.0.113.5 ');
      await server.app.lastUsed.flush();
      expect((await getKey(created)).lastUsedIp).toBe('203.0.113.5');
    });

    it('records the time but no IP when the caller sent none', async () => {
      const created = await createTestKey(server, admin());
      const response = await verify(created.secret, '');
      await server.app.lastUsed.flush();
      const key = await getKey(created);
      expect(timestampMs(key.lastUsedTime)).toBe(timestampMs(response.authenticateTime));
      expect(key.lastUsedIp).toBe('');
    });
  });

  describe('only ever a canonical address', () => {
    it("shows no IP after a verify whose client_ip was another key's secret, and keeps it out of the table", async () => {
      const created = await createTestKey(server, admin());
      const other = await createTestKey(server, admin());
      expect((await verify(created.secret, other.secret)).valid).toBe(true);
      await server.app.lastUsed.flush();
      const key = await getKey(created);
      expect(key.lastUsedTime).toBeDefined();
      expect(key.lastUsedIp).toBe('');
      const row: unknown = await server.app.db('api_keys').where({ id: created.key.id }).first('last_used_ip');
      expect(row).toEqual({ last_used_ip: null });
    });

    it('shows no IP after a 62 KB client_ip', async () => {
      const created = await createTestKey(server, admin());
      expect((await verify(created.secret, `198.51.100.1 ${'x'.repeat(62 * 1024)}`)).valid).toBe(true);
      await server.app.lastUsed.flush();
      expect((await getKey(created)).lastUsedIp).toBe('');
    });

    it('shows the canonical spelling of the address the caller sent', async () => {
      const created = await createTestKey(server, admin());
      await verify(created.secret, '2001:0DB8:0000::0007');
      await server.app.lastUsed.flush();
      expect((await getKey(created)).lastUsedIp).toBe('2001:db8::7');
    });

    it('does not show text an older version stored that is not an address', async () => {
      const created = await createTestKey(server, admin());
      await server.app
        .db('api_keys')
        .where({ id: created.key.id })
        .update({ last_used_time: server.clock.now(), last_used_ip: 'not-an-ip' });
      expect((await getKey(created)).lastUsedIp).toBe('');
    });
  });

  describe('not recorded for denials', () => {
    it('leaves a never-used key unset after denied verifies', async () => {
      const created = await createTestKey(server, admin(), { allowedIps: ['198.51.100.0/24'] });
      expect((await verify(created.secret, '203.0.113.50')).denialReason).toBe(
        DenialReason.DENIAL_REASON_IP_NOT_ALLOWED,
      );
      expect((await verify(created.secret, '198.51.100.1', ['users:delete'])).denialReason).toBe(
        DenialReason.DENIAL_REASON_INSUFFICIENT_SCOPE,
      );
      await server.app.lastUsed.flush();
      const key = await getKey(created);
      expect(key.lastUsedTime).toBeUndefined();
      expect(key.lastUsedIp).toBe('');
    });

    it('keeps the last successful use when later verifies are denied (scope, IP, revoked, expired)', async () => {
      const created = await createTestKey(server, admin(), { allowedIps: ['198.51.100.0/24'], expiresInHours: 1 });
      const success = await verify(created.secret, '198.51.100.1');
      expect(success.valid).toBe(true);
      await server.app.lastUsed.flush();
      server.clock.advance(1000);

      expect((await verify(created.secret, '198.51.100.2', ['users:delete'])).valid).toBe(false);
      expect((await verify(created.secret, '203.0.113.50')).valid).toBe(false);
      server.clock.advance(HOUR);
      expect((await verify(created.secret, '198.51.100.3')).denialReason).toBe(DenialReason.DENIAL_REASON_EXPIRED);
      await server.app.lastUsed.flush();

      const key = await getKey(created);
      expect(timestampMs(key.lastUsedTime)).toBe(timestampMs(success.authenticateTime));
      expect(key.lastUsedIp).toBe('198.51.100.1');
    });

    it('does not record verifies of a revoked key', async () => {
      const created = await createTestKey(server, admin());
      await server.clients.admin.revokeKey({ actor: actorFor(created), keyId: created.key.id, reason: '' });
      expect((await verify(created.secret, '203.0.113.50')).denialReason).toBe(DenialReason.DENIAL_REASON_REVOKED);
      await server.app.lastUsed.flush();
      expect((await getKey(created)).lastUsedTime).toBeUndefined();
    });
  });

  describe('never goes back in time', () => {
    it('keeps a newer time when an older one is written after it', async () => {
      const created = await createTestKey(server, admin());
      const repository = new KnexKeyRepository(server.app.db);
      const newer = server.clock.now();
      await repository.recordLastUsed([{ keyId: created.key.id, time: newer, ip: '203.0.113.2' }]);
      await repository.recordLastUsed([{ keyId: created.key.id, time: newer - 60_000, ip: '203.0.113.1' }]);
      const key = await getKey(created);
      expect(timestampMs(key.lastUsedTime)).toBe(newer);
      expect(key.lastUsedIp).toBe('203.0.113.2');
    });

    it('keeps a newer time recorded elsewhere (another replica) when this server flushes an older use', async () => {
      const created = await createTestKey(server, admin());
      const older = await verify(created.secret, '203.0.113.1');
      const newer = timestampMs(older.authenticateTime) + 60_000;
      await new KnexKeyRepository(server.app.db).recordLastUsed([
        { keyId: created.key.id, time: newer, ip: '203.0.113.9' },
      ]);
      await server.app.lastUsed.flush();
      const key = await getKey(created);
      expect(timestampMs(key.lastUsedTime)).toBe(newer);
      expect(key.lastUsedIp).toBe('203.0.113.9');
    });

    it('replaces an older time with a newer one', async () => {
      const created = await createTestKey(server, admin());
      await verify(created.secret, '203.0.113.1');
      await server.app.lastUsed.flush();
      server.clock.advance(1000);
      const later = await verify(created.secret, '203.0.113.2');
      await server.app.lastUsed.flush();
      const key = await getKey(created);
      expect(timestampMs(key.lastUsedTime)).toBe(timestampMs(later.authenticateTime));
      expect(key.lastUsedIp).toBe('203.0.113.2');
    });
  });
});
