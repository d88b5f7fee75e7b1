import { randomUUID } from 'node:crypto';

import { type handleUnaryCall, type ServerUnaryCall, status } from '@grpc/grpc-js';
import type { Logger } from 'pino';

import { AppError } from '../domain/AppError.js';
import { toGrpcStatus } from './toGrpcStatus.js';

/** What a handler knows about the call besides its request. */
export interface CallContext {
  readonly requestId: string;
  /** Identity of the authenticated calling service; `anonymous` when caller authentication is off. */
  readonly caller: string;
  readonly logger: Logger;
}

/** An async handler: return the response or throw. */
export type UnaryHandler<Req, Res> = (request: Req, context: CallContext) => Promise<Res>;

const STATUS_NAMES = Object.fromEntries(Object.entries(status).map(([name, code]) => [code, name])) as Record<
  number,
  string
>;

/**
 * Adapts an async handler to grpc-js: the callback is called exactly once, errors go through
 * toGrpcStatus, and one log line is written per call (method, status, duration, peer, request id —
 * never the request body, which can hold a secret).
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
    const requestIdHeader = call.metadata.get('x-request-id')[0];
    const requestId =
      typeof requestIdHeader === 'string' && /^[\w.-]{1,64}$/.test(requestIdHeader) ? requestIdHeader : randomUUID();
    const log = logger.child({ requestId, method, peer: call.getPeer() });
    const finish = (code: status, error?: unknown): void => {
      const durationMs = Number(process.hrtime.bigint() - started) / 1e6;
      const fields = { status: STATUS_NAMES[code], durationMs: Math.round(durationMs * 1000) / 1000 };
      if (code === status.INTERNAL || code === status.UNKNOWN) log.error({ ...fields, err: error }, 'rpc failed');
      else if (code === status.UNAVAILABLE)
        log.warn({ ...fields, err: (error as AppError).cause ?? error }, 'rpc unavailable');
      else if (code === status.OK) log[successLogLevel](fields, 'rpc');
      else log.info(fields, 'rpc');
    };
    const context: CallContext = { requestId, caller: 'anonymous', logger: log };
    // The executor turns a handler that throws synchronously into a rejection, so it still gets a status.
    new Promise<Res>((resolve) => resolve(handler(call.request, context))).then(
      (response) => {
        finish(status.OK);
        callback(null, response);
      },
      (error: unknown) => {
        const grpcStatus = toGrpcStatus(error);
        finish(grpcStatus.code, error);
        callback(grpcStatus);
      },
    );
  };
}
