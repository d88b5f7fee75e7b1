import { status } from '@grpc/grpc-js';
import { beforeAll, describe, expect, it } from 'vitest';

import { type CreateKeyRequest, DenialReason, Role, type VerifyKeyResponse } from '../../gen/apikeys/v1/api_keys.js';
import { generateSecret } from '../../src/domain/keyFormat.js';
import { createTestKey, type TestKey } from '../helpers/createTestKey.js';
import { describeEachDatabase } from '../helpers/eachDatabase.js';
import { grpcError } from '../helpers/grpcClients.js';
import { actorOf, newOrganizationId } from '../helpers/testActors.js';
import { timestampMs } from '../helpers/timestampMs.js';
import { useTestServer } from '../helpers/useTestServer.js';

const HOUR = 3_600_000;

/** A fresh organization's admin, so no two tests share keys. */
function admin(userId = 'alice') {
  return actorOf(newOrganizationId('verify'), userId, Role.ROLE_ADMIN);
}

/** Replaces the character at `index` (negative counts from the end). */
function replaceAt(text: string, index: number, char: string): string {
  const i = index < 0 ? text.length + index : index;
  return text.slice(0, i) + char + text.slice(i + 1);
}

/** A different base62 character than the one at `index`. */
function otherBase62(text: string, index: number): string {
  const i = index < 0 ? text.length + index : index;
  return replaceAt(text, i, text[i] === 'A' ? 'B' : 'A');
}

/** Swaps the first two different neighbouring characters of the random part. */
function swapNeighbours(secret: string): string {
  for (let i = 'tt_admin_'.length; i + 1 < secret.length; i++) {
    const [a, b] = [secret[i] ?? '', secret[i + 1] ?? ''];
    if (a !== b) return secret.slice(0, i) + b + a + secret.slice(i + 2);
  }
  throw new Error('no two different neighbouring characters');
}

describeEachDatabase('VerifyKey decisions', (kind) => {
  const server = useTestServer(kind);

  const verify = (key: string, clientIp = '', requiredScopes: string[] = []): Promise<VerifyKeyResponse> =>
    server.clients.verifier.verifyKey({ key, clientIp, requiredScopes });

  const create = (request: Partial<Omit<CreateKeyRequest, 'actor'>> = {}, actor = admin()): Promise<TestKey> =>
    createTestKey(server, actor, request);

  const revoke = async (created: TestKey): Promise<void> => {
    await server.clients.admin.revokeKey({
      actor: actorOf(created.key.organizationId, 'alice'),
      keyId: created.key.id,
      reason: 'test',
    });
  };

  /** The key fields a denial carries once the key was identified. */
  const expectIdentified = (response: VerifyKeyResponse, created: TestKey): void => {
    expect(response).toMatchObject({
      keyId: created.key.id,
      keyName: created.key.name,
      keyPrefix: created.key.prefix,
      scopes: created.key.scopes,
      organizationId: created.key.organizationId,
      createdByUserId: created.key.createdByUserId,
    });
    expect(response.expireTime).toEqual(created.key.expireTime);
  };

  /** No key fields: malformed and unknown keys reveal nothing. */
  const expectAnonymous = (response: VerifyKeyResponse): void => {
    expect(response).toMatchObject({
      keyId: '',
      keyName: '',
      keyPrefix: '',
      scopes: [],
      organizationId: '',
      createdByUserId: '',
    });
    expect(response.expireTime).toBeUndefined();
  };

  describe('valid (200)', () => {
    it('returns the key id, name, prefix, sorted scopes, expiry, organization, creator and decision time', async () => {
      const actor = admin('carol');
      const created = await create(
        { name: 'Zendesk Sync', scopes: ['users:read', 'tickets:write', 'tickets:read'] },
        actor,
      );
      const before = server.clock.now();
      const response = await verify(created.secret, '203.0.113.50', ['tickets:read']);
      const after = server.clock.now();
      expect(response).toMatchObject({
        valid: true,
        denialReason: DenialReason.DENIAL_REASON_UNSPECIFIED,
        httpStatus: 200,
        keyId: created.key.id,
        keyName: 'Zendesk Sync',
        keyPrefix: created.secret.slice(0, 'tt_admin_'.length + 8),
        scopes: ['tickets:read', 'tickets:write', 'users:read'],
        organizationId: actor.organizationId,
        createdByUserId: 'carol',
      });
      expect(response.message).not.toBe('');
      expect(response.expireTime).toEqual(created.key.expireTime);
      expect(timestampMs(response.authenticateTime)).toBeGreaterThanOrEqual(before);
      expect(timestampMs(response.authenticateTime)).toBeLessThanOrEqual(after);
    });

    it('accepts when every required scope is granted', async () => {
      const created = await create({ scopes: ['tickets:read', 'tickets:write', 'users:read'] });
      const response = await verify(created.secret, '', ['tickets:write', 'users:read', 'tickets:read']);
      expect(response).toMatchObject({ valid: true, httpStatus: 200 });
    });

    it('accepts when no scope is required', async () => {
      const created = await create();
      expect(await verify(created.secret)).toMatchObject({ valid: true, httpStatus: 200 });
    });

    it('accepts a key made by a Read-Only Admin (tt_readonly_ label)', async () => {
      const created = await createTestKey(
        server,
        actorOf(newOrganizationId('verify'), 'rita', Role.ROLE_READ_ONLY_ADMIN),
      );
      expect(created.secret).toMatch(/^tt_readonly_/);
      const response = await verify(created.secret, '', ['tickets:read']);
      expect(response).toMatchObject({ valid: true, createdByUserId: 'rita' });
    });
  });

  describe('MALFORMED (401), decided without a database query', () => {
    let secret = '';
    beforeAll(async () => {
      secret = (await create()).secret;
    });

    const malformed: [string, (secret: string) => string][] = [
      ['empty', () => ''],
      ['wrong prefix (unknown label)', (s) => s.replace('tt_admin_', 'tt_owner_')],
      ['wrong prefix (other vendor)', (s) => s.replace('tt_', 'sk_')],
      ['wrong prefix (upper case)', (s) => s.replace('tt_admin_', 'TT_ADMIN_')],
      ['one character short', (s) => s.slice(0, -1)],
      ['one character long', (s) => `${s}A`],
      ['non-base62 character', (s) => replaceAt(s, 15, '-')],
      ['base64url character', (s) => replaceAt(s, 15, '_')],
      ['bad checksum', (s) => otherBase62(s, -1)],
      ['typo in the random part', (s) => otherBase62(s, 12)],
      ['two neighbouring characters swapped', swapNeighbours],
      ['10 KB string', () => `tt_admin_${'A'.repeat(10 * 1024)}`],
      ['NUL byte inside', (s) => replaceAt(s, 20, '\u0000')],
      ['NUL byte appended', (s) => `${s}\u0000`],
      ['Cyrillic а in the label', (s) => s.replace('tt_admin_', 'tt_\u0430dmin_')],
      ['full-width letter in the random part', (s) => replaceAt(s, 12, '\uff21')],
      ['Greek capital alpha for A', (s) => replaceAt(s, 12, '\u0391')],
      ['"Bearer " included', (s) => `Bearer ${s}`],
      ['surrounding whitespace', (s) => ` ${s}\n`],
    ];

    it.each(malformed)('answers MALFORMED for a key with %s', async (_name, mangle) => {
      const key = mangle(secret);
      expect(key).not.toBe(secret);
      const queries = server.app.cache.stats.databaseQueries;
      const response = await verify(key, '203.0.113.50', ['tickets:read']);
      expect(response).toMatchObject({
        valid: false,
        denialReason: DenialReason.DENIAL_REASON_MALFORMED,
        httpStatus: 401,
      });
      expect(response.message).toMatch(/not a TopTickets API key/);
      expectAnonymous(response);
      expect(server.app.cache.stats.databaseQueries).toBe(queries);
    });

    it('still verifies the untouched key (the variants above are only malformed)', async () => {
      expect((await verify(secret)).valid).toBe(true);
    });
  });

  describe('NOT_FOUND (401)', () => {
    it('answers NOT_FOUND for a well-formed key that was never issued, without key fields', async () => {
      for (const label of ['admin', 'readonly'] as const) {
        const response = await verify(generateSecret(label).secret, '203.0.113.50', ['tickets:read']);
        expect(response).toMatchObject({
          valid: false,
          denialReason: DenialReason.DENIAL_REASON_NOT_FOUND,
          httpStatus: 401,
        });
        expect(response.message).toMatch(/not found/);
        expectAnonymous(response);
      }
    });
  });

  describe('REVOKED (401)', () => {
    it('answers REVOKED with the key fields and when it was revoked', async () => {
      const created = await create();
      await revoke(created);
      const response = await verify(created.secret);
      expect(response).toMatchObject({
        valid: false,
        denialReason: DenialReason.DENIAL_REASON_REVOKED,
        httpStatus: 401,
      });
      expect(response.message).toMatch(/was revoked at \d{4}-\d\d-\d\dT.*; create a new key/);
      expectIdentified(response, created);
    });

    it('says REVOKED, not EXPIRED, for a key that is revoked and expired', async () => {
      const created = await create({ expiresInHours: 1 });
      await revoke(created);
      server.clock.advance(2 * HOUR);
      const response = await verify(created.secret);
      expect(response).toMatchObject({ denialReason: DenialReason.DENIAL_REASON_REVOKED, httpStatus: 401 });
    });

    it('says REVOKED before looking at the client IP or the scopes', async () => {
      const created = await create({ allowedIps: ['198.51.100.0/24'], scopes: ['tickets:read'] });
      await revoke(created);
      const response = await verify(created.secret, '203.0.113.50', ['users:delete']);
      expect(response).toMatchObject({ denialReason: DenialReason.DENIAL_REASON_REVOKED, httpStatus: 401 });
    });
  });

  describe('EXPIRED (401)', () => {
    it('answers EXPIRED with when it expired and what to do', async () => {
      const created = await create({ expiresInHours: 1 });
      server.clock.advance(HOUR);
      const response = await verify(created.secret);
      expect(response).toMatchObject({
        valid: false,
        denialReason: DenialReason.DENIAL_REASON_EXPIRED,
        httpStatus: 401,
      });
      const expiry = new Date(timestampMs(created.key.expireTime)).toISOString();
      expect(response.message).toContain(`expired at ${expiry}`);
      expect(response.message).toContain('create a new key');
      expectIdentified(response, created);
    });

    it('says EXPIRED, not IP_NOT_ALLOWED, for an expired key used from a disallowed IP', async () => {
      const created = await create({ expiresInHours: 1, allowedIps: ['198.51.100.0/24'] });
      server.clock.advance(2 * HOUR);
      const response = await verify(created.secret, '203.0.113.50');
      expect(response).toMatchObject({ denialReason: DenialReason.DENIAL_REASON_EXPIRED, httpStatus: 401 });
    });

    it('says EXPIRED, not INSUFFICIENT_SCOPE, for an expired key lacking the scope', async () => {
      const created = await create({ expiresInHours: 1 });
      server.clock.advance(2 * HOUR);
      const response = await verify(created.secret, '', ['users:delete']);
      expect(response).toMatchObject({ denialReason: DenialReason.DENIAL_REASON_EXPIRED, httpStatus: 401 });
    });
  });

  describe('IP_NOT_ALLOWED (403)', () => {
    it('names the client IP and the allowlist when the IP is not listed', async () => {
      const created = await create({ allowedIps: ['198.51.100.0/24', '2001:db8::/32'] });
      const response = await verify(created.secret, '203.0.113.50');
      expect(response).toMatchObject({
        valid: false,
        denialReason: DenialReason.DENIAL_REASON_IP_NOT_ALLOWED,
        httpStatus: 403,
      });
      expect(response.message).toContain('203.0.113.50');
      expect(response.message).toContain('allowlist');
      expectIdentified(response, created);
    });

    it('says IP_NOT_ALLOWED, not INSUFFICIENT_SCOPE, when both apply (IP is checked first)', async () => {
      const created = await create({ allowedIps: ['198.51.100.7'], scopes: ['tickets:read'] });
      const response = await verify(created.secret, '203.0.113.50', ['users:delete']);
      expect(response).toMatchObject({ denialReason: DenialReason.DENIAL_REASON_IP_NOT_ALLOWED, httpStatus: 403 });
    });

    it.each([
      ['missing', ''],
      ['whitespace only', '   '],
    ])('denies a key with an allowlist when the client IP is %s, saying none was sent', async (_name, clientIp) => {
      const created = await create({ allowedIps: ['0.0.0.0/0', '::/0'] });
      const response = await verify(created.secret, clientIp);
      expect(response).toMatchObject({ denialReason: DenialReason.DENIAL_REASON_IP_NOT_ALLOWED, httpStatus: 403 });
      expect(response.message).toMatch(/no client IP/);
    });

    it.each([
      ['not an address', 'localhost'],
      ['two-part IPv4 (127.1)', '127.1'],
      ['hex IPv4 (0x7f.0.0.1)', '0x7f.0.0.1'],
      ['leading-zero IPv4 (010.0.0.1)', '010.0.0.1'],
      ['hex IPv4 inside IPv4-mapped IPv6', '::ffff:0x7f.0.0.1'],
      ['IPv6 with a zone id (fe80::1%eth0), treated as unparsable', 'fe80::1%eth0'],
      ['an address with a port', '203.0.113.50:443'],
      ['a CIDR range', '203.0.113.0/24'],
    ])(
      'denies a key with an allowlist when the client IP is %s, saying it is not a valid address',
      async (_name, clientIp) => {
        const created = await create({ allowedIps: ['0.0.0.0/0', '::/0'] });
        const response = await verify(created.secret, clientIp);
        expect(response).toMatchObject({
          denialReason: DenialReason.DENIAL_REASON_IP_NOT_ALLOWED,
          httpStatus: 403,
        });
        expect(response.message).toMatch(/is not a valid IP address/);
      },
    );
  });

  describe('IP allowlist matching', () => {
    const cases: [string, string[], string, boolean][] = [
      ['an IPv4 address equal to an IPv4 entry', ['203.0.113.50'], '203.0.113.50', true],
      ['an IPv4 address next to an IPv4 entry', ['203.0.113.50'], '203.0.113.51', false],
      ['an IPv4 address inside an IPv4 CIDR', ['198.51.100.0/24'], '198.51.100.255', true],
      ['an IPv4 address just outside an IPv4 CIDR', ['198.51.100.0/24'], '198.51.101.0', false],
      ['an IPv6 address equal to an IPv6 entry', ['2001:db8::1'], '2001:0db8:0000::0001', true],
      ['an IPv6 address next to an IPv6 entry', ['2001:db8::1'], '2001:db8::2', false],
      ['an IPv6 address inside an IPv6 CIDR', ['2001:db8::/32'], '2001:db8:ffff::1', true],
      ['an IPv6 address just outside an IPv6 CIDR', ['2001:db8::/32'], '2001:db9::', false],
      ['an IPv4-mapped IPv6 client against an IPv4 entry', ['203.0.113.50'], '::ffff:203.0.113.50', true],
      ['an IPv4-mapped IPv6 client against an IPv4 CIDR', ['203.0.113.0/24'], '::FFFF:203.0.113.9', true],
      ['an IPv4-mapped IPv6 client outside an IPv4 CIDR', ['203.0.113.0/24'], '::ffff:203.0.114.9', false],
      ['an IPv4 client against an IPv4-mapped entry', ['::ffff:203.0.113.50'], '203.0.113.50', true],
      ['an IPv4 client against an IPv4-mapped CIDR', ['::ffff:198.51.100.0/120'], '198.51.100.77', true],
      ['an IPv4 client against an IPv6 CIDR', ['2001:db8::/32'], '203.0.113.50', false],
      ['an IPv6 client against an IPv4 CIDR', ['0.0.0.0/0'], '2001:db8::1', false],
      ['a client IP with surrounding whitespace', ['203.0.113.50', '2001:db8::/32'], ' \t203.0.113.50 \n', true],
      ['an IPv6 client IP with surrounding whitespace', ['2001:db8::/32'], '  2001:db8::7  ', true],
      ['an IPv6 zone id, treated as unparsable even inside a listed range', ['fe80::/10'], 'fe80::1%eth0', false],
      ['127.1, treated as unparsable even with 127.0.0.0/8 listed', ['127.0.0.0/8'], '127.1', false],
      ['0x7f.0.0.1, treated as unparsable even with 127.0.0.0/8 listed', ['127.0.0.0/8'], '0x7f.0.0.1', false],
      [
        '010.0.0.1, unparsable with both 8.0.0.0/8 and 10.0.0.0/8 listed',
        ['8.0.0.0/8', '10.0.0.0/8'],
        '010.0.0.1',
        false,
      ],
    ];

    it.each(cases)(
      'decides %s (allowlist %j, client %j → allowed: %s)',
      async (_name, allowedIps, clientIp, allowed) => {
        const created = await create({ allowedIps });
        const response = await verify(created.secret, clientIp);
        expect(response.valid).toBe(allowed);
        if (!allowed) {
          expect(response).toMatchObject({ denialReason: DenialReason.DENIAL_REASON_IP_NOT_ALLOWED, httpStatus: 403 });
        }
      },
    );

    it.each(['', '   ', '203.0.113.50', '2001:db8::1', '::ffff:203.0.113.50', 'not-an-ip', 'fe80::1%eth0'])(
      'allows any client with an empty allowlist, including client IP %j',
      async (clientIp) => {
        const created = await create({ allowedIps: [] });
        expect(await verify(created.secret, clientIp)).toMatchObject({ valid: true, httpStatus: 200 });
      },
    );
  });

  describe('INSUFFICIENT_SCOPE (403)', () => {
    it('names the one missing scope', async () => {
      const created = await create({ scopes: ['tickets:read'] });
      const response = await verify(created.secret, '', ['tickets:read', 'tickets:write']);
      expect(response).toMatchObject({
        valid: false,
        denialReason: DenialReason.DENIAL_REASON_INSUFFICIENT_SCOPE,
        httpStatus: 403,
      });
      expect(response.message).toContain('tickets:write');
      expect(response.message).not.toContain('tickets:read');
      expectIdentified(response, created);
    });

    it('requires every scope: names each missing one, once, and not the granted ones', async () => {
      const created = await create({ scopes: ['tickets:read', 'users:read'] });
      const response = await verify(created.secret, '', [
        'users:delete',
        'tickets:read',
        'comments:write',
        'users:delete',
      ]);
      expect(response).toMatchObject({ denialReason: DenialReason.DENIAL_REASON_INSUFFICIENT_SCOPE, httpStatus: 403 });
      expect(response.message).toContain('comments:write, users:delete');
      expect(response.message.match(/users:delete/g)).toHaveLength(1);
      expect(response.message).not.toContain('tickets:read');
    });

    it('speaks of one scope when the same missing scope is required twice', async () => {
      const created = await create({ scopes: ['tickets:read'] });
      const response = await verify(created.secret, '', ['users:delete', 'users:delete']);
      expect(response.message).toMatch(/lacks the scope users:delete; grant it/);
    });

    it('is decided after the IP check passes', async () => {
      const created = await create({ allowedIps: ['203.0.113.50'], scopes: ['tickets:read'] });
      const response = await verify(created.secret, '203.0.113.50', ['users:delete']);
      expect(response.denialReason).toBe(DenialReason.DENIAL_REASON_INSUFFICIENT_SCOPE);
    });
  });

  describe('INVALID_ARGUMENT for a malformed request', () => {
    it('rejects an unknown required scope with a message starting "Invalid scope"', async () => {
      const created = await create();
      const error = await grpcError(verify(created.secret, '', ['tickets:read', 'tickets:fly']));
      expect(error.code).toBe(status.INVALID_ARGUMENT);
      expect(error.details).toMatch(/^Invalid scope/);
      expect(error.details).toContain('tickets:fly');
    });

    it('rejects an unknown required scope even for a malformed key (a caller bug, not a key problem)', async () => {
      const error = await grpcError(verify('not-a-key', '', ['TICKETS:READ']));
      expect(error.code).toBe(status.INVALID_ARGUMENT);
      expect(error.details).toMatch(/^Invalid scope/);
    });

    it('rejects more than 64 required scopes, stating the limit', async () => {
      const created = await create();
      const error = await grpcError(verify(created.secret, '', Array<string>(65).fill('tickets:read')));
      expect(error.code).toBe(status.INVALID_ARGUMENT);
      expect(error.details).toMatch(/at most 64/);
    });
  });
});
