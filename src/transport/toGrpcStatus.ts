import { Metadata, type ServerErrorResponse, status } from '@grpc/grpc-js';

import { AppError, type ErrorCode } from '../domain/AppError.js';

const CODES: Readonly<Record<ErrorCode, status>> = {
  INVALID_ARGUMENT: status.INVALID_ARGUMENT,
  PERMISSION_DENIED: status.PERMISSION_DENIED,
  NOT_FOUND: status.NOT_FOUND,
  FAILED_PRECONDITION: status.FAILED_PRECONDITION,
  UNAUTHENTICATED: status.UNAUTHENTICATED,
  UNAVAILABLE: status.UNAVAILABLE,
  CANCELLED: status.CANCELLED,
  UNKNOWN: status.UNKNOWN,
  RESOURCE_EXHAUSTED: status.RESOURCE_EXHAUSTED,
  INTERNAL: status.INTERNAL,
};

/**
 * The single place where errors become gRPC statuses. AppErrors keep their client-safe message; anything
 * else is INTERNAL with a generic message (its details go to the log only).
 */
export function toGrpcStatus(error: unknown): ServerErrorResponse & { code: status } {
  if (error instanceof AppError) {
    return Object.assign(new Error(error.message), {
      code: CODES[error.code],
      details: error.message,
      metadata: new Metadata(),
    });
  }
  return Object.assign(new Error('internal error'), {
    code: status.INTERNAL,
    details: 'internal error',
    metadata: new Metadata(),
  });
}
