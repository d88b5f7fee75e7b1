import { create, fromBinary, toBinary } from '@bufbuild/protobuf';
import type { DescMessage } from '@bufbuild/protobuf';
import { type Server, type ServerDuplexStream, type ServiceDefinition, status } from '@grpc/grpc-js';

import { answerReflectionRequest, type ReflectionRequest } from './answerReflectionRequest.js';
import type { DescriptorIndex } from './DescriptorIndex.js';

/** Both published versions of the protocol; their messages are identical apart from the package. */
const REFLECTION_PACKAGES = ['grpc.reflection.v1', 'grpc.reflection.v1alpha'] as const;

/** Fully-qualified names of the reflection services this module serves. */
export const REFLECTION_SERVICE_NAMES = REFLECTION_PACKAGES.map((pkg) => `${pkg}.ServerReflection`);

/** What the deserializer yields for bytes that are not a request (not `null`: that would end the stream). */
const UNDECODABLE = Symbol('undecodable reflection request');

type ReflectionCall = ServerDuplexStream<ReflectionRequest | typeof UNDECODABLE, unknown>;

function definitionFor(index: DescriptorIndex, pkg: string): ServiceDefinition {
  const requestType: DescMessage = index.message(`${pkg}.ServerReflectionRequest`);
  const responseType: DescMessage = index.message(`${pkg}.ServerReflectionResponse`);
  return {
    ServerReflectionInfo: {
      path: `/${pkg}.ServerReflection/ServerReflectionInfo`,
      requestStream: true,
      responseStream: true,
      requestSerialize: (value: object) => Buffer.from(toBinary(requestType, create(requestType, { ...value }))),
      // Bytes that are not a request end the call with INVALID_ARGUMENT instead of grpc-js's INTERNAL.
      requestDeserialize: (bytes: Buffer) => {
        try {
          return fromBinary(requestType, bytes);
        } catch {
          return UNDECODABLE;
        }
      },
      responseSerialize: (value: object) => Buffer.from(toBinary(responseType, create(responseType, { ...value }))),
      responseDeserialize: (bytes: Buffer) => fromBinary(responseType, bytes),
    },
  };
}

function serve(index: DescriptorIndex, services: readonly string[], call: ReflectionCall): void {
  const sent = new Set<string>();
  call.on('data', (request: ReflectionRequest | typeof UNDECODABLE) => {
    if (request === UNDECODABLE) {
      call.emit('error', {
        code: status.INVALID_ARGUMENT,
        details: 'request is not a ServerReflectionRequest message',
      });
      return;
    }
    const answer = answerReflectionRequest(index, services, request, sent);
    // A client that stops reading must not make the server buffer answers without bound.
    if (!call.write({ validHost: request.host, originalRequest: request, messageResponse: answer })) {
      call.pause();
      call.once('drain', () => call.resume());
    }
  });
  call.on('end', () => call.end());
}

/**
 * Adds `grpc.reflection.v1.ServerReflection` and its `v1alpha` twin to `server`, answered from `index`.
 * `services` is what `list_services` reports: the services the server really answers, each of which
 * must be described by the index (checked here, so a service without a descriptor fails the start).
 */
export function addReflectionService(server: Server, index: DescriptorIndex, services: readonly string[]): void {
  const listed = [...services, ...REFLECTION_SERVICE_NAMES];
  const undescribed = listed.filter((name) => !index.hasService(name));
  if (undescribed.length > 0) throw new Error(`no descriptor describes ${undescribed.join(', ')}`);
  for (const pkg of REFLECTION_PACKAGES) {
    server.addService(definitionFor(index, pkg), {
      ServerReflectionInfo: (call: ReflectionCall) => serve(index, listed, call),
    });
  }
}
