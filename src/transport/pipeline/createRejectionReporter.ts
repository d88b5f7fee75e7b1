import { composePipeline } from './composePipeline.js';
import type { ServiceOptions } from './createCallPipeline.js';
import { mapErrorsToStatus } from './mapErrorsToStatus.js';
import { observingSteps } from './observingSteps.js';
import { type IncomingCall, RpcCall } from './RpcCall.js';

/** What is known of a call refused from its metadata alone: no request, no handler (logCalls reads these). */
export type RefusedCall = Pick<IncomingCall, 'metadata' | 'getPeer'>;

/** Logs and counts the refusal `error` (thrown by an Authenticate) of a call to `path`. */
export type RejectionReporter = (path: string, call: RefusedCall, error: unknown) => void;

/**
 * For callers refused before the call pipeline runs (authenticateBeforeReading): puts the refusal through
 * the service's observing steps, exactly as if the pipeline's authenticateCaller had thrown it, so the
 * log line ("caller rejected", status, caller, reason) and the RPC metrics are the same as for a refusal
 * inside the pipeline.
 */
export function createRejectionReporter(options: ServiceOptions): RejectionReporter {
  const run = composePipeline([...observingSteps(options), mapErrorsToStatus]);
  return (path, call, error) => {
    const method = {
      path,
      successLogLevel: 'info' as const,
      invoke: () => {
        throw error;
      },
    };
    try {
      // The observing steps read only the metadata and the peer of a call (RefusedCall).
      run(new RpcCall(method, call as IncomingCall));
    } catch {
      // Expected: the refusal comes back as a CallFailure once observed; the interceptor answers the caller.
    }
  };
}
