import {
  Metadata,
  type ServerInterceptingCallInterface,
  type ServerInterceptor,
  ServerInterceptingCall,
  type ServerMethodDefinition,
} from '@grpc/grpc-js';

import { authenticatedCallers } from './pipeline/authenticatedCallers.js';
import type { Authenticate } from './pipeline/CallContext.js';
import { CallFailure } from './pipeline/CallFailure.js';
import type { RejectionReporter } from './pipeline/createRejectionReporter.js';

/** How the calls of one service are authenticated, and who is told of a refusal (log line, metrics). */
export interface CallerGuard {
  readonly authenticate: Authenticate;
  readonly onRejected: RejectionReporter;
}

/**
 * A grpc-js server interceptor that decides caller authentication from a call's metadata and its
 * connection's auth context, before the request message is read. grpc-js reads a call's DATA only when the
 * handler side asks (startRead, after the metadata went through every interceptor); a refused caller is
 * answered UNAUTHENTICATED or PERMISSION_DENIED right away, without passing the metadata on, so its stream
 * is never read and its message never buffered: an unauthenticated stream costs no more than its headers
 * (issue 12: 100,000 streams each holding part of a message used to wait for their bytes before being
 * refused). The refusal is logged and counted through `onRejected`, as inside the call pipeline; an
 * admitted caller's identity is left in authenticatedCallers for the pipeline's authenticateCaller.
 *
 * `guards` maps full method paths (`/apikeys.v1.KeyAdmin/CreateKey`) to their service's guard. A path
 * without one (health, reflection, a service without authentication such as KeyVerifier without
 * VERIFIER_REQUIRES_AUTH) gets its call back unchanged: no wrapper, no allocation per call.
 */
export function authenticateBeforeReading(guards: ReadonlyMap<string, CallerGuard>): ServerInterceptor {
  const intercept = (
    methodDescriptor: ServerMethodDefinition<unknown, unknown>,
    call: ServerInterceptingCallInterface,
  ): ServerInterceptingCallInterface => {
    const guard = guards.get(methodDescriptor.path);
    if (guard === undefined) return call;
    const intercepting: ServerInterceptingCall = new ServerInterceptingCall(call, {
      start: (next) => {
        next({
          onReceiveMetadata: (metadata, passOn) => {
            let context;
            try {
              context = guard.authenticate({ metadata, getAuthContext: () => call.getAuthContext() });
            } catch (error) {
              guard.onRejected(methodDescriptor.path, { metadata, getPeer: () => call.getPeer() }, error);
              const failure = CallFailure.from(error);
              intercepting.sendStatus({ code: failure.code, details: failure.details, metadata: new Metadata() });
              return;
            }
            authenticatedCallers.set(metadata, context);
            passOn(metadata);
          },
        });
      },
    });
    return intercepting;
  };
  // grpc-js's type says an interceptor returns the ServerInterceptingCall class, but it only chains the
  // returned value as a ServerInterceptingCallInterface (server-interceptors.js getServerInterceptingCall),
  // which is what lets an unchecked call through unchanged.
  return intercept as ServerInterceptor;
}
