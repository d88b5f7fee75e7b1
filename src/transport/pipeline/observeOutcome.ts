import { CallFailure } from './CallFailure.js';
import type { Middleware } from './Middleware.js';
import type { RpcCall } from './RpcCall.js';

/** Told once how a call ended: without a failure for OK. */
export type OutcomeObserver = (call: RpcCall, failure?: CallFailure) => void;

/**
 * A step that only watches: it runs the rest of the pipeline and reports its end to `observe`, passing the
 * result or the error on unchanged. A synchronous end (the VerifyKey hot path) costs no closure.
 */
export function observeOutcome(observe: OutcomeObserver): Middleware {
  return (next) => (call) => {
    let result: unknown;
    try {
      result = next(call);
    } catch (error) {
      observe(call, CallFailure.from(error));
      throw error;
    }
    if (!(result instanceof Promise)) {
      observe(call);
      return result;
    }
    return result.then(
      (value: unknown) => {
        observe(call);
        return value;
      },
      (error: unknown) => {
        observe(call, CallFailure.from(error));
        throw error;
      },
    );
  };
}
