import { type CallOptions, type Client, Metadata, type ServiceError } from '@grpc/grpc-js';

/** A unary method as a ts-proto (`outputServices=grpc-js`) service definition describes it. */
export interface UnaryMethodDefinition<Req, Res> {
  readonly path: string;
  readonly requestStream: false;
  readonly responseStream: false;
  readonly requestSerialize: (value: Req) => Buffer;
  readonly responseDeserialize: (value: Buffer) => Res;
}

/** Settings of one call, or (given to promisedClient) of every call. */
export interface PromisedCallOptions {
  /**
   * Sent with the call. Per call, it is added to the client's metadata (a copy of it: the client's own is
   * never changed, so a token set once cannot collect duplicates).
   */
  readonly metadata?: Metadata;
  /** Deadline of the call (including retries), in milliseconds from its start; omitted: none. */
  readonly deadlineMs?: number;
}

/** The unary methods of `Service` (a ts-proto service definition), each returning a promise. */
export type PromisedClient<Service> = {
  readonly [
    Name in keyof Service as Service[Name] extends UnaryMethodDefinition<never, unknown> ? Name : never
  ]: Service[Name] extends UnaryMethodDefinition<infer Req, infer Res>
    ? (request: Req, options?: PromisedCallOptions) => Promise<Res>
    : never;
};

function isUnary(definition: unknown): definition is UnaryMethodDefinition<unknown, unknown> {
  const method = definition as Partial<UnaryMethodDefinition<unknown, unknown>> | null;
  return typeof method?.path === 'string' && method.requestStream === false && method.responseStream === false;
}

function callMetadata(defaults: Metadata | undefined, extra: Metadata | undefined): Metadata {
  if (defaults === undefined) return extra ?? new Metadata();
  const metadata = defaults.clone();
  if (extra !== undefined) metadata.merge(extra);
  return metadata;
}

/**
 * Promise-returning methods for every unary method of `service` on `client` (a grpc-js client of any
 * kind: the generated class or a plain `new Client(…)`), so callers never touch grpc-js callbacks. A call
 * resolves with the response or rejects with the grpc-js `ServiceError` unchanged; `defaults` apply to
 * every call and per-call options override the deadline and add metadata.
 */
export function promisedClient<Service extends object>(
  client: Client,
  service: Service,
  defaults: PromisedCallOptions = {},
): PromisedClient<Service> {
  const methods: Record<string, (request: unknown, options?: PromisedCallOptions) => Promise<unknown>> = {};
  for (const [name, definition] of Object.entries(service)) {
    if (!isUnary(definition)) continue;
    methods[name] = (request, options = {}) => {
      const metadata = callMetadata(defaults.metadata, options.metadata);
      const deadlineMs = options.deadlineMs ?? defaults.deadlineMs;
      const callOptions: CallOptions = deadlineMs === undefined ? {} : { deadline: Date.now() + deadlineMs };
      return new Promise((resolve, reject) => {
        client.makeUnaryRequest(
          definition.path,
          definition.requestSerialize,
          definition.responseDeserialize,
          request,
          metadata,
          callOptions,
          (error: ServiceError | null, response?: unknown) => (error === null ? resolve(response) : reject(error)),
        );
      });
    };
  }
  return methods as PromisedClient<Service>;
}
