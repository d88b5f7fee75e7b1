import type { AddressInfo } from 'node:net';
import type { Server } from 'node:http';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { createTestEndpointServer } from '../../examples/test-endpoint.js';
import { createVerifierClient, type VerifierClient } from '../../src/index.js';
import { createTestKey, type TestKey } from '../helpers/createTestKey.js';
import { startTestServer, type TestServer } from '../helpers/startTestServer.js';
import { actorOf, newOrganizationId } from '../helpers/testActors.js';
import { timestampMs } from '../helpers/timestampMs.js';

/** The seven read scopes of the product guide's example response. */
const GUIDE_SCOPES = [
  'tickets:read',
  'comments:read',
  'users:read',
  'teams:read',
  'customers:read',
  'attachments:read',
  'dashboard:read',
];

/** Starts the example HTTP service on 127.0.0.1:0 and returns its base URL. */
async function listen(server: Server): Promise<string> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

async function close(server: Server): Promise<void> {
  server.closeAllConnections();
  await new Promise<void>((resolve) => server.close(() => resolve()));
}

describe('examples/test-endpoint.ts: POST /v1/test over HTTP against a real server [sqlite]', () => {
  let grpcServer: TestServer;
  let verifier: VerifierClient;
  let http: Server;
  let baseUrl: string;
  beforeAll(async () => {
    grpcServer = await startTestServer('sqlite');
    verifier = createVerifierClient({ address: grpcServer.address });
    http = createTestEndpointServer({ verifier });
    baseUrl = await listen(http);
  });
  afterAll(async () => {
    await close(http);
    verifier.close();
    await grpcServer.stop();
  });

  const create = (request: Parameters<typeof createTestKey>[2] = {}): Promise<TestKey> =>
    createTestKey(grpcServer, actorOf(newOrganizationId('example'), 'alice'), request);

  const postTest = (headers: Record<string, string> = {}, method = 'POST') =>
    fetch(`${baseUrl}/v1/test`, { method, headers });

  describe('200', () => {
    it('answers the documented body for a valid key', async () => {
      const created = await create({ name: 'Test API Key', scopes: GUIDE_SCOPES });
      const before = Date.now();
      const response = await postTest({ authorization: `Bearer ${created.secret}` });
      expect(response.status).toBe(200);
      expect(response.headers.get('content-type')).toBe('application/json; charset=utf-8');
      const body = (await response.json()) as Record<string, unknown>;
      // Exactly the fields of the guide's example response, in its order.
      expect(Object.keys(body)).toEqual([
        'success',
        'message',
        'key_name',
        'key_prefix',
        'scopes',
        'expires_at',
        'organization_id',
        'authenticated_at',
      ]);
      expect(body).toMatchObject({
        success: true,
        message: 'API key is valid and working correctly',
        key_name: 'Test API Key',
        key_prefix: created.key.prefix,
        organization_id: created.key.organizationId,
      });
      expect(body.key_prefix).toMatch(/^tt_admin_[0-9A-Za-z]{8}$/);
      expect([...(body.scopes as string[])].sort()).toEqual([...GUIDE_SCOPES].sort());
      expect(body.expires_at).toBe(new Date(timestampMs(created.key.expireTime)).toISOString());
      expect(body.authenticated_at).toMatch(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/);
      expect(Date.parse(body.authenticated_at as string)).toBeGreaterThanOrEqual(before - 1000);
    });

    it('answers GET too (the guide’s Python example uses GET)', async () => {
      const created = await create();
      const response = await postTest({ authorization: `Bearer ${created.secret}` }, 'GET');
      expect(response.status).toBe(200);
    });
  });

  describe('401', () => {
    it('without an Authorization header, with a body saying what to send', async () => {
      const response = await postTest();
      expect(response.status).toBe(401);
      expect(response.headers.get('www-authenticate')).toBe('Bearer');
      expect(await response.json()).toEqual({
        success: false,
        error: 'missing_authorization',
        message: 'missing Authorization header; send "Authorization: Bearer <API key>"',
      });
    });

    it.each([
      ['another scheme', 'Basic dXNlcjpwYXNz', 'Authorization header must use the Bearer scheme'],
      ['no key after Bearer', 'Bearer', 'Authorization header has no API key after "Bearer"'],
      ['two words after Bearer', 'Bearer tt_admin_a tt_admin_b', 'must hold exactly one API key'],
    ])('for a garbled header (%s)', async (_name, header, message) => {
      const response = await postTest({ authorization: header });
      expect(response.status).toBe(401);
      const body = (await response.json()) as { success: boolean; error: string; message: string };
      expect(body.success).toBe(false);
      expect(body.error).toBe('invalid_authorization');
      expect(body.message).toContain(message);
    });

    it('for a malformed key', async () => {
      const response = await postTest({ authorization: 'Bearer tt_admin_typo' });
      expect(response.status).toBe(401);
      expect(((await response.json()) as { error: string }).error).toBe('malformed');
    });

    it('for a revoked key, naming the revocation', async () => {
      const created = await create();
      await grpcServer.clients.admin.revokeKey({
        actor: actorOf(created.key.organizationId, 'alice'),
        keyId: created.key.id,
        reason: 'leaked',
      });
      const response = await postTest({ authorization: `bearer ${created.secret}` });
      expect(response.status).toBe(401);
      expect(response.headers.get('www-authenticate')).toBe('Bearer error="invalid_token"');
      const body = (await response.json()) as { success: boolean; error: string; message: string };
      expect(body).toMatchObject({ success: false, error: 'revoked' });
      expect(body.message).toMatch(new RegExp(`^API key ${created.key.prefix}… was revoked at .*; create a new key$`));
    });
  });

  describe('403', () => {
    it('when the client IP is not in the key’s allowlist', async () => {
      // fetch connects from 127.0.0.1, which the allowlist does not contain.
      const created = await create({ allowedIps: ['203.0.113.50'] });
      const response = await postTest({ authorization: `Bearer ${created.secret}` });
      expect(response.status).toBe(403);
      const body = (await response.json()) as { success: boolean; error: string; message: string };
      expect(body).toMatchObject({ success: false, error: 'ip_not_allowed' });
      expect(body.message).toContain('is not in the allowlist of API key');
    });

    it('admits the same key from an allowed IP', async () => {
      const created = await create({ allowedIps: ['127.0.0.1'] });
      const response = await postTest({ authorization: `Bearer ${created.secret}` });
      expect(response.status).toBe(200);
    });
  });

  describe('other routes', () => {
    it('405 for other methods, 404 for other paths', async () => {
      const put = await postTest({}, 'PUT');
      expect(put.status).toBe(405);
      expect(put.headers.get('allow')).toBe('POST, GET');
      const missing = await fetch(`${baseUrl}/v1/nope`, { method: 'POST' });
      expect(missing.status).toBe(404);
    });
  });
});

describe('examples/test-endpoint.ts when api-key-service cannot be reached', () => {
  it('answers 503 with Retry-After (fails closed, never lets the request through)', async () => {
    // Port 1 (tcpmux): nothing here serves it, unlike an ephemeral port another test file may take.
    const verifier = createVerifierClient({ address: '127.0.0.1:1' });
    const logged: string[] = [];
    const http = createTestEndpointServer({ verifier, log: (line) => logged.push(line) });
    const baseUrl = await listen(http);
    try {
      const response = await fetch(`${baseUrl}/v1/test`, {
        method: 'POST',
        headers: { authorization: 'Bearer tt_admin_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAA' },
      });
      expect(response.status).toBe(503);
      expect(response.headers.get('retry-after')).toBe('1');
      expect(await response.json()).toEqual({
        success: false,
        error: 'unavailable',
        message: 'the API key service is unavailable; try again shortly',
      });
      // The operator learns why; the client does not.
      expect(logged).toEqual([expect.stringMatching(/^VerifyKey failed: 14 UNAVAILABLE: .*ECONNREFUSED/)]);
    } finally {
      await close(http);
      verifier.close();
    }
  });
});
