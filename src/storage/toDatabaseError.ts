import { AppError } from '../domain/AppError.js';

// Driver error codes that mean "the database is not reachable or not answering right now".
const UNAVAILABLE_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'EPIPE',
  'ENOTFOUND',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EAI_AGAIN',
  'PROTOCOL_CONNECTION_LOST',
  'PROTOCOL_SEQUENCE_TIMEOUT',
  'ER_CON_COUNT_ERROR',
  'ER_SERVER_SHUTDOWN',
  'ER_LOCK_DEADLOCK',
  'ER_LOCK_WAIT_TIMEOUT',
  'ER_QUERY_INTERRUPTED',
  'SQLITE_BUSY',
  // Another process (WORKERS > 1 on one file) committed since this transaction's snapshot: it wrote nothing.
  'SQLITE_BUSY_SNAPSHOT',
  'SQLITE_LOCKED',
]);

/**
 * Turns a driver error into an AppError: connectivity problems become UNAVAILABLE (safe to retry,
 * nothing was committed), anything else INTERNAL. The driver's text stays in `cause`, for the log only.
 */
export function toDatabaseError(error: unknown): AppError {
  if (error instanceof AppError) return error;
  const code = (error as { code?: unknown } | null)?.code;
  const name = (error as { name?: unknown } | null)?.name;
  const fatal = (error as { fatal?: unknown } | null)?.fatal === true;
  if (name === 'KnexTimeoutError' || fatal || (typeof code === 'string' && UNAVAILABLE_CODES.has(code))) {
    return new AppError('UNAVAILABLE', 'the key database is unavailable; nothing was changed, retry shortly', {
      cause: error,
    });
  }
  return new AppError('INTERNAL', 'internal error', { cause: error });
}
