import { create, fromBinary, toBinary } from '@bufbuild/protobuf';
import {
  FieldDescriptorProto_Label,
  FieldDescriptorProto_Type,
  type FileDescriptorProto,
  FileDescriptorProtoSchema,
  FileDescriptorSetSchema,
} from '@bufbuild/protobuf/wkt';
import { Server } from '@grpc/grpc-js';
import { describe, expect, it } from 'vitest';

import { addReflectionService } from '../../src/transport/reflection/addReflectionService.js';
import { answerReflectionRequest } from '../../src/transport/reflection/answerReflectionRequest.js';
import { DescriptorIndex } from '../../src/transport/reflection/DescriptorIndex.js';
import { loadDescriptorIndex } from '../../src/transport/server.js';

type FileInit = Parameters<typeof create<typeof FileDescriptorProtoSchema>>[1];

const { OPTIONAL } = FieldDescriptorProto_Label;

function file(init: FileInit): FileDescriptorProto {
  return create(FileDescriptorProtoSchema, { syntax: 'proto2', ...init });
}

function setOf(...files: FileDescriptorProto[]): { source: string; bytes: Uint8Array } {
  return {
    source: 'test.binpb',
    bytes: toBinary(FileDescriptorSetSchema, create(FileDescriptorSetSchema, { file: files })),
  };
}

/** c.proto ← b.proto ← a.proto, and a.proto also imports c.proto directly (a diamond). */
const C = file({
  name: 'c.proto',
  package: 't',
  messageType: [{ name: 'Base', extensionRange: [{ start: 100, end: 200 }] }],
});
const B = file({
  name: 'b.proto',
  package: 't',
  dependency: ['c.proto'],
  messageType: [
    {
      name: 'Middle',
      field: [
        { name: 'base', number: 1, label: OPTIONAL, type: FieldDescriptorProto_Type.MESSAGE, typeName: '.t.Base' },
        { name: 'picked', number: 2, label: OPTIONAL, type: FieldDescriptorProto_Type.STRING, oneofIndex: 0 },
      ],
      enumType: [{ name: 'Kind', value: [{ name: 'KIND_UNSPECIFIED', number: 0 }] }],
      oneofDecl: [{ name: 'choice' }],
    },
  ],
  extension: [
    { name: 'tag', number: 150, label: OPTIONAL, type: FieldDescriptorProto_Type.INT32, extendee: '.t.Base' },
    { name: 'flag', number: 101, label: OPTIONAL, type: FieldDescriptorProto_Type.BOOL, extendee: '.t.Base' },
  ],
});
const A = file({
  name: 'a.proto',
  package: 't',
  dependency: ['b.proto', 'c.proto'],
  enumType: [{ name: 'Color', value: [{ name: 'COLOR_RED', number: 0 }] }],
  messageType: [
    {
      name: 'Top',
      field: [
        { name: 'middle', number: 1, label: OPTIONAL, type: FieldDescriptorProto_Type.MESSAGE, typeName: '.t.Middle' },
      ],
    },
    { name: 'Empty' },
  ],
  service: [{ name: 'Svc', method: [{ name: 'Call', inputType: '.t.Top', outputType: '.t.Empty' }] }],
});

function names(files: Uint8Array[] | undefined): string[] | undefined {
  return files?.map((bytes) => fromBinary(FileDescriptorProtoSchema, bytes).name);
}

describe('DescriptorIndex', () => {
  const index = DescriptorIndex.fromDescriptorSets([setOf(C, B, A)]);

  describe('finds', () => {
    it('the file declaring every kind of symbol, with or without a leading dot', () => {
      const cases: [string, string][] = [
        ['t.Top', 'a.proto'],
        ['.t.Top', 'a.proto'],
        ['t.Top.middle', 'a.proto'],
        ['t.Color', 'a.proto'],
        ['t.COLOR_RED', 'a.proto'],
        ['t.Svc', 'a.proto'],
        ['t.Svc.Call', 'a.proto'],
        ['t.Middle.Kind', 'b.proto'],
        ['t.Middle.KIND_UNSPECIFIED', 'b.proto'],
        ['t.Middle.choice', 'b.proto'],
        ['t.tag', 'b.proto'],
        ['t.Base', 'c.proto'],
      ];
      for (const [symbol, declaredIn] of cases)
        expect(names(index.fileContainingSymbol(symbol))?.[0], symbol).toBe(declaredIn);
    });

    it('a file first, then each transitive import once', () => {
      expect(names(index.fileByName('a.proto'))).toEqual(['a.proto', 'b.proto', 'c.proto']);
      expect(names(index.fileByName('c.proto'))).toEqual(['c.proto']);
    });

    it('imports a stream already received only once, but always the file asked for', () => {
      const sent = new Set<string>();
      expect(names(index.fileByName('b.proto', sent))).toEqual(['b.proto', 'c.proto']);
      expect(names(index.fileContainingSymbol('t.Top', sent))).toEqual(['a.proto']);
      expect(names(index.fileByName('c.proto', sent))).toEqual(['c.proto']);
      expect([...sent].sort()).toEqual(['a.proto', 'b.proto', 'c.proto']);
    });

    it('the exact bytes it was given', () => {
      const given = toBinary(FileDescriptorProtoSchema, B);
      expect(Buffer.compare(index.fileByName('b.proto')![0]!, given)).toBe(0);
    });

    it('extensions by extendee and number, and the sorted numbers of a type', () => {
      expect(names(index.fileContainingExtension('t.Base', 150))?.[0]).toBe('b.proto');
      expect(index.extensionNumbersOf('t.Base')).toEqual([101, 150]);
      expect(index.extensionNumbersOf('.t.Base')).toEqual([101, 150]);
      expect(names(index.fileContainingExtension('.t.Base', 101))?.[0]).toBe('b.proto');
      expect(index.extensionNumbersOf('t.Top')).toEqual([]);
    });
  });

  describe('does not find', () => {
    it('unknown files, symbols, extensions or types', () => {
      expect(index.fileByName('z.proto')).toBeUndefined();
      expect(index.fileContainingSymbol('t.Nope')).toBeUndefined();
      expect(index.fileContainingSymbol('t')).toBeUndefined();
      expect(index.fileContainingExtension('t.Base', 199)).toBeUndefined();
      expect(index.extensionNumbersOf('t.Nope')).toBeUndefined();
      expect(index.extensionNumbersOf('t.Color')).toBeUndefined();
    });
  });

  describe('refuses at start', () => {
    it('a set that lacks a file some file imports', () => {
      expect(() => DescriptorIndex.fromDescriptorSets([setOf(B, A)])).toThrow(/c\.proto/);
    });

    it('a relative type name, which Go clients reject', () => {
      const relative = file({
        name: 'r.proto',
        package: 't',
        dependency: ['c.proto'],
        messageType: [
          {
            name: 'R',
            field: [
              { name: 'b', number: 1, label: OPTIONAL, type: FieldDescriptorProto_Type.MESSAGE, typeName: 'Base' },
            ],
          },
        ],
      });
      expect(() => DescriptorIndex.fromDescriptorSets([setOf(C, relative)])).toThrow(/Base/);
    });

    it('two sets that disagree about one file', () => {
      const other = file({ name: 'c.proto', package: 't', messageType: [{ name: 'Other' }] });
      expect(() => DescriptorIndex.fromDescriptorSets([setOf(C), setOf(other)])).toThrow(
        'descriptor sets disagree about c.proto',
      );
    });

    it('an empty set', () => {
      expect(() => DescriptorIndex.fromDescriptorSets([{ source: 'empty.binpb', bytes: new Uint8Array() }])).toThrow(
        'descriptor set empty.binpb holds no files',
      );
    });

    it('a listed service that no descriptor describes', () => {
      expect(() => addReflectionService(new Server(), loadDescriptorIndex(), ['apikeys.v1.Missing'])).toThrow(
        'no descriptor describes apikeys.v1.Missing',
      );
    });
  });

  it('accepts the same file twice when both copies are identical (shared imports)', () => {
    expect(names(DescriptorIndex.fromDescriptorSets([setOf(C), setOf(C, B)]).fileByName('b.proto'))).toEqual([
      'b.proto',
      'c.proto',
    ]);
  });
});

describe('answerReflectionRequest', () => {
  const index = DescriptorIndex.fromDescriptorSets([setOf(C, B, A)]);
  const answer = (messageRequest: Parameters<typeof answerReflectionRequest>[2]['messageRequest']) =>
    answerReflectionRequest(index, ['t.Svc'], { host: '', messageRequest });

  it('lists the services it was given', () => {
    expect(answer({ case: 'listServices', value: '' })).toEqual({
      case: 'listServicesResponse',
      value: { service: [{ name: 't.Svc' }] },
    });
  });

  it('answers extension numbers, and NOT_FOUND for what it does not know', () => {
    expect(answer({ case: 'allExtensionNumbersOfType', value: 't.Base' })).toEqual({
      case: 'allExtensionNumbersResponse',
      value: { baseTypeName: 't.Base', extensionNumber: [101, 150] },
    });
    expect(answer({ case: 'allExtensionNumbersOfType', value: 't.Nope' })).toMatchObject({
      case: 'errorResponse',
      value: { errorCode: 5 },
    });
    expect(
      answer({ case: 'fileContainingExtension', value: { containingType: 't.Base', extensionNumber: 7 } }),
    ).toEqual({
      case: 'errorResponse',
      value: { errorCode: 5, errorMessage: 'no extension 7 of "t.Base" is known' },
    });
  });

  it('answers a request that asks nothing with INVALID_ARGUMENT', () => {
    expect(answer({ case: undefined })).toMatchObject({ case: 'errorResponse', value: { errorCode: 3 } });
  });
});
