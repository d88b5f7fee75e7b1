import { status } from '@grpc/grpc-js';

import { CallFailure } from './CallFailure.js';

/** The parts of grpc-js's ServerWritableStream a ResponseStream uses. */
export interface WritableCall<Res> {
  readonly cancelled: boolean;
  readonly writableEnded: boolean;
  readonly destroyed: boolean;
  write(response: Res): boolean;
  once(event: 'cancelled' | 'close', listener: () => void): unknown;
}

/**
 * Where a server-streaming handler writes its responses. Writes after the call ended or was cancelled are
 * dropped (never an error status after the fact); `signal` aborts when the caller cancels or the call
 * ends, so a handler that waits for events knows to stop.
 */
export class ResponseStream<Res> {
  private readonly controller = new AbortController();

  constructor(private readonly stream: WritableCall<Res>) {
    const abort = (): void => this.controller.abort();
    stream.once('cancelled', abort);
    stream.once('close', abort);
  }

  /** Aborted once the caller cancelled or the call ended: nothing more will be delivered. */
  get signal(): AbortSignal {
    return this.controller.signal;
  }

  /** Whether a write would still reach the caller. */
  get open(): boolean {
    return !this.stream.cancelled && !this.stream.writableEnded && !this.stream.destroyed;
  }

  /**
   * Sends one response. Returns false when it was dropped (the call is over) or when the transport's
   * buffer is full (the same back-pressure signal as a Node stream).
   */
  write(response: Res): boolean {
    if (!this.open) return false;
    return this.stream.write(response);
  }

  /**
   * The handler is done. Throws CANCELLED when the caller went away first, so the call is logged and
   * counted as cancelled rather than OK.
   */
  finish(): void {
    if (this.stream.cancelled) throw new CallFailure(status.CANCELLED, 'the caller cancelled the call');
  }
}
