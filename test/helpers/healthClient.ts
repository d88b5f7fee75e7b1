import { Client, credentials } from '@grpc/grpc-js';
import { service as untypedHealthService } from 'grpc-health-check';

import { type PromisedClient, promisedClient, type UnaryMethodDefinition } from '../../src/client/promisedClient.js';

/**
 * grpc.health.v1.Health/Check the way ts-proto would declare it: grpc-health-check's proto-loader
 * definition names it `Check` and types every method `any`.
 */
const HealthService = {
  check: untypedHealthService.Check as UnaryMethodDefinition<{ service: string }, { status: string }>,
};

/** A promised grpc.health.v1.Health client on `client`'s channel. */
export function healthClient(client: Client): PromisedClient<typeof HealthService> {
  return promisedClient(client, HealthService);
}

/** Calls grpc.health.v1.Health/Check for `service` ('' = the whole server) and returns the status name. */
export async function checkHealth(address: string, service = ''): Promise<string> {
  const client = new Client(address, credentials.createInsecure());
  try {
    return (await healthClient(client).check({ service })).status;
  } finally {
    client.close();
  }
}
