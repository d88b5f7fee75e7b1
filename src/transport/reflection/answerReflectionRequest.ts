import { status } from '@grpc/grpc-js';

import type { DescriptorIndex } from './DescriptorIndex.js';

/** `grpc.reflection.v1(alpha).ServerReflectionRequest`, as protobuf-es decodes it. */
export interface ReflectionRequest {
  readonly host: string;
  readonly messageRequest:
    | {
        readonly case: 'fileByFilename' | 'fileContainingSymbol' | 'allExtensionNumbersOfType' | 'listServices';
        readonly value: string;
      }
    | {
        readonly case: 'fileContainingExtension';
        readonly value: { readonly containingType: string; readonly extensionNumber: number };
      }
    | { readonly case: undefined; readonly value?: undefined };
}

/** The `message_response` oneof of `ServerReflectionResponse`. */
export type ReflectionAnswer =
  | { readonly case: 'fileDescriptorResponse'; readonly value: { readonly fileDescriptorProto: Uint8Array[] } }
  | {
      readonly case: 'allExtensionNumbersResponse';
      readonly value: { readonly baseTypeName: string; readonly extensionNumber: number[] };
    }
  | { readonly case: 'listServicesResponse'; readonly value: { readonly service: { readonly name: string }[] } }
  | { readonly case: 'errorResponse'; readonly value: { readonly errorCode: number; readonly errorMessage: string } };

function files(found: Uint8Array[] | undefined, missing: string): ReflectionAnswer {
  return found === undefined
    ? { case: 'errorResponse', value: { errorCode: status.NOT_FOUND, errorMessage: missing } }
    : { case: 'fileDescriptorResponse', value: { fileDescriptorProto: found } };
}

/**
 * One answer of the reflection protocol (https://github.com/grpc/grpc/blob/master/doc/server-reflection.md),
 * identical for v1 and v1alpha. File answers carry the requested file first, then every file it imports,
 * transitively, that the stream has not received yet (as Go's server does), as the exact bytes buf
 * produced. Unknown names are NOT_FOUND in an `error_response`, which
 * keeps the stream open, as the protocol asks.
 */
export function answerReflectionRequest(
  index: DescriptorIndex,
  services: readonly string[],
  request: ReflectionRequest,
  /** Files this stream has already received; their bytes are not sent again as imports. */
  alreadySent?: Set<string>,
): ReflectionAnswer {
  const asked = request.messageRequest;
  switch (asked.case) {
    case 'listServices':
      return { case: 'listServicesResponse', value: { service: services.map((name) => ({ name })) } };
    case 'fileByFilename':
      return files(index.fileByName(asked.value, alreadySent), `file ${JSON.stringify(asked.value)} not found`);
    case 'fileContainingSymbol':
      return files(
        index.fileContainingSymbol(asked.value, alreadySent),
        `symbol ${JSON.stringify(asked.value)} not found`,
      );
    case 'fileContainingExtension': {
      const { containingType, extensionNumber } = asked.value;
      return files(
        index.fileContainingExtension(containingType, extensionNumber, alreadySent),
        `no extension ${extensionNumber} of ${JSON.stringify(containingType)} is known`,
      );
    }
    case 'allExtensionNumbersOfType': {
      const numbers = index.extensionNumbersOf(asked.value);
      return numbers === undefined
        ? {
            case: 'errorResponse',
            value: {
              errorCode: status.NOT_FOUND,
              errorMessage: `message type ${JSON.stringify(asked.value)} not found`,
            },
          }
        : { case: 'allExtensionNumbersResponse', value: { baseTypeName: asked.value, extensionNumber: numbers } };
    }
    case undefined:
      return {
        case: 'errorResponse',
        value: {
          errorCode: status.INVALID_ARGUMENT,
          errorMessage:
            'the request sets none of file_by_filename, file_containing_symbol, file_containing_extension, all_extension_numbers_of_type, list_services',
        },
      };
  }
}
