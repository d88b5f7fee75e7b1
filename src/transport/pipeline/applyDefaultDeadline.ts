import { status } from '@grpc/grpc-js';

import { CallFailure } from './CallFailure.js';
import type { Middleware } from './Middleware.js';

/**
 * Gives a call that carries no deadline the service's default one: past it the caller gets
 * DEADLINE_EXCEEDED and the call's signal aborts, so its work (a query, a write transaction, a stream) is
 * cancelled. Without it a caller that never sets a deadline (or an attacker) holds a stream, its buffers and
 * whatever the handler waits on for as long as it likes. `onExceeded` counts it (a metric). A call with a deadline keeps its own (grpc-js ends
 * it); a handler that answers synchronously costs no timer.
 */
export function applyDefaultDeadline(defaultMs: number, onExceeded?: () => void): Middleware {
  return (next) => (call) => {
    if (call.grpc.getDeadline() !== Infinity) return next(call);
    call.defaultDeadline = Date.now() + defaultMs;
    const result = next(call);
    if (!(result instanceof Promise)) return result;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        onExceeded?.();
        call.expire();
        reject(
          new CallFailure(
            status.DEADLINE_EXCEEDED,
            `Deadline exceeded: the call carried no deadline and this service's default is ${defaultMs} ms; set a deadline`,
          ),
        );
      }, defaultMs);
      result.then(
        (value: unknown) => {
          clearTimeout(timer);
          resolve(value);
        },
        (error: unknown) => {
          clearTimeout(timer);
          reject(error instanceof Error ? error : new Error(String(error)));
        },
      );
    });
  };
}
