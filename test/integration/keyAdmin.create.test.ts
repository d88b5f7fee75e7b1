import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { status } from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { CreateKeyRequest, DenialReason, KeyOwnerFilter, KeyState, Role } from '../../gen/apikeys/v1/api_keys.js';
import { createTestKey } from '../helpers/createTestKey.js';
import { describeEachDatabase } from '../helpers/eachDatabase.js';
import { grpcError } from '../helpers/grpcClients.js';
import { startTestServer, type TestServer } from '../helpers/startTestServer.js';
import { actorOf, newOrganizationId } from '../helpers/testActors.js';
import { timestampMs } from '../helpers/timestampMs.js';
import { useTestServer } from '../helpers/useTestServer.js';

const HOUR = 3_600_000;
const DEFAULT_SCOPES = ['tickets', 'comments', 'users', 'teams', 'customers', 'attachments', 'dashboard']
  .flatMap((resource) => ['read', 'write', 'delete'].map((action) => `${resource}:${action}`))
  .sort();

function admin() {
  return actorOf(newOrganizationId(), 'alice', Role.ROLE_ADMIN);
}

function readOnlyAdmin() {
  return actorOf(newOrganizationId(), 'rita', Role.ROLE_READ_ONLY_ADMIN);
}

describeEachDatabase('CreateKey', (kind) => {
  const server = useTestServer(kind);

  const create = (request: Partial<CreateKeyRequest>) =>
    server.clients.admin.createKey(CreateKeyRequest.fromPartial({ name: 'k', scopes: ['tickets:read'], ...request }));

  describe('scopes', () => {
    it('collapses duplicate scopes and returns them sorted, as stored', async () => {
      const { key } = await createTestKey(server, admin(), {
        scopes: ['users:read', 'tickets:write', 'tickets:read', 'users:read', 'tickets:write'],
      });
      expect(key.scopes).toEqual(['tickets:read', 'tickets:write', 'users:read']);
      const row = (await server.app.db('api_keys').where('id', key.id).first()) as { scopes: string };
      expect(JSON.parse(row.scopes)).toEqual(['tickets:read', 'tickets:write', 'users:read']);
    });

    it('returns the same order whatever order the scopes were requested in', async () => {
      const a = await createTestKey(server, admin(), {
        scopes: ['teams:read', 'attachments:delete', 'comments:write'],
      });
      const b = await createTestKey(server, admin(), {
        scopes: ['comments:write', 'teams:read', 'attachments:delete'],
      });
      expect(a.key.scopes).toEqual(['attachments:delete', 'comments:write', 'teams:read']);
      expect(b.key.scopes).toEqual(a.key.scopes);
    });

    it('lets an Admin grant every scope of the catalog', async () => {
      const { key } = await createTestKey(server, admin(), { scopes: DEFAULT_SCOPES });
      expect(key.scopes).toEqual(DEFAULT_SCOPES);
    });

    it('lets a Read-Only Admin grant every *:read scope', async () => {
      const readScopes = DEFAULT_SCOPES.filter((scope) => scope.endsWith(':read'));
      const { key, secret } = await createTestKey(server, readOnlyAdmin(), { scopes: readScopes });
      expect(key.scopes).toEqual(readScopes);
      expect(key.createdByRole).toBe(Role.ROLE_READ_ONLY_ADMIN);
      expect(secret.startsWith('tt_readonly_')).toBe(true);
    });

    it('rejects an unknown scope with "Invalid scope", naming it and every valid scope', async () => {
      const error = await grpcError(create({ actor: admin(), scopes: ['tickets:read', 'tickets:fly'] }));
      expect(error.code).toBe(status.INVALID_ARGUMENT);
      expect(error.details.startsWith('Invalid scope')).toBe(true);
      expect(error.details).toContain('"tickets:fly"');
      for (const scope of DEFAULT_SCOPES) expect(error.details).toContain(scope);
    });

    it('names every unknown scope at once', async () => {
      const error = await grpcError(create({ actor: admin(), scopes: ['tickets:fly', 'Tickets:read', 'admin'] }));
      expect(error.code).toBe(status.INVALID_ARGUMENT);
      expect(error.details).toMatch(
        /^Invalid scopes in scopes: "tickets:fly", "Tickets:read", "admin"; valid scopes: /,
      );
    });

    it('rejects an unknown scope from a Read-Only Admin as invalid, before any permission question', async () => {
      const error = await grpcError(create({ actor: readOnlyAdmin(), scopes: ['tickets:fly'] }));
      expect(error.code).toBe(status.INVALID_ARGUMENT);
      expect(error.details.startsWith('Invalid scope')).toBe(true);
    });

    it('refuses non-read scopes to a Read-Only Admin, naming each offending scope', async () => {
      const error = await grpcError(
        create({ actor: readOnlyAdmin(), scopes: ['tickets:read', 'tickets:write', 'users:delete'] }),
      );
      expect(error.code).toBe(status.PERMISSION_DENIED);
      expect(error.details.startsWith('User cannot create keys with these scopes')).toBe(true);
      expect(error.details).toContain('tickets:write');
      expect(error.details).toContain('users:delete');
      expect(error.details).not.toContain('tickets:read');
    });

    it('requires at least one scope', async () => {
      const error = await grpcError(create({ actor: admin(), scopes: [] }));
      expect(error.code).toBe(status.INVALID_ARGUMENT);
      expect(error.details).toMatch(/^scopes: at least one scope is required; valid scopes: attachments:delete/);
    });

    it('rejects more than 64 scope entries, stating the limit', async () => {
      const error = await grpcError(create({ actor: admin(), scopes: Array<string>(65).fill('tickets:read') }));
      expect(error.code).toBe(status.INVALID_ARGUMENT);
      expect(error.details).toBe('scopes: at most 64 scopes allowed, got 65');
    });
  });

  describe('ListScopes', () => {
    it('returns the 21 default scopes sorted by name, with description and read-only flag', async () => {
      const { scopes } = await server.clients.admin.listScopes({ actor: readOnlyAdmin() });
      expect(scopes.map((scope) => scope.name)).toEqual(DEFAULT_SCOPES);
      for (const scope of scopes) {
        expect(`${scope.resource}:${scope.action}`).toBe(scope.name);
        expect(scope.readOnly).toBe(scope.action === 'read');
        expect(scope.description).toMatch(new RegExp(`^(Read|Create and change|Delete) ${scope.resource}$`));
      }
      expect(scopes.find((scope) => scope.name === 'tickets:read')).toEqual({
        name: 'tickets:read',
        resource: 'tickets',
        action: 'read',
        description: 'Read tickets',
        readOnly: true,
      });
    });
  });

  describe('expiration', () => {
    it.each([1, 72, 8759, 8760])('accepts a lifetime of %i hours, counted from creation', async (hours) => {
      const { key } = await createTestKey(server, admin(), { expiresInHours: hours });
      expect(timestampMs(key.expireTime) - timestampMs(key.createTime)).toBe(hours * HOUR);
    });

    it('uses 8760 hours (one year) when no lifetime is given', async () => {
      const { key } = await createTestKey(server, admin());
      expect(timestampMs(key.expireTime) - timestampMs(key.createTime)).toBe(8760 * HOUR);
    });

    it.each([0, -1, -8760, 8761, 2_147_483_647])('rejects a lifetime of %i hours, stating the range', async (hours) => {
      const error = await grpcError(create({ actor: admin(), expiresInHours: hours }));
      expect(error.code).toBe(status.INVALID_ARGUMENT);
      expect(error.details).toBe(`expires_in_hours must be between 1 and 8760 (one year), got ${hours}`);
    });

    it('gives a Read-Only Admin key exactly 72 hours when no lifetime is given', async () => {
      const { key } = await createTestKey(server, readOnlyAdmin());
      expect(timestampMs(key.expireTime) - timestampMs(key.createTime)).toBe(72 * HOUR);
    });

    it('accepts 72 hours, the fixed lifetime, from a Read-Only Admin', async () => {
      const { key } = await createTestKey(server, readOnlyAdmin(), { expiresInHours: 72 });
      expect(timestampMs(key.expireTime) - timestampMs(key.createTime)).toBe(72 * HOUR);
    });

    it.each([1, 71, 73, 8760, 0, -5])(
      'rejects a lifetime of %i hours from a Read-Only Admin, explaining the fixed lifetime',
      async (hours) => {
        const error = await grpcError(create({ actor: readOnlyAdmin(), expiresInHours: hours }));
        expect(error.code).toBe(status.INVALID_ARGUMENT);
        expect(error.details).toBe(
          `keys created by a Read-Only Admin have a fixed lifetime of 72 hours; omit expires_in_hours (got ${hours})`,
        );
      },
    );
  });

  describe('IP allowlists', () => {
    it.each([
      ['203.0.113.50', '203.0.113.50'],
      ['198.51.100.0/24', '198.51.100.0/24'],
      ['203.0.113.50/32', '203.0.113.50'],
      ['0.0.0.0/0', '0.0.0.0/0'],
      ['  10.0.0.0/8 ', '10.0.0.0/8'],
      ['2001:DB8:0:0::1', '2001:db8::1'],
      ['2001:0db8:0000:0000:0000:0000:0000:0001/128', '2001:db8::1'],
      ['2001:db8::/32', '2001:db8::/32'],
      ['::/0', '::/0'],
      ['::1', '::1'],
      ['::ffff:203.0.113.50', '203.0.113.50'],
      ['::FFFF:cb00:7132', '203.0.113.50'],
      ['::ffff:198.51.100.0/120', '198.51.100.0/24'],
      ['::ffff:c633:6400/120', '198.51.100.0/24'],
    ])('accepts %j and returns it as %j', async (entry, canonical) => {
      const { key } = await createTestKey(server, admin(), { allowedIps: [entry] });
      expect(key.allowedIps).toEqual([canonical]);
      const row = (await server.app.db('api_keys').where('id', key.id).first()) as { allowed_ips: string };
      expect(JSON.parse(row.allowed_ips)).toEqual([canonical]);
    });

    it('returns entries sorted, with spellings of the same entry collapsed', async () => {
      const { key } = await createTestKey(server, admin(), {
        allowedIps: ['203.0.113.50', '::ffff:203.0.113.50', '203.0.113.50/32', '2001:db8::/32', '10.0.0.0/8'],
      });
      expect(key.allowedIps).toEqual(['10.0.0.0/8', '2001:db8::/32', '203.0.113.50']);
    });

    it('allows any IP when the allowlist is empty', async () => {
      const { key, secret } = await createTestKey(server, admin(), { allowedIps: [] });
      expect(key.allowedIps).toEqual([]);
      for (const clientIp of ['', '198.51.100.1', '2001:db8::7']) {
        expect((await server.clients.verifier.verifyKey({ key: secret, clientIp, requiredScopes: [] })).valid).toBe(
          true,
        );
      }
    });

    it('admits listed clients, including the IPv4-mapped spelling of a listed IPv4 address, and no one else', async () => {
      const { secret } = await createTestKey(server, admin(), { allowedIps: ['203.0.113.50', '2001:db8::/32'] });
      const verify = (clientIp: string) =>
        server.clients.verifier.verifyKey({ key: secret, clientIp, requiredScopes: [] });
      expect((await verify('203.0.113.50')).valid).toBe(true);
      expect((await verify('::ffff:203.0.113.50')).valid).toBe(true);
      expect((await verify('2001:db8:ffff::1')).valid).toBe(true);
      expect(await verify('203.0.113.51')).toMatchObject({
        valid: false,
        denialReason: DenialReason.DENIAL_REASON_IP_NOT_ALLOWED,
        httpStatus: 403,
      });
    });

    it.each([
      'not-an-ip',
      '256.1.1.1',
      '203.0.113',
      '127.1',
      '0x7f.0.0.1',
      '010.0.0.1',
      '10.0.0.0/33',
      '2001:db8::/129',
      'fe80::1%eth0',
      '203.0.113.50/abc',
      '203.0.113.50/',
      '2001:db8:::1',
      '',
    ])('rejects %j, naming the entry', async (entry) => {
      const error = await grpcError(create({ actor: admin(), allowedIps: ['203.0.113.50', entry] }));
      expect(error.code).toBe(status.INVALID_ARGUMENT);
      expect(error.details).toMatch(/^allowed_ips: /);
      expect(error.details).toContain(JSON.stringify(entry));
    });

    it.each([
      ['198.51.100.7/24', '198.51.100.0/24', '198.51.100.7'],
      ['10.1.2.3/8', '10.0.0.0/8', '10.1.2.3'],
      ['2001:db8::1/32', '2001:db8::/32', '2001:db8::1'],
    ])('rejects %j (host bits set), suggesting %s or %s', async (entry, network, address) => {
      const error = await grpcError(create({ actor: admin(), allowedIps: [entry] }));
      expect(error.code).toBe(status.INVALID_ARGUMENT);
      expect(error.details).toBe(
        `allowed_ips: ${JSON.stringify(entry)} has host bits set; did you mean ${network} (the whole range) or ${address} (the single address)?`,
      );
    });

    it('accepts 50 entries', async () => {
      const entries = Array.from({ length: 50 }, (_, i) => `198.51.100.${i + 1}`);
      const { key } = await createTestKey(server, admin(), { allowedIps: entries });
      expect(key.allowedIps).toHaveLength(50);
    });

    it('rejects 51 entries, stating the maximum of 50', async () => {
      const entries = Array.from({ length: 51 }, (_, i) => `198.51.100.${i + 1}`);
      const error = await grpcError(create({ actor: admin(), allowedIps: entries }));
      expect(error.code).toBe(status.INVALID_ARGUMENT);
      expect(error.details).toBe('allowed_ips: at most 50 entries allowed, got 51');
    });
  });

  describe('key format', () => {
    it('issues tt_admin_ secrets to Admins with a prefix of the label and 8 random characters', async () => {
      const { key, secret } = await createTestKey(server, admin());
      expect(secret).toMatch(/^tt_admin_[0-9A-Za-z]{30}$/);
      expect(key.prefix).toBe(secret.slice(0, 'tt_admin_'.length + 8));
      expect(key.createdByRole).toBe(Role.ROLE_ADMIN);
    });

    it('issues tt_readonly_ secrets to Read-Only Admins with a prefix of the label and 8 random characters', async () => {
      const { key, secret } = await createTestKey(server, readOnlyAdmin());
      expect(secret).toMatch(/^tt_readonly_[0-9A-Za-z]{30}$/);
      expect(key.prefix).toBe(secret.slice(0, 'tt_readonly_'.length + 8));
    });

    it('matches the secret-scanning expression documented in the README', async () => {
      const { secret } = await createTestKey(server, admin());
      const { secret: readOnly } = await createTestKey(server, readOnlyAdmin());
      const scanner = /\btt_(admin|readonly)_[0-9A-Za-z]{30}\b/g;
      const text = `export TOKEN=${secret}\n"key": "${readOnly}",`;
      expect(text.match(scanner)).toEqual([secret, readOnly]);
    });

    it('stores only the SHA-256 of the secret: no column holds the secret or its random part', async () => {
      const { key, secret } = await createTestKey(server, admin());
      const row = (await server.app.db('api_keys').where('id', key.id).first()) as Record<string, unknown>;
      expect(Buffer.from(row.secret_hash as Buffer)).toEqual(createHash('sha256').update(secret).digest());
      const stored = JSON.stringify(row);
      expect(stored).not.toContain(secret);
      expect(stored).not.toContain(secret.slice('tt_admin_'.length));
      expect(stored).not.toContain(secret.slice(-12));
    });

    it('never returns the secret or its hash outside CreateKey', async () => {
      const actor = admin();
      const { key, secret } = await createTestKey(server, actor);
      const hash = createHash('sha256').update(secret).digest();
      const shown = JSON.stringify([
        await server.clients.admin.getKey({ actor, keyId: key.id }),
        await server.clients.admin.listKeys({
          actor,
          owner: KeyOwnerFilter.KEY_OWNER_FILTER_UNSPECIFIED,
          states: [],
          pageSize: 0,
          pageToken: '',
        }),
        await server.clients.admin.listAuditEvents({ actor, keyId: key.id, pageSize: 0, pageToken: '' }),
      ]);
      expect(shown).not.toContain(secret.slice('tt_admin_'.length + 8));
      expect(shown).not.toContain(hash.toString('hex'));
      expect(shown).not.toContain(hash.toString('base64'));
    });
  });

  describe('names', () => {
    it('trims surrounding whitespace', async () => {
      const { key } = await createTestKey(server, admin(), { name: ' \t Zendesk Sync - Production \u3000' });
      expect(key.name).toBe('Zendesk Sync - Production');
    });

    it.each([
      ['Japanese', 'Zendesk 同期 – 本番環境'],
      ['emoji', '🔑 Deploy bot 🚀'],
      ['Arabic', 'مزامنة التذاكر'],
      ['accented Latin', 'Synchronisation Öffentlich — ñandú'],
      ['a single character', 'x'],
    ])('accepts and returns a %s name unchanged', async (_what, name) => {
      const actor = admin();
      const { key } = await createTestKey(server, actor, { name });
      expect(key.name).toBe(name);
      expect((await server.clients.admin.getKey({ actor, keyId: key.id })).key?.name).toBe(name);
    });

    it('accepts 100 characters counted as code points, even when each takes two UTF-16 units', async () => {
      const actor = admin();
      const name = '🔑'.repeat(100);
      const { key } = await createTestKey(server, actor, { name });
      expect((await server.clients.admin.getKey({ actor, keyId: key.id })).key?.name).toBe(name);
    });

    it.each([
      ['101 ASCII characters', 'a'.repeat(101), 101],
      ['101 emoji', '🔑'.repeat(101), 101],
      ['101 Japanese characters', '本'.repeat(101), 101],
    ])('rejects %s, stating the limit', async (_what, name, length) => {
      const error = await grpcError(create({ actor: admin(), name }));
      expect(error.code).toBe(status.INVALID_ARGUMENT);
      expect(error.details).toBe(`name must be at most 100 characters, got ${length}`);
    });

    it.each([
      ['empty', ''],
      ['blank', '   \t  '],
    ])('requires a name (%s is rejected)', async (_what, name) => {
      const error = await grpcError(create({ actor: admin(), name }));
      expect(error.code).toBe(status.INVALID_ARGUMENT);
      expect(error.details).toBe('name is required (1–100 characters)');
    });

    it.each([
      ['NUL', 'abc\u0000def'],
      ['a newline', 'line one\nline two'],
      ['a tab', 'a\tb'],
      ['BEL', 'ring\u0007'],
      ['DEL', 'x\u007fy'],
      ['a C1 control', 'x\u0085y'],
      ['a bidi override', 'evil\u202Etxt.exe'],
    ])('rejects a name containing %s', async (_what, name) => {
      const error = await grpcError(create({ actor: admin(), name }));
      expect(error.code).toBe(status.INVALID_ARGUMENT);
      expect(error.details).toMatch(/^name must not contain control characters/);
    });
  });

  it('creates a key in the ACTIVE state, without revocation or rotation fields', async () => {
    const actor = admin();
    const { key } = await createTestKey(server, actor);
    expect(key).toMatchObject({
      organizationId: actor.organizationId,
      state: KeyState.KEY_STATE_ACTIVE,
      createdByUserId: 'alice',
      revokedByUserId: '',
      revokeReason: '',
      rotatedFromKeyId: '',
      replacedByKeyId: '',
      lastUsedIp: '',
    });
    expect(key.id).toMatch(/^key_[0-9A-Za-z]{22}$/);
    expect(key.revokeTime).toBeUndefined();
    expect(key.lastUsedTime).toBeUndefined();
    expect(key.updateTime).toEqual(key.createTime);
  });
});

describeEachDatabase('CreateKey with a custom scope catalog (SCOPES_FILE)', (kind) => {
  let server: TestServer;
  let dir: string;
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'scopes-'));
    const file = join(dir, 'scopes.json');
    writeFileSync(
      file,
      JSON.stringify([
        { name: 'reports:read', description: 'Read reports' },
        { name: 'reports:export', description: 'Export reports as CSV' },
        { name: 'billing:read', description: 'Read invoices' },
      ]),
    );
    server = await startTestServer(kind, { SCOPES_FILE: file });
  });
  afterAll(async () => {
    await server.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('lists exactly the scopes of the file, sorted, with their descriptions', async () => {
    const { scopes } = await server.clients.admin.listScopes({ actor: admin() });
    expect(scopes).toEqual([
      { name: 'billing:read', resource: 'billing', action: 'read', description: 'Read invoices', readOnly: true },
      {
        name: 'reports:export',
        resource: 'reports',
        action: 'export',
        description: 'Export reports as CSV',
        readOnly: false,
      },
      { name: 'reports:read', resource: 'reports', action: 'read', description: 'Read reports', readOnly: true },
    ]);
  });

  it('rejects the default scopes as invalid, naming the valid ones of the file', async () => {
    const error = await grpcError(
      server.clients.admin.createKey(
        CreateKeyRequest.fromPartial({ actor: admin(), name: 'k', scopes: ['tickets:read'] }),
      ),
    );
    expect(error.code).toBe(status.INVALID_ARGUMENT);
    expect(error.details).toBe(
      'Invalid scope in scopes: "tickets:read"; valid scopes: billing:read, reports:export, reports:read',
    );
  });

  it('grants scopes of the file, with *:read the only ones a Read-Only Admin may grant', async () => {
    const { key } = await createTestKey(server, admin(), { scopes: ['reports:export', 'billing:read'] });
    expect(key.scopes).toEqual(['billing:read', 'reports:export']);
    const readOnly = await createTestKey(server, readOnlyAdmin(), { scopes: ['reports:read'] });
    expect(readOnly.key.scopes).toEqual(['reports:read']);
    const error = await grpcError(
      server.clients.admin.createKey(
        CreateKeyRequest.fromPartial({ actor: readOnlyAdmin(), name: 'k', scopes: ['reports:export'] }),
      ),
    );
    expect(error.code).toBe(status.PERMISSION_DENIED);
    expect(error.details).toMatch(/^User cannot create keys with these scopes: reports:export/);
  });
});

describeEachDatabase('CreateKey with a lower default lifetime (DEFAULT_KEY_LIFETIME_HOURS)', (kind) => {
  const server = useTestServer(kind, { DEFAULT_KEY_LIFETIME_HOURS: '24' });

  it('uses the configured default when no lifetime is given', async () => {
    const { key } = await createTestKey(server, admin());
    expect(timestampMs(key.expireTime) - timestampMs(key.createTime)).toBe(24 * HOUR);
  });

  it('still accepts any lifetime up to 8760 hours when one is given', async () => {
    const { key } = await createTestKey(server, admin(), { expiresInHours: 8760 });
    expect(timestampMs(key.expireTime) - timestampMs(key.createTime)).toBe(8760 * HOUR);
  });

  it('still gives Read-Only Admin keys their fixed 72 hours', async () => {
    const { key } = await createTestKey(server, readOnlyAdmin());
    expect(timestampMs(key.expireTime) - timestampMs(key.createTime)).toBe(72 * HOUR);
  });
});
