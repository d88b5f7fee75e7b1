import type { Authenticate } from './CallContext.js';
import type { Middleware } from './Middleware.js';

/**
 * Establishes who is calling (RpcCall.context) before the rest runs; a rejected caller (the function
 * throws) gets no further: not even the request's bytes are looked at.
 */
export function authenticateCaller(authenticate: Authenticate): Middleware {
  return (next) => (call) => {
    call.context = authenticate(call.grpc);
    return next(call);
  };
}
