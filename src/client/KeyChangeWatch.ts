import { type Client, type ClientReadableStream, Metadata } from '@grpc/grpc-js';

import { KeyVerifierService, type WatchKeyChangesResponse } from '../../gen/apikeys/v1/api_keys.js';
import type { ClientKeyCache } from './ClientKeyCache.js';

/** First and longest wait before a new watch stream after one ended. */
export const WATCH_BACKOFF_MS = { first: 100, max: 2000 } as const;

/**
 * Keeps one WatchKeyChanges stream open for a ClientKeyCache: opens it, feeds its messages to the cache,
 * and after it ends (or stays silent past the cache's staleness bound: a stopped server, a cut connection
 * that sends no reset) tells the cache and opens a new one, backing off from 100 ms to 2 s.
 */
export class KeyChangeWatch {
  private call: ClientReadableStream<WatchKeyChangesResponse> | undefined;
  private lastMessageAt = 0;
  private backoffMs: number = WATCH_BACKOFF_MS.first;
  private reconnectTimer: NodeJS.Timeout | undefined;
  private readonly watchdog: NodeJS.Timeout;
  private closed = false;
  /** Silence was seen once: confirmed only at the next tick, after the event loop has read the socket. */
  private silenceSeen = false;
  /** Streams opened, for tests. */
  streamsOpened = 0;

  constructor(
    private readonly client: Client,
    private readonly metadata: Metadata | undefined,
    private readonly cache: ClientKeyCache,
    private readonly silenceMs: number,
  ) {
    this.open();
    this.watchdog = setInterval(() => this.checkSilence(), Math.max(10, Math.floor(silenceMs / 4)));
    this.watchdog.unref();
  }

  close(): void {
    this.closed = true;
    clearInterval(this.watchdog);
    clearTimeout(this.reconnectTimer);
    this.call?.cancel();
    this.call = undefined;
    this.cache.streamLost();
  }

  private open(): void {
    if (this.closed) return;
    const definition = KeyVerifierService.watchKeyChanges;
    const call = this.client.makeServerStreamRequest(
      definition.path,
      definition.requestSerialize,
      definition.responseDeserialize,
      {},
      this.metadata?.clone() ?? new Metadata(),
      {},
    );
    this.call = call;
    this.streamsOpened++;
    this.lastMessageAt = performance.now();
    let first = true;
    call.on('data', (message: WatchKeyChangesResponse) => {
      if (this.call !== call) return;
      this.lastMessageAt = performance.now();
      this.silenceSeen = false;
      if (first) {
        first = false;
        this.backoffMs = WATCH_BACKOFF_MS.first;
        this.cache.streamOpened();
      }
      this.cache.apply(message);
    });
    // 'error' for any status but OK, 'end' otherwise (a server never ends the stream OK, but may).
    const ended = (): void => {
      if (this.call !== call) return;
      this.lost();
    };
    call.on('error', ended);
    call.on('end', ended);
  }

  private lost(): void {
    this.call = undefined;
    this.cache.streamLost();
    if (this.closed) return;
    const wait = this.backoffMs;
    this.backoffMs = Math.min(this.backoffMs * 2, WATCH_BACKOFF_MS.max);
    this.reconnectTimer = setTimeout(() => this.open(), wait);
    this.reconnectTimer.unref();
  }

  /**
   * A stream that sends nothing (not even a heartbeat) for `silenceMs` is given up and replaced. Seen
   * twice, one tick apart, so a caller that kept the event loop busy (messages waiting in the socket,
   * unread) does not lose a healthy stream: between two timer ticks the loop reads its sockets.
   */
  private checkSilence(): void {
    const call = this.call;
    if (call === undefined || performance.now() - this.lastMessageAt <= this.silenceMs) return;
    if (!this.silenceSeen) {
      this.silenceSeen = true;
      return;
    }
    this.silenceSeen = false;
    this.call = undefined;
    call.cancel();
    this.lost();
  }
}
