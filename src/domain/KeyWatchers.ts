import type { MonotonicClock } from './Clock.js';

/** A key that changed: its hex secret digest and its version after the change (0: not known, drop any copy). */
export interface WatchedChange {
  readonly hexDigest: string;
  readonly keyVersion: number;
}

/** What a watcher is sent. */
export type WatchEvent =
  | { readonly kind: 'changes'; readonly changes: readonly WatchedChange[] }
  | {
      readonly kind: 'heartbeat';
      readonly intervalMs: number;
      readonly feedAgeMs: number;
      readonly stalenessBoundMs: number;
    }
  | { readonly kind: 'reset'; readonly reason: string };

/** Why a watcher went away: too slow, the server stopping, or the caller leaving (cancel, connection closed). */
export type WatcherDisconnect = 'slow' | 'shutdown' | 'client';

/** One subscriber: takes events; `disconnect` ends its stream. */
export interface Watcher {
  /** Delivers one event; returns false when the watcher cannot take more (it is then disconnected as slow). */
  send(event: WatchEvent): boolean;
  disconnect(reason: Exclude<WatcherDisconnect, 'client'>): void;
}

/** Settings of KeyWatchers. */
export interface KeyWatchersOptions {
  readonly heartbeatMs: number;
  readonly stalenessBoundMs: number;
  readonly monotonic: MonotonicClock;
  /** True while the change feed vouches for this process's cache. */
  readonly isFresh: () => boolean;
  /** Monotonic ms of the feed's last poll that read to its end (ChangeFeed.stats.lastSuccessAt). */
  readonly feedReadAt: () => number;
}

/** Counts for metrics and tests. */
export interface KeyWatchersStats {
  messagesSent: Record<WatchEvent['kind'], number>;
  disconnects: Record<WatcherDisconnect, number>;
}

/**
 * The watchers of WatchKeyChanges in this process: every key change this process learns (its change feed,
 * its own writes, a sibling worker's) and every reset of its cache is sent to all of them, and a heartbeat
 * every `heartbeatMs` while the feed is fresh. A heartbeat is sent after every change this process had
 * applied when it was sent, so a client that received one knows its copy is exact as of `feedAgeMs` before.
 */
export class KeyWatchers {
  readonly stats: KeyWatchersStats = {
    messagesSent: { changes: 0, heartbeat: 0, reset: 0 },
    disconnects: { slow: 0, shutdown: 0, client: 0 },
  };
  private readonly watchers = new Set<Watcher>();
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;

  constructor(private readonly options: KeyWatchersOptions) {}

  /** Watchers connected now. */
  get size(): number {
    return this.watchers.size;
  }

  start(): void {
    this.stopped = false;
    this.timer = setInterval(() => this.heartbeat(), this.options.heartbeatMs);
    this.timer.unref();
  }

  /** Ends every stream (a stopping server must not wait for them) and refuses new ones. */
  stop(): void {
    this.stopped = true;
    clearInterval(this.timer);
    this.timer = undefined;
    for (const watcher of [...this.watchers]) this.drop(watcher, 'shutdown');
  }

  /**
   * Adds a watcher and sends it a first heartbeat when the feed is fresh; returns the function that
   * removes it, or null when this process is stopping (the caller should answer UNAVAILABLE).
   */
  subscribe(watcher: Watcher): (() => void) | null {
    if (this.stopped) return null;
    this.watchers.add(watcher);
    const first = this.heartbeatEvent();
    if (first !== null) this.deliver(watcher, first);
    return () => {
      if (this.watchers.delete(watcher)) this.stats.disconnects.client++;
    };
  }

  /** Keys changed: sent to every watcher at once. */
  changed(changes: readonly WatchedChange[]): void {
    if (changes.length === 0 || this.watchers.size === 0) return;
    this.broadcast({ kind: 'changes', changes });
  }

  /** This process dropped its whole cache: every watcher drops its own. */
  reset(reason: string): void {
    if (this.watchers.size === 0) return;
    this.broadcast({ kind: 'reset', reason });
  }

  private heartbeat(): void {
    if (this.watchers.size === 0) return;
    const event = this.heartbeatEvent();
    if (event !== null) this.broadcast(event);
  }

  private heartbeatEvent(): WatchEvent | null {
    if (!this.options.isFresh()) return null;
    const feedAgeMs = Math.max(0, Math.ceil(this.options.monotonic.now() - this.options.feedReadAt()));
    return {
      kind: 'heartbeat',
      intervalMs: this.options.heartbeatMs,
      feedAgeMs,
      stalenessBoundMs: this.options.stalenessBoundMs,
    };
  }

  private broadcast(event: WatchEvent): void {
    for (const watcher of [...this.watchers]) this.deliver(watcher, event);
  }

  private deliver(watcher: Watcher, event: WatchEvent): void {
    if (watcher.send(event)) this.stats.messagesSent[event.kind]++;
    else this.drop(watcher, 'slow');
  }

  private drop(watcher: Watcher, reason: Exclude<WatcherDisconnect, 'client'>): void {
    if (!this.watchers.delete(watcher)) return;
    this.stats.disconnects[reason]++;
    watcher.disconnect(reason);
  }
}
