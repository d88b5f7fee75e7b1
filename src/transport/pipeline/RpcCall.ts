import type { ServerUnaryCall } from '@grpc/grpc-js';
import type { Attributes } from '@opentelemetry/api';

import { ANONYMOUS, type CallContext } from './CallContext.js';

/** One method as the pipeline sees it, built once when the service is built. */
export interface RpcMethod {
  /** The full gRPC path, e.g. `/apikeys.v1.KeyVerifier/VerifyKey` (logs, metrics). */
  readonly path: string;
  /** Level of the log line of a successful call: `debug` for a hot path, else `info`. */
  readonly successLogLevel: 'info' | 'debug';
  /** A traced call's attributes from its response (key id, decision; never a secret). */
  readonly traceAttributes?: ((response: unknown) => Attributes | undefined) | undefined;
  /** Runs the method's handler: the innermost step of the pipeline. */
  readonly invoke: (call: RpcCall) => unknown;
}

/**
 * The grpc-js call of any unary or server-streaming method: its request plus what every call has
 * (metadata, peer, deadline, auth context). A ServerWritableStream is one too.
 */
export type IncomingCall = ServerUnaryCall<unknown, unknown>;

/** What a handler may learn of its own call besides the request and the caller. */
export interface CallLifetime {
  /**
   * Aborts once nobody waits for the answer: the caller cancelled, its deadline passed (grpc-js answered
   * DEADLINE_EXCEEDED), or shutdown cancelled the call at the end of its drain (forceShutdown closes the
   * call's stream). grpc-js reports all three as the call's 'cancelled' event.
   */
  readonly signal: AbortSignal;
  /** Milliseconds until the caller's deadline, else the server's default one (Infinity without either). */
  remainingMs(): number;
}

/**
 * The state of one call that the pipeline's steps share. It is the one object a call allocates (steps
 * are composed once per service, so they read and write here instead of closing over the call).
 */
export class RpcCall implements CallLifetime {
  /**
   * When the call reached the pipeline (performance.now() ms: durations in logs and metrics). A double,
   * not hrtime.bigint(): two BigInts per call (start, difference) cost more than the call's metrics.
   */
  readonly started = performance.now();
  /** Who is calling; authenticateCaller sets it, before the handler runs. */
  context: CallContext = ANONYMOUS;
  /** Made on the first read of `signal`: a call that never asks (VerifyKey) costs no controller. */
  private controller: AbortController | undefined;
  /** The server's default deadline (epoch ms) of a call that carries none; set by applyDefaultDeadline. */
  defaultDeadline = Number.POSITIVE_INFINITY;

  constructor(
    readonly method: RpcMethod,
    /** The grpc-js call: a ServerUnaryCall, or a ServerWritableStream for a server-streaming method. */
    readonly grpc: IncomingCall,
  ) {}

  remainingMs(): number {
    const deadline = this.grpc.getDeadline();
    if (deadline === Infinity) return this.defaultDeadline - Date.now();
    return (deadline instanceof Date ? deadline.getTime() : deadline) - Date.now();
  }

  get signal(): AbortSignal {
    if (this.controller === undefined) {
      const controller = new AbortController();
      this.controller = controller;
      if (this.grpc.cancelled) controller.abort();
      else this.grpc.once('cancelled', () => controller.abort());
    }
    return this.controller.signal;
  }

  /** The server's default deadline passed: whoever holds `signal` stops (the caller is answered elsewhere). */
  expire(): void {
    if (this.controller === undefined) this.controller = new AbortController();
    this.controller.abort();
  }
}
