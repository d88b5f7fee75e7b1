import { Metadata, type ServerErrorResponse, type status } from '@grpc/grpc-js';

import { toGrpcStatus } from '../toGrpcStatus.js';

/**
 * How a call failed, as the status its caller receives. `cause` is what was thrown (for the log only:
 * its message and stack never reach the caller).
 */
export class CallFailure extends Error implements ServerErrorResponse {
  readonly metadata = new Metadata();

  constructor(
    readonly code: status,
    readonly details: string,
    cause?: unknown,
  ) {
    super(details, { cause });
  }

  /** The failure for anything thrown: itself when it already is one, else its toGrpcStatus mapping. */
  static from(error: unknown): CallFailure {
    if (error instanceof CallFailure) return error;
    const mapped = toGrpcStatus(error);
    return new CallFailure(mapped.code, mapped.details ?? mapped.message, error);
  }
}
