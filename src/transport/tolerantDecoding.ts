import type { ServiceDefinition } from '@grpc/grpc-js';

/**
 * What a request becomes when its bytes are not the method's protobuf message. grpc-js would answer a
 * throwing deserializer with INTERNAL ("Error deserializing request"), which tells a caller the server is
 * broken; the request is what is broken, so the pipeline's refuseUndecodable step answers INVALID_ARGUMENT instead — after caller
 * authentication, so an unauthenticated caller learns nothing about how the bytes were parsed.
 */
export class UndecodableRequest {
  constructor(
    /** The message type that was expected, e.g. `apikeys.v1.VerifyKeyRequest`. */
    readonly typeName: string,
    /** The decoder's complaint (protobufjs: offsets and wire types only, never field content). */
    readonly reason: string,
  ) {}

  /** A message a person can act on. */
  describe(): string {
    return `request is not a valid ${this.typeName} message (${this.reason}); check that the client was generated from the apikeys.v1 contract and sends protobuf`;
  }
}

/** `/apikeys.v1.KeyAdmin/CreateKey` → `apikeys.v1.CreateKeyRequest` (buf STANDARD naming). */
function requestTypeName(path: string): string {
  const [, service = '', method = ''] = path.split('/');
  const pkg = service.slice(0, service.lastIndexOf('.'));
  return `${pkg}.${method}Request`;
}

/** Shortens a decoder message to something safe and brief to send back. */
function reasonOf(error: unknown): string {
  const text =
    error instanceof RangeError && /call stack/i.test(error.message)
      ? 'nested too deeply'
      : String((error as Error | undefined)?.message ?? error);
  return text.replace(/[^\x20-\x7e]/g, '?').slice(0, 120);
}

/**
 * The same service definition whose request deserializers never throw: bytes that do not decode become
 * an UndecodableRequest for the call pipeline to refuse.
 */
export function withTolerantDecoding<T extends ServiceDefinition>(definition: T): T {
  return Object.fromEntries(
    Object.entries(definition).map(([name, method]) => {
      const typeName = requestTypeName(method.path);
      const decode = method.requestDeserialize;
      return [
        name,
        {
          ...method,
          requestDeserialize: (bytes: Buffer): unknown => {
            try {
              return decode(bytes);
            } catch (error) {
              return new UndecodableRequest(typeName, reasonOf(error));
            }
          },
        },
      ];
    }),
  ) as T;
}
