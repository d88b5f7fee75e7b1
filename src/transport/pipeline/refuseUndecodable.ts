import { invalidArgument } from '../../domain/AppError.js';
import { UndecodableRequest } from '../tolerantDecoding.js';
import type { Middleware } from './Middleware.js';

/**
 * Answers INVALID_ARGUMENT, naming the expected message type, for a request whose bytes did not decode
 * (withTolerantDecoding turned them into an UndecodableRequest). Placed after caller authentication, so an
 * unauthenticated caller learns nothing about how its bytes were parsed.
 */
export const refuseUndecodable: Middleware = (next) => (call) => {
  const { request } = call.grpc;
  if (request instanceof UndecodableRequest) throw invalidArgument(request.describe());
  return next(call);
};
