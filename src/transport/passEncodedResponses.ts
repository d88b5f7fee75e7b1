import type { ServiceDefinition } from '@grpc/grpc-js';

/**
 * The same service definition whose response serializers send a handler's already-encoded response
 * (a Buffer, e.g. from encodeVerification) as it is, and encode any other response as before.
 */
export function passEncodedResponses<T extends ServiceDefinition>(definition: T): T {
  return Object.fromEntries(
    Object.entries(definition).map(([name, method]) => {
      const encode = method.responseSerialize;
      return [
        name,
        {
          ...method,
          responseSerialize: (value: unknown): Buffer => (Buffer.isBuffer(value) ? value : encode(value)),
        },
      ];
    }),
  ) as T;
}
