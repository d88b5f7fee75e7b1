import { Client, credentials, Metadata, type ServiceError } from '@grpc/grpc-js';
import type protobuf from 'protobufjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { KeyAdminService, KeyVerifierService, Role } from '../../gen/apikeys/v1/api_keys.js';
import { CONTRACT_METHODS } from '../helpers/contractMethods.js';
import { ReflectionClient } from '../helpers/reflectionClient.js';
import { startTestServer, type TestServer } from '../helpers/startTestServer.js';

const EXPECTED_METHODS = CONTRACT_METHODS;

/** Every message type reachable from `type`, including imported well-known types. */
function reachableTypes(type: protobuf.Type, seen = new Set<string>()): Set<string> {
  if (seen.has(type.fullName)) return seen;
  seen.add(type.fullName);
  for (const field of type.fieldsArray) {
    if (field.resolvedType !== null && 'fieldsArray' in field.resolvedType) reachableTypes(field.resolvedType, seen);
  }
  return seen;
}

describe('server reflection, the way grpcurl uses it', () => {
  let server: TestServer;
  let reflection: ReflectionClient;
  beforeAll(async () => {
    server = await startTestServer('sqlite');
    reflection = new ReflectionClient(server.address);
  });
  afterAll(async () => {
    reflection.close();
    await server.stop();
  });

  it('generates exactly the contract’s methods', () => {
    const generated = (service: Record<string, { path: string }>) =>
      Object.values(service).map((definition) => definition.path.slice(definition.path.lastIndexOf('/') + 1));
    expect(generated(KeyAdminService)).toEqual(EXPECTED_METHODS['apikeys.v1.KeyAdmin']);
    expect(generated(KeyVerifierService)).toEqual(EXPECTED_METHODS['apikeys.v1.KeyVerifier']);
  });

  it('lists both services, health and reflection', async () => {
    expect(await reflection.listServices()).toEqual(
      expect.arrayContaining([
        'apikeys.v1.KeyAdmin',
        'apikeys.v1.KeyVerifier',
        'grpc.health.v1.Health',
        'grpc.reflection.v1.ServerReflection',
      ]),
    );
  });

  it('describes every method with fully resolved request and response types, well-known types included', async () => {
    for (const [serviceName, methods] of Object.entries(EXPECTED_METHODS)) {
      const root = await reflection.loadSymbol(serviceName);
      const service = root.lookupService(serviceName);
      expect(Object.keys(service.methods).sort()).toEqual([...methods].sort());
      for (const method of service.methodsArray) {
        method.resolve();
        expect(method.resolvedRequestType).not.toBeNull();
        expect(method.resolvedResponseType).not.toBeNull();
      }
    }
    const verifierRoot = await reflection.loadSymbol('apikeys.v1.KeyVerifier');
    const types = reachableTypes(verifierRoot.lookupType('apikeys.v1.VerifyKeyResponse'));
    expect(types).toContain('.google.protobuf.Timestamp');
    const health = await reflection.loadSymbol('grpc.health.v1.Health');
    expect(Object.keys(health.lookupService('grpc.health.v1.Health').methods)).toContain('Check');
    const adminRoot = await reflection.loadSymbol('apikeys.v1.KeyAdmin');
    expect(reachableTypes(adminRoot.lookupType('apikeys.v1.UpdateKeyRequest'))).toContain('.google.protobuf.FieldMask');
  });

  it('calls CreateKey and VerifyKey using only the descriptors reflection returned', async () => {
    const root = await reflection.loadSymbol('apikeys.v1.KeyAdmin');
    const raw = new Client(server.address, credentials.createInsecure());
    const call = (path: string, requestType: string, responseType: string, body: object) =>
      new Promise<Record<string, unknown>>((resolve, reject) => {
        const req = root.lookupType(requestType);
        const res = root.lookupType(responseType);
        raw.makeUnaryRequest(
          path,
          (value: object) => Buffer.from(req.encode(req.fromObject(value)).finish()),
          (bytes: Buffer) => res.toObject(res.decode(bytes), { enums: String, longs: Number }),
          body,
          new Metadata(),
          {},
          (error: ServiceError | null, value?: Record<string, unknown>) =>
            error === null ? resolve(value ?? {}) : reject(error),
        );
      });
    const created = await call(
      '/apikeys.v1.KeyAdmin/CreateKey',
      'apikeys.v1.CreateKeyRequest',
      'apikeys.v1.CreateKeyResponse',
      {
        actor: { organization_id: 'org-r', user_id: 'u1', role: Role.ROLE_ADMIN },
        name: 'via reflection',
        scopes: ['tickets:read'],
      },
    );
    const verified = await call(
      '/apikeys.v1.KeyVerifier/VerifyKey',
      'apikeys.v1.VerifyKeyRequest',
      'apikeys.v1.VerifyKeyResponse',
      { key: created.secret, client_ip: '198.51.100.7', required_scopes: ['tickets:read'] },
    );
    raw.close();
    expect(verified).toMatchObject({
      valid: true,
      http_status: 200,
      key_name: 'via reflection',
      organization_id: 'org-r',
    });
    expect(verified.expire_time).toHaveProperty('seconds');
  });
});
