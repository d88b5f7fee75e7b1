import { readFileSync } from 'node:fs';

import { fromBinary } from '@bufbuild/protobuf';
import { BinaryReader } from '@bufbuild/protobuf/wire';
import {
  type DescriptorProto,
  FieldDescriptorProto_Type,
  type FileDescriptorProto,
  FileDescriptorProtoSchema,
} from '@bufbuild/protobuf/wkt';
import { Client, credentials, Metadata, type ServiceError } from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { ReflectionClient } from '../helpers/reflectionClient.js';
import { startTestServer, type TestServer } from '../helpers/startTestServer.js';

/** Each file of the descriptor sets `npm run generate` wrote, by name, as bytes. */
function builtFiles(): Map<string, Buffer> {
  const files = new Map<string, Buffer>();
  for (const name of ['apikeys', 'grpc_health', 'grpc_reflection', 'envoy_ext_authz']) {
    const reader = new BinaryReader(readFileSync(`gen/descriptors/${name}.binpb`));
    while (reader.pos < reader.len) {
      reader.tag(); // field 1, length-delimited: the only field of a FileDescriptorSet
      const bytes = Buffer.from(reader.bytes());
      files.set(fromBinary(FileDescriptorProtoSchema, bytes).name, bytes);
    }
  }
  return files;
}

/** Fully-qualified names (leading dot) of every message and enum a file declares, nested ones included. */
function declaredTypes(file: FileDescriptorProto): Set<string> {
  const names = new Set<string>();
  const scope = file.package === '' ? '' : `.${file.package}`;
  const visit = (message: DescriptorProto, prefix: string) => {
    const name = `${prefix}.${message.name}`;
    names.add(name);
    for (const nested of message.nestedType) visit(nested, name);
    for (const nested of message.enumType) names.add(`${name}.${nested.name}`);
  };
  for (const message of file.messageType) visit(message, scope);
  for (const enumType of file.enumType) names.add(`${scope}.${enumType.name}`);
  return names;
}

/** Every type name a file refers to (fields, nested fields, extensions, method inputs and outputs). */
function referencedTypes(file: FileDescriptorProto): { where: string; typeName: string }[] {
  const references: { where: string; typeName: string }[] = [];
  const visit = (message: DescriptorProto, prefix: string) => {
    for (const field of message.field) {
      if (field.type === FieldDescriptorProto_Type.MESSAGE || field.type === FieldDescriptorProto_Type.ENUM)
        references.push({ where: `${prefix}.${message.name}.${field.name}`, typeName: field.typeName });
    }
    for (const nested of message.nestedType) visit(nested, `${prefix}.${message.name}`);
  };
  for (const message of file.messageType) visit(message, file.package);
  for (const service of file.service) {
    for (const method of service.method) {
      references.push({ where: `${service.name}.${method.name} input`, typeName: method.inputType });
      references.push({ where: `${service.name}.${method.name} output`, typeName: method.outputType });
    }
  }
  return references;
}

describe('the descriptors reflection returns', () => {
  let server: TestServer;
  let reflection: ReflectionClient;
  /** Every file reachable from every listed service, as the server sent it. */
  const sent = new Map<string, Buffer>();
  beforeAll(async () => {
    server = await startTestServer('sqlite');
    reflection = new ReflectionClient(server.address);
    for (const service of await reflection.listServices()) {
      for (const bytes of await reflection.rawFiles({ fileContainingSymbol: service })) {
        sent.set(fromBinary(FileDescriptorProtoSchema, bytes).name, bytes);
      }
    }
  });
  afterAll(async () => {
    reflection.close();
    await server.stop();
  });

  it('are byte for byte what buf build produced', () => {
    const built = builtFiles();
    expect([...sent.keys()].sort()).toEqual(
      expect.arrayContaining([
        'apikeys/v1/api_keys.proto',
        'google/protobuf/timestamp.proto',
        'google/protobuf/field_mask.proto',
        'grpc/health/v1/health.proto',
        'grpc/reflection/v1/reflection.proto',
        'grpc/reflection/v1alpha/reflection.proto',
      ]),
    );
    for (const [name, bytes] of sent) expect(Buffer.compare(bytes, built.get(name) ?? Buffer.alloc(0)), name).toBe(0);
  });

  it('use only fully-qualified type names, each declared in the file or a file it imports', () => {
    for (const [name, bytes] of sent) {
      const file = fromBinary(FileDescriptorProtoSchema, bytes);
      const visible = declaredTypes(file);
      for (const dependency of file.dependency) {
        const imported = sent.get(dependency);
        expect(imported, `${name} imports ${dependency}, which the server did not send`).toBeDefined();
        for (const type of declaredTypes(fromBinary(FileDescriptorProtoSchema, imported!))) visible.add(type);
      }
      for (const { where, typeName } of referencedTypes(file)) {
        expect(typeName, `${name}: ${where}`).toMatch(/^\./);
        expect(visible.has(typeName), `${name}: ${where} refers to ${typeName}, declared nowhere it imports`).toBe(
          true,
        );
      }
    }
  });

  it('declare the imports our contract uses and name map entries as protoc does', () => {
    const contract = fromBinary(FileDescriptorProtoSchema, sent.get('apikeys/v1/api_keys.proto')!);
    expect(contract.dependency).toEqual(
      expect.arrayContaining(['google/protobuf/timestamp.proto', 'google/protobuf/field_mask.proto']),
    );
    const health = fromBinary(FileDescriptorProtoSchema, sent.get('grpc/health/v1/health.proto')!);
    const listResponse = health.messageType.find((message) => message.name === 'HealthListResponse');
    expect(listResponse?.nestedType.map((entry) => [entry.name, entry.options?.mapEntry])).toEqual([
      ['StatusesEntry', true],
    ]);
  });

  it('answers each file with its transitive imports, the requested file first', async () => {
    const files = await reflection.rawFiles({ fileContainingSymbol: 'apikeys.v1.VerifyKeyRequest' });
    const names = files.map((bytes) => fromBinary(FileDescriptorProtoSchema, bytes).name);
    expect(names[0]).toBe('apikeys/v1/api_keys.proto');
    expect(new Set(names).size).toBe(names.length);
    const byName = await reflection.rawFiles({ fileByFilename: 'google/protobuf/timestamp.proto' });
    expect(byName.map((bytes) => fromBinary(FileDescriptorProtoSchema, bytes).name)).toEqual([
      'google/protobuf/timestamp.proto',
    ]);
  });

  it('finds methods, fields and enum values by their full names, and reports unknown ones as NOT_FOUND', async () => {
    for (const symbol of [
      'apikeys.v1.KeyVerifier.VerifyKey',
      'apikeys.v1.VerifyKeyRequest.client_ip',
      'apikeys.v1.DENIAL_REASON_REVOKED',
      'grpc.health.v1.HealthCheckResponse.ServingStatus',
      // Go resolves these too: a map entry, its fields, and the synthetic oneof of a proto3 optional field.
      'grpc.health.v1.HealthListResponse.StatusesEntry',
      'grpc.health.v1.HealthListResponse.StatusesEntry.key',
      'apikeys.v1.CreateKeyRequest._expires_in_hours',
    ]) {
      expect((await reflection.rawFiles({ fileContainingSymbol: symbol })).length, symbol).toBeGreaterThan(0);
    }
    await expect(reflection.rawFiles({ fileContainingSymbol: 'apikeys.v1.Nope' })).rejects.toThrow(
      'reflection 5: symbol "apikeys.v1.Nope" not found',
    );
    await expect(reflection.rawFiles({ fileByFilename: 'nope.proto' })).rejects.toThrow(
      'reflection 5: file "nope.proto" not found',
    );
  });

  it('ends a stream whose bytes are not a request with INVALID_ARGUMENT, not INTERNAL', async () => {
    const raw = new Client(server.address, credentials.createInsecure());
    const failure = await new Promise<ServiceError>((resolve) => {
      const call = raw.makeBidiStreamRequest(
        '/grpc.reflection.v1.ServerReflection/ServerReflectionInfo',
        (bytes: Buffer) => bytes,
        (bytes: Buffer) => bytes,
        new Metadata(),
      );
      call.on('error', resolve);
      call.on('data', () => undefined);
      call.write(Buffer.from([0x0a, 0xff])); // field 1 claims 255 bytes that never come
    });
    raw.close();
    expect(failure.code).toBe(3);
    expect(failure.details).toBe('request is not a ServerReflectionRequest message');
  });
});
