import { credentials, makeClientConstructor, type ServiceError } from '@grpc/grpc-js';
import { service as healthService } from 'grpc-health-check';

type HealthClient = {
  check(
    request: { service: string },
    callback: (error: ServiceError | null, response?: { status: string }) => void,
  ): void;
  close(): void;
};

/** Calls grpc.health.v1.Health/Check for `service` ('' = the whole server) and returns the status name. */
export async function checkHealth(address: string, service = ''): Promise<string> {
  const Constructor = makeClientConstructor(healthService, 'grpc.health.v1.Health') as unknown as new (
    address: string,
    creds: ReturnType<typeof credentials.createInsecure>,
  ) => HealthClient;
  const client = new Constructor(address, credentials.createInsecure());
  try {
    return await new Promise((resolve, reject) => {
      client.check({ service }, (error, response) =>
        error === null ? resolve(response?.status ?? '') : reject(error),
      );
    });
  } finally {
    client.close();
  }
}
