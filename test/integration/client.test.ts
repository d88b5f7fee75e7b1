import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';

import {
  type ChannelCredentials,
  credentials,
  Metadata,
  Server,
  ServerCredentials,
  type ServerUnaryCall,
  type ServiceError,
  status,
  type UntypedServiceImplementation,
} from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import {
  CreateKeyRequest,
  KeyAdminClient,
  KeyVerifierService,
  type VerifyKeyRequest,
  VerifyKeyResponse,
} from '../../gen/apikeys/v1/api_keys.js';
import { generateSecret } from '../../src/domain/keyFormat.js';
import { createVerifierClient, type VerifierClient, verifyHttpRequest } from '../../src/index.js';
import { createTestCertificates, type TestCertificates } from '../helpers/certificates.js';
import { createTestKey, type TestKey } from '../helpers/createTestKey.js';
import { startTestServer, type TestServer } from '../helpers/startTestServer.js';
import { TcpProxy } from '../helpers/TcpProxy.js';
import { actorOf, newOrganizationId } from '../helpers/testActors.js';

const HOUR = 3_600_000;

/** Runs `call` and returns the gRPC error it fails with. */
async function rejection(call: Promise<unknown>): Promise<ServiceError> {
  try {
    await call;
  } catch (error) {
    return error as ServiceError;
  }
  throw new Error('expected the call to fail');
}

/**
 * A port nothing listens on: 1 (tcpmux), which nothing here serves. An ephemeral port bound and released
 * could be taken meanwhile by a server of a test file running in parallel.
 */
const CLOSED_PORT = 1;

/** A stand-in KeyVerifier that records each call's metadata and answers with `answer`. */
async function startStandIn(answer: (attempt: number) => VerifyKeyResponse | { code: status; details: string }) {
  const calls: Metadata[] = [];
  const server = new Server();
  const implementation: UntypedServiceImplementation = {
    verifyKey: (
      call: ServerUnaryCall<VerifyKeyRequest, VerifyKeyResponse>,
      callback: (error: { code: status; details: string } | null, response?: VerifyKeyResponse) => void,
    ) => {
      calls.push(call.metadata);
      const outcome = answer(calls.length);
      if ('code' in outcome) callback(outcome);
      else callback(null, outcome);
    },
  };
  server.addService(KeyVerifierService, implementation);
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync('127.0.0.1:0', ServerCredentials.createInsecure(), (error, bound) =>
      error === null ? resolve(bound) : reject(error),
    ),
  );
  return { address: `127.0.0.1:${port}`, calls, stop: () => server.forceShutdown() };
}

const VALID_ANSWER = VerifyKeyResponse.fromPartial({
  valid: true,
  httpStatus: 200,
  message: 'API key is valid and working correctly',
  keyId: 'key_standin',
  keyName: 'stand-in',
  keyPrefix: 'tt_admin_AAAAAAAA',
  scopes: ['tickets:read'],
  expireTime: { seconds: 1_900_000_000, nanos: 0 },
  organizationId: 'org-standin',
  authenticateTime: { seconds: 1_800_000_000, nanos: 0 },
});

describe('createVerifierClient against a real server [sqlite]', () => {
  let server: TestServer;
  let client: VerifierClient;
  beforeAll(async () => {
    server = await startTestServer('sqlite');
    client = createVerifierClient({ address: server.address });
  });
  afterAll(async () => {
    client.close();
    await server.stop();
  });

  const create = (request: Parameters<typeof createTestKey>[2] = {}): Promise<TestKey> =>
    createTestKey(server, actorOf(newOrganizationId('client'), 'alice'), request);

  describe('valid keys', () => {
    it('answers valid with the key’s name, prefix, scopes, expiry, organization and time', async () => {
      const created = await create({ name: 'Client test', scopes: ['tickets:read', 'users:read'] });
      const before = Date.now();
      const result = await client.verify({
        key: created.secret,
        clientIp: '203.0.113.50',
        requiredScopes: ['tickets:read'],
      });
      expect(result).toMatchObject({
        valid: true,
        httpStatus: 200,
        message: 'API key is valid and working correctly',
        key: {
          id: created.key.id,
          name: 'Client test',
          prefix: created.key.prefix,
          scopes: ['tickets:read', 'users:read'],
          organizationId: created.key.organizationId,
          createdByUserId: 'alice',
        },
      });
      if (!result.valid) throw new Error('expected valid');
      expect(result.key.expiresAt.getTime()).toBe(
        (created.key.expireTime?.seconds ?? 0) * 1000 + Math.floor((created.key.expireTime?.nanos ?? 0) / 1e6),
      );
      expect(result.authenticatedAt.getTime()).toBeGreaterThanOrEqual(before - 1000);
    });
  });

  describe('denials are results, not errors', () => {
    it('malformed: 401, no key fields', async () => {
      const result = await client.verify({ key: 'tt_admin_notakey' });
      expect(result).toMatchObject({ valid: false, reason: 'malformed', httpStatus: 401 });
      expect('key' in result).toBe(false);
    });

    it('not found: 401 for a well-formed key that was never issued', async () => {
      const result = await client.verify({ key: generateSecret('admin').secret });
      expect(result).toMatchObject({ valid: false, reason: 'not_found', httpStatus: 401 });
      expect('key' in result).toBe(false);
    });

    it('revoked: 401 with the key identified', async () => {
      const created = await create();
      await server.clients.admin.revokeKey({
        actor: actorOf(created.key.organizationId, 'alice'),
        keyId: created.key.id,
        reason: 'test',
      });
      const result = await client.verify({ key: created.secret });
      expect(result).toMatchObject({ valid: false, reason: 'revoked', httpStatus: 401, key: { id: created.key.id } });
      expect(result.message).toMatch(/was revoked at .*; create a new key$/);
    });

    it('expired: 401', async () => {
      const created = await create({ expiresInHours: 1 });
      server.clock.advance(2 * HOUR);
      try {
        const result = await client.verify({ key: created.secret });
        expect(result).toMatchObject({ valid: false, reason: 'expired', httpStatus: 401 });
      } finally {
        server.clock.advance(-2 * HOUR);
      }
    });

    it('IP not allowed: 403', async () => {
      const created = await create({ allowedIps: ['203.0.113.50'] });
      const result = await client.verify({ key: created.secret, clientIp: '198.51.100.7' });
      expect(result).toMatchObject({ valid: false, reason: 'ip_not_allowed', httpStatus: 403 });
    });

    it('insufficient scope: 403', async () => {
      const created = await create({ scopes: ['tickets:read'] });
      const result = await client.verify({ key: created.secret, requiredScopes: ['tickets:write'] });
      expect(result).toMatchObject({ valid: false, reason: 'insufficient_scope', httpStatus: 403 });
    });
  });

  describe('RPC errors reject', () => {
    it('an unknown required scope is INVALID_ARGUMENT (a caller bug), not a denial', async () => {
      const error = await rejection(client.verify({ key: 'tt_admin_x', requiredScopes: ['tickets:fly'] }));
      expect(error.code).toBe(status.INVALID_ARGUMENT);
      expect(error.details).toContain('tickets:fly');
    });

    it('a slow answer fails with DEADLINE_EXCEEDED at the deadline; a per-call deadline overrides it', async () => {
      const created = await create();
      const proxy = new TcpProxy('127.0.0.1', Number(server.address.split(':')[1]));
      const port = await proxy.start();
      const slowClient = createVerifierClient({ address: `127.0.0.1:${port}`, deadlineMs: 150 });
      try {
        // Connect first (with time to spare on a loaded machine), then slow the network down.
        expect((await slowClient.verify({ key: created.secret }, { deadlineMs: 5000 })).valid).toBe(true);
        proxy.delayMs = 2000;
        const started = Date.now();
        const error = await rejection(slowClient.verify({ key: created.secret }));
        expect(error.code).toBe(status.DEADLINE_EXCEEDED);
        expect(Date.now() - started).toBeLessThan(1500); // the 150 ms deadline, not the 2 s answer
        expect((await slowClient.verify({ key: created.secret }, { deadlineMs: 5000 })).valid).toBe(true);
      } finally {
        slowClient.close();
        await proxy.stop();
      }
    });

    it('the default deadline is 500 ms', async () => {
      const created = await create();
      const proxy = new TcpProxy('127.0.0.1', Number(server.address.split(':')[1]));
      const port = await proxy.start();
      const defaultClient = createVerifierClient({ address: `127.0.0.1:${port}` });
      try {
        expect((await defaultClient.verify({ key: created.secret }, { deadlineMs: 5000 })).valid).toBe(true);
        proxy.delayMs = 4000;
        const started = Date.now();
        const error = await rejection(defaultClient.verify({ key: created.secret }));
        const elapsed = Date.now() - started;
        expect(error.code).toBe(status.DEADLINE_EXCEEDED);
        expect(elapsed).toBeGreaterThanOrEqual(450);
        expect(elapsed).toBeLessThan(3000); // the 500 ms default, not the 4 s answer
      } finally {
        defaultClient.close();
        await proxy.stop();
      }
    });
  });
});

describe('createVerifierClient retries UNAVAILABLE (service config)', () => {
  it('against a server that is not there: UNAVAILABLE after three attempts', async () => {
    const client = createVerifierClient({ address: `127.0.0.1:${CLOSED_PORT}`, deadlineMs: 3000 });
    try {
      const started = Date.now();
      const error = await rejection(client.verify({ key: 'tt_admin_x' }));
      expect(error.code).toBe(status.UNAVAILABLE);
      // grpc-js reports how many attempts preceded the last one.
      expect(error.metadata.get('grpc-previous-rpc-attempts')).toEqual(['2']);
      // Two backoffs (≈50 ms and ≈100 ms, ±20 % jitter) lie between the attempts.
      expect(Date.now() - started).toBeGreaterThanOrEqual(100);
    } finally {
      client.close();
    }
  });

  it('succeeds when a later attempt is answered', async () => {
    const standIn = await startStandIn((attempt) =>
      attempt < 3 ? { code: status.UNAVAILABLE, details: 'draining' } : VALID_ANSWER,
    );
    const client = createVerifierClient({ address: standIn.address });
    try {
      const result = await client.verify({ key: 'tt_admin_x' });
      expect(result.valid).toBe(true);
      expect(standIn.calls).toHaveLength(3);
      expect(standIn.calls[2]?.get('grpc-previous-rpc-attempts')).toEqual(['2']);
    } finally {
      client.close();
      standIn.stop();
    }
  });

  it('does not retry other codes', async () => {
    const standIn = await startStandIn(() => ({ code: status.INVALID_ARGUMENT, details: 'bad scope' }));
    const client = createVerifierClient({ address: standIn.address });
    try {
      expect((await rejection(client.verify({ key: 'tt_admin_x' }))).code).toBe(status.INVALID_ARGUMENT);
      expect(standIn.calls).toHaveLength(1);
    } finally {
      client.close();
      standIn.stop();
    }
  });
});

describe('createVerifierClient sends the service token', () => {
  it('as authorization: Bearer metadata on every call, with x-request-id when given', async () => {
    const standIn = await startStandIn(() => VALID_ANSWER);
    const client = createVerifierClient({ address: standIn.address, token: 'gateway-token-123' });
    try {
      await client.verify({ key: 'tt_admin_x' });
      await client.verify({ key: 'tt_admin_x' }, { requestId: 'req-42' });
      expect(standIn.calls.map((metadata) => metadata.get('authorization'))).toEqual([
        ['Bearer gateway-token-123'],
        ['Bearer gateway-token-123'],
      ]);
      expect(standIn.calls[1]?.get('x-request-id')).toEqual(['req-42']);
    } finally {
      client.close();
      standIn.stop();
    }
  });

  it('refuses a token that cannot be a header value, without repeating it', () => {
    expect(() => createVerifierClient({ address: '127.0.0.1:1', token: 'two words' })).toThrow(
      'the service token must be visible ASCII characters without spaces',
    );
  });
});

/** Creates a key through a KeyAdmin client with these credentials (the helper's clients are plaintext). */
function createKeyOver(address: string, channel: ChannelCredentials, metadata = new Metadata()): Promise<TestKey> {
  const admin = new KeyAdminClient(address, channel);
  return new Promise<TestKey>((resolve, reject) => {
    admin.createKey(
      CreateKeyRequest.fromPartial({
        actor: actorOf(newOrganizationId('tls'), 'alice'),
        name: 'tls',
        scopes: ['tickets:read'],
      }),
      metadata,
      (error, response) => {
        admin.close();
        if (error !== null || response.key === undefined) reject(error ?? new Error('no key'));
        else resolve({ key: response.key, secret: response.secret });
      },
    );
  });
}

const sha256 = (text: string): string => createHash('sha256').update(text).digest('hex');

describe('createVerifierClient with TLS and service tokens against a real server [sqlite]', () => {
  const GATEWAY_TOKEN = 'gateway-secret-token-0123456789';
  const ADMIN_TOKEN = 'admin-secret-token-0123456789';
  let certificates: TestCertificates;
  let ca: Buffer;
  let tokenServer: TestServer;
  let mtlsServer: TestServer;
  let tokenKey: TestKey;
  let mtlsKey: TestKey;
  beforeAll(async () => {
    certificates = createTestCertificates();
    ca = readFileSync(certificates.ca.cert);
    const tls = { TLS_CERT_FILE: certificates.server.cert, TLS_KEY_FILE: certificates.server.key };
    tokenServer = await startTestServer('sqlite', {
      ...tls,
      AUTH_TOKENS: `gateway=${sha256(GATEWAY_TOKEN)},admin=${sha256(ADMIN_TOKEN)}`,
      ADMIN_CLIENT_IDS: 'admin',
      VERIFIER_REQUIRES_AUTH: 'true',
    });
    const adminMetadata = new Metadata();
    adminMetadata.set('authorization', `Bearer ${ADMIN_TOKEN}`);
    tokenKey = await createKeyOver(tokenServer.address, credentials.createSsl(ca), adminMetadata);
    mtlsServer = await startTestServer('sqlite', {
      ...tls,
      TLS_CLIENT_CA_FILE: certificates.ca.cert,
      ADMIN_CLIENT_IDS: 'spiffe://toptickets/admin-backend',
      VERIFIER_REQUIRES_AUTH: 'true',
    });
    const spiffe = certificates.clients.spiffe;
    mtlsKey = await createKeyOver(
      mtlsServer.address,
      credentials.createSsl(ca, readFileSync(spiffe.key), readFileSync(spiffe.cert)),
    );
  });
  afterAll(async () => {
    await tokenServer.stop();
    await mtlsServer.stop();
    certificates.remove();
  });

  it('verifies over TLS with the service token', async () => {
    const client = createVerifierClient({ address: tokenServer.address, tls: { ca }, token: GATEWAY_TOKEN });
    try {
      expect((await client.verify({ key: tokenKey.secret })).valid).toBe(true);
    } finally {
      client.close();
    }
  });

  it('a wrong or missing token is UNAUTHENTICATED, which a gateway answers 500 (its own misconfiguration)', async () => {
    const wrong = createVerifierClient({ address: tokenServer.address, tls: { ca }, token: 'not-the-token' });
    const none = createVerifierClient({ address: tokenServer.address, tls: { ca } });
    try {
      expect((await rejection(wrong.verify({ key: tokenKey.secret }))).code).toBe(status.UNAUTHENTICATED);
      expect((await rejection(none.verify({ key: tokenKey.secret }))).code).toBe(status.UNAUTHENTICATED);
      const verdict = await verifyHttpRequest(wrong, { authorizationHeader: `Bearer ${tokenKey.secret}` });
      expect(verdict.status).toBe(500);
      expect(verdict.body).toEqual({
        success: false,
        error: 'internal',
        message: 'internal error while verifying the API key',
      });
      expect(verdict.status === 500 && verdict.error?.code).toBe(status.UNAUTHENTICATED);
    } finally {
      wrong.close();
      none.close();
    }
  });

  it('a plaintext client cannot talk to the TLS server', async () => {
    const plaintext = createVerifierClient({ address: tokenServer.address, token: GATEWAY_TOKEN, deadlineMs: 2000 });
    try {
      expect((await rejection(plaintext.verify({ key: tokenKey.secret }))).code).toBe(status.UNAVAILABLE);
    } finally {
      plaintext.close();
    }
  });

  it('verifies over mutual TLS with a client certificate', async () => {
    const client = createVerifierClient({
      address: mtlsServer.address,
      tls: {
        ca,
        cert: readFileSync(certificates.clients.otherService.cert),
        key: readFileSync(certificates.clients.otherService.key),
      },
    });
    try {
      expect((await client.verify({ key: mtlsKey.secret })).valid).toBe(true);
    } finally {
      client.close();
    }
  });

  it('refuses a client certificate without its key', () => {
    expect(() =>
      createVerifierClient({
        address: mtlsServer.address,
        tls: { ca, cert: readFileSync(certificates.clients.spiffe.cert) },
      }),
    ).toThrow('tls.cert and tls.key must be given together');
  });
});
