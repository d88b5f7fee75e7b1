import type { Logger } from 'pino';

import type { MonotonicClock } from './Clock.js';
import type { KeyChange, KeyRepository } from './KeyRepository.js';

/** Settings of ChangeFeed. */
export interface ChangeFeedOptions {
  readonly repository: Pick<KeyRepository, 'readChanges' | 'latestChangePosition'>;
  /** Every age and bound here is measured on it, never on the wall clock. */
  readonly monotonic: MonotonicClock;
  readonly logger: Logger;
  /** Called with the changes of one poll, in feed order (from any replica, this one included). */
  readonly onChanges: (changes: readonly KeyChange[]) => void;
  /**
   * Called when rows this feed had not read yet are gone (pruned while it was behind): it cannot tell
   * which keys changed, so every cached key must be dropped.
   */
  readonly onGap: () => void;
  /**
   * Called when a poll fails and the feed can no longer vouch for cached keys (no poll that read to the
   * end was sent within the staleness bound). `isFresh()` turns false at that moment on its own.
   */
  readonly onStale: () => void;
  /** Called when the feed can vouch again after being stale: it has read every change up to now. */
  readonly onFresh: () => void;
  /**
   * Called after a poll that moved `stats.position`, once its changes were applied (`onChanges`): the
   * replica reports it, so writers waiting for acknowledgement learn of it without waiting a heartbeat.
   */
  readonly onApplied?: (position: number) => void;
  /** Time between polls. */
  readonly pollIntervalMs: number;
  /** How long cached keys may be served without a successful poll. */
  readonly stalenessBoundMs: number;
  /** A poll that has not answered by then counts as failed; the next one does not wait for it. */
  readonly pollTimeoutMs: number;
  /** Most rows read per poll. */
  readonly batchSize: number;
}

/** Observable state, for tests, the benchmark, metrics and liveness. */
export interface ChangeFeedStats {
  polls: number;
  pollErrors: number;
  /** Polls abandoned after `pollTimeoutMs` (also counted in pollErrors). */
  pollTimeouts: number;
  changesApplied: number;
  /** Times rows were found pruned before this feed read them (the whole cache was dropped). */
  gaps: number;
  /** The position of the last change applied: every change visible before position + 1 was is applied. */
  position: number;
  /**
   * Monotonic ms at which the last poll that read to the end of the feed was sent: every change visible
   * then is applied.
   */
  lastSuccessAt: number;
  /** Monotonic ms at which the last poll ended, either way (the loop is alive). */
  lastSettledAt: number;
}

/**
 * Follows the `key_feed` table so that every replica drops cached keys another replica changed.
 *
 * Positions are gapless and become visible in ascending order (KeyChange), so reading "after the last
 * position applied" can skip nothing, however late a transaction commits: a transaction still open has
 * not taken its position yet, or holds the head and takes the next one. The only gap a reader can meet
 * is rows pruned before it read them; it then drops the whole cache (`onGap`). The argument is written
 * out in docs/architecture.md, "The change feed".
 */
export class ChangeFeed {
  readonly stats: ChangeFeedStats = {
    polls: 0,
    pollErrors: 0,
    pollTimeouts: 0,
    changesApplied: 0,
    gaps: 0,
    position: 0,
    lastSuccessAt: Number.NEGATIVE_INFINITY,
    lastSettledAt: 0,
  };
  private timer: NodeJS.Timeout | undefined;
  private stale = false;
  private running: Promise<void> | undefined;
  /** A poll abandoned at its timeout and still not settled: no second query is queued behind it. */
  private abandoned: Promise<unknown> | undefined;

  constructor(private readonly options: ChangeFeedOptions) {}

  /** Starts after the newest change: a new cache is empty, so everything before it is already reflected. */
  async start(): Promise<void> {
    const sentAt = this.options.monotonic.now();
    this.stats.position = await this.options.repository.latestChangePosition();
    this.stats.lastSuccessAt = sentAt;
    this.stats.lastSettledAt = this.options.monotonic.now();
    this.schedule(this.options.pollIntervalMs);
  }

  /** Stops polling; waits for a poll in progress (at most its timeout). */
  async stop(): Promise<void> {
    clearTimeout(this.timer);
    this.timer = undefined;
    await this.running;
  }

  /** True while cached keys may be trusted: a poll sent within the staleness bound read the feed to its end. */
  isFresh(): boolean {
    return !this.stale && this.withinBound();
  }

  private withinBound(): boolean {
    return this.options.monotonic.now() - this.stats.lastSuccessAt <= this.options.stalenessBoundMs;
  }

  /** One poll; returns true when the batch was full (more rows are waiting). Exposed for tests. */
  async pollOnce(): Promise<boolean> {
    this.stats.polls++;
    const sentAt = this.options.monotonic.now();
    let rows: KeyChange[];
    try {
      rows = await this.read();
    } catch (error) {
      this.failed(error);
      return false;
    } finally {
      this.stats.lastSettledAt = this.options.monotonic.now();
    }
    const before = this.stats.position;
    this.apply(rows);
    if (this.stats.position !== before) this.options.onApplied?.(this.stats.position);
    const caughtUp = rows.length < this.options.batchSize;
    // Only a poll that read to the end vouches for the cache: with more rows waiting, changes visible
    // when it was sent are still unapplied.
    if (caughtUp) this.stats.lastSuccessAt = Math.max(this.stats.lastSuccessAt, sentAt);
    if (this.stale && this.withinBound()) {
      // Nothing was skipped while this feed was blind (positions are gapless; rows pruned meanwhile
      // show up as a gap and drop everything), so the cache is exact again now that it caught up.
      this.stale = false;
      this.options.logger.info('change feed readable again: cache is rebuilt on demand');
      this.options.onFresh();
    }
    return !caughtUp;
  }

  /** The next rows, or a rejection once the poll timeout passes (the query is left to its own deadline). */
  private read(): Promise<KeyChange[]> {
    if (this.abandoned !== undefined) {
      return Promise.reject(new Error('the previous change-feed poll has not answered yet'));
    }
    const query = this.options.repository.readChanges(this.stats.position, this.options.batchSize);
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_resolve, reject) => {
      timer = setTimeout(() => {
        this.stats.pollTimeouts++;
        const settled = query.then(
          () => undefined,
          () => undefined,
        );
        this.abandoned = settled;
        void settled.then(() => {
          if (this.abandoned === settled) this.abandoned = undefined;
        });
        reject(new Error(`change-feed poll did not answer within ${this.options.pollTimeoutMs} ms`));
      }, this.options.pollTimeoutMs);
    });
    return Promise.race([query, timeout]).finally(() => clearTimeout(timer));
  }

  private failed(error: unknown): void {
    this.stats.pollErrors++;
    if (!this.stale && !this.withinBound()) {
      this.stale = true;
      this.options.logger.error(
        { err: error, stalenessBoundMs: this.options.stalenessBoundMs },
        'change feed unreadable beyond the staleness bound: cached keys are no longer trusted',
      );
      this.options.onStale();
    } else if (this.stats.pollErrors % 50 === 1) {
      this.options.logger.warn({ err: error }, 'change feed poll failed');
    }
  }

  private apply(rows: readonly KeyChange[]): void {
    if (rows.length === 0) return;
    let expected = this.stats.position + 1;
    let gap = false;
    for (const row of rows) {
      if (row.position !== expected) gap = true;
      expected = row.position + 1;
    }
    if (gap) {
      this.stats.gaps++;
      this.options.logger.warn(
        { position: this.stats.position, next: rows[0]?.position },
        'change feed rows were pruned before this process read them: dropping every cached key',
      );
      this.options.onGap();
    }
    this.stats.position = expected - 1;
    this.stats.changesApplied += rows.length;
    this.options.onChanges(rows);
  }

  private schedule(delayMs: number): void {
    this.timer = setTimeout(() => {
      this.running = this.pollOnce()
        .then(
          (more) => more,
          () => false,
        )
        .then((more) => {
          this.running = undefined;
          if (this.timer !== undefined) this.schedule(more ? 0 : this.options.pollIntervalMs);
        });
    }, delayMs);
    this.timer.unref();
  }
}
