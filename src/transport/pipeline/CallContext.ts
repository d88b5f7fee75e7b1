import type { ServerUnaryCall } from '@grpc/grpc-js';

/** What a handler knows about the call besides its request. */
export interface CallContext {
  /** Identity of the authenticated calling service; `anonymous` when caller authentication is off. */
  readonly caller: string;
}

/** The context of every call while no caller authentication runs (one shared object, nothing per call). */
export const ANONYMOUS: CallContext = { caller: 'anonymous' };

/** The parts of a call that carry the caller's credentials. */
export type CallerCredentials = Pick<ServerUnaryCall<unknown, unknown>, 'metadata' | 'getAuthContext'>;

/**
 * Runs before the handler: returns who is calling, or throws (a CallerRejectedError: UNAUTHENTICATED or
 * PERMISSION_DENIED), in which case the handler never runs.
 */
export type Authenticate = (call: CallerCredentials) => CallContext;
