import { status } from '@grpc/grpc-js';
import type { Logger } from 'pino';

import type { AppError } from '../../domain/AppError.js';
import { CallerRejectedError } from '../CallerRejectedError.js';
import type { CallFailure } from './CallFailure.js';
import type { LogBudget } from './LogBudget.js';
import type { Middleware } from './Middleware.js';
import { observeOutcome } from './observeOutcome.js';
import { requestIdForLog } from './requestIdForLog.js';
import type { RpcCall } from './RpcCall.js';
import { statusName } from './statusName.js';

type Level = 'debug' | 'info' | 'warn' | 'error';

/** Faults of ours are errors; an unavailable dependency or a refused caller is worth a warning. */
function levelOf(call: RpcCall, code: status, cause: unknown): Level {
  if (code === status.OK) return call.method.successLogLevel;
  if (code === status.INTERNAL || code === status.UNKNOWN) return 'error';
  return code === status.UNAVAILABLE || cause instanceof CallerRejectedError ? 'warn' : 'info';
}

/**
 * Writes one line per call when it ends: method, status, duration, peer, caller and request id — never
 * the request body, which can hold a secret. The fields are only built when the line will be written, so
 * a successful VerifyKey at a disabled debug level costs a level check. Lines of failed calls (refused
 * callers, INVALID_ARGUMENT, NOT_FOUND, DEADLINE_EXCEEDED, UNAVAILABLE, …) are written within `failures`
 * (LOG_FAILED_CALLS_PER_SECOND): any caller can cause them; INTERNAL ones always are.
 */
export function logCalls(logger: Logger, failures?: LogBudget): Middleware {
  return observeOutcome((call: RpcCall, failure?: CallFailure) => {
    const code = failure?.code ?? status.OK;
    const cause = failure?.cause;
    const level = levelOf(call, code, cause);
    if (!logger.isLevelEnabled(level)) return;
    // Failures of ours (error level) are always written; the others any caller can cause at will.
    if (code !== status.OK && level !== 'error' && failures?.admit() === false) return;
    const durationMs = performance.now() - call.started;
    const fields: Record<string, unknown> = {
      ...requestIdForLog(call.grpc.metadata),
      method: call.method.path,
      peer: call.grpc.getPeer(),
      caller: cause instanceof CallerRejectedError ? cause.caller : call.context.caller,
      status: statusName(code),
      durationMs: Math.round(durationMs * 1000) / 1000,
    };
    if (level === 'error') logger.error({ ...fields, err: cause }, 'rpc failed');
    else if (cause instanceof CallerRejectedError) logger.warn({ ...fields, reason: cause.message }, 'caller rejected');
    else if (level === 'warn') logger.warn({ ...fields, err: (cause as AppError).cause ?? cause }, 'rpc unavailable');
    else logger[level](fields, 'rpc');
  });
}
