import type { Metadata } from '@grpc/grpc-js';

import type { CallContext } from './CallContext.js';

/**
 * Callers that authenticateBeforeReading (the server interceptor) already established, keyed by the
 * Metadata object grpc-js then hands to the method handler as the call's metadata. authenticateCaller
 * takes the identity from here instead of computing it twice. Weak: an entry lives exactly as long as its
 * call's metadata, so nothing needs removing; one map per process is enough, since a Metadata object
 * belongs to one call of one server.
 */
export const authenticatedCallers = new WeakMap<Metadata, CallContext>();
