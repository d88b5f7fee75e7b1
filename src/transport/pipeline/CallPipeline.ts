import type { Attributes } from '@opentelemetry/api';
import type { handleServerStreamingCall, handleUnaryCall, sendUnaryData, ServerWritableStream } from '@grpc/grpc-js';

import type { CallContext } from './CallContext.js';
import { CallFailure } from './CallFailure.js';
import type { Next } from './Middleware.js';
import { ResponseStream, type WritableCall } from './ResponseStream.js';
import { type CallLifetime, RpcCall, type RpcMethod } from './RpcCall.js';

/**
 * A unary handler: return the response (or a promise of it) or throw. Returning a plain value lets the
 * hot path answer without a promise round trip. `call.signal` tells a handler whose work holds resources
 * (a write transaction) that nobody waits for it any more.
 */
export type UnaryHandler<Req, Res> = (request: Req, context: CallContext, call: CallLifetime) => Res | Promise<Res>;

/** A server-streaming handler: writes responses, then returns (or resolves) to end the call OK, or throws. */
export type ServerStreamingHandler<Req, Res> = (
  request: Req,
  context: CallContext,
  responses: ResponseStream<Res>,
) => void | Promise<void>;

/** What one method adds to its service's pipeline. */
export interface MethodOptions<Res = unknown> {
  /** Level of the log line of a successful call (default `info`; `debug` for a hot path). */
  readonly successLogLevel?: 'info' | 'debug';
  /** Span attributes of a successful traced call, from its response (never a secret). */
  readonly traceAttributes?: (response: Res) => Attributes | undefined;
}

function method<Res>(path: string, invoke: RpcMethod['invoke'], options: MethodOptions<Res>): RpcMethod {
  return {
    path,
    invoke,
    successLogLevel: options.successLogLevel ?? 'info',
    traceAttributes: options.traceAttributes as RpcMethod['traceAttributes'],
  };
}

function endStream(stream: ServerWritableStream<unknown, unknown>): void {
  if (!stream.writableEnded && !stream.destroyed) stream.end();
}

function failStream(stream: ServerWritableStream<unknown, unknown>, error: unknown): void {
  // grpc-js turns an 'error' event into the call's status and ends the stream.
  if (!stream.writableEnded && !stream.destroyed) stream.emit('error', CallFailure.from(error));
}

/**
 * The steps of one service, composed once, and the adapters that put a method's handler behind them for
 * grpc-js. The adapters are the only code that touches grpc-js's callback or stream end: each call ends
 * exactly once (a unary callback is called once, a stream is ended or failed once), after every step has
 * seen how it ended, and nothing runs after that.
 */
export class CallPipeline {
  constructor(private readonly run: Next) {}

  /** A unary method: its response, or the failure every step agreed on. */
  unary<Req, Res>(
    path: string,
    handler: UnaryHandler<Req, Res>,
    options: MethodOptions<Res> = {},
  ): handleUnaryCall<Req, Res> {
    const described = method(path, (call) => handler(call.grpc.request as Req, call.context, call), options);
    const run = this.run;
    return (grpcCall, callback: sendUnaryData<Res>) => {
      const call = new RpcCall(described, grpcCall);
      let result: unknown;
      try {
        result = run(call);
      } catch (error) {
        callback(CallFailure.from(error));
        return;
      }
      if (result instanceof Promise) {
        result.then(
          (response: Res) => callback(null, response),
          (error: unknown) => callback(CallFailure.from(error)),
        );
      } else {
        callback(null, result as Res);
      }
    };
  }

  /** A server-streaming method: ends OK when its handler returns, with the failure when it throws. */
  serverStreaming<Req, Res>(
    path: string,
    handler: ServerStreamingHandler<Req, Res>,
    options: MethodOptions = {},
  ): handleServerStreamingCall<Req, Res> {
    const invoke = (call: RpcCall): unknown => {
      // The streaming adapter below makes RpcCalls of this method from ServerWritableStreams only.
      const responses = new ResponseStream(call.grpc as unknown as WritableCall<Res>);
      const done = handler(call.grpc.request as Req, call.context, responses);
      return done instanceof Promise ? done.then(() => responses.finish()) : responses.finish();
    };
    const described = method(path, invoke, options);
    const run = this.run;
    return (stream) => {
      let result: unknown;
      try {
        result = run(new RpcCall(described, stream));
      } catch (error) {
        failStream(stream, error);
        return;
      }
      if (result instanceof Promise) {
        result.then(
          () => endStream(stream),
          (error: unknown) => failStream(stream, error),
        );
      } else {
        endStream(stream);
      }
    };
  }
}
