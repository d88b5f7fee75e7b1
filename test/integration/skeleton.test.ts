import { status } from '@grpc/grpc-js';
import { expect, it } from 'vitest';

import { DenialReason, KeyState } from '../../gen/apikeys/v1/api_keys.js';
import { createTestKey } from '../helpers/createTestKey.js';
import { describeEachDatabase } from '../helpers/eachDatabase.js';
import { grpcError } from '../helpers/grpcClients.js';
import { actorOf } from '../helpers/testActors.js';
import { useTestServer } from '../helpers/useTestServer.js';

const admin = actorOf('org-1', 'alice');
const HOUR = 3_600_000;

describeEachDatabase('create → verify → revoke/expire, end to end', (kind) => {
  const server = useTestServer(kind);

  it('verifies a freshly created key with the fields /v1/test shows', async () => {
    const created = await server.clients.admin.createKey({
      metadata: {},
      actor: admin,
      name: 'Zendesk Sync - Production',
      scopes: ['tickets:read', 'comments:read'],
      allowedIps: [],
    });
    expect(created.secret).toMatch(/^tt_admin_[0-9A-Za-z]{30}$/);
    expect(created.key?.prefix).toBe(created.secret.slice(0, 'tt_admin_'.length + 8));
    expect(created.key?.state).toBe(KeyState.KEY_STATE_ACTIVE);

    const verified = await server.clients.verifier.verifyKey({
      key: created.secret,
      clientIp: '203.0.113.50',
      requiredScopes: ['tickets:read'],
    });
    expect(verified).toMatchObject({
      valid: true,
      httpStatus: 200,
      keyId: created.key?.id,
      keyName: 'Zendesk Sync - Production',
      keyPrefix: created.key?.prefix,
      scopes: ['comments:read', 'tickets:read'],
      organizationId: 'org-1',
      createdByUserId: 'alice',
    });
    expect(verified.expireTime).toEqual(created.key?.expireTime);
    expect(verified.authenticateTime?.seconds).toBeGreaterThan(0);
  });

  it('rejects a revoked key on the very next call', async () => {
    const created = await createTestKey(server, admin, { name: 'to revoke' });
    expect(
      (await server.clients.verifier.verifyKey({ key: created.secret, clientIp: '', requiredScopes: [] })).valid,
    ).toBe(true);
    const revoked = await server.clients.admin.revokeKey({
      actor: admin,
      keyId: created.key.id,
      reason: 'leaked',
    });
    expect(revoked.key?.state).toBe(KeyState.KEY_STATE_REVOKED);
    const verified = await server.clients.verifier.verifyKey({ key: created.secret, clientIp: '', requiredScopes: [] });
    expect(verified).toMatchObject({ valid: false, denialReason: DenialReason.DENIAL_REASON_REVOKED, httpStatus: 401 });
  });

  it('rejects a key once its expiry passes, from the clock alone', async () => {
    const created = await server.clients.admin.createKey({
      metadata: {},
      actor: admin,
      name: 'short-lived',
      scopes: ['tickets:read'],
      allowedIps: [],
      expiresInHours: 1,
    });
    expect(
      (await server.clients.verifier.verifyKey({ key: created.secret, clientIp: '', requiredScopes: [] })).valid,
    ).toBe(true);
    server.clock.advance(HOUR);
    const verified = await server.clients.verifier.verifyKey({ key: created.secret, clientIp: '', requiredScopes: [] });
    expect(verified).toMatchObject({ valid: false, denialReason: DenialReason.DENIAL_REASON_EXPIRED, httpStatus: 401 });
    expect(verified.message).toMatch(/expired at .*create a new key/);
  });

  it('answers unknown and malformed keys as denials, not errors', async () => {
    const malformed = await server.clients.verifier.verifyKey({ key: 'hello', clientIp: '', requiredScopes: [] });
    expect(malformed).toMatchObject({
      valid: false,
      denialReason: DenialReason.DENIAL_REASON_MALFORMED,
      httpStatus: 401,
    });
    const created = await createTestKey(server, admin, { name: 'x' });
    const typo = created.secret.slice(0, -7) + (created.secret.at(-7) === 'a' ? 'b' : 'a') + created.secret.slice(-6);
    const mistyped = await server.clients.verifier.verifyKey({ key: typo, clientIp: '', requiredScopes: [] });
    expect(mistyped.denialReason).toBe(DenialReason.DENIAL_REASON_MALFORMED);
  });

  it('rejects an unknown required scope as INVALID_ARGUMENT', async () => {
    const error = await grpcError(
      server.clients.verifier.verifyKey({ key: 'x', clientIp: '', requiredScopes: ['tickets:fly'] }),
    );
    expect(error.code).toBe(status.INVALID_ARGUMENT);
    expect(error.details).toMatch(/Invalid scope/);
  });

  it('stores only the SHA-256 of the secret', async () => {
    const created = await createTestKey(server, admin, { name: 'hash only' });
    const rows = (await server.app.db('api_keys').where('id', created.key.id)) as { secret_hash: Buffer }[];
    expect(rows).toHaveLength(1);
    expect(Buffer.from(rows[0]!.secret_hash).length).toBe(32);
    expect(JSON.stringify(rows)).not.toContain(created.secret);
  });
});

describeEachDatabase('logging', (kind) => {
  const server = useTestServer(kind);

  it('writes one structured line per RPC and never the secret', async () => {
    const created = await createTestKey(server, admin, { name: 'logged' });
    await server.clients.verifier.verifyKey({ key: created.secret, clientIp: '', requiredScopes: [] });
    await grpcError(
      server.clients.verifier.verifyKey({ key: created.secret, clientIp: '', requiredScopes: ['nope:x'] }),
    );
    const lines = server.logs.map((line) => JSON.parse(line) as Record<string, unknown>);
    const rpcLines = lines.filter((line) => line.msg === 'rpc');
    expect(rpcLines.map((line) => [line.method, line.status])).toEqual([
      ['/apikeys.v1.KeyAdmin/CreateKey', 'OK'],
      ['/apikeys.v1.KeyVerifier/VerifyKey', 'OK'],
      ['/apikeys.v1.KeyVerifier/VerifyKey', 'INVALID_ARGUMENT'],
    ]);
    for (const line of rpcLines) {
      expect(line).toHaveProperty('requestId');
      expect(line).toHaveProperty('peer');
      expect(typeof line.durationMs).toBe('number');
    }
    expect(server.logs.join('\n')).not.toContain(created.secret);
    expect(server.logs.join('\n')).not.toContain(created.secret.slice(-10));
  });
});
