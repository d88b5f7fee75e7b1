import type { UntypedServiceImplementation } from '@grpc/grpc-js';

import { type Authenticate, withAuthentication } from './handleUnary.js';

/**
 * `service` with every method authenticating its caller first; `service` itself when `authenticate` is
 * undefined, so a service without caller authentication costs nothing per call. Every method must have
 * been made by handleUnary (a service with another kind of method is a programming error, thrown at start).
 */
export function authenticateService<S extends object>(service: S, authenticate: Authenticate | undefined): S {
  if (authenticate === undefined) return service;
  const methods = Object.entries(service as UntypedServiceImplementation).map(([name, handler]) => [
    name,
    withAuthentication(handler as Parameters<typeof withAuthentication>[0], authenticate),
  ]);
  return Object.fromEntries(methods) as S;
}
