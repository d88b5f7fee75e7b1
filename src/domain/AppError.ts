import { redactSecrets } from './keyFormat.js';

/** The failure classes the service distinguishes; transport maps each to one gRPC status code. */
export type ErrorCode =
  | 'INVALID_ARGUMENT'
  | 'PERMISSION_DENIED'
  | 'NOT_FOUND'
  | 'FAILED_PRECONDITION'
  | 'UNAUTHENTICATED'
  | 'UNAVAILABLE'
  | 'CANCELLED'
  | 'UNKNOWN'
  | 'RESOURCE_EXHAUSTED'
  | 'INTERNAL';

/**
 * The one error type that may reach a caller. `message` is client-safe text a person can act on (anything
 * shaped like a secret in it is cut to its display prefix, since messages echo caller input); the
 * optional `cause` carries internal detail (driver errors, SQL) that is logged but never sent.
 */
export class AppError extends Error {
  override readonly name = 'AppError';

  constructor(
    readonly code: ErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(redactSecrets(message), options);
  }
}

/** Shorthand for a caller mistake. */
export function invalidArgument(message: string): AppError {
  return new AppError('INVALID_ARGUMENT', message);
}

/** Shorthand for a role that may not do something. */
export function permissionDenied(message: string): AppError {
  return new AppError('PERMISSION_DENIED', message);
}

/** Shorthand for an absent resource (also used for other organizations' resources). */
export function notFound(message: string): AppError {
  return new AppError('NOT_FOUND', message);
}

/** Shorthand for a request that is valid but not in the resource's current state. */
export function failedPrecondition(message: string): AppError {
  return new AppError('FAILED_PRECONDITION', message);
}
