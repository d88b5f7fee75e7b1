/*
 * A copy of the change feed as it was before issue 11 (`git show 8d0eb0f:src/domain/ChangeFeed.ts`), kept
 * only as a negative control of the feed simulation (test/unit/feedSimulation.test.ts): over positions
 * visible out of order it waits `gapTimeoutMs` for a missing one, then stops waiting, so a commit slower
 * than that is never applied. The algorithm is unchanged; only the imports and type names differ.
 */
import type { Logger } from 'pino';

import type { Clock } from '../../src/domain/Clock.js';

/** A row of the previous feed table, `key_changes`: an auto-increment id, visible when its transaction commits. */
export interface OldKeyChange {
  readonly id: number;
  readonly keyId: string;
  readonly secretHash: Buffer;
  readonly changeTime: number;
}

/** What the previous feed read: rows after an id or among the missing ids, and the highest id. */
export interface OldFeedRepository {
  readChanges(afterId: number, missingIds: readonly number[], limit: number): Promise<OldKeyChange[]>;
  latestChangeId(): Promise<number>;
}

/** Settings of OldGapTimeoutFeed. */
export interface ChangeFeedOptions {
  readonly repository: OldFeedRepository;
  readonly clock: Clock;
  readonly logger: Logger;
  /** Called with the hex hashes of keys that changed (on any replica). */
  readonly onChanges: (hashes: string[]) => void;
  /** Called when the feed can no longer vouch for cached keys (outage longer than the staleness bound). */
  readonly onStale: () => void;
  /** Called when the feed can vouch again after being stale. */
  readonly onFresh: () => void;
  /** Time between polls. */
  readonly pollIntervalMs: number;
  /** How long cached keys may be served without a successful poll. */
  readonly stalenessBoundMs: number;
  /**
   * How long a missing id is waited for. Auto-increment ids are assigned at insert but become visible at
   * commit, so id 11 can be read while id 10 is still in flight; a gap older than this is assumed to be a
   * rolled-back insert (or an auto_increment_increment > 1) and stops being waited for.
   */
  readonly gapTimeoutMs: number;
  /** Most rows read per poll. */
  readonly batchSize: number;
}

/** Observable state, for tests, the benchmark and metrics. */
export interface ChangeFeedStats {
  polls: number;
  pollErrors: number;
  changesApplied: number;
  /** Epoch ms of the last successful poll (0 = never). */
  lastSuccessTime: number;
  /** Highest change id seen. */
  highestSeen: number;
  /** Ids below highestSeen not seen yet and still waited for. */
  openGaps: number;
}

/** Most missing ids tracked at once (only reachable with auto_increment_increment > 1 and heavy writes). */
const MAX_TRACKED_GAPS = 10_000;

/**
 * Follows the `key_changes` table so that every replica drops cached keys another replica changed.
 *
 * Correct under out-of-order commits: auto-increment ids are assigned at insert but become visible at
 * commit, so id 11 can be read while id 10 is still in flight. Every id skipped below the highest one
 * seen is remembered as a gap and asked for again on each poll until it shows up or times out.
 */
export class OldGapTimeoutFeed {
  readonly stats: ChangeFeedStats = {
    polls: 0,
    pollErrors: 0,
    changesApplied: 0,
    lastSuccessTime: 0,
    highestSeen: 0,
    openGaps: 0,
  };
  /** Missing id → when it was first noticed missing. */
  private readonly gaps = new Map<number, number>();
  private timer: NodeJS.Timeout | undefined;
  private stale = false;
  private running: Promise<void> | undefined;

  constructor(private readonly options: ChangeFeedOptions) {}

  /** Starts from the newest change (everything older is already reflected in a fresh, empty cache). */
  async start(): Promise<void> {
    this.stats.highestSeen = await this.options.repository.latestChangeId();
    this.stats.lastSuccessTime = this.options.clock.now();
    this.schedule(this.options.pollIntervalMs);
  }

  /** Stops polling; waits for a poll in progress. */
  async stop(): Promise<void> {
    clearTimeout(this.timer);
    this.timer = undefined;
    await this.running;
  }

  /** True while cached keys may be trusted (a poll succeeded within the staleness bound). */
  isFresh(): boolean {
    return !this.stale && this.options.clock.now() - this.stats.lastSuccessTime <= this.options.stalenessBoundMs;
  }

  /** One poll; returns true when the batch was full (more rows are waiting). Exposed for tests. */
  async pollOnce(): Promise<boolean> {
    this.stats.polls++;
    let rows: OldKeyChange[];
    try {
      rows = await this.options.repository.readChanges(
        this.stats.highestSeen,
        [...this.gaps.keys()],
        this.options.batchSize,
      );
    } catch (error) {
      this.stats.pollErrors++;
      if (!this.isFresh() && !this.stale) {
        this.stale = true;
        this.options.logger.error(
          { err: error, stalenessBoundMs: this.options.stalenessBoundMs },
          'change feed unreadable beyond the staleness bound: cached keys are no longer trusted',
        );
        this.options.onStale();
      } else if (this.stats.pollErrors % 50 === 1) {
        this.options.logger.warn({ err: error }, 'change feed poll failed');
      }
      return false;
    }
    const now = this.options.clock.now();
    this.apply(rows, now);
    this.stats.lastSuccessTime = now;
    if (this.stale) {
      // Changes made while we were blind for longer than the bound may already have been pruned from
      // the feed; the owner drops the whole cache, so continuing from here is enough.
      this.stale = false;
      this.options.logger.info('change feed readable again: cache is rebuilt on demand');
      this.options.onFresh();
    }
    return rows.length === this.options.batchSize;
  }

  private apply(rows: readonly OldKeyChange[], now: number): void {
    const hashes: string[] = [];
    const previousHighest = this.stats.highestSeen;
    const seen = new Set<number>();
    for (const row of rows) {
      seen.add(row.id);
      this.gaps.delete(row.id);
      this.stats.highestSeen = Math.max(this.stats.highestSeen, row.id);
      hashes.push(row.secretHash.toString('hex'));
    }
    for (let id = previousHighest + 1; id < this.stats.highestSeen; id++) {
      if (!seen.has(id)) this.gaps.set(id, now);
    }
    for (const [id, since] of this.gaps) {
      if (now - since >= this.options.gapTimeoutMs || this.gaps.size > MAX_TRACKED_GAPS) this.gaps.delete(id);
    }
    this.stats.openGaps = this.gaps.size;
    if (hashes.length > 0) {
      this.stats.changesApplied += hashes.length;
      this.options.onChanges(hashes);
    }
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
