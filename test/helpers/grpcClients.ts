import {
  type CallOptions,
  type Client,
  type ClientUnaryCall,
  credentials,
  Metadata,
  type ServiceError,
} from '@grpc/grpc-js';

import { KeyAdminClient, KeyVerifierClient } from '../../gen/apikeys/v1/api_keys.js';

type UnaryMethod<Req, Res> = (
  request: Req,
  metadata: Metadata,
  options: Partial<CallOptions>,
  callback: (error: ServiceError | null, response: Res) => void,
) => ClientUnaryCall;

type Promisified<C> = {
  [K in keyof C]: C[K] extends {
    (
      request: infer Req,
      metadata: Metadata,
      options: Partial<CallOptions>,
      callback: (error: ServiceError | null, response: infer Res) => void,
    ): ClientUnaryCall;
  }
    ? (request: Req, options?: { metadata?: Metadata; deadlineMs?: number }) => Promise<Res>
    : never;
};

const ADMIN_METHODS = [
  'createKey',
  'getKey',
  'listKeys',
  'updateKey',
  'revokeKey',
  'rotateKey',
  'revokeUserKeys',
  'listScopes',
  'listAuditEvents',
] as const;

function promisify<C extends Client, M extends string>(
  client: C,
  methods: readonly M[],
): Promisified<Pick<C, M & keyof C>> {
  const out: Record<string, unknown> = {};
  for (const name of methods) {
    const method = (client as unknown as Record<string, UnaryMethod<unknown, unknown>>)[name];
    if (method === undefined) throw new Error(`no method ${name}`);
    out[name] = (request: unknown, options: { metadata?: Metadata; deadlineMs?: number } = {}) =>
      new Promise((resolve, reject) => {
        method.call(
          client,
          request,
          options.metadata ?? new Metadata(),
          options.deadlineMs === undefined ? {} : { deadline: Date.now() + options.deadlineMs },
          (error, response) => (error === null ? resolve(response) : reject(error)),
        );
      });
  }
  return out as Promisified<Pick<C, M & keyof C>>;
}

/** Generated clients of both services with promise-returning methods, plus the raw clients. */
export function createClients(address: string, options: { ownConnection?: boolean } = {}) {
  // grpc-js shares connections between clients of one target; a private pool forces a new connection
  // (which, behind node:cluster's round-robin, may land on another worker).
  const channelOptions = options.ownConnection === true ? { 'grpc.use_local_subchannel_pool': 1 } : {};
  const adminClient = new KeyAdminClient(address, credentials.createInsecure(), channelOptions);
  const verifierClient = new KeyVerifierClient(address, credentials.createInsecure(), channelOptions);
  return {
    admin: promisify(adminClient, ADMIN_METHODS),
    verifier: promisify(verifierClient, ['verifyKey'] as const),
    close: () => {
      adminClient.close();
      verifierClient.close();
    },
  };
}

/** Runs `call` and returns the gRPC error it fails with (fails the test if it succeeds). */
export async function grpcError(call: Promise<unknown>): Promise<ServiceError> {
  try {
    await call;
  } catch (error) {
    return error as ServiceError;
  }
  throw new Error('expected the call to fail with a gRPC error, but it succeeded');
}
