import { randomUUID } from 'node:crypto';

import { type handleUnaryCall, type ServerUnaryCall, status } from '@grpc/grpc-js';
import type { Logger } from 'pino';

import { AppError } from '../domain/AppError.js';
import { toGrpcStatus } from './toGrpcStatus.js';

/** What a handler knows about the call besides its request. */
export interface CallContext {
  /** Identity of the authenticated calling service; `anonymous` when caller authentication is off. */
  readonly caller: string;
}

/**
 * A handler: return the response (or a promise of it) or throw. Returning a plain value lets the hot
 * path answer without a promise round trip.
 */
export type UnaryHandler<Req, Res> = (request: Req, context: CallContext) => Res | Promise<Res>;

const STATUS_NAMES = Object.fromEntries(Object.entries(status).map(([name, code]) => [code, name])) as Record<
  number,
  string
>;

const ANONYMOUS: CallContext = { caller: 'anonymous' };

/**
 * Adapts a handler to grpc-js: the callback is called exactly once, errors go through toGrpcStatus,
 * and one log line is written per call (method, status, duration, peer, request id — never the
 * request body, which can hold a secret). Log fields are only built when the line will be written, so a
 * successful call at a disabled level costs nothing but a clock read.
 */
export function handleUnary<Req, Res>(
  method: string,
  logger: Logger,
  handler: UnaryHandler<Req, Res>,
  options: { successLogLevel?: 'info' | 'debug' } = {},
): handleUnaryCall<Req, Res> {
  const successLogLevel = options.successLogLevel ?? 'info';
  return (call: ServerUnaryCall<Req, Res>, callback) => {
    const started = process.hrtime.bigint();
    const finish = (code: status, error?: unknown): void => {
      const level =
        code === status.OK
          ? successLogLevel
          : code === status.INTERNAL || code === status.UNKNOWN
            ? 'error'
            : code === status.UNAVAILABLE
              ? 'warn'
              : 'info';
      if (!logger.isLevelEnabled(level)) return;
      const requestIdHeader = call.metadata.get('x-request-id')[0];
      const requestId =
        typeof requestIdHeader === 'string' && /^[\w.-]{1,64}$/.test(requestIdHeader) ? requestIdHeader : randomUUID();
      const durationMs = Number(process.hrtime.bigint() - started) / 1e6;
      const fields: Record<string, unknown> = {
        requestId,
        method,
        peer: call.getPeer(),
        status: STATUS_NAMES[code],
        durationMs: Math.round(durationMs * 1000) / 1000,
      };
      if (level === 'error') logger.error({ ...fields, err: error }, 'rpc failed');
      else if (level === 'warn') logger.warn({ ...fields, err: (error as AppError).cause ?? error }, 'rpc unavailable');
      else logger[level](fields, 'rpc');
    };
    const fail = (error: unknown): void => {
      const grpcStatus = toGrpcStatus(error);
      finish(grpcStatus.code, error);
      callback(grpcStatus);
    };
    const succeed = (response: Res): void => {
      finish(status.OK);
      callback(null, response);
    };
    let result: Res | Promise<Res>;
    try {
      result = handler(call.request, ANONYMOUS);
    } catch (error) {
      fail(error);
      return;
    }
    if (result instanceof Promise) result.then(succeed, fail);
    else succeed(result);
  };
}
