import {
  Metadata,
  type ServerInterceptingCallInterface,
  type ServerInterceptor,
  type ServerMethodDefinition,
  ServerInterceptingCall,
  status,
} from '@grpc/grpc-js';

/** A method's default deadline, counted from the arrival of its call's headers. */
export interface ArrivalBound {
  readonly ms: number;
  /** Told of each call the bound ended (a metric). */
  readonly onExceeded?: (() => void) | undefined;
}

/**
 * A grpc-js server interceptor that gives a call without a deadline of its own the service's default one,
 * counted from the moment its headers arrived: past it the caller gets DEADLINE_EXCEEDED and the stream
 * is reset (resetAnsweredStream), whatever it has or has not sent. The call pipeline's
 * applyDefaultDeadline starts only once the whole request has arrived, so without this a caller that
 * announces a message and never sends all of it held its stream, its buffers and its connection (open
 * streams keep the idle timeout from closing it) until the connection's maximum age (the issue 12 attack
 * review: 20,000 such streams, 22 KB each, on an open KeyVerifier).
 *
 * A call that carries a deadline keeps it: grpc-js's own timer ends it, from the same moment. Such calls
 * (every call of the published client) get their call object back unchanged, with no timer and no
 * allocation. `bounds` maps full method paths to their bound; other methods (health, reflection) are
 * long-lived by design and left alone.
 */
export function deadlineFromArrival(bounds: ReadonlyMap<string, ArrivalBound>): ServerInterceptor {
  const intercept = (
    methodDescriptor: ServerMethodDefinition<unknown, unknown>,
    call: ServerInterceptingCallInterface,
  ): ServerInterceptingCallInterface => {
    const bound = bounds.get(methodDescriptor.path);
    if (bound === undefined || call.getDeadline() !== Infinity) return call;
    let timer: NodeJS.Timeout | undefined;
    const settle = (): void => {
      clearTimeout(timer);
      timer = undefined;
    };
    const intercepting: ServerInterceptingCall = new ServerInterceptingCall(call, {
      start: (next) => {
        timer = setTimeout(() => {
          timer = undefined;
          bound.onExceeded?.();
          intercepting.sendStatus({
            code: status.DEADLINE_EXCEEDED,
            details: `Deadline exceeded: the call carried no deadline and did not end within this service's default of ${bound.ms} ms; set a deadline`,
            metadata: new Metadata(),
          });
        }, bound.ms);
        next({ onCancel: settle });
      },
      sendStatus: (statusObject, next) => {
        settle();
        next(statusObject);
      },
    });
    return intercepting;
  };
  // As in authenticateBeforeReading: grpc-js chains what an interceptor returns as an interface.
  return intercept as ServerInterceptor;
}
