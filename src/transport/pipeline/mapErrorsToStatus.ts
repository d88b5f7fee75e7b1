import { CallFailure } from './CallFailure.js';
import type { Middleware } from './Middleware.js';

function rethrowAsFailure(error: unknown): never {
  throw CallFailure.from(error);
}

/**
 * Turns whatever the steps inside it and the handler throw into a CallFailure (the status the caller
 * gets, by toGrpcStatus, with the thrown error kept as its cause for the log), synchronously or not.
 */
export const mapErrorsToStatus: Middleware = (next) => (call) => {
  try {
    const result = next(call);
    return result instanceof Promise ? result.catch(rethrowAsFailure) : result;
  } catch (error) {
    return rethrowAsFailure(error);
  }
};
