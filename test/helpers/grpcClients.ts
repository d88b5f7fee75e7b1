import { Client, credentials, type ServiceError } from '@grpc/grpc-js';

import { KeyAdminService, KeyVerifierService } from '../../gen/apikeys/v1/api_keys.js';
import { promisedClient } from '../../src/client/promisedClient.js';

/** Both services with promise-returning methods, each over its own plaintext channel to `address`. */
export function createClients(address: string, options: { ownConnection?: boolean } = {}) {
  // grpc-js shares connections between clients of one target; a private pool forces a new connection
  // (which, behind node:cluster's round-robin, may land on another worker).
  const channelOptions = options.ownConnection === true ? { 'grpc.use_local_subchannel_pool': 1 } : {};
  const adminClient = new Client(address, credentials.createInsecure(), channelOptions);
  const verifierClient = new Client(address, credentials.createInsecure(), channelOptions);
  return {
    admin: promisedClient(adminClient, KeyAdminService),
    verifier: promisedClient(verifierClient, KeyVerifierService),
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
