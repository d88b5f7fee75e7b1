import type { Client, Metadata } from '@grpc/grpc-js';

import { KeyAdminService, KeyVerifierService } from '../../gen/apikeys/v1/api_keys.js';
import { type PromisedClient, promisedClient } from '../client/promisedClient.js';

/** KeyAdmin and KeyVerifier with promise-returning methods. */
export type AdminApi = PromisedClient<typeof KeyAdminService> & PromisedClient<typeof KeyVerifierService>;

/**
 * Both services over `client`'s channel: every call carries `metadata` (the service token) and its own
 * deadline of `timeoutMs`, and rejects with the grpc-js ServiceError.
 */
export function createAdminApi(client: Client, metadata: Metadata, timeoutMs: number): AdminApi {
  const defaults = { metadata, deadlineMs: timeoutMs };
  return {
    ...promisedClient(client, KeyAdminService, defaults),
    ...promisedClient(client, KeyVerifierService, defaults),
  };
}
