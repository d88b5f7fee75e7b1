import { createHash, randomBytes } from 'node:crypto';

import { credentials, Metadata, status } from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import {
  CreateKeyRequest,
  type CreateKeyResponse,
  KeyAdminService,
  ListAuditEventsRequest,
  type ListAuditEventsResponse,
  ListKeysRequest,
  type ListKeysResponse,
  ListScopesRequest,
  RevokeKeyRequest,
  VerifyKeyRequest,
} from '../../gen/apikeys/v1/api_keys.js';
import {
  bearer,
  CERTIFICATE_IDENTITIES,
  createCredentialedClients,
  createTestCertificates,
  type TestCertificates,
  tlsCredentials,
} from '../helpers/certificates.js';
import { grpcError } from '../helpers/grpcClients.js';
import { checkHealth } from '../helpers/healthClient.js';
import { grpcFrame, RawClient, RawHttp2 } from '../helpers/rawClient.js';
import { ReflectionClient } from '../helpers/reflectionClient.js';
import { actorOf, newOrganizationId } from '../helpers/testActors.js';
import type { TestServer } from '../helpers/startTestServer.js';
import { useTestServer } from '../helpers/useTestServer.js';

/** Service tokens as an operator makes them (`openssl rand -base64 32`); only their SHA-256 is configured. */
const ADMIN_TOKEN = randomBytes(32).toString('base64');
const SEARCH_TOKEN = randomBytes(32).toString('base64');
const sha256 = (token: string) => createHash('sha256').update(token).digest('hex');
const AUTH_TOKENS = `admin-backend=${sha256(ADMIN_TOKEN)},search-service=${sha256(SEARCH_TOKEN)}`;

type KeyAdminMethod = keyof typeof KeyAdminService;

/** Every KeyAdmin method (from the service definition) with an empty (invalid) request of its type. */
const KEY_ADMIN_METHODS = Object.entries(KeyAdminService).map(
  ([method, definition]) => [method, definition.requestDeserialize(Buffer.alloc(0))] as const,
);

const NO_CREDENTIALS = 'caller authentication required: send "authorization: Bearer <service token>" metadata';
const actor = () => actorOf(newOrganizationId('auth'), 'alice');

/** A key request every admin role may make. */
function keyRequest(organizationActor: ReturnType<typeof actor>): CreateKeyRequest {
  return CreateKeyRequest.fromPartial({ actor: organizationActor, name: 'auth test', scopes: ['tickets:read'] });
}

const listScopes = (organizationActor = actor()) => ListScopesRequest.fromPartial({ actor: organizationActor });
const listAudit = (organizationActor: ReturnType<typeof actor>) =>
  ListAuditEventsRequest.fromPartial({ actor: organizationActor });
const verifyRequest = (key: string) => VerifyKeyRequest.fromPartial({ key });

/** `authorization` values that are not a known token, with what the refusal says. */
const WRONG_CREDENTIALS: [label: string, authorization: string, message: string][] = [
  ['an unknown token', `Bearer ${randomBytes(32).toString('base64')}`, 'the service token was not recognized'],
  [
    'a token with one character changed',
    `Bearer ${ADMIN_TOKEN.slice(0, -2)}${ADMIN_TOKEN.at(-2) === 'A' ? 'B' : 'A'}=`,
    'not recognized',
  ],
  ['the SHA-256 of the token instead of the token', `Bearer ${sha256(ADMIN_TOKEN)}`, 'not recognized'],
  ['the token without "Bearer"', ADMIN_TOKEN, 'must be exactly one entry "Bearer <service token>"'],
  ['another scheme', `Basic ${ADMIN_TOKEN}`, 'must be exactly one entry "Bearer <service token>"'],
];

/** Metadata carrying `authorization` exactly as given. */
function authorization(value: string): Metadata {
  const metadata = new Metadata();
  metadata.set('authorization', value);
  return metadata;
}

/** The log lines (parsed) of calls to `method` among `logs`. */
function rpcLines(logs: readonly string[], method: string): Record<string, unknown>[] {
  return logs
    .map((line) => JSON.parse(line) as Record<string, unknown>)
    .filter((line) => line.method === `/apikeys.v1.${method}`);
}

/** apikeys_rpc_handled_total of `method` (a full path) and `code`, from the server's metrics endpoint (0 if absent). */
async function rpcHandled(server: TestServer, method: string, code: string): Promise<number> {
  const metricsAddress = /"metricsAddress":"([^"]+)"/.exec(server.logs.join(''))?.[1];
  const body = await (await fetch(`http://${metricsAddress ?? 'none'}/metrics`)).text();
  const series = `apikeys_rpc_handled_total{method="${method}",code="${code}"} `;
  const line = body.split('\n').find((candidate) => candidate.startsWith(series));
  return line === undefined ? 0 : Number(line.slice(series.length));
}

/** Every log line and error text must be free of the tokens, in any form (the Bearer value included). */
function expectNoToken(texts: string[]): void {
  for (const text of texts) {
    expect(text).not.toContain(ADMIN_TOKEN);
    expect(text).not.toContain(SEARCH_TOKEN);
    expect(text).not.toMatch(/Bearer +[A-Za-z0-9+/=]{8}/i);
  }
}

describe('service tokens (plaintext, loopback)', () => {
  // Every refusal logged, however many this file's tests make within a second (the budget has its own test).
  const server = useTestServer('sqlite', {
    AUTH_TOKENS,
    ADMIN_CLIENT_IDS: 'admin-backend',
    LOG_REJECTIONS_PER_SECOND: '0',
  });
  const adminCall = (method: KeyAdminMethod, request: object, metadata?: Metadata) =>
    (server.clients.admin[method] as (r: object, o: { metadata?: Metadata }) => Promise<unknown>)(request, {
      ...(metadata === undefined ? {} : { metadata }),
    });

  describe('refused', () => {
    it.each(KEY_ADMIN_METHODS)(
      'KeyAdmin.%s without credentials: UNAUTHENTICATED, before the request is looked at',
      async (method, request) => {
        const error = await grpcError(adminCall(method as KeyAdminMethod, request));
        expect(error.code).toBe(status.UNAUTHENTICATED);
        expect(error.details).toBe(NO_CREDENTIALS);
      },
    );

    it.each(WRONG_CREDENTIALS)('%s: UNAUTHENTICATED, never repeating what was sent', async (_label, value, message) => {
      const error = await grpcError(adminCall('createKey', keyRequest(actor()), authorization(value)));
      expect(error.code).toBe(status.UNAUTHENTICATED);
      expect(error.details).toContain(message);
      expectNoToken([error.details]);
    });

    it('bytes that are not a request: the caller is checked first, and only an admitted one hears why', async () => {
      const raw = new RawClient(server.address);
      try {
        const garbage = new Uint8Array(16).fill(0xff);
        const path = '/apikeys.v1.KeyAdmin/CreateKey';
        expect(await raw.call(path, garbage)).toEqual({ code: status.UNAUTHENTICATED, details: NO_CREDENTIALS });
        expect((await raw.call(path, garbage, { metadata: bearer(SEARCH_TOKEN) })).code).toBe(status.PERMISSION_DENIED);
        const admitted = await raw.call(path, garbage, { metadata: bearer(ADMIN_TOKEN) });
        expect(admitted.code).toBe(status.INVALID_ARGUMENT);
        expect(admitted.details).toMatch(/^request is not a valid apikeys\.v1\.CreateKeyRequest message \(/);
      } finally {
        raw.close();
      }
    });

    it('a caller refused from its metadata is answered at once: its partly sent message is never waited for', async () => {
      const raw = new RawHttp2(server.address);
      const path = '/apikeys.v1.KeyAdmin/CreateKey';
      const handled = (code: string) => rpcHandled(server, path, code);
      const counted = { unauthenticated: await handled('UNAUTHENTICATED'), denied: await handled('PERMISSION_DENIED') };
      const before = server.logs.length;
      try {
        // Headers, then 15 bytes of a message announced as 1,000, and the stream left open: a server that
        // authenticates only once the whole message arrived never answers (the 5 s are the test's margin).
        const partial = grpcFrame(new Uint8Array(1000)).subarray(0, 15);
        const unauthenticated = await raw.requestWithoutEnd(path, partial, {}, 5_000);
        expect(unauthenticated).toMatchObject({ grpcStatus: status.UNAUTHENTICATED, grpcMessage: NO_CREDENTIALS });
        const denied = await raw.requestWithoutEnd(path, partial, { authorization: `Bearer ${SEARCH_TOKEN}` }, 5_000);
        expect(denied).toMatchObject({
          grpcStatus: status.PERMISSION_DENIED,
          grpcMessage: expect.stringContaining('caller "search-service" may not use KeyAdmin') as unknown,
        });
      } finally {
        raw.close();
      }
      // Logged and counted as every refusal is.
      expect(rpcLines(server.logs.slice(before), 'KeyAdmin/CreateKey')).toEqual([
        expect.objectContaining({ status: 'UNAUTHENTICATED', caller: null, msg: 'caller rejected', level: 40 }),
        expect.objectContaining({ status: 'PERMISSION_DENIED', caller: 'search-service', msg: 'caller rejected' }),
      ]);
      expect(await handled('UNAUTHENTICATED')).toBe(counted.unauthenticated + 1);
      expect(await handled('PERMISSION_DENIED')).toBe(counted.denied + 1);
      expectNoToken(server.logs);
    }, 20_000);

    it('a valid token that is not in ADMIN_CLIENT_IDS: PERMISSION_DENIED on KeyAdmin, nothing written', async () => {
      const organizationActor = actor();
      const error = await grpcError(adminCall('createKey', keyRequest(organizationActor), bearer(SEARCH_TOKEN)));
      expect(error.code).toBe(status.PERMISSION_DENIED);
      expect(error.details).toBe(
        `caller "search-service" may not use KeyAdmin: it is not in the service's list of admin clients (ADMIN_CLIENT_IDS)`,
      );
      const keys = (await adminCall(
        'listKeys',
        ListKeysRequest.fromPartial({ actor: organizationActor }),
        bearer(ADMIN_TOKEN),
      )) as ListKeysResponse;
      expect(keys.keys).toEqual([]);
    });
  });

  describe('admitted', () => {
    it('a token in ADMIN_CLIENT_IDS manages keys, and the audit trail records its name as the caller', async () => {
      const organizationActor = actor();
      const created = (await adminCall(
        'createKey',
        keyRequest(organizationActor),
        bearer(ADMIN_TOKEN),
      )) as CreateKeyResponse;
      await adminCall(
        'revokeKey',
        RevokeKeyRequest.fromPartial({ actor: organizationActor, keyId: created.key!.id }),
        authorization(`bearer   ${ADMIN_TOKEN}`), // the scheme is case-insensitive
      );
      const audit = (await adminCall(
        'listAuditEvents',
        listAudit(organizationActor),
        bearer(ADMIN_TOKEN),
      )) as ListAuditEventsResponse;
      expect(audit.events).toHaveLength(2);
      expect(audit.events.map((event) => event.caller)).toEqual(['admin-backend', 'admin-backend']);
    });

    it('VerifyKey answers without credentials and with any token (VERIFIER_REQUIRES_AUTH is off)', async () => {
      const created = (await adminCall('createKey', keyRequest(actor()), bearer(ADMIN_TOKEN))) as CreateKeyResponse;
      const request = verifyRequest(created.secret);
      expect((await server.clients.verifier.verifyKey(request)).valid).toBe(true);
      expect((await server.clients.verifier.verifyKey(request, { metadata: bearer(SEARCH_TOKEN) })).valid).toBe(true);
      const wrong = authorization('Bearer not-checked-at-all');
      expect((await server.clients.verifier.verifyKey(request, { metadata: wrong })).valid).toBe(true);
    });

    it('health and reflection answer without credentials', async () => {
      expect(await checkHealth(server.address)).toBe('SERVING');
      expect(await checkHealth(server.address, 'apikeys.v1.KeyAdmin')).toBe('SERVING');
      const reflection = new ReflectionClient(server.address);
      try {
        expect(await reflection.listServices()).toContain('apikeys.v1.KeyAdmin');
        expect((await reflection.loadSymbol('apikeys.v1.KeyAdmin')).lookupService('apikeys.v1.KeyAdmin')).toBeDefined();
      } finally {
        reflection.close();
      }
    });
  });

  it('logs the caller of every call and every refusal with its reason, and never a token', async () => {
    const before = server.logs.length;
    const organizationActor = actor();
    await adminCall('createKey', keyRequest(organizationActor), bearer(ADMIN_TOKEN));
    await grpcError(adminCall('createKey', keyRequest(organizationActor), bearer(SEARCH_TOKEN)));
    await grpcError(adminCall('createKey', keyRequest(organizationActor)));
    for (const [, value] of WRONG_CREDENTIALS) {
      await grpcError(adminCall('createKey', keyRequest(organizationActor), authorization(value)));
    }
    await server.clients.verifier.verifyKey(verifyRequest('tt_admin_x'));
    const logs = server.logs.slice(before);
    const createLines = rpcLines(logs, 'KeyAdmin/CreateKey');
    expect(createLines.filter((line) => line.status === 'OK').every((line) => line.caller === 'admin-backend')).toBe(
      true,
    );
    expect(createLines).toContainEqual(
      expect.objectContaining({ status: 'PERMISSION_DENIED', caller: 'search-service', msg: 'caller rejected' }),
    );
    expect(createLines).toContainEqual(
      expect.objectContaining({ status: 'UNAUTHENTICATED', caller: null, msg: 'caller rejected', level: 40 }),
    );
    expect(rpcLines(logs, 'KeyVerifier/VerifyKey').map((line) => line.caller)).toContain('anonymous');
    expectNoToken(server.logs);
  });
});

describe('VERIFIER_REQUIRES_AUTH=true', () => {
  const server = useTestServer('sqlite', {
    AUTH_TOKENS,
    ADMIN_CLIENT_IDS: 'admin-backend',
    VERIFIER_REQUIRES_AUTH: 'true',
  });
  let secret: string;
  beforeAll(async () => {
    const created = await server.clients.admin.createKey(keyRequest(actor()), { metadata: bearer(ADMIN_TOKEN) });
    secret = created.secret;
  });

  it('VerifyKey without credentials or with a wrong token: UNAUTHENTICATED', async () => {
    const request = verifyRequest(secret);
    const missing = await grpcError(server.clients.verifier.verifyKey(request));
    expect(missing.code).toBe(status.UNAUTHENTICATED);
    expect(missing.details).toBe(NO_CREDENTIALS);
    const wrong = await grpcError(server.clients.verifier.verifyKey(request, { metadata: bearer('wrong') }));
    expect(wrong.code).toBe(status.UNAUTHENTICATED);
  });

  it('VerifyKey without credentials is refused at once, before its partly sent message has arrived', async () => {
    const raw = new RawHttp2(server.address);
    try {
      const partial = grpcFrame(new Uint8Array(1000)).subarray(0, 15);
      const refused = await raw.requestWithoutEnd('/apikeys.v1.KeyVerifier/VerifyKey', partial, {}, 5_000);
      expect(refused).toMatchObject({ grpcStatus: status.UNAUTHENTICATED, grpcMessage: NO_CREDENTIALS });
    } finally {
      raw.close();
    }
  });

  it('VerifyKey from any authenticated caller, admin client or not, logged with its name', async () => {
    const request = verifyRequest(secret);
    const before = server.logs.length;
    await grpcError(server.clients.verifier.verifyKey(request));
    expect((await server.clients.verifier.verifyKey(request, { metadata: bearer(SEARCH_TOKEN) })).valid).toBe(true);
    expect((await server.clients.verifier.verifyKey(request, { metadata: bearer(ADMIN_TOKEN) })).valid).toBe(true);
    const callers = rpcLines(server.logs.slice(before), 'KeyVerifier/VerifyKey').map((line) => [
      line.status,
      line.caller,
    ]);
    expect(callers).toEqual(
      expect.arrayContaining([
        ['OK', 'search-service'],
        ['OK', 'admin-backend'],
        ['UNAUTHENTICATED', null],
      ]),
    );
    expectNoToken(server.logs);
  });
});

/** The environment of a server presenting `certificates.server`. */
const serverTls = (certificates: TestCertificates) => ({
  TLS_CERT_FILE: certificates.server.cert,
  TLS_KEY_FILE: certificates.server.key,
});

describe('mutual TLS', () => {
  const certificates = createTestCertificates();
  // Registered first, so that it runs after the server stopped (after-hooks run in reverse order).
  afterAll(() => certificates.remove());
  const server = useTestServer('sqlite', {
    ...serverTls(certificates),
    TLS_CLIENT_CA_FILE: certificates.ca.cert,
    AUTH_TOKENS,
    ADMIN_CLIENT_IDS: [
      CERTIFICATE_IDENTITIES.spiffe,
      CERTIFICATE_IDENTITIES.dnsOnly,
      CERTIFICATE_IDENTITIES.cnOnly,
      'admin-backend',
    ].join(','),
    VERIFIER_REQUIRES_AUTH: 'true',
  });
  const clientsWith = (name: keyof typeof certificates.clients) =>
    createCredentialedClients(server.address, tlsCredentials(certificates.ca, certificates.clients[name]));

  it.each([
    ['its URI SAN (SPIFFE id), before its DNS SAN and CN', 'spiffe', CERTIFICATE_IDENTITIES.spiffe],
    ['its DNS SAN', 'dnsOnly', CERTIFICATE_IDENTITIES.dnsOnly],
    ['its CN', 'cnOnly', CERTIFICATE_IDENTITIES.cnOnly],
  ] as const)(
    'identifies the caller by %s, admits it to KeyAdmin and records it in the audit trail',
    async (_label, name, identity) => {
      const clients = clientsWith(name);
      try {
        const organizationActor = actor();
        await clients.admin.createKey(keyRequest(organizationActor));
        const audit = await clients.admin.listAuditEvents(listAudit(organizationActor));
        expect(audit.events.map((event) => event.caller)).toEqual([identity]);
      } finally {
        clients.close();
      }
    },
  );

  it('a valid certificate not in ADMIN_CLIENT_IDS: PERMISSION_DENIED on KeyAdmin, VerifyKey answered', async () => {
    const admin = clientsWith('spiffe');
    const other = clientsWith('otherService');
    try {
      const created = await admin.admin.createKey(keyRequest(actor()));
      const error = await grpcError(other.admin.listScopes(listScopes()));
      expect(error.code).toBe(status.PERMISSION_DENIED);
      expect(error.details).toContain(`caller "${CERTIFICATE_IDENTITIES.otherService}" may not use KeyAdmin`);
      // VERIFIER_REQUIRES_AUTH: the verified certificate is the authentication.
      const verified = await other.verifier.verifyKey(verifyRequest(created.secret));
      expect(verified.valid).toBe(true);
      expect(rpcLines(server.logs, 'KeyVerifier/VerifyKey').at(-1)).toMatchObject({
        status: 'OK',
        caller: CERTIFICATE_IDENTITIES.otherService,
      });
    } finally {
      admin.close();
      other.close();
    }
  });

  it('a token takes precedence over the certificate; a wrong token is refused whatever the certificate', async () => {
    const other = clientsWith('otherService');
    const admin = clientsWith('spiffe');
    try {
      const organizationActor = actor();
      await other.admin.createKey(keyRequest(organizationActor), { metadata: bearer(ADMIN_TOKEN) });
      const audit = await other.admin.listAuditEvents(listAudit(organizationActor), { metadata: bearer(ADMIN_TOKEN) });
      expect(audit.events.map((event) => event.caller)).toEqual(['admin-backend']);
      const error = await grpcError(admin.admin.listScopes(listScopes(), { metadata: bearer('wrong') }));
      expect(error.code).toBe(status.UNAUTHENTICATED);
    } finally {
      other.close();
      admin.close();
    }
  });

  it('health answers a client with a certificate without further credentials', async () => {
    const clients = clientsWith('otherService');
    try {
      expect(await clients.health()).toBe('SERVING');
    } finally {
      clients.close();
    }
  });

  it.each([
    ['a client certificate from another CA', () => tlsCredentials(certificates.ca, certificates.clients.otherCa)],
    ['TLS without a client certificate', () => tlsCredentials(certificates.ca)],
    ['plaintext', () => credentials.createInsecure()],
  ])('%s cannot connect at all: not to KeyAdmin, KeyVerifier or health', async (_label, channelCredentials) => {
    const before = server.logs.length;
    const clients = createCredentialedClients(server.address, channelCredentials());
    try {
      for (const call of [
        clients.admin.listScopes(listScopes()),
        clients.verifier.verifyKey(verifyRequest('tt_admin_x')),
        clients.health(),
      ]) {
        expect((await grpcError(call)).code).toBe(status.UNAVAILABLE);
      }
      // Refused in the TLS handshake: no call reached a handler, so there is no rpc log line.
      expect(server.logs.slice(before).filter((line) => line.includes('"method"'))).toEqual([]);
    } finally {
      clients.close();
    }
  });

  it('never logs a token', async () => {
    const clients = clientsWith('otherService');
    try {
      for (const metadata of [
        bearer(ADMIN_TOKEN),
        bearer(SEARCH_TOKEN),
        ...WRONG_CREDENTIALS.map(([, value]) => authorization(value)),
      ]) {
        await clients.admin.listScopes(listScopes(), { metadata }).catch(() => undefined);
        await clients.verifier.verifyKey(verifyRequest('tt_admin_x'), { metadata }).catch(() => undefined);
      }
    } finally {
      clients.close();
    }
    expectNoToken(server.logs);
  });
});

describe('TLS with service tokens (no client certificates)', () => {
  const certificates = createTestCertificates();
  afterAll(() => certificates.remove());
  const server = useTestServer('sqlite', {
    ...serverTls(certificates),
    AUTH_TOKENS,
    ADMIN_CLIENT_IDS: 'admin-backend',
  });

  it('authenticates callers by token over TLS; a client certificate identifies no one', async () => {
    const plain = createCredentialedClients(server.address, tlsCredentials(certificates.ca));
    const withCertificate = createCredentialedClients(
      server.address,
      tlsCredentials(certificates.ca, certificates.clients.spiffe),
    );
    try {
      expect(await plain.health()).toBe('SERVING');
      const organizationActor = actor();
      await plain.admin.createKey(keyRequest(organizationActor), { metadata: bearer(ADMIN_TOKEN) });
      const error = await grpcError(plain.admin.listScopes(listScopes(organizationActor)));
      expect(error.code).toBe(status.UNAUTHENTICATED);
      expect(error.details).toBe(NO_CREDENTIALS);
      const fromCertificate = await grpcError(withCertificate.admin.listScopes(listScopes(organizationActor)));
      expect(fromCertificate.code).toBe(status.UNAUTHENTICATED);
    } finally {
      plain.close();
      withCertificate.close();
    }
  });

  it('cannot be reached in plaintext', async () => {
    const clients = createCredentialedClients(server.address, credentials.createInsecure());
    try {
      expect((await grpcError(clients.health())).code).toBe(status.UNAVAILABLE);
    } finally {
      clients.close();
    }
  });
});
