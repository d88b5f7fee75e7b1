/**
 * Secret hygiene, end to end: after keys are created, rotated, verified (valid and every kind of denial,
 * near misses of the real secret included) and after error flows that carry a secret where a key id,
 * scope, IP, mask path or page token belongs, no secret appears in the captured logs (at debug level), in
 * any row of any table (knex_migrations included), in the SQLite file itself, or in any error message or
 * response other than the CreateKey/RotateKey response that issued it.
 *
 * Searched for each secret: the whole secret, its 24 random characters, everything after its display
 * prefix (the part that is never shown), and the secret in hex and base64. The display prefix itself
 * (`tt_admin_` + 8 characters) is public by design and is not searched for.
 *
 * Not covered on purpose: a secret an admin types into a field that is stored and shown by design (a key
 * name, a revocation reason, an actor id) is kept as given; the service cannot tell it is a secret.
 */
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { crc32 } from 'node:zlib';

import { Metadata, type ServiceError } from '@grpc/grpc-js';
import { afterAll, beforeAll, expect, it } from 'vitest';

import { type Actor, DenialReason, KeyOwnerFilter, Role } from '../../gen/apikeys/v1/api_keys.js';
import { toBase62 } from '../../src/domain/randomBase62.js';
import { createTestKey } from '../helpers/createTestKey.js';
import { describeEachDatabase } from '../helpers/eachDatabase.js';
import { grpcError } from '../helpers/grpcClients.js';
import { startTestServer, type TestServer } from '../helpers/startTestServer.js';
import { actorOf, newOrganizationId } from '../helpers/testActors.js';

const ALLOWED_IP = '203.0.113.50';
const SERVICE_TOKEN = 'the-admin-backend-service-token';
const HOUR_MS = 3_600_000;

/** Every form in which a secret must not be found. */
function forbiddenForms(secret: string): string[] {
  const label = secret.startsWith('tt_readonly_') ? 'tt_readonly_' : 'tt_admin_';
  const random = secret.slice(label.length, label.length + 24);
  return [
    secret,
    random,
    secret.slice(label.length + 8),
    Buffer.from(secret).toString('hex'),
    Buffer.from(secret).toString('base64'),
  ];
}

/** Which secret (by index) and which of its forms occur in `text`. */
function leaks(text: string, secrets: readonly string[]): string[] {
  return secrets.flatMap((secret, index) =>
    forbiddenForms(secret)
      .filter((form) => text.includes(form))
      .map((form) => `secret #${index} as ${JSON.stringify(form)}`),
  );
}

/** Variants of a real secret: typos rejected by the checksum, and one with a valid checksum. */
/** Two adjacent characters of the random part swapped (the first differing pair: a swap must change it). */
function transposed(secret: string): string {
  let i = 15;
  while (secret.charAt(i) === secret.charAt(i + 1)) i++;
  return secret.slice(0, i) + secret.charAt(i + 1) + secret.charAt(i) + secret.slice(i + 2);
}

function nearMisses(secret: string): { malformed: string[]; wellFormed: string } {
  const changeAt = (index: number) =>
    secret.slice(0, index) + (secret.charAt(index) === 'x' ? 'y' : 'x') + secret.slice(index + 1);
  const body = changeAt(20).slice(0, -6);
  return {
    malformed: [
      changeAt(secret.length - 1),
      changeAt(20),
      transposed(secret),
      `${secret} `,
      secret.slice(0, -1),
      `${secret}x`,
      secret.toLowerCase(),
    ],
    wellFormed: body + toBase62(crc32(body), 6),
  };
}

/** Every row of every table, values rendered as text (binary as UTF-8, hex and base64). */
async function dumpDatabase(server: TestServer): Promise<{ tables: string[]; text: string }> {
  const db = server.app.db;
  const kind = server.databaseUrl.startsWith('sqlite:') ? 'sqlite' : 'mysql';
  const tables = (
    kind === 'sqlite'
      ? (await db<{ name: string }>('sqlite_master').where('type', 'table').select('name')).map((row) => row.name)
      : (
          await db<{ table_name: string }>('information_schema.tables')
            .whereRaw('table_schema = database()')
            .select('table_name')
        ).map((row) => row.table_name)
  ).sort();
  const parts: string[] = [];
  for (const table of tables) {
    const rows = await db<Record<string, unknown>>(table).select('*');
    for (const row of rows) {
      for (const value of Object.values(row)) {
        if (Buffer.isBuffer(value)) parts.push(value.toString('utf8'), value.toString('hex'), value.toString('base64'));
        else parts.push(String(value));
      }
    }
  }
  return { tables, text: parts.join('\n') };
}

describeEachDatabase('secret hygiene', (kind) => {
  let server: TestServer;
  /** A server with caller authentication, where a secret is presented as a service token. */
  let guarded: TestServer;
  /** Every secret the service issued. */
  const secrets: string[] = [];
  /** Every error message and every response (as JSON) the flows received, issuing responses aside. */
  const answers: string[] = [];
  let admin: Actor;

  const refused = async (call: Promise<unknown>): Promise<ServiceError> => {
    const error = await grpcError(call);
    answers.push(error.details, error.message);
    return error;
  };
  const answered = async <T>(call: Promise<T>): Promise<T> => {
    const response = await call;
    answers.push(JSON.stringify(response));
    return response;
  };
  const verify = (key: string, clientIp = ALLOWED_IP, requiredScopes = ['tickets:read']) =>
    answered(server.clients.verifier.verifyKey({ key, clientIp, requiredScopes }));
  const listOrganizationKeys = (pageSize: number, pageToken: string) =>
    server.clients.admin.listKeys({
      actor: admin,
      owner: KeyOwnerFilter.KEY_OWNER_FILTER_ORGANIZATION,
      states: [],
      pageSize,
      pageToken,
    });

  beforeAll(async () => {
    server = await startTestServer(kind);
    guarded = await startTestServer(kind, {
      AUTH_TOKENS: `backend=${createHash('sha256').update(SERVICE_TOKEN).digest('hex')}`,
      ADMIN_CLIENT_IDS: 'backend',
    });
    const organizationId = newOrganizationId('hygiene');
    admin = actorOf(organizationId, 'alice');
    const readOnlyAdmin = actorOf(organizationId, 'rita', Role.ROLE_READ_ONLY_ADMIN);

    // Create: an admin key with an allowlist, a read-only admin's key, a short-lived key.
    const a = await createTestKey(server, admin, { name: 'main', allowedIps: [ALLOWED_IP] });
    const b = await createTestKey(server, readOnlyAdmin, { name: 'read only' });
    const c = await createTestKey(server, admin, { name: 'short-lived', expiresInHours: 1 });
    secrets.push(a.secret, b.secret, c.secret);

    // Verify: valid (a cache miss, then a hit), then every denial the key itself can get.
    expect((await verify(a.secret)).valid).toBe(true);
    expect((await verify(a.secret)).valid).toBe(true);
    const denial = async (key: string, clientIp: string, scopes: string[]) =>
      (await verify(key, clientIp, scopes)).denialReason;
    expect(await denial(a.secret, '198.51.100.7', ['tickets:read'])).toBe(DenialReason.DENIAL_REASON_IP_NOT_ALLOWED);
    expect(await denial(a.secret, '', ['tickets:read'])).toBe(DenialReason.DENIAL_REASON_IP_NOT_ALLOWED);
    expect(await denial(a.secret, a.secret, ['tickets:read'])).toBe(DenialReason.DENIAL_REASON_IP_NOT_ALLOWED);
    expect(await denial(a.secret, ALLOWED_IP, ['tickets:write'])).toBe(DenialReason.DENIAL_REASON_INSUFFICIENT_SCOPE);
    const near = nearMisses(a.secret);
    for (const miss of near.malformed) {
      expect(await denial(miss, ALLOWED_IP, [])).toBe(DenialReason.DENIAL_REASON_MALFORMED);
    }
    expect(await denial(near.wellFormed, ALLOWED_IP, [])).toBe(DenialReason.DENIAL_REASON_NOT_FOUND);

    // Rotate with a grace period, then without: the old key keeps working, then is revoked.
    const rotated = await server.clients.admin.rotateKey({ actor: admin, keyId: a.key.id, gracePeriodHours: 1 });
    const a2 = rotated.secret;
    const again = await server.clients.admin.rotateKey({
      actor: admin,
      keyId: rotated.newKey?.id ?? '',
      gracePeriodHours: 0,
    });
    const a3 = again.secret;
    secrets.push(a2, a3);
    expect((await verify(a.secret)).valid).toBe(true);
    expect(await denial(a2, ALLOWED_IP, [])).toBe(DenialReason.DENIAL_REASON_REVOKED);
    expect((await verify(a3)).valid).toBe(true);

    // Revoke; let keys expire.
    await answered(server.clients.admin.revokeKey({ actor: admin, keyId: b.key.id, reason: 'offboarding' }));
    expect(await denial(b.secret, ALLOWED_IP, [])).toBe(DenialReason.DENIAL_REASON_REVOKED);
    server.clock.advance(2 * HOUR_MS);
    expect(await denial(c.secret, ALLOWED_IP, [])).toBe(DenialReason.DENIAL_REASON_EXPIRED);
    expect(await denial(a.secret, ALLOWED_IP, [])).toBe(DenialReason.DENIAL_REASON_EXPIRED);

    // Error flows: a secret (or a near miss of one) where a key id, scope, IP, mask path or token belongs.
    for (const pasted of [a3, `${a3}x`, near.malformed[0] ?? '']) {
      await refused(server.clients.admin.getKey({ actor: admin, keyId: pasted }));
      await refused(server.clients.admin.revokeKey({ actor: admin, keyId: pasted, reason: '' }));
      await refused(server.clients.admin.rotateKey({ actor: admin, keyId: pasted, gracePeriodHours: 0 }));
      await refused(
        server.clients.admin.updateKey({
          metadata: {},
          actor: admin,
          keyId: pasted,
          name: 'x',
          scopes: [],
          allowedIps: [],
          expiresInHours: 0,
          updateMask: ['name'],
        }),
      );
      await refused(server.clients.admin.listAuditEvents({ actor: admin, keyId: pasted, pageSize: 0, pageToken: '' }));
      await refused(
        server.clients.admin.createKey({ metadata: {}, actor: admin, name: 'x', scopes: [pasted], allowedIps: [] }),
      );
      await refused(
        server.clients.admin.createKey({
          metadata: {},
          actor: admin,
          name: 'x',
          scopes: ['tickets:read'],
          allowedIps: [pasted],
        }),
      );
      await refused(
        server.clients.admin.updateKey({
          metadata: {},
          actor: admin,
          keyId: again.newKey?.id ?? '',
          name: '',
          scopes: [],
          allowedIps: [],
          expiresInHours: 0,
          updateMask: [pasted],
        }),
      );
      await refused(server.clients.verifier.verifyKey({ key: a3, clientIp: ALLOWED_IP, requiredScopes: [pasted] }));
      await refused(listOrganizationKeys(0, pasted));
      await answered(server.clients.admin.revokeUserKeys({ actor: admin, userId: pasted, reason: '' }));
    }

    // What admins can read back, and the last-used data, written now rather than at the next flush.
    await server.app.lastUsed.flush();
    await answered(listOrganizationKeys(100, ''));
    await answered(server.clients.admin.listAuditEvents({ actor: admin, keyId: '', pageSize: 100, pageToken: '' }));
    for (const keyId of [a.key.id, b.key.id, c.key.id]) {
      await answered(server.clients.admin.getKey({ actor: admin, keyId }));
    }

    // A secret presented as the service token, to KeyAdmin (refused) and to KeyVerifier (not required).
    const asToken = new Metadata();
    asToken.set('authorization', `Bearer ${SERVICE_TOKEN}`);
    const issued = await guarded.clients.admin.createKey(
      { metadata: {}, actor: admin, name: 'guarded', scopes: ['tickets:read'], allowedIps: [] },
      { metadata: asToken },
    );
    secrets.push(issued.secret);
    for (const secret of [issued.secret, a3]) {
      const asBearer = new Metadata();
      asBearer.set('authorization', `Bearer ${secret}`);
      await refused(
        guarded.clients.admin.getKey({ actor: admin, keyId: issued.key?.id ?? '' }, { metadata: asBearer }),
      );
      await refused(guarded.clients.admin.listScopes({ actor: admin }, { metadata: asBearer }));
      await answered(
        guarded.clients.verifier.verifyKey(
          { key: issued.secret, clientIp: '', requiredScopes: [] },
          { metadata: asBearer },
        ),
      );
    }
  }, 60_000);

  afterAll(async () => {
    await server.stop();
    await guarded.stop();
  });

  it('issued six distinct secrets and ran every flow', () => {
    expect(new Set(secrets).size).toBe(6);
    expect(answers.length).toBeGreaterThan(60);
  });

  it('writes no secret to the logs, even at debug level', () => {
    const logs = server.logs.join('');
    expect(logs).toContain('/apikeys.v1.KeyVerifier/VerifyKey');
    expect(logs).toContain('/apikeys.v1.KeyAdmin/RotateKey');
    expect(leaks(logs, secrets)).toEqual([]);
  });

  it('writes no secret to the logs when a secret is presented as the service token', () => {
    const logs = guarded.logs.join('');
    expect(logs).toContain('"caller rejected"');
    expect(leaks(logs, secrets)).toEqual([]);
  });

  it('writes no secret to the logs when a secret is sent as x-request-id (a generated id and a note instead)', async () => {
    const from = guarded.logs.length;
    const secret = secrets[5] ?? '';
    const metadata = new Metadata();
    metadata.set('x-request-id', secret);
    await guarded.clients.verifier.verifyKey({ key: secret, clientIp: '', requiredScopes: [] }, { metadata });
    const logs = guarded.logs.slice(from).join('');
    expect(logs).toContain('"requestIdNote":"x-request-id not logged: ');
    expect(leaks(logs, secrets)).toEqual([]);
  });

  it('writes no 64-character hex service token sent as x-request-id to the logs, at warn level either', async () => {
    const from = guarded.logs.length;
    const token = randomBytes(32).toString('hex');
    const metadata = new Metadata();
    metadata.set('x-request-id', token);
    metadata.set('authorization', `Bearer ${token}`);
    // Refused (unknown token): the call is logged at warn level, with the request id.
    await grpcError(guarded.clients.admin.getKey({ actor: admin, keyId: 'key_none' }, { metadata }));
    const logs = guarded.logs.slice(from).join('');
    expect(logs).toContain('"caller rejected"');
    expect(logs).toContain('"requestIdNote":"x-request-id not logged: ');
    expect(logs).not.toContain(token.slice(0, 16));
    expect(logs).not.toContain(token.slice(-16));
  });

  it('stores no secret in any row of any table', async () => {
    const dump = await dumpDatabase(server);
    expect(dump.tables).toEqual(
      expect.arrayContaining([
        'api_keys',
        'audit_events',
        'key_feed',
        'key_feed_head',
        'knex_migrations',
        'knex_migrations_lock',
      ]),
    );
    expect(dump.text).toContain(secrets[0]?.slice(0, 'tt_admin_'.length + 8));
    expect(leaks(dump.text, secrets)).toEqual([]);
  });

  it.runIf(kind === 'sqlite')('leaves no secret anywhere in the SQLite files, free pages included', () => {
    const file = server.databaseUrl.slice('sqlite:'.length);
    const bytes = Buffer.concat(
      [file, `${file}-wal`, `${file}-journal`].filter((path) => existsSync(path)).map((path) => readFileSync(path)),
    );
    expect(bytes.length).toBeGreaterThan(0);
    expect(leaks(bytes.toString('latin1'), secrets)).toEqual([]);
  });

  it('returns no secret in any error message or in any other response', () => {
    expect(leaks(answers.join('\n'), secrets)).toEqual([]);
  });

  it('names a secret pasted where a key id belongs by its display prefix only', async () => {
    const secret = secrets[4] ?? '';
    const error = await grpcError(server.clients.admin.getKey({ actor: admin, keyId: secret }));
    expect(error.details).toBe(`API key "${secret.slice(0, 'tt_admin_'.length + 8)}…" not found in your organization`);
  });
});
