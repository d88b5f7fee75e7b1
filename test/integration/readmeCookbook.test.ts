import { Client, credentials, Metadata, type ServiceError } from '@grpc/grpc-js';
import protobuf from 'protobufjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { CONTRACT_METHODS } from '../helpers/contractMethods.js';
import { grpcurlCommands } from '../helpers/readmeCookbook.js';
import { ReflectionClient } from '../helpers/reflectionClient.js';
import { startTestServer, type TestServer } from '../helpers/startTestServer.js';

/** protojson → protobufjs object: checks every key is a field of `type` (as grpcurl would reject it). */
function fromProtoJson(type: protobuf.Type, json: unknown, path = type.name): unknown {
  if (typeof json !== 'object' || json === null || Array.isArray(json)) throw new Error(`${path}: expected an object`);
  const out: Record<string, unknown> = {};
  for (const [name, value] of Object.entries(json)) {
    const field =
      type.fields[name] ??
      type.fieldsArray.find(
        (candidate) => candidate.name.replace(/_([a-z])/g, (_m, c: string) => c.toUpperCase()) === name,
      );
    if (field === undefined) throw new Error(`${path}: ${name} is not a field of ${type.fullName}`);
    field.resolve();
    const resolved = field.resolvedType;
    if (resolved instanceof protobuf.Type && resolved.fullName === '.google.protobuf.FieldMask') {
      out[field.name] = {
        paths: String(value)
          .split(',')
          .map((p) => p.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`)),
      };
    } else if (resolved instanceof protobuf.Type) {
      out[field.name] = field.repeated
        ? (value as unknown[]).map((item) => fromProtoJson(resolved, item, `${path}.${name}`))
        : fromProtoJson(resolved, value, `${path}.${name}`);
    } else if (resolved instanceof protobuf.Enum) {
      for (const item of field.repeated ? (value as string[]) : [value as string]) {
        if (!(item in resolved.values))
          throw new Error(`${path}.${name}: ${item} is not a value of ${resolved.fullName}`);
      }
      out[field.name] = value;
    } else {
      out[field.name] = value;
    }
  }
  return out;
}

describe('the README grpcurl cookbook, run through server reflection', () => {
  let server: TestServer;
  let reflection: ReflectionClient;
  let raw: Client;
  beforeAll(async () => {
    server = await startTestServer('sqlite');
    reflection = new ReflectionClient(server.address);
    raw = new Client(server.address, credentials.createInsecure());
  });
  afterAll(async () => {
    raw.close();
    reflection.close();
    await server.stop();
  });

  it('documents every KeyAdmin and KeyVerifier method', () => {
    const targets = grpcurlCommands().map((command) => command.target);
    for (const [service, methods] of Object.entries(CONTRACT_METHODS)) {
      for (const method of methods) expect(targets).toContain(`${service}/${method}`);
    }
    expect(targets).toContain('grpc.health.v1.Health/Check');
  });

  it('runs every command in order and each one succeeds', async () => {
    const values = { secret: '', keyId: '' };
    for (const command of grpcurlCommands()) {
      if (command.target === 'list') {
        expect(await reflection.listServices()).toContain('apikeys.v1.KeyAdmin');
        continue;
      }
      if (command.target.startsWith('describe ')) {
        const root = await reflection.loadSymbol(command.target.slice('describe '.length));
        expect(root.lookup(command.target.slice('describe '.length))).not.toBeNull();
        continue;
      }
      const [serviceName = '', methodName = ''] = command.target.split('/');
      const root = await reflection.loadSymbol(serviceName);
      const method = root.lookupService(serviceName).methods[methodName];
      if (method === undefined) throw new Error(`${command.target} is not a method`);
      method.resolve();
      const requestType = method.resolvedRequestType!;
      const responseType = method.resolvedResponseType!;
      const body = (command.body ?? '{}').replaceAll('tt_admin_…', values.secret).replaceAll('key_…', values.keyId);
      const request = requestType.fromObject(fromProtoJson(requestType, JSON.parse(body)) as Record<string, unknown>);
      const response = await new Promise<Record<string, unknown>>((resolve, reject) => {
        raw.makeUnaryRequest(
          `/${command.target}`,
          (value: protobuf.Message) => Buffer.from(requestType.encode(value).finish()),
          (bytes: Buffer) => responseType.toObject(responseType.decode(bytes), { enums: String, longs: Number }),
          request,
          new Metadata(),
          {},
          (error: ServiceError | null, value?: Record<string, unknown>) =>
            error === null ? resolve(value ?? {}) : reject(new Error(`${command.target}: ${error.message}`)),
        );
      });
      if (command.target.endsWith('/CreateKey')) {
        values.secret = response.secret as string;
        values.keyId = (response.key as { id: string }).id;
      }
      if (command.target.endsWith('/VerifyKey')) expect(response).toMatchObject({ valid: true, http_status: 200 });
      if (command.target.endsWith('/Check')) expect(response.status).toBe('SERVING');
    }
    expect(values.secret).toMatch(/^tt_admin_/);
  });
});
