import { setTimeout as sleep } from 'node:timers/promises';
import { crc32 } from 'node:zlib';

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';

import { DenialReason, Role, UpdateKeyRequest, type VerifyKeyResponse } from '../../gen/apikeys/v1/api_keys.js';
import { CHECKSUM_LENGTH, isWellFormedKey, RANDOM_LENGTH } from '../../src/domain/keyFormat.js';
import { BASE62_ALPHABET, toBase62 } from '../../src/domain/randomBase62.js';
import { createTestKey, type TestKey } from '../helpers/createTestKey.js';
import { describeEachDatabase } from '../helpers/eachDatabase.js';
import { settleFeed as settle } from '../helpers/settleFeed.js';
import { type TestServer } from '../helpers/startTestServer.js';
import { actorOf, newOrganizationId } from '../helpers/testActors.js';
import { timestampMs } from '../helpers/timestampMs.js';
import { useTestServer } from '../helpers/useTestServer.js';

const HOUR = 3_600_000;

function admin() {
  return actorOf(newOrganizationId('cache'), 'alice', Role.ROLE_ADMIN);
}

function verifyOn(server: TestServer, key: string, clientIp = '', requiredScopes: string[] = []) {
  return server.clients.verifier.verifyKey({ key, clientIp, requiredScopes });
}

/** Counts the database queries and cache hits that `work` causes. */
async function counting<T>(server: TestServer, work: () => Promise<T>) {
  const { databaseQueries, hits, negativeHits } = server.app.cache.stats;
  const result = await work();
  return {
    result,
    queries: server.app.cache.stats.databaseQueries - databaseQueries,
    hits: server.app.cache.stats.hits - hits,
    negativeHits: server.app.cache.stats.negativeHits - negativeHits,
  };
}

/** Makes sure `secret` is in the cache: a second verify answers without a query. */
async function warm(server: TestServer, secret: string): Promise<void> {
  await settle(server);
  await verifyOn(server, secret);
  const second = await counting(server, () => verifyOn(server, secret));
  expect(second.result.valid).toBe(true);
  expect(second.queries).toBe(0);
}

/**
 * Runs `work` while every database query waits `ms` before getting a connection, so concurrent requests
 * really overlap a query in flight (an SQLite lookup otherwise completes before the next request arrives).
 */
async function withSlowDatabase<T>(server: TestServer, ms: number, work: () => Promise<T>): Promise<T> {
  const client = server.app.db.client as { acquireConnection: () => Promise<unknown> };
  const original = client.acquireConnection;
  client.acquireConnection = async function (this: unknown) {
    await sleep(ms);
    return original.call(this);
  };
  try {
    return await work();
  } finally {
    client.acquireConnection = original;
  }
}

/** A well-formed key (right shape, right checksum) with the given random part. */
function wellFormedKey(label: 'admin' | 'readonly', random: string): string {
  const body = `tt_${label}_${random}`;
  return body + toBase62(crc32(body), CHECKSUM_LENGTH);
}

describeEachDatabase('VerifyKey cache', (kind) => {
  describe('warm keys and misses', () => {
    const server = useTestServer(kind);

    it('answers a warm key from memory: 25 verifies, zero database queries', async () => {
      const { secret } = await createTestKey(server, admin());
      await settle(server);
      await verifyOn(server, secret);
      const warmRun = await counting(server, async () => {
        const responses: VerifyKeyResponse[] = [];
        for (let i = 0; i < 25; i++) responses.push(await verifyOn(server, secret, '203.0.113.50', ['tickets:read']));
        return responses;
      });
      expect(warmRun.result.every((response) => response.valid)).toBe(true);
      expect(warmRun.queries).toBe(0);
      expect(warmRun.hits).toBe(25);
    });

    it('makes exactly one database query for a key not yet cached', async () => {
      const { secret } = await createTestKey(server, admin());
      await settle(server);
      const miss = await counting(server, () => verifyOn(server, secret));
      expect(miss.result.valid).toBe(true);
      expect(miss.queries).toBe(1);
    });

    it('shares one database query among 50 concurrent verifies of a key not yet cached', async () => {
      const { secret, key } = await createTestKey(server, admin());
      await settle(server);
      const burst = await withSlowDatabase(server, 100, () =>
        counting(server, () =>
          Promise.all(Array.from({ length: 50 }, () => verifyOn(server, secret, '', ['tickets:read']))),
        ),
      );
      expect(burst.result.map((response) => [response.valid, response.keyId])).toEqual(
        Array.from({ length: 50 }, () => [true, key.id]),
      );
      expect(burst.queries).toBe(1);
    });

    it('shares one query among concurrent verifies of an unknown key too', async () => {
      const unknown = wellFormedKey('admin', 'Z'.repeat(RANDOM_LENGTH));
      await settle(server);
      const burst = await withSlowDatabase(server, 100, () =>
        counting(server, () => Promise.all(Array.from({ length: 50 }, () => verifyOn(server, unknown)))),
      );
      expect(burst.result.every((response) => response.denialReason === DenialReason.DENIAL_REASON_NOT_FOUND)).toBe(
        true,
      );
      expect(burst.queries).toBe(1);
    });
  });

  describe('changes take effect on the very next verify, even for a cached key', () => {
    const server = useTestServer(kind);

    const actorFor = (created: TestKey) => actorOf(created.key.organizationId, 'alice');
    const update = (created: TestKey, request: Partial<UpdateKeyRequest>) =>
      server.clients.admin.updateKey(
        UpdateKeyRequest.fromPartial({ actor: actorFor(created), keyId: created.key.id, ...request }),
      );
    const rotate = (created: TestKey, gracePeriodHours: number) =>
      server.clients.admin.rotateKey({ actor: actorFor(created), keyId: created.key.id, gracePeriodHours });

    it('denies a key as REVOKED right after RevokeKey', async () => {
      const created = await createTestKey(server, admin());
      await warm(server, created.secret);
      await server.clients.admin.revokeKey({ actor: actorFor(created), keyId: created.key.id, reason: 'leaked' });
      const response = await verifyOn(server, created.secret);
      expect(response).toMatchObject({ valid: false, denialReason: DenialReason.DENIAL_REASON_REVOKED });
    });

    it('denies a key as REVOKED right after RevokeUserKeys revoked its creator’s keys', async () => {
      const created = await createTestKey(server, admin());
      await warm(server, created.secret);
      await server.clients.admin.revokeUserKeys({ actor: actorFor(created), userId: 'alice', reason: 'offboarded' });
      expect((await verifyOn(server, created.secret)).denialReason).toBe(DenialReason.DENIAL_REASON_REVOKED);
    });

    it('denies a removed scope right after UpdateKey', async () => {
      const created = await createTestKey(server, admin(), { scopes: ['tickets:read', 'tickets:write'] });
      await warm(server, created.secret);
      expect((await verifyOn(server, created.secret, '', ['tickets:write'])).valid).toBe(true);
      await update(created, { scopes: ['tickets:read'], updateMask: ['scopes'] });
      const response = await verifyOn(server, created.secret, '', ['tickets:write']);
      expect(response).toMatchObject({
        valid: false,
        denialReason: DenialReason.DENIAL_REASON_INSUFFICIENT_SCOPE,
        scopes: ['tickets:read'],
      });
    });

    it('applies a changed allowlist right after UpdateKey', async () => {
      const created = await createTestKey(server, admin(), { allowedIps: ['203.0.113.0/24'] });
      await settle(server);
      await verifyOn(server, created.secret, '203.0.113.50');
      expect((await verifyOn(server, created.secret, '203.0.113.50')).valid).toBe(true);
      await update(created, { allowedIps: ['198.51.100.0/24'], updateMask: ['allowed_ips'] });
      expect((await verifyOn(server, created.secret, '203.0.113.50')).denialReason).toBe(
        DenialReason.DENIAL_REASON_IP_NOT_ALLOWED,
      );
      expect((await verifyOn(server, created.secret, '198.51.100.9')).valid).toBe(true);
    });

    it('applies a shortened expiry right after UpdateKey', async () => {
      const created = await createTestKey(server, admin());
      await warm(server, created.secret);
      const updated = await update(created, { expiresInHours: 1, updateMask: ['expires_in_hours'] });
      const newExpiry = timestampMs(updated.key?.expireTime);
      expect(newExpiry).toBeLessThan(timestampMs(created.key.expireTime));
      const response = await verifyOn(server, created.secret);
      expect(response.valid).toBe(true);
      expect(timestampMs(response.expireTime)).toBe(newExpiry);
      server.clock.advance(HOUR);
      expect((await verifyOn(server, created.secret)).denialReason).toBe(DenialReason.DENIAL_REASON_EXPIRED);
    });

    it('denies the old key and accepts the new one right after RotateKey with no grace period', async () => {
      const created = await createTestKey(server, admin());
      await warm(server, created.secret);
      const rotated = await rotate(created, 0);
      expect((await verifyOn(server, created.secret)).denialReason).toBe(DenialReason.DENIAL_REASON_REVOKED);
      expect(await verifyOn(server, rotated.secret)).toMatchObject({ valid: true, keyId: rotated.newKey?.id });
    });

    it('keeps the old key working during a rotation grace period, with the shortened expiry', async () => {
      const created = await createTestKey(server, admin());
      await warm(server, created.secret);
      const rotated = await rotate(created, 1);
      const response = await verifyOn(server, created.secret);
      expect(response.valid).toBe(true);
      expect(response.expireTime).toEqual(rotated.oldKey?.expireTime);
    });
  });

  describe('unknown keys (CACHE_NEGATIVE_TTL_MS=60000, no filter of known keys)', () => {
    // The negative cache alone: with the filter on, an unknown key is answered by the filter instead
    // (test/integration/unknownKeyFlood.test.ts).
    const server = useTestServer(kind, { CACHE_NEGATIVE_TTL_MS: '60000', KNOWN_KEY_FILTER_CAPACITY: '0' });

    it('answers the second lookup of a random well-formed unknown key from the negative cache', async () => {
      await settle(server);
      const seen = new Set<string>();
      await fc.assert(
        fc.asyncProperty(
          fc.constantFrom('admin' as const, 'readonly' as const),
          fc.string({
            unit: fc.constantFrom(...BASE62_ALPHABET.split('')),
            minLength: RANDOM_LENGTH,
            maxLength: RANDOM_LENGTH,
          }),
          async (label, random) => {
            const key = wellFormedKey(label, random);
            fc.pre(!seen.has(key));
            seen.add(key);
            expect(isWellFormedKey(key)).toBe(true);
            const first = await counting(server, () => verifyOn(server, key));
            expect(first.result.denialReason).toBe(DenialReason.DENIAL_REASON_NOT_FOUND);
            expect(first.queries).toBe(1);
            const second = await counting(server, () => verifyOn(server, key));
            expect(second.result.denialReason).toBe(DenialReason.DENIAL_REASON_NOT_FOUND);
            expect(second.queries).toBe(0);
            expect(second.negativeHits).toBe(1);
          },
        ),
        { numRuns: 40 },
      );
    });
  });

  describe('eviction (CACHE_MAX_KEYS=2)', () => {
    const server = useTestServer(kind, { CACHE_MAX_KEYS: '2' });

    it('counts evictions beyond the limit and still verifies evicted keys correctly', async () => {
      const keys = await Promise.all([1, 2, 3, 4].map(() => createTestKey(server, admin())));
      await settle(server);
      const evictions = server.app.cache.stats.evictions;
      for (const { secret } of keys) await verifyOn(server, secret);
      expect(server.app.cache.stats.evictions - evictions).toBe(2);
      expect(server.app.cache.size).toBe(2);
      const again = await counting(server, () => Promise.all(keys.map(({ secret }) => verifyOn(server, secret))));
      expect(again.result.map((response) => [response.valid, response.keyId])).toEqual(
        keys.map(({ key }) => [true, key.id]),
      );
      expect(again.queries).toBeGreaterThan(0);
    });

    it('denies an evicted key that was revoked meanwhile', async () => {
      const [victim, ...others] = await Promise.all([1, 2, 3].map(() => createTestKey(server, admin())));
      await settle(server);
      await verifyOn(server, victim!.secret);
      for (const { secret } of others) await verifyOn(server, secret);
      await server.clients.admin.revokeKey({
        actor: actorOf(victim!.key.organizationId, 'alice'),
        keyId: victim!.key.id,
        reason: '',
      });
      expect((await verifyOn(server, victim!.secret)).denialReason).toBe(DenialReason.DENIAL_REASON_REVOKED);
    });
  });
});
