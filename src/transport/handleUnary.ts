import { randomUUID } from 'node:crypto';

import { type handleUnaryCall, type ServerUnaryCall, status } from '@grpc/grpc-js';
import type { Logger } from 'pino';

import { type AppError, invalidArgument } from '../domain/AppError.js';
import { redactSecrets } from '../domain/keyFormat.js';
import { CallerRejectedError } from './CallerRejectedError.js';
import { UndecodableRequest } from './tolerantDecoding.js';
import { toGrpcStatus } from './toGrpcStatus.js';

/** What a handler knows about the call besides its request. */
export interface CallContext {
  /** Identity of the authenticated calling service; `anonymous` when caller authentication is off. */
  readonly caller: string;
}

/** The parts of a call that carry the caller's credentials. */
export type CallerCredentials = Pick<ServerUnaryCall<unknown, unknown>, 'metadata' | 'getAuthContext'>;

/**
 * Runs before the handler: returns who is calling, or throws (a CallerRejectedError: UNAUTHENTICATED or
 * PERMISSION_DENIED), in which case the handler never runs.
 */
export type Authenticate = (call: CallerCredentials) => CallContext;

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

/** Called once per finished RPC with its method, status name and server time (metrics). */
export type RpcObserver = (method: string, code: string, seconds: number) => void;

/** What every handler of a service shares: where to log, who may call, what to record. */
export interface ServiceOptions {
  readonly logger: Logger;
  /** Caller authentication; omitted: every caller is `anonymous` and nothing is checked per call. */
  readonly authenticate?: Authenticate | undefined;
  readonly observe?: RpcObserver | undefined;
}

/** Options of handleUnary. */
export interface HandleUnaryOptions extends ServiceOptions {
  readonly successLogLevel?: 'info' | 'debug';
}

/**
 * Adapts a handler to grpc-js: the callback is called exactly once, errors go through toGrpcStatus,
 * and one log line is written per call (method, status, duration, peer, request id — never the
 * request body, which can hold a secret). Log fields are only built when the line will be written, so a
 * successful call at a disabled level costs nothing but a clock read.
 */
export function handleUnary<Req, Res>(
  method: string,
  handler: UnaryHandler<Req, Res>,
  options: HandleUnaryOptions,
): handleUnaryCall<Req, Res> {
  const { logger, authenticate, observe } = options;
  const successLogLevel = options.successLogLevel ?? 'info';
  return (call: ServerUnaryCall<Req, Res>, callback) => {
    const started = process.hrtime.bigint();
    let context = ANONYMOUS;
    const finish = (code: status, error?: unknown): void => {
      observe?.(method, STATUS_NAMES[code] ?? String(code), Number(process.hrtime.bigint() - started) / 1e9);
      const level =
        code === status.OK
          ? successLogLevel
          : code === status.INTERNAL || code === status.UNKNOWN
            ? 'error'
            : code === status.UNAVAILABLE || error instanceof CallerRejectedError
              ? 'warn'
              : 'info';
      if (!logger.isLevelEnabled(level)) return;
      const requestIdHeader = call.metadata.get('x-request-id')[0];
      const requestId =
        typeof requestIdHeader === 'string' && /^[\w.-]{1,64}$/.test(requestIdHeader)
          ? redactSecrets(requestIdHeader) // a key pasted into the wrong header must not reach the log
          : randomUUID();
      const durationMs = Number(process.hrtime.bigint() - started) / 1e6;
      const fields: Record<string, unknown> = {
        requestId,
        method,
        peer: call.getPeer(),
        caller: error instanceof CallerRejectedError ? error.caller : context.caller,
        status: STATUS_NAMES[code],
        durationMs: Math.round(durationMs * 1000) / 1000,
      };
      if (level === 'error') logger.error({ ...fields, err: error }, 'rpc failed');
      else if (error instanceof CallerRejectedError)
        logger.warn({ ...fields, reason: error.message }, 'caller rejected');
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
    // grpc-js hands over a call whose deadline already passed before its own timer fires: refuse it
    // here, so a write is never stored while its caller is told DEADLINE_EXCEEDED.
    const deadline = call.getDeadline();
    if (deadline !== Infinity && Date.now() >= (deadline instanceof Date ? deadline.getTime() : deadline)) {
      finish(status.DEADLINE_EXCEEDED);
      callback({
        code: status.DEADLINE_EXCEEDED,
        details: 'Deadline exceeded before the call started; nothing was done',
      });
      return;
    }
    let result: Res | Promise<Res>;
    try {
      if (authenticate !== undefined) context = authenticate(call);
      const request: unknown = call.request;
      if (request instanceof UndecodableRequest) throw invalidArgument(request.describe());
      result = handler(call.request, context);
    } catch (error) {
      fail(error);
      return;
    }
    if (result instanceof Promise) result.then(succeed, fail);
    else succeed(result);
  };
}
