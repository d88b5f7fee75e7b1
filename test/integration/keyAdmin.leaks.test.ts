import { createHash } from 'node:crypto';
import { crc32 } from 'node:zlib';

import { Metadata, status } from '@grpc/grpc-js';
import { describe, expect, it } from 'vitest';

import { AuditAction, DenialReason, KeyState, LeakOutcome, Role } from '../../gen/apikeys/v1/api_keys.js';
import { toBase62 } from '../../src/domain/randomBase62.js';
import { databaseSnapshot } from '../helpers/databaseSnapshot.js';
import { describeEachDatabase } from '../helpers/eachDatabase.js';
import { grpcError } from '../helpers/grpcClients.js';
import { actorOf, newOrganizationId } from '../helpers/testActors.js';
import { useTestServer } from '../helpers/useTestServer.js';

const ADMIN_TOKEN = 'admin-token-0123456789abcdef';
const SCANNER_TOKEN = 'scanner-token-0123456789abcdef';
const sha256 = (token: string) => createHash('sha256').update(token).digest('hex');
const bearer = (token: string) => {
  const metadata = new Metadata();
  metadata.set('authorization', `Bearer ${token}`);
  return { metadata };
};
const asAdmin = bearer(ADMIN_TOKEN);
const asScanner = bearer(SCANNER_TOKEN);

/** A string of the key format with a valid checksum that was never issued. */
function neverIssuedKey(): string {
  const body = `tt_admin_${'Q'.repeat(24)}`;
  return body + toBase62(crc32(body), 6);
}

describeEachDatabase('ReportLeakedKeys', (kind) => {
  const server = useTestServer(kind, {
    AUTH_TOKENS: `admin-backend=${sha256(ADMIN_TOKEN)},github-scanner=${sha256(SCANNER_TOKEN)}`,
    ADMIN_CLIENT_IDS: 'admin-backend',
    LEAK_REPORTER_CLIENT_IDS: 'github-scanner',
  });
  const admin = () => actorOf(newOrganizationId('leak'), 'alice', Role.ROLE_ADMIN);
  const createKey = (actor: ReturnType<typeof admin>) =>
    server.clients.admin
      .createKey({ actor, name: 'leaky', scopes: ['tickets:read'], allowedIps: [], metadata: {} }, asAdmin)
      .then((response) => ({ key: response.key!, secret: response.secret }));
  const report = (candidates: { key: string; location: string }[], options = asScanner) =>
    server.clients.admin.reportLeakedKeys({ candidates }, options);

  describe('answers each candidate', () => {
    it('revokes an active key at once with the reason and location, audited with the reporting caller', async () => {
      const actor = admin();
      const leaked = await createKey(actor);
      const verify = () => server.clients.verifier.verifyKey({ key: leaked.secret, clientIp: '', requiredScopes: [] });
      expect((await verify()).valid).toBe(true); // cached
      const location = 'https://github.com/acme/app/blob/1a2b3c/.env#L3';
      const response = await report([{ key: leaked.secret, location }]);
      expect(response.results).toEqual([
        {
          outcome: LeakOutcome.LEAK_OUTCOME_REVOKED,
          keyId: leaked.key.id,
          organizationId: actor.organizationId,
          keyPrefix: leaked.key.prefix,
        },
      ]);
      expect(response.propagation).toMatchObject({ complete: true });
      expect((await verify()).denialReason).toBe(DenialReason.DENIAL_REASON_REVOKED);
      const key = (await server.clients.admin.getKey({ actor, keyId: leaked.key.id }, asAdmin)).key;
      expect(key).toMatchObject({
        state: KeyState.KEY_STATE_REVOKED,
        revokeReason: `leaked: found at ${location}`,
        revokedByUserId: '(leak report)',
      });
      const [event] = (
        await server.clients.admin.listAuditEvents({ actor, keyId: leaked.key.id, pageSize: 1, pageToken: '' }, asAdmin)
      ).events;
      expect(event).toMatchObject({
        action: AuditAction.AUDIT_ACTION_KEY_REVOKED,
        caller: 'github-scanner',
        actorUserId: '',
        actorRole: Role.ROLE_UNSPECIFIED,
        reason: `leaked: found at ${location}`,
      });
    });

    it('revokes a suspended key too', async () => {
      const actor = admin();
      const leaked = await createKey(actor);
      await server.clients.admin.updateKey(
        {
          actor,
          keyId: leaked.key.id,
          name: '',
          scopes: [],
          allowedIps: [],
          expiresInHours: 0,
          metadata: {},
          enabled: false,
          updateMask: ['enabled'],
        },
        asAdmin,
      );
      expect((await report([{ key: leaked.secret, location: '' }])).results[0]?.outcome).toBe(
        LeakOutcome.LEAK_OUTCOME_REVOKED,
      );
    });

    it('tells not-a-key (without touching the database), unknown and already-inactive apart, in request order', async () => {
      const actor = admin();
      const revoked = await createKey(actor);
      await server.clients.admin.revokeKey({ actor, keyId: revoked.key.id, reason: 'old' }, asAdmin);
      const queries: string[] = [];
      const listener = (query: { sql: string }) => void queries.push(query.sql);
      server.app.db.on('query', listener);
      let notKeys;
      try {
        notKeys = await report([
          { key: 'tt_admin_' + 'A'.repeat(30), location: 'checksum wrong' },
          { key: `${revoked.secret}x`, location: 'too long' },
          { key: 'hello', location: '' },
        ]);
      } finally {
        server.app.db.off('query', listener);
      }
      expect(notKeys.results.map((result) => result.outcome)).toEqual([
        LeakOutcome.LEAK_OUTCOME_NOT_A_KEY,
        LeakOutcome.LEAK_OUTCOME_NOT_A_KEY,
        LeakOutcome.LEAK_OUTCOME_NOT_A_KEY,
      ]);
      expect(notKeys.results.every((result) => result.keyId === '')).toBe(true);
      // Background work (the change feed, the heartbeat) goes on; nothing reads the keys.
      expect(queries.filter((sql) => /api_keys|audit_events/.test(sql))).toEqual([]);
      expect(notKeys.propagation).toBeUndefined();
      const before = await databaseSnapshot(server.app.db, [actor.organizationId]);
      const mixed = await report([
        { key: neverIssuedKey(), location: '' },
        { key: revoked.secret, location: '' },
      ]);
      expect(mixed.results).toEqual([
        { outcome: LeakOutcome.LEAK_OUTCOME_UNKNOWN, keyId: '', organizationId: '', keyPrefix: '' },
        {
          outcome: LeakOutcome.LEAK_OUTCOME_ALREADY_INACTIVE,
          keyId: revoked.key.id,
          organizationId: actor.organizationId,
          keyPrefix: revoked.key.prefix,
        },
      ]);
      expect(await databaseSnapshot(server.app.db, [actor.organizationId])).toEqual(before);
    });

    it('revokes a key reported twice in one call once', async () => {
      const actor = admin();
      const leaked = await createKey(actor);
      const response = await report([
        { key: leaked.secret, location: 'first' },
        { key: leaked.secret, location: 'second' },
      ]);
      expect(response.results.map((result) => result.outcome)).toEqual([
        LeakOutcome.LEAK_OUTCOME_REVOKED,
        LeakOutcome.LEAK_OUTCOME_ALREADY_INACTIVE,
      ]);
      const rows = await server.app.db('audit_events').where({ key_id: leaked.key.id, action: 'key_revoked' });
      expect(rows).toHaveLength(1);
    });
  });

  describe('refuses', () => {
    it.each([
      ['no candidates', [], 'candidates: 1–100 entries required, got 0'],
      [
        '101 candidates',
        Array.from({ length: 101 }, () => ({ key: 'x', location: '' })),
        'candidates: 1–100 entries required, got 101',
      ],
      [
        'a location of 401 characters',
        [{ key: 'x', location: 'é'.repeat(401) }],
        'candidates[0].location must be at most 400 characters, got 401',
      ],
      [
        'a location with a control character',
        [{ key: 'x', location: 'a\u0000b' }],
        'candidates[0].location must not contain control characters or invalid UTF-8',
      ],
    ])('%s with INVALID_ARGUMENT', async (_label, candidates, message) => {
      const error = await grpcError(report(candidates));
      expect(error.code).toBe(status.INVALID_ARGUMENT);
      expect(error.details).toBe(message);
    });

    it('a caller outside LEAK_REPORTER_CLIENT_IDS, an admin client included, with PERMISSION_DENIED; nothing revoked', async () => {
      const actor = admin();
      const leaked = await createKey(actor);
      const before = await databaseSnapshot(server.app.db, [actor.organizationId]);
      const error = await grpcError(report([{ key: leaked.secret, location: '' }], asAdmin));
      expect(error.code).toBe(status.PERMISSION_DENIED);
      expect(error.details).toBe(
        `caller "admin-backend" may not report leaked keys: it is not in the service's list of leak reporters (LEAK_REPORTER_CLIENT_IDS)`,
      );
      const anonymous = await grpcError(
        server.clients.admin.reportLeakedKeys({ candidates: [{ key: leaked.secret, location: '' }] }),
      );
      expect(anonymous.code).toBe(status.UNAUTHENTICATED);
      expect(await databaseSnapshot(server.app.db, [actor.organizationId])).toEqual(before);
    });

    it('the leak reporter any other KeyAdmin call with PERMISSION_DENIED', async () => {
      const error = await grpcError(server.clients.admin.listScopes({ actor: admin() }, asScanner));
      expect(error.code).toBe(status.PERMISSION_DENIED);
      expect(error.details).toBe(
        `caller "github-scanner" may not use KeyAdmin: it is not in the service's list of admin clients (ADMIN_CLIENT_IDS)`,
      );
    });
  });

  it('keeps the secret out of the response', async () => {
    const actor = admin();
    const leaked = await createKey(actor);
    const response = await report([{ key: leaked.secret, location: 'somewhere' }]);
    expect(JSON.stringify(response)).not.toContain(leaked.secret);
  });
});
