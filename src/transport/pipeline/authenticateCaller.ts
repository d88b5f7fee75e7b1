import { authenticatedCallers } from './authenticatedCallers.js';
import type { Authenticate } from './CallContext.js';
import type { Middleware } from './Middleware.js';

/**
 * Establishes who is calling (RpcCall.context) before the rest runs; a rejected caller (the function
 * throws) gets no further. On a server built with authenticateBeforeReading the interceptor has decided
 * already, before the request's bytes were read, and left the identity in authenticatedCallers; a call
 * that did not pass through it (a server without the interceptor) is authenticated here, so the pipeline
 * is correct on its own.
 */
export function authenticateCaller(authenticate: Authenticate): Middleware {
  return (next) => (call) => {
    call.context = authenticatedCallers.get(call.grpc.metadata) ?? authenticate(call.grpc);
    return next(call);
  };
}
