import { AppError } from './AppError.js';
import type { MonotonicClock } from './Clock.js';

/** Settings of UnknownKeyGate. */
export interface UnknownKeyGateOptions {
  readonly filter: { readonly complete: boolean; mayExist(hexDigest: string): boolean };
  readonly feed: {
    isFresh(): boolean;
    /** Resolves once a poll sent after this call read the feed to its end (or the feed turned stale or stopped). */
    nextCompleteRead(): Promise<void>;
  };
  /** Database lookups per second for keys the filter does not know; 0: none, always wait for the feed. */
  readonly lookupsPerSecond: number;
  /** Keys waiting for the feed at most; more are refused UNAVAILABLE. */
  readonly maxWaiting: number;
  readonly monotonic: MonotonicClock;
}

/** Counters for metrics and tests. */
export interface UnknownKeyGateStats {
  /** Answered "not found" by the filter, without a query. */
  filtered: number;
  /** Looked up in the database although the filter did not know them, within the per-second budget. */
  budgeted: number;
  /** Waited for the next poll of the feed because the budget was spent. */
  waited: number;
  /** Refused UNAVAILABLE because `maxWaiting` keys were already waiting. */
  refused: number;
}

/**
 * Decides whether a key that is not cached may cost a database query. A key the filter of known keys
 * (KnownKeyFilter) may hold goes to the database, as does every key while the filter is incomplete or
 * the feed stale. A key it does not hold was not created before the feed's last complete poll, but may
 * have been created since on another replica, moments before its secret was handed to a caller. So:
 * within a small budget (`lookupsPerSecond`, a token bucket) it is looked up at once, so a brand-new key
 * costs no delay; beyond the budget, the gate waits for the next poll that reads the feed to its end
 * (sent after the key arrived, so it sees any key whose secret the caller could have held then): the
 * filter then answers for good. Waiting costs one shared poll, whatever the number of keys waiting.
 *
 * Bound: a flood of random well-formed keys costs at most `lookupsPerSecond` queries a second plus the
 * filter's false positives (FALSE_POSITIVE_RATE of the flood), whatever its rate.
 */
export class UnknownKeyGate {
  readonly stats: UnknownKeyGateStats = { filtered: 0, budgeted: 0, waited: 0, refused: 0 };
  private tokens: number;
  private refilledAt: number;
  private waiting = 0;

  constructor(private readonly options: UnknownKeyGateOptions) {
    this.tokens = options.lookupsPerSecond;
    this.refilledAt = options.monotonic.now();
  }

  /**
   * True: look the key up now. A promise: of whether to look it up once the feed has been read (false:
   * it does not exist; answer "not found"). Rejects UNAVAILABLE when too many keys are waiting already.
   */
  admit(hexDigest: string): true | Promise<boolean> {
    const { filter, feed } = this.options;
    if (!filter.complete || !feed.isFresh() || filter.mayExist(hexDigest)) return true;
    if (this.takeToken()) {
      this.stats.budgeted++;
      return true;
    }
    if (this.waiting >= this.options.maxWaiting) {
      this.stats.refused++;
      return Promise.reject(
        new AppError(
          'UNAVAILABLE',
          'too many unknown API keys are being checked at once; retry shortly (a key created moments ago on another replica is known within a second)',
        ),
      );
    }
    this.waiting++;
    this.stats.waited++;
    return feed.nextCompleteRead().then(() => {
      this.waiting--;
      if (filter.complete && feed.isFresh() && !filter.mayExist(hexDigest)) {
        this.stats.filtered++;
        return false;
      }
      return true;
    });
  }

  private takeToken(): boolean {
    const { lookupsPerSecond, monotonic } = this.options;
    if (lookupsPerSecond === 0) return false;
    const now = monotonic.now();
    this.tokens = Math.min(lookupsPerSecond, this.tokens + ((now - this.refilledAt) * lookupsPerSecond) / 1000);
    this.refilledAt = now;
    if (this.tokens < 1) return false;
    this.tokens--;
    return true;
  }
}
