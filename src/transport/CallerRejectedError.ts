import { AppError } from '../domain/AppError.js';

/**
 * A call refused before its handler ran: no valid credentials (UNAUTHENTICATED) or an authenticated
 * caller that may not use the service (PERMISSION_DENIED). `caller` is the identity, when known, for the
 * log line; the message is client-safe and never repeats a presented credential.
 */
export class CallerRejectedError extends AppError {
  constructor(
    code: 'UNAUTHENTICATED' | 'PERMISSION_DENIED',
    message: string,
    readonly caller: string | null = null,
  ) {
    super(code, message);
  }
}
