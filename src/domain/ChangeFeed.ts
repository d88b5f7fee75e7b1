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
  /** Times the feed's history was found rewritten (failover, restore): the whole cache was dropped. */
  rewinds: number;
  /** The position of the last change applied: every change visible before position + 1 was is applied. */
  position: number;
  /**
   * Monotonic ms at which the last poll that read to the end of the feed was sent: every change visible
   * then is applied.
   */
  lastSuccessAt: number;
  /**
   * Monotonic ms at which the database last answered a poll's query, with rows or an error (a query the
   * poll abandoned at its timeout counts when it ends): the feed makes progress (liveness).
   */
  lastSettledAt: number;
}

/**
 * Follows the `key_feed` table so that every replica drops cached keys another replica changed.
 *
 * Positions are gapless and become visible in ascending order (KeyChange), so reading "after the last
 * position applied" can skip nothing, however late a transaction commits: a transaction still open has
 * not taken its position yet, or holds the head and takes the next one. The only lasting gap a reader can
 * meet is rows pruned before it read them; it then drops the whole cache (`onGap`). (A gap that a torn
 * MariaDB read view shows is gone at the next read: see `apply`.) The argument is written out in
 * docs/architecture.md, "The change feed".
 */
export class ChangeFeed {
  readonly stats: ChangeFeedStats = {
    polls: 0,
    pollErrors: 0,
    pollTimeouts: 0,
    changesApplied: 0,
    gaps: 0,
    rewinds: 0,
    position: 0,
    lastSuccessAt: Number.NEGATIVE_INFINITY,
    lastSettledAt: 0,
  };
  private timer: NodeJS.Timeout | undefined;
  private stale = false;
  private running: Promise<void> | undefined;
  /** A poll abandoned at its timeout and still not settled: no second query is queued behind it. */
  private abandoned: Promise<unknown> | undefined;
  /** The highest position any read returned: a position missing below it is gone for good (apply). */
  private highestSeen = 0;
  /**
   * The last row applied. Every read asks for it again with the new rows: if the database no longer has
   * it as it was (a failover to a replica that had not received the last transactions, a restore), the
   * positions it hands out next were already passed here, so the feed starts over (see `rewind`).
   */
  private anchor: KeyChange | undefined;
  /** Callers of `nextCompleteRead` since the last poll was sent: the next poll that reads to the end answers them. */
  private readers: Waiters | undefined;

  constructor(private readonly options: ChangeFeedOptions) {}

  /** Starts after the newest change: a new cache is empty, so everything before it is already reflected. */
  async start(): Promise<void> {
    const sentAt = this.options.monotonic.now();
    const head = await this.options.repository.latestChangePosition();
    const [newest] = head > 0 ? await this.options.repository.readChanges(head - 1, 1) : [];
    this.stats.position = head;
    this.highestSeen = head;
    if (newest?.position === head) this.anchor = newest;
    this.stats.lastSuccessAt = sentAt;
    this.stats.lastSettledAt = this.options.monotonic.now();
    this.schedule(this.options.pollIntervalMs);
  }

  /** Stops polling; waits for a poll in progress (at most its timeout). */
  async stop(): Promise<void> {
    clearTimeout(this.timer);
    this.timer = undefined;
    await this.running;
    this.readers?.resolve();
    this.readers = undefined;
  }

  /**
   * Resolves once a poll sent after this call has read the feed to its end, so every change visible at
   * the call is applied; or when the feed turns stale (callers check `isFresh`) or stops. One promise per
   * poll, shared by every caller waiting for it.
   */
  nextCompleteRead(): Promise<void> {
    this.readers ??= new Waiters();
    return this.readers.promise;
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
    const readers = this.readers;
    this.readers = undefined;
    const before = this.stats.position;
    let rows = await this.readOrFail();
    if (rows === undefined) {
      this.answerOrRequeue(readers, this.stale);
      return false;
    }
    let torn = this.apply(rows);
    // A read that skipped a position may have met a torn read view (see apply): a second read, sent
    // after the first answered, shows every committed position below the highest one the first showed.
    if (torn) {
      const again = await this.readOrFail();
      if (again !== undefined) torn = this.apply((rows = again));
    }
    if (this.stats.position !== before) this.options.onApplied?.(this.stats.position);
    const caughtUp = rows.length < this.options.batchSize && !torn;
    // Only a poll that read to the end vouches for the cache: with more rows waiting, changes visible
    // when it was sent are still unapplied.
    if (caughtUp) this.stats.lastSuccessAt = Math.max(this.stats.lastSuccessAt, sentAt);
    this.answerOrRequeue(readers, caughtUp);
    if (this.stale && this.withinBound()) {
      // Nothing was skipped while this feed was blind (positions are gapless; rows pruned meanwhile
      // show up as a gap and drop everything), so the cache is exact again now that it caught up.
      this.stale = false;
      this.options.logger.info('change feed readable again: cache is rebuilt on demand');
      this.options.onFresh();
    }
    return !caughtUp;
  }

  /** Answers the callers a poll took when it read to the end (or the feed is stale), else hands them to the next one. */
  private answerOrRequeue(readers: Waiters | undefined, answer: boolean): void {
    if (readers === undefined) return;
    if (answer) readers.resolve();
    else if (this.readers === undefined) this.readers = readers;
    else void this.readers.promise.then(readers.resolve);
  }

  /** The next rows, or undefined when the read failed (counted and reported). */
  private async readOrFail(): Promise<KeyChange[] | undefined> {
    try {
      return await this.read();
    } catch (error) {
      this.failed(error);
      return undefined;
    }
  }

  /** The next rows, or a rejection once the poll timeout passes (the query is left to its own deadline). */
  private read(): Promise<KeyChange[]> {
    if (this.abandoned !== undefined) {
      return Promise.reject(new Error('the previous change-feed poll has not answered yet'));
    }
    const anchor = this.anchor;
    const query = this.options.repository
      .readChanges(anchor === undefined ? this.stats.position : anchor.position - 1, this.options.batchSize + 1)
      .then((rows) => this.afterAnchor(rows, anchor));
    // Progress is the database answering, rows or error, even after the poll gave up on it: a poll that
    // times out, or is refused while an abandoned one is out, ends without any.
    const answered = (): void => void (this.stats.lastSettledAt = this.options.monotonic.now());
    query.then(answered, answered);
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

  /**
   * The rows after the anchor, when the read returned the anchor unchanged first; otherwise the feed's
   * history is not the one this process followed: it starts over from the head (`rewind`) and answers no
   * rows. At most `batchSize` rows.
   */
  private async afterAnchor(rows: KeyChange[], anchor: KeyChange | undefined): Promise<KeyChange[]> {
    if (anchor === undefined) return rows.slice(0, this.options.batchSize);
    const first = rows[0];
    if (
      first?.position === anchor.position &&
      first.keyId === anchor.keyId &&
      first.keyVersion === anchor.keyVersion &&
      first.changeTime === anchor.changeTime
    ) {
      return rows.slice(1, this.options.batchSize + 1);
    }
    await this.rewind(anchor, first);
    return [];
  }

  /**
   * The row this process applied last is gone or different, and not by pruning (the newest row is never
   * pruned, and an older one only after CHANGE_FEED_RETENTION_HOURS): the database lost transactions this
   * process had read. Positions it hands out next may be ones already passed here, so every cached key is
   * dropped and the feed follows on from the head, as a process starting now would.
   */
  private async rewind(anchor: KeyChange, found: KeyChange | undefined): Promise<void> {
    const head = await this.options.repository.latestChangePosition();
    this.options.logger.error(
      { applied: anchor.position, found: found?.position ?? null, head },
      'the change feed lost rows this process had applied (database failover or restore?): dropping every cached key and following on from the head',
    );
    this.stats.rewinds++;
    this.stats.position = head;
    this.highestSeen = head;
    this.anchor = undefined;
    this.options.onGap();
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

  /**
   * Applies rows in order. A position missing below one a previous read already showed is gone for good
   * (pruned): every cached key is dropped. A position missing above that may only be hidden by a torn read
   * view: MariaDB copies the set of active transactions for a new read view with a lock-free walk that
   * commits do not wait for, so it can count T1 active, then find T2, which took the next position only
   * after T1 committed, already committed. Then only the rows before it are applied and true is returned:
   * read again.
   */
  private apply(rows: readonly KeyChange[]): boolean {
    if (rows.length === 0) return false;
    let expected = this.stats.position + 1;
    let gap = false;
    let applied: readonly KeyChange[] = rows;
    for (const [index, row] of rows.entries()) {
      if (row.position !== expected) {
        if (expected > this.highestSeen) {
          applied = rows.slice(0, index);
          break;
        }
        gap = true;
      }
      expected = row.position + 1;
    }
    const torn = applied.length < rows.length;
    this.highestSeen = Math.max(this.highestSeen, rows[rows.length - 1]?.position ?? 0);
    if (gap) {
      this.stats.gaps++;
      this.options.logger.warn(
        { position: this.stats.position, next: rows[0]?.position },
        'change feed rows were pruned before this process read them: dropping every cached key',
      );
      this.options.onGap();
    }
    if (applied.length > 0) {
      this.anchor = applied[applied.length - 1];
      this.stats.position = expected - 1;
      this.stats.changesApplied += applied.length;
      this.options.onChanges(applied);
    }
    return torn;
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

/** A promise and its resolve function (Promise.withResolvers is Node 22). */
class Waiters {
  readonly promise: Promise<void>;
  resolve!: () => void;

  constructor() {
    this.promise = new Promise<void>((resolve) => (this.resolve = resolve));
  }
}
